"""The official SSGMap generator (``saved_model/g_model.pth``, or a training run's ``{iter}-G.pth``) -> zoo weights.

The official file is ``torch.save(G.state_dict())`` of StarGAN's ``Generator``: one ``nn.Sequential`` ``main`` whose
indices count every layer, weights or not (``N`` residual blocks):

=================================  ===============================
official                           zoo (:class:`SSGMapGenerator`)
=================================  ===============================
``main.0`` conv 7x7, ``main.1`` IN  ``stem.0``, ``stem.1``
``main.3`` / ``main.4``             ``down.0.0`` / ``down.0.1``
``main.6`` / ``main.7``             ``down.1.0`` / ``down.1.1``
``main.{9+i}.main.{0,1,3,4}``       ``blocks.{i}.body.{0,1,3,4}``
``main.{9+N}`` / ``main.{10+N}``    ``up.0.0`` / ``up.0.1`` (transposed conv, IN)
``main.{12+N}`` / ``main.{13+N}``   ``up.1.0`` / ``up.1.1``
``main.{15+N}`` conv 7x7            ``head``
=================================  ===============================

Each IN has ``weight, bias, running_mean, running_var, num_batches_tracked``. The width, the label size and the
number of blocks are read from the tensors. The map tables are not in the file (the official code keeps them as plain
attributes): :func:`official_config` looks for the official ``grid.hdf5`` beside the checkpoint or one or two folders
up (the repository's layout: ``saved_model/g_model.pth`` and ``grid.hdf5``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from zoo.core.convert import read_official

GRID_NAME = "grid.hdf5"
_BLOCK = re.compile(r"^main\.(\d+)\.main\.(\d+)\.(.+)$")
_FLAT = re.compile(r"^main\.(\d+)\.(.+)$")


def _clean(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def generator_layout(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """``conv_dim``, ``c_dim`` and ``repeat_num`` of an official generator state_dict.

    Raises:
        ValueError: not a StarGAN generator (no ``main.0.weight`` 7x7 conv or no residual blocks).
    """
    state = _clean(state)
    first = state.get("main.0.weight")
    blocks = sorted({int(m.group(1)) for m in map(_BLOCK.match, state) if m})
    if first is None or first.ndim != 4 or first.shape[-1] != 7 or first.shape[1] <= 3 or blocks != list(range(9, 9 + len(blocks))) or not blocks:
        raise ValueError(
            "official generator: expected a StarGAN Generator state_dict (keys main.0.weight [conv_dim, 3 + c_dim, 7, 7], "
            f"main.9.main.0.weight, ...), received keys {sorted(state)[:4]}"
        )
    return {"conv_dim": int(first.shape[0]), "c_dim": int(first.shape[1]) - 3, "repeat_num": len(blocks)}


def convert_generator(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official ``Generator`` state_dict -> :class:`~zoo.models.ssgmap.model.SSGMapGenerator`'s (see the module table)."""
    state = _clean(state)
    n = generator_layout(state)["repeat_num"]
    flat = {0: "stem.0", 1: "stem.1", 3: "down.0.0", 4: "down.0.1", 6: "down.1.0", 7: "down.1.1",
            9 + n: "up.0.0", 10 + n: "up.0.1", 12 + n: "up.1.0", 13 + n: "up.1.1", 15 + n: "head"}
    out = {}
    for key, value in state.items():
        block, plain = _BLOCK.match(key), _FLAT.match(key)
        if block and 9 <= int(block.group(1)) < 9 + n:
            out[f"blocks.{int(block.group(1)) - 9}.body.{block.group(2)}.{block.group(3)}"] = value
        elif plain and int(plain.group(1)) in flat:
            out[f"{flat[int(plain.group(1))]}.{plain.group(2)}"] = value
        else:
            raise ValueError(f"official generator: unexpected key {key!r} for a generator with {n} residual blocks")
    return out


def find_grid(path: Path) -> Path | None:
    """The official ``grid.hdf5`` beside ``path`` or up to two folders above it, if there is one."""
    for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
        if (folder / GRID_NAME).is_file():
            return folder / GRID_NAME
    return None


def official_config(path: Path) -> dict[str, Any]:
    """Config fields of an official generator file: the architecture from its tensors, and ``grid_file`` when the
    official ``grid.hdf5`` is found (see :func:`find_grid`; else pass ``grid_file=`` to ``zoo.load``)."""
    path = Path(path)
    config: dict[str, Any] = dict(generator_layout(read_official(path)))
    grid = find_grid(path)
    if grid is not None:
        config["grid_file"] = str(grid)
    return config


def load_official(model, path: str | Path) -> None:
    """Load an official generator file into an :class:`~zoo.models.ssgmap.module.SSGMap`.

    Args:
        model: the SSGMap module (built with :func:`official_config`'s settings).
        path: ``g_model.pth`` (read with ``weights_only=True``) or a ``.safetensors`` of the same keys.

    Raises:
        ValueError: another architecture, or names and shapes that differ from the model's.
    """
    model.load_net_state(convert_generator(read_official(path)))
