"""``zoo.pipeline(name)``: pretrained inference without Lightning — the plain network of a package's ``model.py`` with
its pre- and post-processing, for a fast cold start.

    >>> import zoo
    >>> isp = zoo.pipeline("lightweight_isp_efficient")
    >>> rgb = isp.predict("raw.png")        # the same result as zoo.load(name).predict("raw.png")

A model whose spec names a ``pipeline`` class gets it: importing it imports torch, the network and its input
handling, not Lightning, torchmetrics or torchvision's model zoo. The weights are found and hash-checked exactly as
:func:`zoo.load` finds and checks them. For the other models ``zoo.pipeline`` returns ``zoo.load(name)``, whose
``predict`` is the same call. ``zoo.load`` stays the way to fine-tune.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from zoo.core import checks
from zoo.core.files import WEIGHTS_NAME


class Pipeline:
    """A pretrained network and its input/output conversion, in eval mode, with no training machinery.

    Subclasses build the network from the weights folder's ``config.json`` fields and define
    :meth:`prepare_input` and :meth:`postprocess` as the package's LightningModule does (sharing its functions).

    Args:
        config: the fields of the weights folder's ``config.json``.
        name: the registered model name (for messages).
    """

    name: str = ""

    def __init__(self, config: dict[str, Any], name: str = "") -> None:
        self.config = dict(config)
        self.name = name
        self.net = self.build_net(self.config).eval()

    def build_net(self, config: dict[str, Any]) -> nn.Module:
        """The inference network of ``model.py`` for these config fields."""
        raise NotImplementedError

    def prepare_input(self, x: Any) -> tuple[Any, dict[str, Any]]:
        """Validate user input; the network's input and a context for :meth:`postprocess`."""
        raise NotImplementedError

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> Any:
        """Turn the network's output into what the user asked for."""
        raise NotImplementedError

    def load_weights(self, path: str | Path) -> None:
        """Load ``model.safetensors`` into the network, strictly (keys, shapes, finite values)."""
        state = load_file(str(path))
        checks.check_state_dict(self.net, state, self.name or type(self).__name__)
        self.net.load_state_dict(state, strict=True)

    def to(self, device: Any) -> Pipeline:
        """Move the network to ``device``; returns self."""
        self.net.to(device)
        return self

    @torch.no_grad()
    def predict(self, x: Any) -> Any:
        """Run the network on user-level input, as the package's LightningModule ``predict`` does."""
        prepared, context = self.prepare_input(x)
        return self.postprocess(self.net(*checks.place_like(prepared, next(self.net.parameters()))), context)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, net={type(self.net).__name__})"


def pipeline_class(name: str) -> type | None:
    """The light pipeline class the spec of ``name`` names, or None when it has none."""
    from zoo.registry import get_spec

    spec = get_spec(name)
    if not spec.pipeline:
        return None
    module, _, qualname = spec.pipeline.partition(":")
    return getattr(importlib.import_module(module), qualname)


def pipeline(name: str, weights: str | Path | None = None, device: Any = None, revision: str | None = None, local_files_only: bool = False):
    """The pretrained model ``name`` for inference alone.

    Args:
        name: registered model name.
        weights: a local weights directory (Hub layout), as for :func:`zoo.load`.
        device: where to run it (default: CPU).
        revision: the Hub revision (default: the spec's pinned one).
        local_files_only: never ask the Hub.

    Returns:
        A :class:`Pipeline` when the model has one, else ``zoo.load(name, ...)``; both have ``predict``.

    Raises:
        WeightsNotFoundError, ChecksumError, ValueError: as :func:`zoo.load`.
    """
    cls = pipeline_class(name)
    if cls is None:
        import zoo

        return zoo.load(name, weights=weights, device=device, revision=revision, local_files_only=local_files_only)
    from zoo.hub import verified_weights
    from zoo.registry import get_spec

    directory, config = verified_weights(name, weights, revision=revision, local_files_only=local_files_only)
    model = cls({**get_spec(name).config, **config}, name=name)
    try:
        model.load_weights(directory / WEIGHTS_NAME)
    except ValueError:
        raise
    except Exception as error:  # safetensors raises its own error types for truncated or invalid files
        raise ValueError(f"{directory / WEIGHTS_NAME}: expected a valid safetensors file for {name!r}, received one that fails to load ({error})") from error
    return model.to(device) if device is not None else model
