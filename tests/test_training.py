"""The adversarial training base: resume equals uninterrupted, D update ratio, EMA, gradient-norm normalisation."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from zoo.data.raw_datamodule import SyntheticRawDataModule
from zoo.models.lightweight_isp.module import LightweightISP, LightweightISPConfig

TINY = dict(train_size=32, content_layer="relu1_2", color_vit="vit_tiny_patch16_224", color_img_size=32, d_every=2)


def _module(**overrides):
    torch.manual_seed(0)
    return LightweightISP(LightweightISPConfig(**{**TINY, **overrides}))


def _data(length=6):
    return SyntheticRawDataModule(batch_size=2, crop=32, train_length=length, eval_length=2, seed=0)


def _trainer(tmp_path, epochs, **kwargs):
    return L.Trainer(
        max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=tmp_path, **kwargs,
    )


def test_interrupted_training_resumes_to_the_same_weights(tmp_path):
    L.seed_everything(0)
    straight = _module(ema_decay=0.5)
    _trainer(tmp_path / "a", 2, enable_checkpointing=False).fit(straight, _data())

    L.seed_everything(0)
    first = _module(ema_decay=0.5)
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    _trainer(tmp_path / "b", 1, callbacks=[checkpoint]).fit(first, _data())
    resumed = _module(ema_decay=0.5)
    _trainer(tmp_path / "b", 2, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)]).fit(
        resumed, _data(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt")
    )

    assert int(resumed.generator_steps) == int(straight.generator_steps) == 6
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert any(k.startswith("discriminators.") for k in a) and any(k.startswith("net_ema.") for k in a)


def test_discriminators_update_every_d_every_steps(tmp_path):
    module = _module(d_every=3)
    data = _data(length=10)
    seen = []

    class Watch(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            seen.append(pl_module.discriminators["color"].mlp[0].weight.detach().clone())

    _trainer(tmp_path, 1, enable_checkpointing=False, callbacks=[Watch()]).fit(module, data)
    changed = [not torch.equal(seen[i], seen[i - 1]) for i in range(1, len(seen))]
    # five generator steps; D steps at generator steps 0 and 3 (seen[0] is taken after step 0)
    assert changed == [False, False, True, False]


def test_gradient_norm_normalisation_makes_terms_scale_free():
    module = _module(adversarial=False)
    params = list(module.net.parameters())
    x = module.example_input(2)
    term = module.net(x).square().mean()
    w1 = module._term_weight(term, params)
    w2 = module._term_weight(term * 1000.0, params)
    assert torch.allclose(w1 * term, w2 * term * 1000.0, rtol=1e-4)


def test_train_size_mismatch_is_a_clear_error():
    module = _module(adversarial=False)
    module.build_training_parts()
    big = {"raw": torch.rand(1, 4, 32, 32), "target": torch.rand(1, 3, 64, 64)}
    with pytest.raises(ValueError, match="train_size=32"):
        module.generator_step_terms(big)


def test_ddp_on_two_cpu_processes_keeps_ranks_identical(tmp_path):
    """devices=2 with Lightning's DDP (find_unused_parameters: G and D steps backpropagate through different parts)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("ddp_adversarial_script.py")
    env = {**os.environ, "WANDB_MODE": "disabled"}
    result = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DDP OK 2" in result.stdout
