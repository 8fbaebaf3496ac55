"""The image classifiers / regressors of the Blindspot paper's official code (``models.py``).

- All-CNN (Springenberg et al., 2015): eight Conv-BN-ReLU blocks ``conv1..conv8`` (3x3, stride 2 at conv3 and conv6,
  1x1 at conv8), global average pooling and ``classifier.0`` (Linear). Key names are the official ones, so its
  state_dicts load unchanged.
- ResNet-18: torchvision's, randomly initialised, with the head replaced by ``Dropout(0.5)`` + ``Linear(512, outputs)``
  as the official wrapper has it; the wrapper renames the keys (``convert.py`` maps them).
"""

from __future__ import annotations

from torch import nn
from torchvision.models import resnet18


def _conv_block(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class AllCNN(nn.Module):
    """All-CNN with a linear head.

    Args:
        in_channels: image channels.
        num_outputs: 1 for regression, the number of classes for classification.
        filters_percentage: width scale of the official 96/192 filters (official ``filters_percentage``).

    Shape:
        - Input: (N, in_channels, H, W), H and W at least 4 (the official code assumes 32x32 and an 8x8 average
          pool; global average pooling gives the same result there and accepts other sizes).
        - Output: (N, num_outputs).
    """

    activation_layers = tuple(f"conv{i}" for i in range(1, 9))

    def __init__(self, in_channels: int = 3, num_outputs: int = 10, filters_percentage: float = 1.0) -> None:
        super().__init__()
        n1, n2 = int(96 * filters_percentage), int(192 * filters_percentage)
        self.conv1 = _conv_block(in_channels, n1)
        self.conv2 = _conv_block(n1, n1)
        self.conv3 = _conv_block(n1, n2, stride=2)
        self.conv4 = _conv_block(n2, n2)
        self.conv5 = _conv_block(n2, n2)
        self.conv6 = _conv_block(n2, n2, stride=2)
        self.conv7 = _conv_block(n2, n2)
        self.conv8 = _conv_block(n2, n2, kernel_size=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(n2, num_outputs))

    def forward(self, x):
        for name in self.activation_layers:
            x = getattr(self, name)(x)
        return self.classifier(self.pool(x).flatten(1))


def resnet18_net(in_channels: int = 3, num_outputs: int = 1) -> nn.Module:
    """torchvision ResNet-18 (random init) with ``num_outputs`` outputs and ``in_channels`` input channels.

    ``activation_layers`` names the stem and the eight basic blocks, the activations the official wrapper returns.
    """
    net = resnet18()
    net.fc = nn.Sequential(nn.Dropout(0.5), nn.Linear(512, num_outputs))
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.activation_layers = ("relu",) + tuple(f"layer{i}.{j}" for i in range(1, 5) for j in range(2))
    return net
