"""Input checks that read like the documentation (in the spirit of kornia's ``KORNIA_CHECK_SHAPE``).

Every failure is a ``ValueError`` that names what was expected and what was received, so that a user
never has to decode a stack trace from deep inside a convolution.
"""

from __future__ import annotations

import math
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

if TYPE_CHECKING:
    from PIL import Image

FEATURE_MAGNITUDE = 1e6
"""The largest magnitude accepted for unbounded inputs (features, coordinates, series): squared, summed over wide
layers and normalised, larger values overflow float32 inside a network and come out as NaN."""


def describe(x: Any) -> str:
    """A short description of ``x`` for error messages: type, shape and dtype."""
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    if hasattr(x, "getbands") and hasattr(x, "mode"):
        return f"PIL image of mode {x.mode!r} and size {x.width}x{x.height}"
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


def check_not_empty(x: torch.Tensor | np.ndarray, what: str = "input") -> None:
    """Check that ``x`` (a tensor or array) has at least one element."""
    if math.prod(x.shape) == 0:
        raise ValueError(f"{what}: expected a non-empty {'array' if isinstance(x, np.ndarray) else 'tensor'}, received {describe(x)}")


def check_range(x: torch.Tensor, low: float, high: float, what: str = "input", hint: str = "") -> None:
    """Check that every value of ``x`` lies in ``[low, high]``.

    Args:
        x: the tensor (non-empty).
        low, high: the accepted range, inclusive.
        what: its name in error messages.
        hint: appended to the error, e.g. how to bring the values into range.
    """
    lo, hi = float(x.min()), float(x.max())
    if lo < low or hi > high:
        raise ValueError(f"{what}: expected values in [{low}, {high}], received values in [{lo:.6g}, {hi:.6g}]{f'; {hint}' if hint else ''}")


def check_max_numel(x: Any, limit: int, what: str = "input") -> None:
    """Check that ``x`` (a tensor, array or PIL image) holds at most ``limit`` values, before any compute or copy
    touches them.

    Example:
        >>> check_max_numel(torch.zeros(3, 64, 64), 2**20)
    """
    numel = len(x.getbands()) * x.width * x.height if hasattr(x, "getbands") else math.prod(x.shape)
    if numel > limit:
        raise ValueError(f"{what}: expected at most {limit:,} values, received {numel:,} in {describe(x)}")


def check_divisible(x: torch.Tensor, factor: int, what: str = "input") -> None:
    """Check that the two trailing (spatial) sizes of ``x`` are multiples of ``factor``."""
    h, w = x.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"{what}: expected height and width divisible by {factor}, received {h}x{w}")


def _matches_type(value: Any, annotation: Any) -> bool:
    """Whether ``value`` (as JSON or YAML gives it: lists for tuples) is of the type ``annotation``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches_type(value, a) for a in args)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    if annotation is str:
        return isinstance(value, str)
    if origin is tuple or annotation is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        if not args:
            return True
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches_type(v, args[0]) for v in value)
        return len(value) == len(args) and all(_matches_type(v, a) for v, a in zip(value, args))
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if origin is list or annotation is list:
        return isinstance(value, (list, tuple)) and (not args or all(_matches_type(v, args[0]) for v in value))
    return True  # an annotation this check does not know (Any, a class): the code that takes the value decides


def check_type(value: Any, annotation: Any, what: str = "value") -> None:
    """Check that a parsed value (from JSON, YAML or a command line: lists stand for tuples) is of a type annotation:
    ``int`` (no bool), ``float`` (an int too; not NaN, inf is a value some settings use), ``str``, ``bool``, ``X | None``, ``tuple[X, ...]`` or
    ``tuple[X, Y]`` (of that length), ``dict``, ``list[X]``; other annotations pass.

    Example:
        >>> check_type([0.5, 0.9], tuple[float, float], "config.g_betas")
    """
    if not _matches_type(value, annotation):
        name = annotation.__name__ if typing.get_origin(annotation) is None and hasattr(annotation, "__name__") else str(annotation)
        name = name.replace("typing.", "") + (" (not NaN)" if annotation is float else "")
        raise ValueError(f"{what}: expected {name}, received {value!r} ({type(value).__name__})")


def check_path(path: str | Path, what: str = "input") -> Path:
    """Check that ``path`` names an existing file and return it as a :class:`Path`."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what}: expected an existing file, received {str(path)!r} ({'a directory' if p.is_dir() else 'not found'})")
    return p


def open_image(path: str | Path, what: str = "image") -> "Image.Image":
    """Open and fully decode an image file with PIL.

    Args:
        path: the file.
        what: its name in error messages.

    Returns:
        The decoded PIL image (its file is closed).

    Raises:
        ValueError: a missing file, a file PIL cannot identify or decode (not an image, truncated), or one that PIL
            refuses as a decompression bomb (more than twice ``PIL.Image.MAX_IMAGE_PIXELS`` pixels).
    """
    from PIL import Image, UnidentifiedImageError

    p = check_path(path, what)
    try:
        with Image.open(p) as image:
            image.load()
            return image
    except Image.DecompressionBombError as error:
        raise ValueError(f"{what}: expected an image of at most {2 * Image.MAX_IMAGE_PIXELS:,} pixels, received {str(p)!r} ({error})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:  # PIL's decoders raise all of these
        raise ValueError(f"{what}: expected a readable image file, received {str(p)!r} ({type(error).__name__}: {error})") from None


def check_image_batch(
    x: Any, channels: int, what: str = "image", range_note: str = "", max_values: int | None = None
) -> tuple[torch.Tensor, bool]:
    """Validate a float image tensor ``(C, H, W)`` or ``(N, C, H, W)`` with values in [0, 1] and batch it.

    Args:
        x: the tensor.
        channels: the expected ``C``.
        what: its name in error messages.
        range_note: how the [0, 1] range is meant, for the range error (e.g. "normalised by black and white level").
        max_values: the most values accepted (checked before any value is read); None: no limit.

    Returns:
        ``(float32 batch (N, C, H, W), whether the input was batched)``.

    Raises:
        ValueError: not a tensor, wrong rank or channels, too large, not floating, empty, non-finite or out of [0, 1].
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{what}: expected a tensor, numpy array, PIL image or file path, received {describe(x)}")
    if x.ndim not in (3, 4) or x.shape[-3] != channels:
        raise ValueError(f"{what}: expected shape ({channels}, H, W) or (N, {channels}, H, W), received {describe(x)}")
    if max_values is not None:
        check_max_numel(x, max_values, what)
    check_floating(x, what)
    check_not_empty(x, what)
    check_finite(x, what)
    check_range(x, 0.0, 1.0, f"{what} ({range_note})" if range_note else what)
    return (x if x.ndim == 4 else x[None]).float(), x.ndim == 4


def check_state_dict(net: "torch.nn.Module", state: dict[str, torch.Tensor], owner: str) -> None:
    """Refuse weights that do not fit ``net`` exactly, or that hold NaN or Inf.

    Args:
        net: the network the weights are for.
        state: the state_dict to load.
        owner: the model's name, for the message.

    Raises:
        ValueError: keys or shapes differ, naming the missing, unexpected and mis-shaped tensors; or a tensor holds
            NaN or Inf, naming it.
    """
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k}: expected {tuple(expected[k].shape)}, received {tuple(state[k].shape)}" for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(
            f"weights do not match {owner}'s network ({type(net).__name__}): "
            f"missing {missing[:6]}{' ...' if len(missing) > 6 else ''}, unexpected {unexpected[:6]}{' ...' if len(unexpected) > 6 else ''}, "
            f"mis-shaped {shapes[:4]} (is it the checkpoint of another variant or configuration?)"
        )
    for key, tensor in state.items():
        if tensor.is_floating_point() or tensor.is_complex():
            check_finite(tensor, f"weights {key!r}")


def place_like(prepared: torch.Tensor | tuple[torch.Tensor, ...], param: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The network inputs on ``param``'s device, floating ones in its dtype (integer ones keep theirs), as a tuple."""

    def place(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=param.device, dtype=param.dtype if t.is_floating_point() else t.dtype)

    return tuple(place(t) for t in prepared) if isinstance(prepared, tuple) else (place(prepared),)
