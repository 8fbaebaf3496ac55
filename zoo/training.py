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
from typing import Any, Callable, Optional

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


def _lightning_checkpoint(path: Path) -> dict[str, Any]:
    """A Lightning checkpoint file read with ``weights_only`` (no code runs from it), checked whole first."""
    problem = checkpoint_problem(path)
    if problem:
        raise CorruptCheckpointError(_corrupt_checkpoint_message(path, problem))
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch refuses pickled objects other than tensors and plain containers
        first = (str(error).strip().splitlines() or [""])[0]
        raise ValueError(f"{path}: expected a Lightning checkpoint of a zoo model, received a file torch.load refuses ({type(error).__name__}: {first})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path}: expected a Lightning checkpoint (a dict with state_dict), received {type(checkpoint).__name__} without one")
    return checkpoint


def module_from_checkpoint(path: str | Path):
    """The zoo model a Lightning checkpoint (``last.ckpt``) holds: its class and config from the checkpoint's
    hyper-parameters, every weight loaded strictly. Nothing is unpickled beyond tensors and plain containers.

    Args:
        path: the ``.ckpt`` file a ``zoo train`` run wrote.

    Returns:
        The ZooModule, in eval mode.

    Raises:
        CorruptCheckpointError: the file is truncated or damaged.
        ValueError: not a checkpoint of a zoo model, or weights that do not match its class.
    """
    import importlib

    from zoo.core.module import ZooModule

    path = Path(path)
    checkpoint = _lightning_checkpoint(path)
    hparams = checkpoint.get("hyper_parameters", {})
    class_path = hparams.get("_class_path")
    if not isinstance(class_path, str) or "config" not in hparams:
        raise ValueError(f"{path}: expected a checkpoint of a zoo model (hyper-parameters with _class_path and config), received keys {sorted(hparams)}")
    module_name, _, class_name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, ZooModule)):
        raise ValueError(f"{path}: expected a ZooModule class in _class_path, received {class_path!r}")
    model = cls(hparams["config"])
    state, expected = checkpoint["state_dict"], model.state_dict()
    # Training-only parts that `setup` builds (discriminators, the losses' frozen feature nets) are in the checkpoint
    # but not in a model built for inference: they are left out. Every tensor of the model itself must be there.
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ValueError(f"{path}: the weights do not match {class_name} built from the checkpoint's own config: missing {missing[:6]}")
    try:
        model.load_state_dict({k: state[k] for k in expected}, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path}: the weights do not match {class_name} built from the checkpoint's own config ({str(error).strip().splitlines()[-1].strip()})") from None
    return model.eval()


def export_weights(checkpoint: str | Path, directory: str | Path) -> Path:
    """Turn a Lightning checkpoint into a Hub-layout weights folder (model.safetensors, config.json, README.md card,
    sha256.json) that ``zoo.load(name, weights=directory)`` and ``ZooModule.from_pretrained(directory)`` read.

    Args:
        checkpoint: the ``.ckpt`` file.
        directory: the folder to write (created when missing).

    Returns:
        The folder.
    """
    return module_from_checkpoint(checkpoint).save_pretrained(directory)


def pretrained_net_state(source: str) -> dict[str, torch.Tensor]:
    """The inference network's weights named by ``source``, to start a training run from.

    Args:
        source: ``zoo:NAME`` (the shipped or Hub checkpoint of a registered model, as ``zoo.load`` finds it), a
            weights folder (checked against its ``sha256.json``), a ``model.safetensors`` file, or a Lightning
            ``.ckpt`` of a zoo model.

    Returns:
        A state_dict of the network (``ZooModule.load_net_state`` checks that it fits).
    """
    from safetensors.torch import load_file

    from zoo.core.module import ZooModule

    if not isinstance(source, str) or not source:
        raise ValueError(f"init_weights: expected zoo:NAME, a weights folder, a .safetensors or a .ckpt file, received {source!r}")
    if source.startswith("zoo:"):
        import zoo

        model = zoo.load(source[4:])
    else:
        path = Path(source)
        if path.is_dir():
            model = ZooModule.from_pretrained(path)
        elif path.suffix == ".safetensors" and path.is_file():
            return load_file(str(path))
        elif path.suffix == ".ckpt" and path.is_file():
            model = module_from_checkpoint(path)
        else:
            raise ValueError(f"init_weights: expected zoo:NAME, a weights folder, a .safetensors or a .ckpt file, received {source!r} (no such folder or file)")
    return {k: v.detach().clone() for k, v in model.inference_net.state_dict().items()}


class ZooCLI(LightningCLI):
    """LightningCLI with ``--init_weights SOURCE``: start the run from pretrained weights (fine-tuning).

    ``zoo train recipes/rawformer/tiny.yaml --init_weights zoo:rawformer`` (or ``init_weights: zoo:rawformer`` at the
    top of a recipe) loads the shipped checkpoint into the model before training; ``--ckpt_path`` (resuming) is
    restored after it and so takes precedence.
    """

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument(
            "--init_weights", type=Optional[str], default=None,
            help="start from these weights: zoo:NAME (shipped or Hub), a weights folder, a .safetensors or a .ckpt file",
        )

    def before_fit(self) -> None:
        source = self.config[self.subcommand].get("init_weights")
        if source:
            self.model.load_net_state(pretrained_net_state(source))


def _require_loggers(args: list[str]) -> None:
    """Fail early, naming the extra, when a recipe (``--config FILE``) or an override asks for the wandb logger and
    wandb is not installed (LightningCLI would otherwise report an unresolvable class path)."""
    from zoo.core.optional import require

    texts = [a for a in args if "WandbLogger" in a]
    for flag, value in zip(args, args[1:]):
        if flag == "--config" and Path(value).is_file():
            texts.append(Path(value).read_text())
    if any("WandbLogger" in text for text in texts):
        require("wandb", "train")


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
    _require_loggers(args)
    return ZooCLI(
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
