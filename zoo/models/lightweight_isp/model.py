"""Generators of the learned lightweight smartphone ISP (Arhire & Timofte, CVPRW 2025), as plain nn.Modules.

Parameter names follow the official checkpoints, so ``convert.py`` only has to check and copy.

- :class:`PackedConvISP`: EfficientISP (widths 12-12-12, 3,060 parameters) and RobustISP (16-4-12, 1,616).
  Packed RAW ``(N, 4, h, w)`` -> sRGB ``(N, 3, 2h, 2w)``; tanh, ReLU, ReLU, pixel shuffle. The output is
  unbounded above (the official scripts clamp only when writing images).
- :class:`RMFANet`: residual multi-frequency attention network on the full-resolution three-channel split
  ``(N, 3, H, W)`` -> ``(N, 3, H, W)``, ending in a sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv3x3(c_in: int, c_out: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=bias)


class PackedConvISP(nn.Module):
    """Three 3x3 convolutions on packed RAW followed by a x2 pixel shuffle.

    Args:
        widths: output channels of conv1 and conv2; conv3 always outputs 12 = 3 colours x 4 sub-pixels.

    Shape:
        - Input: (N, 4, h, w) packed RAW.
        - Output: (N, 3, 2h, 2w) sRGB (unbounded above).
    """

    def __init__(self, widths: tuple[int, int] = (12, 12)) -> None:
        super().__init__()
        self.conv1 = _conv3x3(4, widths[0])
        self.conv2 = _conv3x3(widths[0], widths[1])
        self.conv3 = _conv3x3(widths[1], 12)

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.conv1(packed))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        return F.pixel_shuffle(x, 2)


class ChannelAttention(nn.Module):
    """CBAM channel attention: a shared bottleneck MLP on average- and max-pooled descriptors."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.ReLU(), nn.Conv2d(hidden, channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.fc(x.mean(dim=(2, 3), keepdim=True))
        peak = self.fc(x.amax(dim=(2, 3), keepdim=True))
        return x * torch.sigmoid(avg + peak)


class SpatialAttention(nn.Module):
    """CBAM spatial attention on the channel-wise [mean, max] maps (in that order)."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(maps))


class TextureModule(nn.Module):
    """High-frequency (1x1) and low-frequency (3x3) branches, each half the width, concatenated [high, low]."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.high_freq = nn.Sequential(nn.Conv2d(channels, channels // 2, 1), nn.ReLU())
        self.low_freq = nn.Sequential(_conv3x3(channels, channels // 2), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.high_freq(x), self.low_freq(x)], dim=1)


class ToneMappingModule(nn.Module):
    """Retinex-style split: estimates illumination at 1/2 and 1/4 resolution and returns the reflectance
    ``x - illumination``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.level1 = nn.Sequential(nn.AvgPool2d(2), _conv3x3(channels, channels), nn.ReLU())
        self.level2 = nn.Sequential(nn.AvgPool2d(2), _conv3x3(channels, channels), nn.ReLU())
        self.level3 = nn.Sequential(_conv3x3(channels, channels), nn.ReLU())

    @staticmethod
    def _up(x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        if size is None:
            return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.level1(x)
        quarter = self.level3(self.level2(half))
        illumination = self._up(half + self._up(quarter))
        if illumination.shape[-2:] != x.shape[-2:]:
            illumination = self._up(illumination, tuple(x.shape[-2:]))
        return x - illumination


class RMFABlock(nn.Module):
    """Texture + tone branches, fused by a 3x3 conv, CBAM attention, residual connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.texture_module = TextureModule(channels)
        self.tone_mapping = ToneMappingModule(channels)
        self.fusion = nn.Sequential(_conv3x3(2 * channels, channels), nn.ReLU())
        self.channel_attention = ChannelAttention(channels)
        self.spatial_attention = SpatialAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fused = self.fusion(torch.cat([self.texture_module(x), self.tone_mapping(x)], dim=1))
        return x + self.spatial_attention(self.channel_attention(fused))


class RMFANet(nn.Module):
    """RMFA-Net: conv stem with tanh, ``num_blocks`` RMFA blocks, conv head with sigmoid.

    Args:
        num_blocks: 2 (tiny), 8 (medium) or 20 (large) in the paper.
        width: feature channels (16 in the paper).

    Shape:
        - Input: (N, 3, H, W) three-channel split RAW (see ``zoo.data.raw.three_channel_split``).
        - Output: (N, 3, H, W) sRGB in (0, 1).
    """

    def __init__(self, num_blocks: int = 2, width: int = 16) -> None:
        super().__init__()
        self.input_module = nn.Sequential(_conv3x3(3, width), _conv3x3(width, width), nn.Tanh())
        self.rmfa_blocks = nn.ModuleList(RMFABlock(width) for _ in range(num_blocks))
        self.output_module = nn.Sequential(_conv3x3(width, 3), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_module(x)
        for block in self.rmfa_blocks:
            x = block(x)
        return self.output_module(x)
