"""Tiled inference for image-to-image networks: any image size, bounded memory.

A network that needs sides divisible by ``multiple`` (or that would not fit in memory at full size) runs on
overlapping tiles; tile outputs are blended with linear ramps over the overlaps, so no seam shows.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int, minimum: int | tuple[int, int] = 0) -> torch.Tensor:
    """Pad the bottom and right of ``x`` (reflection, replication where the image is too small to reflect) so both
    sides are multiples of ``multiple`` and at least ``minimum``.

    Args:
        x: Shape: (N, C, H, W).
        multiple: the side divisor.
        minimum: the smallest side, or ``(height, width)`` minima.

    Returns:
        Shape: (N, C, H', W').
    """
    h, w = x.shape[-2:]
    min_h, min_w = (minimum, minimum) if isinstance(minimum, int) else minimum
    target_h = max(-(-h // multiple) * multiple, -(-min_h // multiple) * multiple)
    target_w = max(-(-w // multiple) * multiple, -(-min_w // multiple) * multiple)
    pad = (0, target_w - w, 0, target_h - h)
    if pad[1] == 0 and pad[3] == 0:
        return x
    mode = "reflect" if pad[1] < w and pad[3] < h else "replicate"
    return F.pad(x, pad, mode=mode)


def _starts(size: int, tile: int, step: int) -> list[int]:
    if size <= tile:
        return [0]
    return sorted(set(list(range(0, size - tile, step)) + [size - tile]))


def _ramp(length: int, overlap: int, device, dtype) -> torch.Tensor:
    ramp = torch.ones(length, device=device, dtype=dtype)
    if overlap > 0:
        edge = torch.arange(1, overlap + 1, device=device, dtype=dtype) / (overlap + 1)
        ramp[:overlap] = edge
        ramp[-overlap:] = torch.minimum(ramp[-overlap:], edge.flip(0))
    return ramp


def tiled_apply(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, overlap: int, multiple: int = 1, scale: int = 1
) -> torch.Tensor:
    """Apply ``fn`` to ``x`` whole when it fits in one tile, else on overlapping ``tile x tile`` tiles.

    Args:
        fn: the network; maps (N, C, h, w) to (N, C', scale * h, scale * w) for sides divisible by ``multiple``.
        x: the input. Shape: (N, C, H, W), any H and W.
        tile: tile side; a multiple of ``multiple``.
        overlap: overlap of neighbouring tiles in input pixels (less than ``tile``).
        multiple: the side divisor ``fn`` requires.
        scale: output / input size ratio of ``fn``.

    Returns:
        ``fn``'s output for the whole image. Shape: (N, C', scale * H, scale * W).
    """
    if tile % multiple or not 0 <= overlap < tile:
        raise ValueError(f"tiling: expected a tile side divisible by {multiple} and 0 <= overlap < tile, received tile {tile}, overlap {overlap}")
    h, w = x.shape[-2:]
    if h <= tile and w <= tile:
        return fn(pad_to_multiple(x, multiple))[..., : scale * h, : scale * w]
    # A side that fits in one tile is padded to the network's multiple only (a 1 x 700 strip runs as 64 x 704 tiles,
    # not 512 x 768); a longer side is cut into overlapping tiles of the full size.
    tile_h, tile_w = (tile if side > tile else -(-side // multiple) * multiple for side in (h, w))
    padded = pad_to_multiple(x, multiple, minimum=(tile_h, tile_w))
    big_h, big_w = padded.shape[-2:]
    overlap_h, overlap_w = (overlap if side > tile else 0 for side in (h, w))
    out = norm = None
    for top in _starts(big_h, tile_h, tile_h - overlap_h):
        for left in _starts(big_w, tile_w, tile_w - overlap_w):
            piece = fn(padded[..., top : top + tile_h, left : left + tile_w])
            if out is None:
                out = piece.new_zeros(*piece.shape[:2], scale * big_h, scale * big_w)
                norm = piece.new_zeros(1, 1, scale * big_h, scale * big_w)
                ramp_h = _ramp(scale * tile_h, scale * overlap_h, piece.device, piece.dtype)
                ramp_w = _ramp(scale * tile_w, scale * overlap_w, piece.device, piece.dtype)
                window = ramp_h[:, None] * ramp_w[None, :]
            rows, cols = slice(scale * top, scale * (top + tile_h)), slice(scale * left, scale * (left + tile_w))
            out[..., rows, cols] += piece * window
            norm[..., rows, cols] += window
    return (out / norm)[..., : scale * h, : scale * w]
