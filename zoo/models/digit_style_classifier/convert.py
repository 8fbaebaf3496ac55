"""A Lightning checkpoint of this classifier (``zoo train`` / LightningCLI ``.ckpt``) -> zoo weights.

UnlearnCanvas's own judges are two ViT-Large/16 classifiers (timm ``vit_large_patch16_224``, one per domain) for
512-px paintings; they have no counterpart at 28x28, so no official file converts to this network. What a user may
hold is a training checkpoint of it: its ``state_dict`` (``net.``-prefixed keys; optimiser states are ignored) is
read with ``weights_only=True`` and the sizes are inferred from the tensors (:func:`official_config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.core.convert import read_official

_PREFIX = "net."


def _net_state(path: str | Path) -> dict:
    state = read_official(path)
    if any(k.startswith(_PREFIX) for k in state):
        state = {k[len(_PREFIX):]: v for k, v in state.items() if k.startswith(_PREFIX)}
    for key in ("trunk.0.weight", "digit_head.weight", "style_head.weight"):
        if key not in state:
            raise ValueError(f"{path}: expected a digit/style classifier state_dict with {key!r}, received keys {sorted(state)[:6]}")
    return state


def official_config(path: str | Path) -> dict[str, Any]:
    """``width``, ``num_digits`` and ``num_styles`` of the checkpoint at ``path``."""
    state = _net_state(path)
    return {"width": int(state["trunk.0.weight"].shape[0]), "num_digits": int(state["digit_head.weight"].shape[0]),
            "num_styles": int(state["style_head.weight"].shape[0])}


def load_official(model, path: str | Path) -> None:
    """Load a training checkpoint (or a plain state_dict) of the classifier into ``model``.

    Raises:
        ValueError: not a classifier checkpoint, or names / shapes that differ (``load_net_state``).
    """
    model.load_net_state(_net_state(path))
