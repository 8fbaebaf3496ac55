"""zoo: a PyTorch Lightning model zoo of unpaired translation and machine-unlearning models.

    >>> import zoo
    >>> zoo.list_models("*isp*")
    >>> model = zoo.load("lightweight_isp_efficient")
    >>> rgb = model.predict("raw.png")

Importing zoo imports no torch: the heavy modules load on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations asks PyPI for updates at import otherwise
from zoo.registry import list_models

if TYPE_CHECKING:  # annotations only: importing zoo imports no torch
    from huggingface_hub import ModelCard
    from torch import nn

    from zoo.core.module import ZooModule

__all__ = ["list_models", "create", "load", "pipeline", "card", "unlearn"]
__version__ = "0.1.0"


def create(name: str, **overrides: Any) -> ZooModule:
    """Build model ``name`` randomly initialised; ``overrides`` replace fields of its config dataclass."""
    from zoo.hub import create as _create

    return _create(name, **overrides)


def pipeline(name: str, weights: Any = None, device: Any = None, revision: str | None = None, local_files_only: bool = False) -> Any:
    """The pretrained model ``name`` for inference alone, without Lightning where the model has a light pipeline
    (see :mod:`zoo.pipelines`); its ``predict`` is the same call as ``zoo.load(name).predict``."""
    from zoo.pipelines import pipeline as _pipeline

    return _pipeline(name, weights=weights, device=device, revision=revision, local_files_only=local_files_only)


def load(
    name: str,
    weights: Any = None,
    device: Any = None,
    official: bool = False,
    revision: str | None = None,
    local_files_only: bool = False,
    backend: str = "torch",
    **overrides: Any,
) -> ZooModule:
    """The pretrained model ``name`` in eval mode (see :func:`zoo.hub.load` for the resolution order).

    ``revision`` selects a Hub revision (default: the spec's pinned one); ``local_files_only`` never asks the Hub.
    ``overrides`` set config fields explicitly; with ``official=True``, the settings no tensor of the official file
    reveals (``zoo.load("rawformer_base", weights="run/", official=True, vit_heads=6)``). ``backend="onnxruntime"``
    runs eval-mode ``forward`` / ``predict`` through onnxruntime on the model's cached ONNX export (CPU, the
    ``export`` extra).
    """
    from zoo.hub import load as _load

    return _load(
        name, weights=weights, device=device, official=official, revision=revision, local_files_only=local_files_only,
        backend=backend, **overrides,
    )


def card(name: str) -> ModelCard:
    """The model card of ``name`` (a ``huggingface_hub.ModelCard``)."""
    from zoo.hub import card as _card

    return _card(name)


def unlearn(model: Any, method: str, forget: Any, retain: Any = None, task: str | None = None, **hparams: Any) -> nn.Module:
    """Unlearn ``forget`` from a copy of ``model`` (see :func:`zoo.unlearning.api.unlearn`)."""
    from zoo.unlearning.api import unlearn as _unlearn

    return _unlearn(model, method, forget=forget, retain=retain, task=task, **hparams)
