"""Run by tests/test_training.py in a subprocess: two CPU processes with DDP train the adversarial base and both
ranks must end with identical weights and buffers (EMA, step counter). Not collected by pytest itself."""
import os, sys
os.environ.setdefault("WANDB_MODE", "disabled")
import lightning as L
import torch
from zoo.data.raw_datamodule import SyntheticRawDataModule
from zoo.models.lightweight_isp.module import LightweightISP, LightweightISPConfig


class SameWeights(L.Callback):
    def on_train_end(self, trainer, module):
        flat = torch.cat([p.detach().flatten() for p in module.parameters()] + [b.float().flatten() for b in module.buffers()])
        gathered = trainer.strategy.all_gather(flat)
        assert torch.equal(gathered[0], gathered[1]), "ranks diverged"
        if trainer.global_rank == 0:
            print("DDP OK", int(module.generator_steps), flush=True)


if __name__ == "__main__":
    L.seed_everything(0)
    cfg = LightweightISPConfig(train_size=32, content_layer="relu1_2", color_vit="vit_tiny_patch16_224", color_img_size=32, d_every=2, ema_decay=0.5)
    model = LightweightISP(cfg)
    data = SyntheticRawDataModule(batch_size=2, crop=32, train_length=8, eval_length=2)
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                        default_root_dir=sys.argv[1] if len(sys.argv) > 1 else ".", callbacks=[SameWeights()])
    trainer.fit(model, data)
