"""Official checkpoint -> zoo weights for the learned lightweight ISP.

The official releases (``pretrained/models/{Fujifilm,ZRR}/*.pth``) are plain ``torch.save(state_dict)`` files
saved from ``cuda:0``. Their key names are the ones ``model.py`` uses, so conversion checks that the file
holds exactly the keys and shapes this variant expects, and copies. The authors' repository has no licence:
zoo never ships these weights; this converter reads a file the user already has.

The generator family (EfficientISP, RobustISP, RMFA-Net) is the registered name's choice; within RMFA-Net the
number of blocks and the width are read from the file (:func:`official_config`), so any RMFA-Net size loads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from zoo.core.convert import match_state_dict, read_official

_RMFA_BLOCK = re.compile(r"^rmfa_blocks\.(\d+)\.")


def config_from_state(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The :class:`~zoo.models.lightweight_isp.module.LightweightISPConfig` fields an official state_dict determines.

    Args:
        state: an official state_dict.

    Returns:
        ``rmfa_blocks`` and ``rmfa_width`` for an RMFA-Net file; nothing for EfficientISP / RobustISP (their widths
        are fixed by the generator, which the registered name chooses).
    """
    blocks = {int(m.group(1)) for m in map(_RMFA_BLOCK.match, state) if m}
    if not blocks or "input_module.0.weight" not in state:
        return {}
    return {"rmfa_blocks": max(blocks) + 1, "rmfa_width": int(state["input_module.0.weight"].shape[0])}


def official_config(path: Path) -> dict[str, Any]:
    """Config fields of the architecture the official file at ``path`` holds (see :func:`config_from_state`).

    Args:
        path: the official ``.pth`` / ``.safetensors`` file.

    Returns:
        The inferred config fields.
    """
    return config_from_state(read_official(path))


def load_official(model, path: str | Path) -> None:
    """Load the official checkpoint at ``path`` into a :class:`~zoo.models.lightweight_isp.module.LightweightISP`.

    Args:
        model: the ISP module, built at the file's configuration (``zoo.load(..., official=True)`` does that).
        path: the official ``.pth`` / ``.safetensors`` file.

    Raises:
        ValueError: the file holds other keys or shapes (e.g. another generator), naming them.
    """
    model.load_net_state(match_state_dict(read_official(path), model.net))
