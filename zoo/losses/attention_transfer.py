"""Attention transfer (Zagoruyko & Komodakis, 2017): match where two networks' activations are strong."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attention_map(activation: torch.Tensor) -> torch.Tensor:
    """The L2-normalised channel mean of the squared activation.

    Shape:
        - activation: (N, C, *spatial) (or (N, C) for fully connected layers).
        - Output: (N, prod(spatial)).
    """
    return F.normalize(activation.pow(2).mean(1).reshape(len(activation), -1), dim=1)


def attention_transfer_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the two attention maps (a scalar)."""
    return (attention_map(student) - attention_map(teacher)).pow(2).mean()
