"""How ``tools/make_weights.py`` makes the shipped ISP checkpoint: train the tiny recipe with LightningCLI,
reload the written weights, evaluate them and the pseudo-ISP on held-out synthetic RAW, draw the before/after."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Timer


@torch.no_grad()
def evaluate(model, dataloader) -> tuple[dict[str, float], int]:
    """Sample-weighted mean of ``model.evaluate_batch`` over a dataloader, and the sample count."""
    totals: dict[str, float] = {}
    count = 0
    model.eval()
    for batch in dataloader:
        batch = {k: v.to(model.device) for k, v in batch.items()}
        n = batch["raw"].shape[0]
        for key, value in model.evaluate_batch(batch).items():
            totals[key] = totals.get(key, 0.0) + float(value) * n
        count += n
    return {key: value / count for key, value in totals.items()}, count


def device_name() -> str:
    """What trained the checkpoint, for the card."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads"


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> tuple[dict[str, Any], str, bool]:
    """Train (or take ``ckpt`` of) the tiny recipe, write ``out_dir``, and return ``(record, card notes, has image)``."""
    from zoo.cards import BEFORE_AFTER_NAME
    from zoo.demo import before_after
    from zoo.hub import load
    from zoo.training import run_cli

    recipe = Path("recipes") / spec.name / "tiny.yaml"
    sys.argv = sys.argv[:1]  # LightningCLI reads only the args given below
    if ckpt:
        cli = run_cli(["--config", str(recipe), *overrides], run=False)
        cli.model.build_training_parts()
        # A training checkpoint this recipe wrote here; it holds tensors and plain containers only.
        checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
        cli.model.load_state_dict(checkpoint["state_dict"])
        timer_state = checkpoint.get("callbacks", {}).get("Timer", {})
    else:
        cli = run_cli(["fit", "--config", str(recipe), *overrides])
        timer_state = next((cb.state_dict() for cb in cli.trainer.callbacks if isinstance(cb, Timer)), {})

    cli.model.save_pretrained(out_dir)
    model = load(spec.name, weights=out_dir)
    datamodule = cli.datamodule
    datamodule.setup("test")
    scores, count = evaluate(model, datamodule.test_dataloader())
    before_after(model, spec.name).save(out_dir / BEFORE_AFTER_NAME)
    data_args = datamodule.hparams
    record = {
        "num_params": model.num_params(),
        "metrics": {"psnr": scores["psnr"], "ssim": scores["ssim"]},
        "baselines": {
            "classical pseudo-ISP (official formulation, bilinear demosaic)": {"psnr": scores["pseudo_isp_psnr"], "ssim": scores["pseudo_isp_ssim"]}
        },
        "eval_dataset": {
            "name": "synthetic RAW from held-out bundled photographs",
            "type": "zoo-synthetic-unprocessed",
            "split": "test",
            "num_samples": count,
            "description": (
                f"{data_args['crop']}x{data_args['crop']} crops of the photographs 'chelsea' (scikit-image) and 'flower' "
                "(scikit-learn), never seen in training, unprocessed to 10-bit RAW with sensor noise (Brooks et al. 2019, "
                f"profile '{data_args['profile']}'); PSNR/SSIM against the original sRGB, outputs clamped to [0, 1]."
            ),
        },
        "eval_command": f"python tools/make_weights.py {spec.name}",
        "train_dataset": "zoo-synthetic-unprocessed (scikit-image / scikit-learn photographs)",
        "recipe": str(recipe),
        "train_steps": int(cli.model.generator_steps),
        "train_seconds": timer_state.get("time_elapsed", {}).get("train"),
        "train_device": device_name(),
    }
    return record, model.card_notes(), True
