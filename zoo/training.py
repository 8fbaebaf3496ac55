"""Training entry point: LightningCLI over every ZooModule and LightningDataModule.

Recipes (``recipes/<name>/{tiny,paper}.yaml``) are plain LightningCLI configs::

    zoo train recipes/lightweight_isp_efficient/tiny.yaml
    zoo train recipes/lightweight_isp_efficient/tiny.yaml --ckpt_path last   # resume an interrupted run

wandb logs offline unless ``WANDB_MODE`` says otherwise, so nothing leaves the machine by default.
"""

from __future__ import annotations

import os

import lightning as L
from lightning.pytorch.cli import LightningCLI


def run_cli(args: list[str], run: bool = True) -> LightningCLI:
    """Run LightningCLI with ``args`` (e.g. ``["fit", "--config", "recipe.yaml"]``) and return it."""
    os.environ.setdefault("WANDB_MODE", "offline")
    return LightningCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        run=run,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
    )


def fit_recipe(name: str, overrides: list[str]) -> tuple[LightningCLI, float]:
    """``fit`` ``recipes/<name>/tiny.yaml`` (for ``tools/make_weights.py``); returns the CLI and the training seconds
    its ``Timer`` callback measured (0 without one)."""
    import sys

    from lightning.pytorch.callbacks import Timer

    sys.argv = sys.argv[:1]  # LightningCLI reads only the args given here
    cli = run_cli(["fit", "--config", f"recipes/{name}/tiny.yaml", *overrides])
    timer = next((cb.state_dict() for cb in cli.trainer.callbacks if isinstance(cb, Timer)), {})
    return cli, float(timer.get("time_elapsed", {}).get("train", 0.0))
