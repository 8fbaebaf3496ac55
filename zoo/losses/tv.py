"""Total-variation losses."""

from __future__ import annotations

import torch


def l2_total_variation(image: torch.Tensor) -> torch.Tensor:
    """Squared-difference total variation, normalised per direction and per sample (as in DPED / PyNET code).

    ``2 * (sum(dx^2)/2 / n_x + sum(dy^2)/2 / n_y) / N`` where ``n_x``, ``n_y`` count the differences of one sample.

    Args:
        image: Shape: (N, C, H, W).

    Returns:
        Scalar loss.
    """
    n, c, h, w = image.shape
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    return (dx.square().sum() / (c * h * (w - 1)) + dy.square().sum() / (c * (h - 1) * w)) / n
