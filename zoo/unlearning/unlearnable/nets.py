"""The small CNN of the BEO code's MNIST example (``cat-claws/unlearnable: mnist-example.py``): the surrogate and the
victim classifier of the experiments here.

Two 5x5 convolutions (16 and 24 channels, each ReLU + 2x2 max-pool), a 100-unit hidden layer and a linear head; the
Bayes-error estimate reads the hidden layer (the official code drops the final ``fc`` of its ResNet the same way).
"""

from __future__ import annotations

import torch
from torch import nn


class SimpleCNN(nn.Module):
    """LeNet-style classifier with a ``features`` trunk and a linear ``head``.

    Args:
        in_channels: image channels.
        num_classes: outputs of the head.
        image_size: the square input size (28 for MNIST; sets the flattened width).

    Shape:
        - Input: (N, in_channels, image_size, image_size).
        - Output: (N, num_classes); ``features(x)``: (N, 100).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> None:
        super().__init__()
        side = ((image_size - 4) // 2 - 4) // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 24, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(24 * side * side, 100), nn.ReLU(),
        )
        self.head = nn.Linear(100, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
