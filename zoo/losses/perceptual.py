"""Perceptual losses over frozen feature networks (the networks: :mod:`zoo.nets.frozen`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def feature_mse(features: nn.Module, generated: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of frozen features, ``MSE(phi(generated), phi(reference))``."""
    return F.mse_loss(features(generated), features(reference))
