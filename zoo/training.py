"""Training entry point: LightningCLI over every ZooModule and LightningDataModule.

Recipes (``recipes/<name>/{tiny,paper}.yaml``) are plain LightningCLI configs::

    zoo train recipes/lightweight_isp_efficient/tiny.yaml
    zoo train recipes/lightweight_isp_efficient/tiny.yaml --ckpt_path last   # resume an interrupted run

wandb logs offline unless ``WANDB_MODE`` says otherwise, so nothing leaves the machine by default. Checkpoints go
through :class:`AtomicCheckpointIO`: a save never leaves a partial file, and resuming from a damaged one is refused
with the names of the intact checkpoints beside it.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Callable

import fsspec
import lightning as L
import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.plugins.io import TorchCheckpointIO


class CorruptCheckpointError(ValueError):
    """A checkpoint file is truncated or damaged; the message names the intact checkpoints beside it."""


def checkpoint_problem(path: str | Path) -> str | None:
    """Why the local checkpoint ``path`` cannot be restored, or None when it reads whole.

    A checkpoint is a ``torch.save`` zip archive: its central directory (at the end) and the CRC of every member
    are checked, which finds a truncated or overwritten file without unpickling it.

    Args:
        path: a checkpoint file; a missing or remote one is not checked (None).

    Returns:
        A phrase saying what is wrong, or None.
    """
    path = Path(path)
    if not path.is_file():
        return None
    if path.stat().st_size == 0:
        return "it is empty (0 bytes)"
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        return f"it is truncated or not a torch checkpoint ({error})"
    return f"its member {damaged} fails its CRC check" if damaged else None


def _corrupt_checkpoint_message(path: Path, problem: str) -> str:
    siblings = sorted((p for p in path.parent.glob("*.ckpt") if p != path), key=lambda p: p.stat().st_mtime, reverse=True)
    intact = [p.name for p in siblings if checkpoint_problem(p) is None]
    if intact:
        advice = (f"intact checkpoints beside it, newest first: {', '.join(intact)}; resume from one with "
                  f"--ckpt_path {path.parent / intact[0]}, or delete {path.name} to start afresh")
    else:
        advice = f"no intact checkpoint is beside it in {path.parent}; delete {path.name} and train without --ckpt_path"
    return f"{path}: cannot resume from this checkpoint, {problem}; {advice}"


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose local saves are atomic and whose loads refuse a damaged file by name.

    Lightning's own save goes through an fsspec transaction that stages the file in ``$TMPDIR``: when that is
    another filesystem (a tmpfs), the final move is a copy, and a kill during it leaves a truncated checkpoint.
    Here the checkpoint is written to ``<path>.tmp`` in its own directory, fsync'd and renamed onto ``path``, so
    ``path`` is always the previous complete file or the new one. Remote paths are saved as Lightning does.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        """Save ``checkpoint`` to ``path`` atomically.

        Args:
            checkpoint: the state Lightning dumps.
            path: the target file.
            storage_options: unsupported, as in ``TorchCheckpointIO`` (a TypeError).
        """
        fs, local = fsspec.core.url_to_fs(str(path))
        if storage_options is not None or not isinstance(fs, LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        target = Path(local)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(target.name + ".tmp")
        try:
            with open(staging, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)  # still there only when the write failed
        if os.name == "posix":  # make the rename itself durable
            directory = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def load_checkpoint(self, path: str | Path, map_location: Callable | None = lambda storage, loc: storage, weights_only: bool | None = None) -> dict[str, Any]:
        """Load the checkpoint ``path`` (as ``TorchCheckpointIO`` does) after checking it is whole.

        Args:
            path: the checkpoint file (``--ckpt_path last`` arrives here resolved by Lightning).
            map_location: passed to ``torch.load``.
            weights_only: passed to ``torch.load``.

        Returns:
            The checkpoint dictionary.

        Raises:
            CorruptCheckpointError: the file is truncated or damaged; the message names the intact siblings.
        """
        problem = checkpoint_problem(path)
        if problem:
            raise CorruptCheckpointError(_corrupt_checkpoint_message(Path(path), problem))
        return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)


def run_cli(args: list[str], run: bool = True, prog: str | None = None) -> LightningCLI:
    """Run LightningCLI with ``args`` (e.g. ``["fit", "--config", "recipe.yaml"]``) and return it.

    Every trainer gets :class:`AtomicCheckpointIO` as its default ``plugins`` (a recipe that sets
    ``trainer.plugins`` replaces it).

    Args:
        args: the LightningCLI arguments.
        run: run the subcommand (False: only parse and instantiate).
        prog: the command name in usage lines and error hints (``"zoo train"``; default: jsonargparse's, from
            ``sys.argv[0]``).

    Returns:
        The LightningCLI.
    """
    os.environ.setdefault("WANDB_MODE", "offline")
    return LightningCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        run=run,
        trainer_defaults={"plugins": [{"class_path": "zoo.training.AtomicCheckpointIO"}]},
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        parser_kwargs={"prog": prog} if prog else None,
    )
