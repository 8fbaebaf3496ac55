"""SAUNet: the UNet with attention gates of MAAG (official ``architectures/multi_res_segmentor.py``), NCHW.

Layers follow the official TF1 ``tf.layers`` graph: 'same' padding (timm's ``create_conv2d``), BatchNorm with TF's
epsilon 1e-3 and momentum 0.99 (PyTorch ``momentum=0.01``), nearest-neighbour upsampling followed by a 3x3 conv and
BatchNorm without activation, a 1x1 bottleneck, and per decoder level an attention gate that multiplies the level's
features by the foreground probability of a 1x1 classifier. No Lightning import here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.layers import create_conv2d
from torch import nn

BN_EPS, BN_MOMENTUM = 1e-3, 0.01
"""``tf.layers.batch_normalization`` defaults (epsilon 1e-3, momentum 0.99 = PyTorch momentum 0.01)."""
DEPTH = 4
"""Pooling levels: input sides must be divisible by 2**DEPTH = 16."""


def he_init_(conv: nn.Conv2d) -> nn.Conv2d:
    """The official kernel init: ``variance_scaling_initializer(factor=2, FAN_IN, uniform=False)``, a normal of std
    sqrt(1.3 * 2 / fan_in) truncated at two std; bias 0."""
    fan_in = conv.in_channels * math.prod(conv.kernel_size)
    std = math.sqrt(2.6 / fan_in)
    nn.init.trunc_normal_(conv.weight, std=std, a=-2 * std, b=2 * std)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


class ConvBN(nn.Module):
    """conv ('same' padding, bias) -> BatchNorm -> optional ReLU: one ``layers.conv2d`` + ``batch_normalization``.

    Args:
        in_channels, out_channels: channels.
        kernel_size: square kernel.
        relu: apply ReLU after the norm.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, relu: bool = True) -> None:
        super().__init__()
        self.conv = he_init_(create_conv2d(in_channels, out_channels, kernel_size, padding="same", bias=True))
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return F.relu(x) if self.relu else x


class AttentionGate(nn.Module):
    """MAAG's attention gate: ``A = softmax(conv1x1(c2))`` over the classes and ``out = c3 * sum_{k>=1} A_k``.

    Args:
        in_channels: channels of ``c2`` (the decoder level's first conv output).
        num_classes: classes of the gate's classifier (background first).

    Shape:
        - c2: (N, C, H, W); c3: (N, C', H, W).
        - Output: ``(c3 * foreground probability (N, C', H, W), A (N, num_classes, H, W))``.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv = he_init_(nn.Conv2d(in_channels, num_classes, 1))

    def forward(self, c2: torch.Tensor, c3: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attention = torch.softmax(self.conv(c2), dim=1)
        return c3 * attention[:, 1:].sum(1, keepdim=True), attention


class EncoderBrick(nn.Module):
    """[conv3 + BN + ReLU] x 2, then 2x2 max-pool; the skip is taken before the pool."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = ConvBN(in_channels, channels), ConvBN(channels, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.conv2(self.conv1(x))
        return F.max_pool2d(skip, 2), skip


class DecoderBrick(nn.Module):
    """NN-upsample x2 -> conv3 + BN (no activation) -> concat(skip) -> conv3 + BN + ReLU (c2) -> conv3 + BN + ReLU
    (c3) -> attention gate (or c3 itself when ``num_classes`` is None: the plain UNet ablation)."""

    def __init__(self, in_channels: int, skip_channels: int, channels: int, num_classes: int | None) -> None:
        super().__init__()
        self.up = ConvBN(in_channels, channels, relu=False)
        self.conv2 = ConvBN(channels + skip_channels, channels)
        self.conv3 = ConvBN(channels, channels)
        self.gate = AttentionGate(channels, num_classes) if num_classes else None

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        # tf.image.resize_nearest_neighbor(align_corners=True) at exactly twice the size picks floor(y / 2): plain nearest.
        up = self.up(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        c2 = self.conv2(torch.cat([up, skip], dim=1))
        c3 = self.conv3(c2)
        return self.gate(c2, c3) if self.gate is not None else (c3, None)


class SAUNet(nn.Module):
    """The MAAG segmentor (official ``SAUNet``), or the plain UNet ablation with ``attention_gates=False``.

    Args:
        in_channels: image channels (1: cine MR).
        num_classes: output classes, background first (4 on ACDC: BG, RV, MYO, LV).
        n_filters: filters of the first level (32); doubled at each of the 4 levels, 16x in the 1x1 bottleneck.
        attention_gates: gate each decoder level by its foreground probability (MAAG); False: plain UNet.

    Shape:
        - Input: (N, in_channels, H, W), H and W divisible by 16, intensities standardised ((x - median) / IQR).
        - Output of ``forward``: (N, num_classes, H, W) logits. :meth:`multiscale` also returns the attention
          softmaxes of decoder levels 2, 1, 0 at H/2, H/4, H/8 (empty with ``attention_gates=False``).

    Example:
        >>> net = SAUNet(n_filters=8)
        >>> net(torch.zeros(2, 1, 64, 64)).shape
        torch.Size([2, 4, 64, 64])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 4, n_filters: int = 32, attention_gates: bool = True) -> None:
        super().__init__()
        widths = [n_filters * 2**i for i in range(DEPTH)]
        self.encoders = nn.ModuleList(EncoderBrick(c_in, c) for c_in, c in zip([in_channels, *widths[:-1]], widths))
        code = 16 * n_filters
        self.bottleneck = nn.Sequential(ConvBN(widths[-1], code, 1), ConvBN(code, code, 1))
        ins = [code, *widths[::-1][:-1]]
        gates = num_classes if attention_gates else None
        self.decoders = nn.ModuleList(DecoderBrick(c_in, c, c, gates) for c_in, c in zip(ins, widths[::-1]))
        self.output = he_init_(nn.Conv2d(n_filters, num_classes, 1))

    def multiscale(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and the attention softmaxes, finest first (decoder levels 2, 1, 0: H/2, H/4, H/8)."""
        skips = []
        for encoder in self.encoders:
            x, skip = encoder(x)
            skips.append(skip)
        x = self.bottleneck(x)
        attentions = []
        for decoder, skip in zip(self.decoders, reversed(skips)):
            x, attention = decoder(x, skip)
            attentions.append(attention)
        # The last level (full size) gates the output features but is not sent to the discriminator, as officially.
        return self.output(x), [a for a in attentions[:-1][::-1] if a is not None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.multiscale(x)[0]
