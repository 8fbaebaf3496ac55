"""Perceptual losses over frozen feature networks (the networks: :mod:`zoo.nets.frozen`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def feature_mse(features: nn.Module, generated: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of frozen features, ``MSE(phi(generated), phi(reference))``."""
    return F.mse_loss(features(generated), features(reference))


def weighted_feature_l1(features: nn.Module, generated: torch.Tensor, reference: torch.Tensor, weights: tuple[float, ...]) -> torch.Tensor:
    """pix2pixHD's ``VGGLoss``: ``sum_l w_l * L1(phi_l(generated), phi_l(reference))`` over the taps of ``features``
    (e.g. :class:`zoo.nets.frozen.VGG19Taps`; reference features detached).

    Args:
        features: returns a list of feature maps, one per weight.
        generated, reference: images. Shape: (N, 3, H, W).
        weights: one weight per tap (pix2pixHD: 1/32, 1/16, 1/8, 1/4, 1 at relu1_1 ... relu5_1).

    Returns:
        Scalar loss.
    """
    fake, real = features(generated), features(reference)
    if len(fake) != len(weights):
        raise ValueError(f"weights: expected one per feature tap ({len(fake)}), received {len(weights)}")
    return sum(w * F.l1_loss(f, r.detach()) for w, f, r in zip(weights, fake, real))
