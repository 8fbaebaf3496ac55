"""Real camera RAW files (DNG and the formats LibRaw reads) through rawpy: the Bayer mosaic with the black and white
levels and the CFA pattern read from the file, laid out as zoo's packed RAW.

    >>> packed = read_camera_raw_packed("IMG_0001.dng")   # (1, 4, H/2, W/2), normalised per plane
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zoo.core import checks
from zoo.core.optional import require
from zoo.data.raw import PACKED_PLANE_OFFSETS, normalize_packed, pack_bayer

CAMERA_RAW_SUFFIXES = (".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2", ".raf", ".pef", ".srw", ".3fr", ".iiq", ".erf", ".kdc", ".mos", ".mrw", ".rwl", ".x3f")
"""File suffixes handed to rawpy (LibRaw); X-Trans and Foveon files are refused when read, being no Bayer mosaic."""


@dataclass(frozen=True)
class CameraRaw:
    """A Bayer mosaic cropped to start on red (RGGB), with its levels.

    Args:
        mosaic: sensor counts. Shape: (H, W), H and W even.
        black_level: per packed plane, in zoo's packed order (:data:`zoo.data.raw.PACKED_PLANE_OFFSETS`).
        white_level: saturation in counts.
        offset: the (row, column) crop that moved the file's CFA onto RGGB.
    """

    mosaic: np.ndarray
    black_level: tuple[float, float, float, float]
    white_level: float
    offset: tuple[int, int]


def _rggb_offset(pattern: np.ndarray, colors: str) -> tuple[int, int]:
    """The (row, column) shift that puts red at the origin of the 2x2 cell, with blue on the diagonal."""
    names = [[colors[int(pattern[r, c])] for c in range(2)] for r in range(2)]
    for dy in range(2):
        for dx in range(2):
            cell = [[names[(dy + r) % 2][(dx + c) % 2] for c in range(2)] for r in range(2)]
            if cell == [["R", "G"], ["G", "B"]]:
                return dy, dx
    raise ValueError(f"camera RAW: expected a Bayer colour filter (R, G, G, B in a 2x2 cell), received the pattern {names}")


def read_camera_raw(path: str | Path) -> CameraRaw:
    """Read a camera RAW file's mosaic and levels with rawpy.

    Args:
        path: a DNG or another format LibRaw reads (:data:`CAMERA_RAW_SUFFIXES`).

    Returns:
        The RGGB-aligned mosaic with the file's per-plane black level and its white level.

    Raises:
        ModuleNotFoundError: rawpy is not installed (the ``raw`` extra).
        ValueError: an unreadable file, a non-Bayer sensor (X-Trans, Foveon) or a mosaic smaller than 2x2.
    """
    rawpy = require("rawpy", "raw")
    path = checks.check_path(path, "camera RAW")
    try:
        with rawpy.imread(str(path)) as raw:
            pattern = np.asarray(raw.raw_pattern)
            colors = raw.color_desc.decode()
            if pattern is None or pattern.shape != (2, 2):
                raise ValueError(f"camera RAW {str(path)!r}: expected a 2x2 Bayer colour filter, received a {None if pattern is None else pattern.shape} pattern")
            mosaic = np.array(raw.raw_image_visible, dtype=np.float32)
            per_color = list(raw.black_level_per_channel)
            white = float(raw.white_level)
    except (rawpy.LibRawError, OSError) as error:
        raise ValueError(f"camera RAW: expected a file LibRaw reads, received {str(path)!r} ({type(error).__name__}: {error})") from None
    dy, dx = _rggb_offset(pattern, colors)
    mosaic = mosaic[dy:, dx:]
    mosaic = mosaic[: mosaic.shape[0] // 2 * 2, : mosaic.shape[1] // 2 * 2]
    if min(mosaic.shape) < 2:
        raise ValueError(f"camera RAW {str(path)!r}: expected a mosaic of at least 2x2 pixels, received {mosaic.shape}")
    black = tuple(float(per_color[int(pattern[(dy + r) % 2, (dx + c) % 2])]) for r, c in PACKED_PLANE_OFFSETS)
    return CameraRaw(np.ascontiguousarray(mosaic), black, white, (dy, dx))


def read_camera_raw_packed(path: str | Path) -> torch.Tensor:
    """A camera RAW file as zoo's packed RAW, normalised by the file's own black and white levels.

    Returns:
        Shape: (1, 4, H/2, W/2), values (counts - black) / (white - black).
    """
    raw = read_camera_raw(path)
    counts = torch.from_numpy(raw.mosaic)[None, None]
    return normalize_packed(pack_bayer(counts), raw.black_level, raw.white_level)


def is_camera_raw(x) -> bool:
    """Whether ``x`` is a path whose suffix names a camera RAW format."""
    return isinstance(x, (str, Path)) and Path(x).suffix.lower() in CAMERA_RAW_SUFFIXES
