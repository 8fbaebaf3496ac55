"""Official Blindspot checkpoints (``torch.save(model.state_dict())`` of ``models.py``) -> zoo weights.

- All-CNN: the official key names (``conv{1..8}.{0,1}.*``, ``classifier.0.*``) are zoo's: checked and copied.
- ResNet-18: the official wrapper splits torchvision's network into ``layer1`` (stem conv + bn), ``basic_block1..8``
  and ``final``; mapped back to torchvision names (``layer1.0.`` -> ``conv1.``, ``layer1.1.`` -> ``bn1.``,
  ``basic_block{2i-1, 2i}.`` -> ``layer{i}.{0, 1}.``, ``final.`` -> ``fc.1.``, after the head's dropout).
"""

from __future__ import annotations

import re
from pathlib import Path

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


def load_official(model, path: str | Path) -> None:
    """Load an official All-CNN or ResNet-18 state_dict file into a :class:`~zoo.models.convnets.module.ConvNetModule`."""
    official = read_official(path)
    if model.config.arch == "resnet18":
        official = resnet18_from_official(official)
    model.net.load_state_dict(match_state_dict(official, model.net), strict=True)
