"""pix2pixHD's multi-scale discriminator (Wang et al., CVPR 2018), the discriminator of SPADE, VITON-HD and HR-VITON:
the same PatchGAN applied to the input and to its 2x, 4x ... average-pooled copies, each returning its intermediate
features for the feature-matching loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.nets.cyclegan import PatchGAN


class MultiscaleDiscriminator(nn.Module):
    """``scales`` PatchGANs, the k-th on the input average-pooled ``k`` times (3x3, stride 2, pix2pixHD's pooling).

    Args:
        in_channels: input channels (e.g. layout + image).
        filters: filters of each PatchGAN's first conv.
        layers: strided layers of each PatchGAN.
        scales: number of scales (pix2pixHD / HR-VITON: 2 or 3).
        norm: ``"instance"``, ``"batch"`` or None.
        spectral_norm: spectral normalisation on every conv (SPADE's default).

    Shape:
        - x: (N, in_channels, H, W).
        - output: per scale, the feature map after each LeakyReLU and the logits last.
    """

    def __init__(self, in_channels: int, filters: int = 64, layers: int = 3, scales: int = 2, norm: str | None = "instance", spectral_norm: bool = False) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(PatchGAN(in_channels, filters, layers, norm, True, spectral_norm) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outputs = []
        for k, disc in enumerate(self.discriminators):
            if k:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            features, h = [], x
            for layer in disc.model:
                h = layer(h)
                if isinstance(layer, nn.LeakyReLU):
                    features.append(h)
            outputs.append([*features, h])
        return outputs
