"""Official Blindspot checkpoints (``torch.save(model.state_dict())`` of ``models.py``) -> zoo weights.

- All-CNN: the official key names (``conv{1..8}.{0,1}.*``, ``classifier.0.*``) are zoo's: checked and copied.
- ResNet-18: the official wrapper splits torchvision's network into ``layer1`` (stem conv + bn), ``basic_block1..8``
  and ``final``; mapped back to torchvision names (``layer1.0.`` -> ``conv1.``, ``layer1.1.`` -> ``bn1.``,
  ``basic_block{2i-1, 2i}.`` -> ``layer{i}.{0, 1}.``, ``final.`` -> ``fc.1.``, after the head's dropout).

The architecture (``arch``) and the task are the registered name's choice; input channels, All-CNN's width and a
classifier's number of classes are read from the file (:func:`official_config`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from zoo.core.convert import match_state_dict, read_official

_STEM = {"layer1.0.": "conv1.", "layer1.1.": "bn1."}


def resnet18_from_official(official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the official ResNet-18 wrapper's keys to torchvision's."""
    renamed = {}
    for key, value in official.items():
        stem = next((prefix for prefix in _STEM if key.startswith(prefix)), None)
        block = re.match(r"basic_block(\d)\.(.*)", key)
        if stem:
            key = _STEM[stem] + key[len(stem):]
        elif block:
            index = int(block.group(1)) - 1
            key = f"layer{index // 2 + 1}.{index % 2}.{block.group(2)}"
        elif key.startswith("final."):
            key = "fc.1." + key[len("final."):]
        renamed[key] = value
    return renamed


def config_from_state(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The :class:`~zoo.models.convnets.module.ConvNetConfig` fields an official state_dict determines.

    Args:
        state: an official All-CNN or ResNet-18 state_dict (official key names).

    Returns:
        ``in_channels``; for All-CNN ``filters_percentage`` (from the 96 / 192 filter widths); ``num_classes`` when
        the head has more than one output (one output is a regressor: the task stays the name's).
    """
    out: dict[str, Any] = {}
    stem = state.get("conv1.0.weight", state.get("layer1.0.weight"))
    head = state.get("classifier.0.weight", state.get("final.weight"))
    if stem is not None:
        out["in_channels"] = int(stem.shape[1])
    if "conv1.0.weight" in state and "conv3.0.weight" in state:
        n1, n2 = int(state["conv1.0.weight"].shape[0]), int(state["conv3.0.weight"].shape[0])
        # the official widths are int(96 * p) and int(192 * p): take the p that gives both back
        for percentage in (n1 / 96, n2 / 192):
            if int(96 * percentage) == n1 and int(192 * percentage) == n2:
                out["filters_percentage"] = percentage
                break
    if head is not None and head.shape[0] > 1:
        out["num_classes"] = int(head.shape[0])
    return out


def official_config(path: Path) -> dict[str, Any]:
    """Config fields of the architecture the official file at ``path`` holds (see :func:`config_from_state`).

    Args:
        path: the official ``torch.save(model.state_dict())`` file (or ``.safetensors``).

    Returns:
        The inferred config fields.
    """
    return config_from_state(read_official(path))


def load_official(model, path: str | Path) -> None:
    """Load an official All-CNN or ResNet-18 state_dict file into a :class:`~zoo.models.convnets.module.ConvNetModule`.

    Args:
        model: the module, built at the file's configuration (``zoo.load(..., official=True)`` does that).
        path: the official file.

    Raises:
        ValueError: keys or shapes differ (another architecture or task), naming them.
    """
    official = read_official(path)
    if model.config.arch == "resnet18":
        official = resnet18_from_official(official)
    model.load_net_state(match_state_dict(official, model.net))
