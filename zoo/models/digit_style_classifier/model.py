"""The digit/style classifier's network: a shared CNN trunk, a digit head and a style head (no Lightning)."""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class DigitStyleNet(nn.Module):
    """Five 3x3 conv blocks (28 -> 14 -> 7 -> 4 by stride 2), global average pooling, two linear heads.

    UnlearnCanvas judges generated images with two classifiers, one per domain (object and style); here the two
    heads share one trunk, whose pooled features also serve as the FID / KID feature network.

    Args:
        num_digits: classes of the object (digit) head.
        num_styles: classes of the style head.
        width: channels of the first blocks (doubled twice).

    Shape:
        - x: (N, 3, H, W) in [0, 1].
        - ``forward``: (N, num_digits + num_styles) logits, the digit head's first.
        - ``features``: (N, num_features).
    """

    def __init__(self, num_digits: int = 10, num_styles: int = 6, width: int = 32) -> None:
        super().__init__()
        self.num_digits, self.num_styles = num_digits, num_styles
        self.trunk = nn.Sequential(
            *_block(3, width, 1), *_block(width, width, 2), *_block(width, 2 * width, 1),
            *_block(2 * width, 2 * width, 2), *_block(2 * width, 4 * width, 2),
        )
        self.num_features = 4 * width
        self.digit_head = nn.Linear(self.num_features, num_digits)
        self.style_head = nn.Linear(self.num_features, num_styles)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features: (N, 3, H, W) -> (N, num_features)."""
        return self.trunk(x).mean((2, 3))

    def logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(digit logits (N, num_digits), style logits (N, num_styles))``."""
        h = self.features(x)
        return self.digit_head(h), self.style_head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.logits(x), 1)


class FeatureExtractor(nn.Module):
    """A :class:`DigitStyleNet`'s pooled features as a torchmetrics FID / KID feature module (``num_features``;
    grey (N, 1, H, W) input is broadcast to RGB), frozen and in eval mode.

    Args:
        net: the trained classifier.
    """

    def __init__(self, net: DigitStyleNet) -> None:
        super().__init__()
        self.net = net
        self.num_features = net.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return self.net.features(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)

    def train(self, mode: bool = True) -> FeatureExtractor:  # torchmetrics calls .train(); the features stay frozen
        return super().train(False)
