"""MAAG's multi-resolution discriminator (official ``architectures/multi_res_discriminator.py``, ``out_mode='scalar'``).

Level 0 takes the full-size foreground maps (conv 4x4 stride 2, LeakyReLU 0.2); each next level squeezes the
features to 13 channels (1x1 conv + sigmoid), concatenates that level's maps and applies a spectral-norm 4x4 conv
(stride 2, the last stride 1) with tanh; a linear conv whose kernel covers the remaining map gives one LSGAN score.
TF 'same' padding is asymmetric for the 4x4 stride-1 conv (1 before, 2 after): timm's ``Conv2dSame`` pads as TF does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import create_conv2d
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from zoo.models.maag.model import he_init_

SQUEEZE_CHANNELS = 13
"""The official squeeze width (``filters=13``) before each level's concatenation."""


def _glorot_(conv: nn.Conv2d) -> nn.Conv2d:
    """``tf.get_variable``'s default kernel init (Glorot uniform), bias 0."""
    nn.init.xavier_uniform_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def resize_levels(maps: torch.Tensor, n_levels: int) -> list[torch.Tensor]:
    """One full-size map batch resized to every level (side / 2**i), bilinear with aligned corners as the official
    ``tf.image.resize_bilinear(align_corners=True)``: how real masks (and single-scale predictions) enter D."""
    h, w = maps.shape[-2:]
    return [maps] + [F.interpolate(maps, size=(h // 2**i, w // 2**i), mode="bilinear", align_corners=True) for i in range(1, n_levels)]


class MultiResDiscriminator(nn.Module):
    """Scores multi-scale foreground maps with one linear (LSGAN) scalar per sample.

    Args:
        in_channels: foreground channels per level (num_classes - 1 = 3).
        input_size: the full-size side the output conv is built for (224 officially; square inputs).
        n_filters: filters of level 0 (32); level i >= 1 has ``2 * n_filters * 2**i``.
        n_blocks: levels (4).

    Shape:
        - levels: a list of ``n_blocks`` tensors (N, in_channels, S / 2**i, S / 2**i), or one (N, in_channels, S, S)
          that is resized to every level (:func:`resize_levels`).
        - instance_noise: None or a tensor like the level-0 input, added to it (training).
        - flip: negate the scores in the forward pass with an identity gradient (the official label noise).
        - Output: (N, 1).
    """

    def __init__(self, in_channels: int = 3, input_size: int = 224, n_filters: int = 32, n_blocks: int = 4) -> None:
        super().__init__()
        if input_size % 2 ** (n_blocks - 1):
            raise ValueError(f"input_size: expected a multiple of {2 ** (n_blocks - 1)}, received {input_size}")
        self.n_blocks, self.input_size = n_blocks, input_size
        self.conv0 = he_init_(create_conv2d(in_channels, n_filters, 4, stride=2, padding="same", bias=True))
        self.squeeze = nn.ModuleList()
        self.blocks = nn.ModuleList()
        channels = n_filters
        for i in range(1, n_blocks):
            self.squeeze.append(_glorot_(nn.Conv2d(channels, SQUEEZE_CHANNELS, 1)))
            out = 2 * n_filters * 2**i
            conv = _glorot_(create_conv2d(SQUEEZE_CHANNELS + in_channels, out, 4, stride=1 if i == n_blocks - 1 else 2, padding="same", bias=True))
            self.blocks.append(spectral_norm(conv))
            channels = out
        side = input_size // 2 ** (n_blocks - 1)
        self.output = _glorot_(nn.Conv2d(channels, 1, side))

    def forward(self, levels: list[torch.Tensor], instance_noise: torch.Tensor | None = None, flip: bool = False) -> torch.Tensor:
        if len(levels) == 1:
            levels = resize_levels(levels[0], self.n_blocks)
        if len(levels) != self.n_blocks:
            raise ValueError(f"levels: expected 1 or {self.n_blocks} tensors, received {len(levels)}")
        x = levels[0] if instance_noise is None else levels[0] + instance_noise
        h = F.leaky_relu(self.conv0(x), 0.2)
        for squeeze, block, level in zip(self.squeeze, self.blocks, levels[1:]):
            h = torch.tanh(block(torch.cat([torch.sigmoid(squeeze(h)), level], dim=1)))
        score = self.output(h).flatten(1)
        # Official label noise: the forward value is negated, the gradient passes unchanged (tf.custom_gradient).
        return score + (-2.0 * score).detach() if flip else score
