"""Official checkpoint -> zoo weights for the learned lightweight ISP.

The official releases (``pretrained/models/{Fujifilm,ZRR}/*.pth``) are plain ``torch.save(state_dict)`` files
saved from ``cuda:0``. Their key names are the ones ``model.py`` uses, so conversion checks that the file
holds exactly the keys and shapes this variant expects, and copies. The authors' repository has no licence:
zoo never ships these weights; this converter reads a file the user already has.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file


def read_official(path: str | Path) -> dict[str, torch.Tensor]:
    """Read an official checkpoint: ``.pth`` with ``weights_only=True`` (the only pickle zoo reads), or ``.safetensors``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"official checkpoint: expected an existing file, received {str(path)!r}")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"official checkpoint {path}: expected a state_dict of tensors, received {type(state).__name__}")
    return state


def convert_state_dict(official: dict[str, torch.Tensor], net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Map an official state_dict onto ``net``'s keys, refusing missing, unexpected or mis-shaped tensors.

    Args:
        official: official key -> tensor.
        net: the zoo generator the weights are for.

    Returns:
        A state_dict for ``net.load_state_dict(..., strict=True)``.
    """
    expected = net.state_dict()
    missing = sorted(set(expected) - set(official))
    unexpected = sorted(set(official) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"official checkpoint does not match generator {type(net).__name__}: missing {missing[:6]}, "
            f"unexpected {unexpected[:6]} (is it the checkpoint of another variant?)"
        )
    for key, tensor in expected.items():
        if official[key].shape != tensor.shape:
            raise ValueError(f"official checkpoint key {key!r}: expected shape {tuple(tensor.shape)}, received {tuple(official[key].shape)}")
    return {key: official[key].to(torch.float32).contiguous() for key in expected}


def load_official(model, path: str | Path) -> None:
    """Load the official checkpoint at ``path`` into a :class:`~zoo.models.lightweight_isp.module.LightweightISP`."""
    state = convert_state_dict(read_official(path), model.net)
    model.net.load_state_dict(state, strict=True)
    if model.inference_net is not model.net:
        model.inference_net.load_state_dict(state, strict=True)
