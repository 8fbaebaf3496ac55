"""Colour pipelines: the finishing stage of the classical pseudo-ISP."""

from __future__ import annotations

import torch

from zoo.ops.compile import lazy_compile


def white_balance_normalize_gamma(
    rgb: torch.Tensor, gains: torch.Tensor, gamma: float = 2.2, eps: float = 1e-8
) -> torch.Tensor:
    """White-balance gains, clip to [0, 1], per-image min-max normalisation, then gamma ``1/gamma``.

    The colour finishing of the official pseudo-ISP (content reference of the unpaired ISP method).

    Args:
        rgb: linear camera RGB. Shape: (N, 3, H, W).
        gains: per-channel gains. Shape: (3,).
        gamma: display gamma.
        eps: guards the normalisation of a constant image and the power at 0.

    Returns:
        Display-referred RGB in [0, 1]. Shape: (N, 3, H, W).
    """
    x = (rgb * gains.view(1, 3, 1, 1)).clamp(0.0, 1.0)
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    x = (x - lo) / (hi - lo).clamp_min(eps)
    return x.clamp_min(eps) ** (1.0 / gamma)


white_balance_normalize_gamma_fused = lazy_compile(white_balance_normalize_gamma, dynamic=False)
