"""What a user hands ``BVTON.predict`` -> validated, batched tensors at the model's size.

A try-on needs four things: the person image, the in-shop garment, the person's parsing and its pose. A user rarely
has the last two (VITON-HD's preprocessing is CIHP parsing and OpenPose; HR-VITON's users ask for it in issues #1,
#6, #15, #25, #45, #61), so a missing one is refused with a message that says what it is and how to supply it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.core import checks

NUM_CLASSES, NUM_KEYPOINTS = 8, 18
_HOW = {
    "person": "an image path, PIL image, (H, W, 3) array or (3, H, W) tensor in [0, 1], or an .npz bundle of person, parsing and keypoints",
    "garment": "the in-shop garment on white: an image path, PIL image, (H, W, 3) array or (3, H, W) tensor in [0, 1]",
    "parsing": (
        "the person's layout, which BVTON cannot infer from the photograph: an (H, W) integer map in "
        "zoo.data.tryon.TRYON_CLASSES (0..7), a VITON-HD image-parse-v3 PNG path (CIHP labels), or the person's .npz bundle "
        "(a human parser such as SCHP or CIHP_PGN makes one)"
    ),
    "pose": (
        "the person's OpenPose-18 keypoints, which BVTON cannot infer from the photograph: an (18, 3) or (18, 2) array in "
        "the person's pixels, an .npy of it, an OpenPose *_keypoints.json path, or the person's .npz bundle"
    ),
}


def _missing(what: str) -> ValueError:
    return ValueError(f"{what}: expected {_HOW[what]}, received None")


def _array(x: Any, what: str) -> np.ndarray | torch.Tensor:
    """A path -> its array (.npy) or image (PIL); arrays and tensors as they are."""
    if isinstance(x, (str, Path)):
        path = checks.check_path(x, what)
        if path.suffix.lower() == ".npy":
            try:
                return np.load(path, allow_pickle=False)
            except ValueError as error:
                raise ValueError(f"{what}: expected a readable .npy array, received {str(path)!r} ({error})") from None
        return checks.open_image(path, what)
    return x


def image(x: Any, what: str, channels: int, max_values: int) -> torch.Tensor:
    """An image in any user form -> (N, channels, H, W) float in [0, 1].

    Raises:
        ValueError: not an image, too large, wrong rank or channels, not numeric, empty, NaN / Inf, out of [0, 1].
    """
    x = _array(x, what)
    if hasattr(x, "getbands"):
        checks.check_max_numel(x, max_values, what)
        x = np.asarray(x.convert("RGB" if channels == 3 else "L"))
    if isinstance(x, np.ndarray):
        checks.check_max_numel(x, max_values, what)
        if x.dtype.kind not in "biuf":
            raise ValueError(f"{what}: expected a uint8 or floating-point array, received {checks.describe(x)}")
        if x.ndim == 2 and channels == 1:
            x = x[..., None]
        if x.ndim != 3 or x.shape[-1] != channels:
            raise ValueError(f"{what}: expected an array of shape (H, W, {channels}), received {checks.describe(x)}")
        t = torch.from_numpy(np.array(x, copy=True)).permute(2, 0, 1)
        x = t.float() / 255.0 if x.dtype == np.uint8 else t.float() if x.dtype == np.bool_ else t
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{what}: expected {_HOW.get(what, 'an image')}, received {checks.describe(x)}")
    return checks.check_image_batch(x, channels, what, max_values=max_values)[0]


def labels(x: Any, size: tuple[int, int]) -> torch.Tensor:
    """The parsing -> (N, H, W) int64 in 0..7 at the person's ``size``."""
    if isinstance(x, (str, Path)) and Path(x).suffix.lower() != ".npy":
        from zoo.data.tryon import read_parsing

        return read_parsing(x, size)[None]
    x = _array(x, "parsing")
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biu":
            raise ValueError(f"parsing: expected an integer label map, received {checks.describe(x)}")
        x = torch.from_numpy(np.ascontiguousarray(x).astype(np.int64))
    if not isinstance(x, torch.Tensor) or x.ndim not in (2, 3):
        raise ValueError(f"parsing: expected an (H, W) or (N, H, W) integer label map, received {checks.describe(x)}")
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"parsing: expected an integer label map (int64 classes 0..{NUM_CLASSES - 1}), received {checks.describe(x)}")
    checks.check_not_empty(x, "parsing")
    x = x if x.ndim == 3 else x[None]
    if tuple(x.shape[-2:]) != tuple(size):
        raise ValueError(f"parsing: expected the person's size {size[0]}x{size[1]}, received {x.shape[-2]}x{x.shape[-1]}")
    lo, hi = int(x.min()), int(x.max())
    if lo < 0 or hi >= NUM_CLASSES:
        raise ValueError(f"parsing: expected values in [0, {NUM_CLASSES - 1}] (TRYON_CLASSES), received values in [{lo}, {hi}]")
    return x.long()


def keypoints(x: Any, size: tuple[int, int]) -> torch.Tensor:
    """The pose -> (N, 18, 3) float ``(x, y, confidence)``."""
    if isinstance(x, (str, Path)) and Path(x).suffix.lower() == ".json":
        from zoo.data.tryon import read_openpose

        return read_openpose(x)[None]
    x = _array(x, "pose")
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            raise ValueError(f"pose: expected a numeric (18, 3) array, received {checks.describe(x)}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor) or x.ndim not in (2, 3) or x.shape[-2] != NUM_KEYPOINTS or x.shape[-1] not in (2, 3):
        raise ValueError(f"pose: expected (18, 3) or (18, 2) OpenPose keypoints (x, y[, confidence]), received {checks.describe(x)}")
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"pose: expected real-valued keypoints, received {checks.describe(x)}")
    x = x.float()
    checks.check_finite(x, "pose")
    checks.check_range(x, -checks.FEATURE_MAGNITUDE, checks.FEATURE_MAGNITUDE, "pose")
    x = x if x.ndim == 3 else x[None]
    if x.shape[-1] == 2:
        x = torch.cat([x, torch.ones_like(x[..., :1])], -1)
    return x


def _unpack(person: Any, garment: Any, parsing: Any, pose: Any, mask: Any) -> tuple[Any, ...]:
    """A tuple / dict / .npz bundle given as ``person`` -> its parts (explicit arguments win)."""
    if isinstance(person, (tuple, list)):
        if not 2 <= len(person) <= 5:
            raise ValueError(f"person: expected a tuple (person, garment[, parsing[, pose[, garment_mask]]]), received a tuple of {len(person)}")
        parts = list(person) + [None] * (5 - len(person))
        return tuple(given if given is not None else part for given, part in zip((None, garment, parsing, pose, mask), parts))
    if isinstance(person, (str, Path)) and Path(person).suffix.lower() == ".npz":
        path = checks.check_path(person, "person")
        try:
            with np.load(path, allow_pickle=False) as data:
                bundle = {k: data[k] for k in data.files}
        except (ValueError, OSError) as error:
            raise ValueError(f"person: expected an .npz bundle of person, parsing and keypoints arrays, received {str(path)!r} ({error})") from None
        if "person" not in bundle:
            raise ValueError(f"person: expected an .npz bundle with a 'person' array, received arrays {sorted(bundle)} in {str(path)!r}")
        return (bundle["person"], garment if garment is not None else bundle.get("garment"), parsing if parsing is not None else bundle.get("parsing"),
                pose if pose is not None else bundle.get("keypoints"), mask if mask is not None else bundle.get("garment_mask"))
    return person, garment, parsing, pose, mask


def gather_inputs(
    person: Any, garment: Any, parsing: Any, pose: Any, garment_mask: Any, size: tuple[int, int], max_values: int, min_side: int,
) -> tuple[dict[str, torch.Tensor], bool, bool]:
    """Validate the four inputs of a try-on and bring them to ``size``.

    Returns:
        ``({person (N, 3, H, W), garment (N, 3, H, W), garment_mask (N, 1, H, W), parsing (N, H, W), keypoints (N, 18, 3)},
        whether the person was a tensor, whether it was batched)``.
    """
    as_tensor = isinstance(person, torch.Tensor) or (isinstance(person, (tuple, list)) and bool(person) and isinstance(person[0], torch.Tensor))
    person, garment, parsing, pose, garment_mask = _unpack(person, garment, parsing, pose, garment_mask)
    if person is None:
        raise _missing("person")
    batched = isinstance(person, torch.Tensor) and person.ndim == 4
    p = image(person, "person", 3, max_values)
    h, w = p.shape[-2:]
    if min(h, w) < min_side:
        raise ValueError(f"person: expected sides of at least {min_side} pixels, received {h}x{w}")
    if garment is None:
        raise _missing("garment")
    g = image(garment, "garment", 3, max_values)
    if min(g.shape[-2:]) < min_side:
        raise ValueError(f"garment: expected sides of at least {min_side} pixels, received {g.shape[-2]}x{g.shape[-1]}")
    if parsing is None:
        raise _missing("parsing")
    labels_ = labels(parsing, (h, w))
    if pose is None:
        raise _missing("pose")
    kp = keypoints(pose, (h, w))
    from zoo.data.tryon import white_background_mask

    m = image(garment_mask, "garment_mask", 1, max_values) if garment_mask is not None else white_background_mask(g)
    if m.shape[-2:] != g.shape[-2:]:
        raise ValueError(f"garment_mask: expected the garment's size {g.shape[-2]}x{g.shape[-1]}, received {m.shape[-2]}x{m.shape[-1]}")
    n = p.shape[0]
    for name, t in (("garment", g), ("garment_mask", m), ("parsing", labels_), ("pose", kp)):
        if t.shape[0] not in (1, n):
            raise ValueError(f"{name}: expected a batch of 1 or {n} (the person's), received {t.shape[0]}")
    g, m, labels_, kp = (t.expand(n, *t.shape[1:]) for t in (g, m, labels_, kp))
    m = (m > 0.5).float()
    th, tw = size
    from zoo.data.tryon import scale_keypoints

    kp = scale_keypoints(kp, (tw / w, th / h))

    def resize(t: torch.Tensor, mode: str) -> torch.Tensor:
        if tuple(t.shape[-2:]) == (th, tw):
            return t
        return F.interpolate(t, size=(th, tw), mode=mode, **({"align_corners": False, "antialias": True} if mode == "bilinear" else {}))

    g, m = resize(g, "bilinear"), (resize(m, "bilinear") > 0.5).float()
    return {
        "person": resize(p, "bilinear"), "garment": g * m + (1 - m), "garment_mask": m,
        "parsing": resize(labels_[:, None].float(), "nearest")[:, 0].long(), "keypoints": kp,
    }, as_tensor, batched
