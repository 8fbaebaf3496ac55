"""Input checks that read like the documentation (in the spirit of kornia's ``KORNIA_CHECK_SHAPE``).

Every failure is a ``ValueError`` that names what was expected and what was received, so that a user
never has to decode a stack trace from deep inside a convolution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch


def describe(x: Any) -> str:
    """A short description of ``x`` for error messages: type, shape and dtype."""
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    return type(x).__name__


def check_shape(x: torch.Tensor, spec: Sequence[str], what: str = "input") -> None:
    """Check that ``x`` has one dimension per entry of ``spec``.

    Entries are names (any size), integers as strings (that exact size), or ``"*"`` (any number of
    leading dimensions, only first).

    Example:
        >>> check_shape(torch.zeros(2, 4, 8, 8), ["*", "4", "H", "W"])
    """
    shape = tuple(x.shape)
    fixed = list(spec[1:]) if spec and spec[0] == "*" else list(spec)
    if (spec and spec[0] == "*" and len(shape) < len(fixed)) or (not (spec and spec[0] == "*") and len(shape) != len(fixed)):
        raise ValueError(f"{what}: expected shape {list(spec)}, received {describe(x)}")
    for size, name in zip(shape[len(shape) - len(fixed):], fixed):
        if name.isdigit() and size != int(name):
            raise ValueError(f"{what}: expected shape {list(spec)} (dimension {name!r} = {name}), received {describe(x)}")


def check_floating(x: torch.Tensor, what: str = "input") -> None:
    """Check that ``x`` is a floating-point tensor."""
    if not x.is_floating_point():
        raise ValueError(f"{what}: expected a floating-point tensor (float16/32/64), received {describe(x)}")


def check_finite(x: torch.Tensor, what: str = "input") -> None:
    """Check that ``x`` holds no NaN or Inf."""
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{what}: expected finite values, received {bad} NaN/Inf entries in {describe(x)}")


def check_not_empty(x: torch.Tensor, what: str = "input") -> None:
    """Check that ``x`` has at least one element."""
    if x.numel() == 0:
        raise ValueError(f"{what}: expected a non-empty tensor, received {describe(x)}")


def check_range(x: torch.Tensor, low: float, high: float, what: str = "input") -> None:
    """Check that every value of ``x`` lies in ``[low, high]``."""
    lo, hi = float(x.min()), float(x.max())
    if lo < low or hi > high:
        raise ValueError(f"{what}: expected values in [{low}, {high}], received values in [{lo:.4g}, {hi:.4g}]")


def check_divisible(x: torch.Tensor, factor: int, what: str = "input") -> None:
    """Check that the two trailing (spatial) sizes of ``x`` are multiples of ``factor``."""
    h, w = x.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"{what}: expected height and width divisible by {factor}, received {h}x{w}")


def check_path(path: str | Path, what: str = "input") -> Path:
    """Check that ``path`` names an existing file and return it as a :class:`Path`."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what}: expected an existing file, received {str(path)!r} (not found)")
    return p


def check_image_batch(x: Any, channels: int, what: str = "image", range_note: str = "") -> tuple[torch.Tensor, bool]:
    """Validate a float image tensor ``(C, H, W)`` or ``(N, C, H, W)`` with values in [0, 1] and batch it.

    Args:
        x: the tensor.
        channels: the expected ``C``.
        what: its name in error messages.
        range_note: how the [0, 1] range is meant, for the range error (e.g. "normalised by black and white level").

    Returns:
        ``(float32 batch (N, C, H, W), whether the input was batched)``.

    Raises:
        ValueError: not a tensor, wrong rank or channels, not floating, empty, non-finite or out of [0, 1].
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{what}: expected a tensor, numpy array, PIL image or file path, received {describe(x)}")
    if x.ndim not in (3, 4) or x.shape[-3] != channels:
        raise ValueError(f"{what}: expected shape ({channels}, H, W) or (N, {channels}, H, W), received {describe(x)}")
    check_floating(x, what)
    check_not_empty(x, what)
    check_finite(x, what)
    check_range(x, 0.0, 1.0, f"{what} ({range_note})" if range_note else what)
    return (x if x.ndim == 4 else x[None]).float(), x.ndim == 4
