"""ZooModule: the base LightningModule of every model in the zoo.

A ZooModule is built from a config dataclass (saved as ``config.json``), holds its inference network in
``self.net`` (the only weights written to ``model.safetensors``), and offers ``predict`` for user-level
input next to ``forward`` for tensors.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from zoo.core import checks
from zoo.core.files import CONFIG_NAME, WEIGHTS_NAME
from zoo.data.samplers import ResumesMidEpoch


class ZooModule(ResumesMidEpoch, L.LightningModule):
    """Base class: config dataclass <-> ``config.json``, safetensors weights, ``predict``, ``example_input``.

    Subclasses set ``config_class`` (a dataclass), build ``self.net`` in ``__init__`` and implement
    :meth:`prepare_input`, :meth:`postprocess` and :meth:`example_input`. A subclass that implements
    :meth:`evaluate_batch` gets ``validation_step`` and ``test_step`` from here (metrics logged as ``val/<name>``
    and ``test/<name>``).

    Args:
        config: the model's config dataclass instance; ``None`` builds the defaults.
    """

    config_class: ClassVar[type] = object
    progress_metrics: ClassVar[tuple[str, ...]] = ()
    """Names from :meth:`evaluate_batch` shown in the progress bar during validation."""

    def __init__(self, config: Any = None) -> None:
        super().__init__()
        if config is None:
            config = self.config_class()
        if isinstance(config, dict):
            config = self.config_from_dict(config)
        if not isinstance(config, self.config_class):
            raise ValueError(f"config: expected {self.config_class.__name__} or dict, received {type(config).__name__}")
        self.config = config
        # The class path lets LightningCLI rebuild the model from a checkpoint file (`--ckpt_path path/to/x.ckpt`).
        self.save_hyperparameters({"config": dataclasses.asdict(config), "_class_path": f"{type(self).__module__}.{type(self).__qualname__}"})
        self.net: nn.Module

    # ----------------------------------------------------------------- config
    @classmethod
    def config_from_dict(cls, values: dict[str, Any]) -> Any:
        """Build the config dataclass from a dict (``config.json``, a recipe, overrides).

        Args:
            values: field name -> value; lists stand for tuples.

        Raises:
            ValueError: an unknown key, or a value that is not of its field's type (a string for a number, NaN or
                Inf for a float, a tuple of the wrong length), naming the field, the expected type and the value.
        """
        fields = {f.name: f for f in dataclasses.fields(cls.config_class)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"config: unknown keys {unknown}; expected a subset of {sorted(fields)}")
        hints = typing.get_type_hints(cls.config_class)
        for key, value in values.items():
            checks.check_type(value, hints.get(key, Any), f"config.{key}")
        converted = {}
        for key, value in values.items():
            default = getattr(cls.config_class(), key)
            converted[key] = tuple(value) if isinstance(default, tuple) and isinstance(value, list) else value
        return cls.config_class(**converted)

    def config_dict(self) -> dict[str, Any]:
        """The content of ``config.json``: the architecture's import path and every config field."""
        return {"architecture": f"{type(self).__module__}:{type(self).__qualname__}", **dataclasses.asdict(self.config)}

    # ---------------------------------------------------------------- weights
    @property
    def inference_net(self) -> nn.Module:
        """The network whose weights are shipped; adversarial modules return the EMA copy when enabled."""
        return self.net

    def num_params(self) -> int:
        """Number of parameters of the inference network (what the card reports)."""
        return sum(p.numel() for p in self.inference_net.parameters())

    def save_pretrained(
        self,
        save_directory: str | Path,
        *,
        repo_id: str | None = None,
        push_to_hub: bool = False,
        card: bool = True,
        manifest: bool = True,
        **push_to_hub_kwargs: Any,
    ) -> Path:
        """Write the weights folder (the Hub layout): ``model.safetensors``, ``config.json``, the card ``README.md``
        and the manifest ``sha256.json``; the arguments of ``huggingface_hub.PyTorchModelHubMixin.save_pretrained``.

        The folder loads back through :meth:`from_pretrained` and ``zoo.load(name, weights=directory)``, which checks
        it against the manifest.

        Args:
            save_directory: the folder (created when missing).
            repo_id: the Hub repo ``push_to_hub`` uploads to (default: the folder's name).
            push_to_hub: also upload the model (:meth:`push_to_hub`).
            card: write ``README.md`` (``zoo.hub.folder_card``: the registered spec's card for this config).
            manifest: write ``sha256.json`` (file name -> sha256 of every other file in the folder); False removes a
                stale one. The shipped folders pass False: ``zoo/checkpoints.json`` records their files instead.
            push_to_hub_kwargs: keyword arguments of :meth:`push_to_hub`.

        Returns:
            The directory.
        """
        from zoo.core.files import CARD_NAME, MANIFEST_NAME
        from zoo.hub import folder_card, write_manifest

        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.inference_net.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
        (directory / CONFIG_NAME).write_text(json.dumps(self.config_dict(), indent=2) + "\n")
        if card:
            folder_card(self).save(directory / CARD_NAME)
        if manifest:
            write_manifest(directory)
        else:
            (directory / MANIFEST_NAME).unlink(missing_ok=True)
        if push_to_hub:
            self.push_to_hub(repo_id or directory.name, **push_to_hub_kwargs)
        return directory

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        **overrides: Any,
    ) -> ZooModule:
        """The model saved in a weights folder or a Hub repo, in eval mode; the arguments of
        ``huggingface_hub.PyTorchModelHubMixin.from_pretrained`` (``zoo.hub.from_pretrained``).

        ``config.json``'s ``architecture`` must be this class, or a registered model derived from it (so
        ``ZooModule.from_pretrained(path)`` builds whichever registered model the folder holds).

        Args:
            pretrained_model_name_or_path: a local weights directory or a Hub repo id (``owner/name``).
            revision: the Hub revision (default: a registered repo's pinned revision, else ``"main"``).
            cache_dir: the Hugging Face cache (default: ``HF_HUB_CACHE``).
            token: the Hub token.
            local_files_only: use the Hugging Face cache only, as in ``huggingface_hub``.
            overrides: config fields set explicitly.

        Returns:
            The model.

        Raises:
            zoo.hub.WeightsNotFoundError: neither a weights directory nor a reachable or cached Hub repo.
            zoo.hub.ChecksumError: a file does not match the folder's ``sha256.json`` or a registered record.
            ValueError: another architecture, or weights that do not load.
        """
        from zoo.hub import from_pretrained

        return from_pretrained(cls, pretrained_model_name_or_path, revision, cache_dir, token, local_files_only, **overrides)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str = "Push model using zoo.",
        private: bool | None = None,
        token: str | None = None,
        branch: str | None = None,
        create_pr: bool | None = None,
        allow_patterns: list[str] | str | None = None,
        ignore_patterns: list[str] | str | None = None,
        delete_patterns: list[str] | str | None = None,
    ) -> str:
        """Upload the model (the folder :meth:`save_pretrained` writes) to a Hub repo in one commit, creating the repo
        when missing; the arguments of ``huggingface_hub.PyTorchModelHubMixin.push_to_hub``.

        Args:
            repo_id: the Hub repo (``owner/name``).
            commit_message: the commit's message.
            private: create the repo private (None: the owner's default).
            token: the Hub token (default: the logged-in one).
            branch: the branch to commit to (default: ``main``).
            create_pr: open a pull request instead of committing to ``branch``.
            allow_patterns: upload only the files that match.
            ignore_patterns: skip the files that match.
            delete_patterns: remote files to delete in the same commit.

        Returns:
            The commit's URL (a ``huggingface_hub.CommitInfo``: its ``oid`` is the sha to pin as a revision).
            A registered model's shipped checkpoint is pushed with ``tools/push_to_hub.py`` instead, which also
            creates the pin tag ``zoo.load`` reads.
        """
        import tempfile

        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id=repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory() as tmp:
            folder = self.save_pretrained(Path(tmp) / repo_id.rsplit("/", 1)[-1])
            return api.upload_folder(
                repo_id=repo_id, repo_type="model", folder_path=folder, commit_message=commit_message, revision=branch,
                create_pr=create_pr, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns, delete_patterns=delete_patterns,
            )

    def load_net_weights(self, path: str | Path) -> None:
        """Load ``model.safetensors`` into the inference network (and the training copy), strictly."""
        self.load_net_state(load_file(str(path)))

    def load_net_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a state_dict of ``self.net``'s keys into the network and into its EMA copy when one is kept.

        The one way weights enter a model: shipped files, the Hub, and every official converter go through it.

        Raises:
            ValueError: keys or shapes differ, naming the missing, unexpected and mis-shaped tensors; or a tensor
                holds NaN or Inf, naming it.
        """
        checks.check_state_dict(self.net, state, type(self).__name__)
        self.net.load_state_dict(state, strict=True)
        if self.inference_net is not self.net:
            self.inference_net.load_state_dict(state, strict=True)

    def bench_cases(self, batch_size: int, size: int) -> list:
        """Rows for ``zoo bench``: by default the forward pass, eager vs torch.compile, on ``example_input``."""
        from zoo.bench import BenchCase

        x = self.example_input(batch_size)
        x = x if isinstance(x, tuple) else (x,)
        compiled = torch.compile(self.inference_net)
        return [BenchCase("forward", "eager", "torch.compile", lambda: self.inference_net(*x), lambda: compiled(*x))]

    # ------------------------------------------------------------- evaluation
    def evaluate_batch(self, batch: Any) -> dict[str, torch.Tensor]:
        """Metrics of one evaluation batch by name (scalars, batch means): what validation, test and
        ``tools/weights/common.py: evaluate`` report."""
        raise NotImplementedError(f"{type(self).__name__} does not implement evaluate_batch")

    @staticmethod
    def batch_size_of(batch: Any) -> int:
        """Samples in a batch: the leading size of its first tensor (dict, tuple or tensor batches)."""
        values = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (tuple, list)) else (batch,)
        for value in values:
            if isinstance(value, torch.Tensor):
                return int(value.shape[0])
        raise ValueError(f"batch: expected a tensor, or a dict / tuple holding tensors, received {type(batch).__name__}")

    def _log_evaluation(self, batch: Any, stage: str) -> None:
        size = self.batch_size_of(batch)
        for key, value in self.evaluate_batch(batch).items():
            self.log(f"{stage}/{key}", value, prog_bar=stage == "val" and key in self.progress_metrics, batch_size=size, sync_dist=True)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._log_evaluation(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._log_evaluation(batch, "test")

    # -------------------------------------------------------------- inference
    def prepare_input(self, x: Any) -> tuple[Any, dict[str, Any]]:
        """Validate user input and turn it into the network's input.

        Returns:
            The tensor (or tuple of tensors) for :meth:`forward` and a context dict handed to :meth:`postprocess`.
        """
        raise NotImplementedError

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> Any:
        """Turn the network's output into what the user asked for."""
        raise NotImplementedError

    def example_input(self, batch_size: int = 1) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """A small valid batch for :meth:`forward`: a tensor, or a tuple of its positional arguments
        (used by the tests and ``tools/bench.py``)."""
        raise NotImplementedError

    def example_predict_input(self) -> Any:
        """A small valid user-level input for :meth:`predict` (the contract test runs it for every model); by default
        the :meth:`example_input` batch, which ``predict`` takes as a tensor."""
        return self.example_input(1)

    def example_cli_args(self, folder: Path) -> tuple[list[str], str]:
        """A valid ``zoo predict`` command line for this model (without the name and ``-o``), with its input files
        written into ``folder``, and a suffix of an output it writes (the tests serve every shipped model with it).

        By default :meth:`example_predict_input` saved as ``input.npy`` and a ``.npz`` output. Models with named
        inputs (``--person P --garment G``) or their own formats override it.

        Returns:
            The arguments and the output suffix.
        """
        import numpy as np

        x = self.example_predict_input()
        array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x
        if not isinstance(array, np.ndarray):
            raise NotImplementedError(f"{type(self).__name__}: example_predict_input is not an array; override example_cli_args")
        path = Path(folder) / "input.npy"
        np.save(path, array)
        return [str(path)], ".npz"

    def example_calls(self, batch_size: int = 1) -> list[tuple[tuple, dict[str, Any]]]:
        """``(args, kwargs)`` of forward calls that together reach every trained parameter (the tests' contract);
        one call on :meth:`example_input` unless a model has several entry points (e.g. one per modality)."""
        x = self.example_input(batch_size)
        return [(x if isinstance(x, tuple) else (x,), {})]

    def export_calls(self, batch_size: int = 2) -> list[tuple[tuple, dict[str, Any]]]:
        """``(args, kwargs)`` of the forward calls that ``zoo export`` traces, one ONNX graph each (``zoo.export``);
        by default :meth:`example_calls`. Override to export other entry points or other example shapes.

        Args:
            batch_size: the traced batch (``torch.export`` makes axes of size 1 static, so 2 keeps the batch dynamic).

        Returns:
            A list of ``(args, kwargs)``: tensors (or tuples of tensors) in ``args``, constants in ``kwargs``.
        """
        return self.example_calls(batch_size)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return (self.net if self.training else self.inference_net)(*inputs)

    @torch.no_grad()
    def predict(self, x: Any) -> Any:
        """Run the model on user-level input (tensor, numpy array, PIL image or file path).

        Bad input raises ``ValueError`` naming what was expected and what was received.
        """
        prepared, context = self.prepare_input(x)
        inputs = checks.place_like(prepared, next(self.inference_net.parameters()))
        was_training = self.training
        self.eval()
        try:
            y = self(*inputs)
        finally:
            self.train(was_training)
        return self.postprocess(y, context)
