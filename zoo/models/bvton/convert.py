"""Checkpoints -> BVTON weights.

BVTON has **no official release** (no code, no checkpoint: see the card). What loads with ``official=True`` is a
checkpoint of this architecture written by someone else's training: a ``.safetensors`` / weights-only ``.pth`` of the
network's state_dict, or a Lightning ``.ckpt`` of :class:`~zoo.models.bvton.module.BVTON` (its ``state_dict`` wrapper
and ``net.`` prefix are removed; discriminators and the EMA copy are dropped). :func:`official_config` reads the
stage widths and depths from the tensors. The anchors' checkpoints (HR-VITON's ``tocg`` / ``gen``, VITON-HD's
``seg`` / ``gmm`` / ``alias``) are other architectures and are refused by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zoo.core.convert import match_state_dict, read_official

_ANCHOR_KEYS = {"conv_0.weight": "VITON-HD's ALIAS / segmentation generator", "ClothEncoder.0.weight": "HR-VITON's condition generator",
                "head_0.conv_0.weight": "HR-VITON's SPADE generator"}


def _net_state(path: str | Path) -> dict[str, torch.Tensor]:
    state = read_official(path)
    if any(k.startswith("net.") for k in state):
        state = {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}
    for key, name in _ANCHOR_KEYS.items():
        if any(k.endswith(key) for k in state) and not any(k.startswith("synthesizer.") for k in state):
            raise ValueError(f"checkpoint {str(path)!r}: expected a BVTON network (canonicalizer., layout., synthesizer. keys), received {name}, another architecture")
    return state


def official_config(path: str | Path) -> dict[str, Any]:
    """The architecture fields of a BVTON checkpoint, from its tensors (widths, pyramid depths, spectral norm).

    Returns:
        ``flow_width``, ``flow_levels``, ``layout_width``, ``layout_levels``, ``synth_width``, ``synth_levels``,
        ``spade_hidden``, ``spectral`` (the fields whose tensors are present).
    """
    state = _net_state(path)
    out: dict[str, Any] = {}
    flow = "canonicalizer.parts.0.source.stages."
    if f"{flow}0.0.0.weight" in state:
        out["flow_width"] = int(state[f"{flow}0.0.0.weight"].shape[0])
        out["flow_levels"] = len({k[len(flow):].split(".")[0] for k in state if k.startswith(flow)})
    layout = "layout.flow.source.stages."
    if f"{layout}0.0.0.weight" in state:
        out["layout_width"] = int(state[f"{layout}0.0.0.weight"].shape[0])
        out["layout_levels"] = len({k[len(layout):].split(".")[0] for k in state if k.startswith(layout)})
    if "synthesizer.out.weight" in state:
        out["synth_width"] = int(state["synthesizer.out.weight"].shape[1])
        out["synth_levels"] = len({k.split(".")[2] for k in state if k.startswith("synthesizer.blocks.")}) - 1
        out["spade_hidden"] = int(state["synthesizer.blocks.0.norm0.shared.0.weight"].shape[0])
        out["spectral"] = any("parametrizations" in k for k in state if k.startswith("synthesizer."))
    return out


def load_official(model, path: str | Path) -> None:
    """Load a BVTON checkpoint into ``model`` (its architecture must be the file's: build it from :func:`official_config`).

    Raises:
        ValueError: another architecture, or names / shapes that differ.
    """
    model.load_net_state(match_state_dict(_net_state(path), model.net))
