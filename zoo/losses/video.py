"""Losses of video super-resolution GANs (TecoGAN): Charbonnier, VGG cosine feature loss, D feature matching."""

from __future__ import annotations

import torch
import torch.nn.functional as F

TECOGAN_LAYER_NORMS = (12.0, 14.0, 24.0, 100.0)
"""The official TecoGAN code's per-layer scales of the D feature-matching loss."""


def charbonnier(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``mean(sqrt((a - b)^2 + eps))``, the TecoGAN port's pixel, warping and ping-pong criterion."""
    return torch.sqrt((a - b).square() + eps).mean()


def cosine_feature_loss(fake: list[torch.Tensor], real: list[torch.Tensor]) -> torch.Tensor:
    """``sum over layers of (1 - mean cosine similarity along channels)`` (TecoGAN's VGG "cosine" loss).

    Shape:
        - fake, real: lists of (N, C_l, H_l, W_l). Output: scalar.
    """
    return sum((1.0 - F.cosine_similarity(f, r, dim=1)).mean() for f, r in zip(fake, real))


def feature_matching_loss(
    fake: list[torch.Tensor], real: list[torch.Tensor], fix_range: float = 0.02, norms: tuple[float, ...] = TECOGAN_LAYER_NORMS
) -> torch.Tensor:
    """The official TecoGAN D "layer loss": ``sum_l fix_range * mean_pixels(sum_channels |F_real - F_fake|) / norm_l``.

    Shape:
        - fake, real: lists of D feature maps (N, C_l, H_l, W_l). Output: scalar.
    """
    return sum(fix_range * (r.detach() - f).abs().sum(1).mean() / n for f, r, n in zip(fake, real, norms))
