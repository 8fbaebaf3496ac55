"""The feasible set of every perturbation here: an L-infinity ball of radius eps around the image, inside [0, 1]."""

from __future__ import annotations

import torch


def project_linf(delta: torch.Tensor, images: torch.Tensor, eps: float) -> torch.Tensor:
    """Project a perturbation onto ``{d : |d|_inf <= eps, 0 <= images + d <= 1}``.

    Args:
        delta: the perturbation.
        images: the clean images in [0, 1].
        eps: the radius.

    Returns:
        The projected perturbation (the closest feasible point: clamping coordinate-wise is exact for this box).

    Shape:
        - delta, images: (N, C, H, W), the same.
    """
    delta = delta.clamp(-eps, eps)
    return (images + delta).clamp(0.0, 1.0) - images
