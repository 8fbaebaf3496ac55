"""What the checkpoint scripts share: fit-or-restore a recipe, describe the device, run the evaluation loop."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass
class FitResult:
    """A finished (or restored) recipe run.

    Args:
        cli: the LightningCLI, with ``model``, ``datamodule`` and ``trainer``.
        seconds: wall-clock training seconds the recipe's ``Timer`` callback measured (restored with the run when
            it resumes; 0 without a Timer).
        steps: optimiser steps of the run (``trainer.global_step``).
    """

    cli: Any
    seconds: float
    steps: int

    @property
    def model(self):
        return self.cli.model


def fit_or_restore(recipe: str | Path, overrides: list[str] = (), ckpt: str | None = None) -> FitResult:
    """``fit`` a recipe, or resume it from a checkpoint, with LightningCLI.

    Args:
        recipe: the LightningCLI YAML (``recipes/<name>/tiny.yaml``).
        overrides: more LightningCLI arguments.
        ckpt: None trains from scratch; ``"last"`` or a ``.ckpt`` path resumes that run, and a run that had already
            finished is restored as it ended without training further (Lightning's ``--ckpt_path``).

    Returns:
        The run (its model has the trained weights).
    """
    from lightning.pytorch.callbacks import Timer

    from zoo.training import run_cli

    sys.argv = sys.argv[:1]  # LightningCLI reads only the args given here
    resume = ["--ckpt_path", str(ckpt)] if ckpt else []
    cli = run_cli(["fit", "--config", str(recipe), *overrides, *resume])
    timer = next((cb.state_dict() for cb in cli.trainer.callbacks if isinstance(cb, Timer)), {})
    return FitResult(cli, float(timer.get("time_elapsed", {}).get("train", 0.0)), int(cli.trainer.global_step))


def device_name() -> str:
    """What trained a checkpoint, for its record and card: the GPU's name, or the CPU architecture and threads."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads"


@torch.no_grad()
def evaluate(model, dataloader) -> tuple[dict[str, float], int]:
    """Sample-weighted means of ``model.evaluate_batch`` over a dataloader.

    Args:
        model: a ZooModule that implements ``evaluate_batch`` (batch-mean metrics).
        dataloader: its evaluation batches.

    Returns:
        ``(metric name -> mean over samples, number of samples)``.
    """
    totals: dict[str, float] = {}
    count = 0
    model.eval()

    def place(value: Any) -> Any:
        return value.to(model.device) if isinstance(value, torch.Tensor) else value

    from zoo.core.progress import progress

    for batch in progress(dataloader, f"evaluate {type(model).__name__}", unit="batch"):
        batch = {k: place(v) for k, v in batch.items()} if isinstance(batch, dict) else type(batch)(place(v) for v in batch)
        n = model.batch_size_of(batch)
        for key, value in model.evaluate_batch(batch).items():
            totals[key] = totals.get(key, 0.0) + float(value) * n
        count += n
    if not count:
        raise ValueError("evaluate: expected a dataloader with at least one batch, received an empty one")
    return {key: value / count for key, value in totals.items()}, count
