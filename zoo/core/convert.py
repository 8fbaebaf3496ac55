"""Shared helpers of the converters (``zoo/models/<name>/convert.py``): read an official file, match it to ours."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file


def read_official(path: str | Path) -> dict[str, torch.Tensor]:
    """Read an official checkpoint: ``.safetensors``, or a pickle with ``weights_only=True`` (the only pickle zoo reads).

    A ``{"state_dict": {...}}`` wrapper is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"official checkpoint: expected an existing file, received {str(path)!r}")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # safetensors and the unpickler raise many types for a file that is not a checkpoint
        raise ValueError(
            f"official checkpoint {path}: expected a PyTorch checkpoint (.pth / .pt, read with weights_only=True) or a "
            f".safetensors file, received a file that does not load as one ({type(error).__name__})"
        ) from error
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"official checkpoint {path}: expected a state_dict of tensors, received {type(state).__name__}")
    return state


def match_state_dict(official: dict[str, torch.Tensor], net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Check that ``official`` has exactly ``net``'s keys and shapes and return it as float32 tensors.

    For models whose official key names are kept by zoo. Missing, unexpected or mis-shaped tensors are refused.
    """
    expected = net.state_dict()
    missing = sorted(set(expected) - set(official))
    unexpected = sorted(set(official) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"official checkpoint does not match {type(net).__name__}: missing {missing[:6]}, "
            f"unexpected {unexpected[:6]} (is it the checkpoint of another variant or configuration?)"
        )
    for key, tensor in expected.items():
        if official[key].shape != tensor.shape:
            raise ValueError(f"official checkpoint key {key!r}: expected shape {tuple(tensor.shape)}, received {tuple(official[key].shape)}")
    return {key: official[key].to(torch.float32).contiguous() for key in expected}
