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
