"""Stage 3 of BVTON: the unpaired try-on synthesizer, a SPADE / ALIAS generator (VITON-HD, HR-VITON).

The generator starts at 1 / 2**levels of the image from the downsampled inputs (agnostic person, pose, warped
garment), and at every scale concatenates the inputs at that scale and applies a SPADE residual block whose
normalisation is modulated by the layout and the misalignment mask (ALIAS's extra channel: where the layout expects
garment that the warped garment does not cover).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as apply_spectral_norm


def _conv(cin: int, cout: int, k: int = 3, bias: bool = True, spectral: bool = False) -> nn.Conv2d:
    layer = nn.Conv2d(cin, cout, k, 1, k // 2, bias=bias)
    return apply_spectral_norm(layer) if spectral else layer


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: parameter-free instance norm, then ``* (1 + gamma(label)) + beta(label)``.

    Shape: x (N, C, H, W), label (N, L, h, w) (resized to H x W by nearest neighbour) -> (N, C, H, W).
    """

    def __init__(self, channels: int, label_channels: int, hidden: int = 32) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, 1, 1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, 1, 1)
        self.beta = nn.Conv2d(hidden, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = self.shared(F.interpolate(label, size=x.shape[-2:], mode="nearest"))
        return self.norm(x) * (1 + self.gamma(h)) + self.beta(h)


class SPADEResBlock(nn.Module):
    """SPADE residual block: (SPADE, LeakyReLU, conv) twice, with a learned SPADE + 1x1 shortcut when the width changes."""

    def __init__(self, cin: int, cout: int, label_channels: int, hidden: int = 32, spectral: bool = False) -> None:
        super().__init__()
        mid = min(cin, cout)
        self.norm0, self.conv0 = SPADE(cin, label_channels, hidden), _conv(cin, mid, spectral=spectral)
        self.norm1, self.conv1 = SPADE(mid, label_channels, hidden), _conv(mid, cout, spectral=spectral)
        self.shortcut = None
        if cin != cout:
            self.norm_s, self.shortcut = SPADE(cin, label_channels, hidden), _conv(cin, cout, 1, bias=False, spectral=spectral)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(self.norm_s(x, label))
        h = self.conv0(F.leaky_relu(self.norm0(x, label), 0.2))
        return skip + self.conv1(F.leaky_relu(self.norm1(h, label), 0.2))


class SPADEGenerator(nn.Module):
    """The try-on image generator (HR-VITON's ``SPADEGenerator`` / VITON-HD's ``ALIASGenerator`` in small).

    Args:
        input_channels: the image-like inputs (agnostic person, pose maps, warped garment).
        label_channels: the layout one-hot plus the misalignment mask.
        width: channels at full resolution (``width * min(2**k, 8)`` at scale ``1 / 2**k``).
        levels: upsamplings from the coarsest scale.
        hidden: SPADE's hidden channels.
        spectral: spectral norm on the convolutions (the anchors' ``spectral...instance`` norms).

    Shape:
        - x: (N, input_channels, H, W), H and W divisible by ``2**levels``; label: (N, label_channels, H, W).
        - output: (N, 3, H, W) in [0, 1].
    """

    def __init__(self, input_channels: int, label_channels: int, width: int = 16, levels: int = 3, hidden: int = 32, spectral: bool = False) -> None:
        super().__init__()
        self.levels = levels
        chans = [width * min(2**k, 8) for k in range(levels + 1)]
        self.inputs = nn.ModuleList(nn.Conv2d(input_channels, c // 2 if k < levels else c, 3, 1, 1) for k, c in enumerate(chans))
        self.blocks = nn.ModuleList(
            SPADEResBlock(chans[k] + (0 if k == levels else chans[k] // 2), chans[max(k - 1, 0)], label_channels, hidden, spectral) for k in range(levels + 1)
        )
        self.out = nn.Conv2d(chans[0], 3, 3, 1, 1)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        h = None
        for k in reversed(range(self.levels + 1)):
            xk = F.interpolate(x, scale_factor=0.5**k, mode="bilinear", align_corners=False, antialias=True) if k else x
            inp = self.inputs[k](xk)
            h = inp if h is None else torch.cat([F.interpolate(h, size=inp.shape[-2:], mode="nearest"), inp], 1)
            h = self.blocks[k](h, label)
        return (torch.tanh(self.out(F.leaky_relu(h, 0.2))) + 1) / 2
