"""CycleGAN's networks (Zhu et al., ICCV 2017): the ResNet generator and the PatchGAN discriminator.

The PatchGAN body is also the discriminator body of UVCGAN and Rawformer; the ResNet generator is the "plain
CycleGAN" baseline of the unpaired translation models. Layer indices follow the official
``pytorch-CycleGAN-and-pix2pix`` code, so its checkpoints' keys (``model.N.*``) are ours.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as apply_spectral_norm

NORMS = ("instance", "batch", None)


def norm_layer(name: str | None, channels: int) -> nn.Module:
    """CycleGAN's norms: InstanceNorm2d without affine or running stats, BatchNorm2d, or none."""
    if name not in NORMS:
        raise ValueError(f"norm: expected one of {NORMS}, received {name!r}")
    if name == "instance":
        return nn.InstanceNorm2d(channels)
    return nn.BatchNorm2d(channels) if name == "batch" else nn.Identity()


def init_weights(module: nn.Module, kind: str = "normal", gain: float = 0.02) -> nn.Module:
    """CycleGAN's ``init_weights(net, kind, gain)``: conv / linear weights N(0, gain) (``"normal"``) or Xavier-normal
    with ``gain`` (``"xavier"``), biases 0, BatchNorm2d weights N(1, gain). Other parameters keep their own init.
    """
    if kind not in ("normal", "xavier"):
        raise ValueError(f"init: expected 'normal' or 'xavier', received {kind!r}")
    for m in module.modules():
        name = type(m).__name__
        if hasattr(m, "weight") and isinstance(m.weight, torch.Tensor) and ("Conv" in name or "Linear" in name):
            if kind == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            else:
                nn.init.xavier_normal_(m.weight, gain=gain)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return module


class PatchGAN(nn.Module):
    """The N-layer PatchGAN: k4 s2 convs doubling the filters (capped at ``8 * filters``), a k4 s1 conv, each
    followed by the norm and LeakyReLU(0.2); optionally a final k4 s1 conv to one logit per patch.

    Args:
        in_channels: image channels.
        filters: filters of the first conv (64).
        layers: strided layers (3: the 70x70 PatchGAN).
        norm: ``"instance"``, ``"batch"`` or None.
        logits: append the 1-channel output conv (CycleGAN); False returns the features (UVCGAN, Rawformer).
        spectral_norm: spectral normalisation on every conv (``torch.nn.utils.parametrizations``).

    Shape:
        - x: (N, in_channels, H, W).
        - output: (N, 1 or 8 * filters, H', W') with H' = H / 2**layers - 1 (- 1 more with ``logits``).
    """

    def __init__(
        self, in_channels: int = 3, filters: int = 64, layers: int = 3, norm: str | None = "instance",
        logits: bool = True, spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        use_bias = norm != "batch"
        seq: list[nn.Module] = [nn.Conv2d(in_channels, filters, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < layers else 1
            seq += [nn.Conv2d(filters * prev, filters * mult, 4, stride=stride, padding=1, bias=use_bias),
                    norm_layer(norm, filters * mult), nn.LeakyReLU(0.2, True)]
        if logits:
            seq.append(nn.Conv2d(filters * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*seq)
        self.out_channels = 1 if logits else filters * mult
        if spectral_norm:
            for m in self.model:
                if isinstance(m, nn.Conv2d):
                    apply_spectral_norm(m)

    @staticmethod
    def output_size(size: int, layers: int = 3, logits: bool = True) -> int:
        """Side of the output map for an input side ``size``."""
        for _ in range(layers):
            size //= 2
        return size - 1 - int(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResnetBlock(nn.Module):
    """Reflection-padded conv-norm-ReLU-conv-norm with an identity skip."""

    def __init__(self, channels: int, norm: str | None) -> None:
        super().__init__()
        use_bias = norm != "batch"
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=use_bias), norm_layer(norm, channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=use_bias), norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's ResNet generator: c7s1-f, two stride-2 downsamplings, ``blocks`` residual blocks, two
    transposed-conv upsamplings, c7s1-C with tanh.

    Args:
        channels: image channels (in and out).
        filters: filters of the first conv (64).
        blocks: residual blocks (9 for 256 px, 6 for 128 px in the paper).
        norm: ``"instance"`` (CycleGAN) or ``"batch"``.
        unit_range: take and return images in [0, 1] (mapped to tanh's [-1, 1] inside), like the zoo's other
            translators; False keeps CycleGAN's [-1, 1].

    Shape:
        - x: (N, channels, H, W), H and W divisible by 4.
        - output: (N, channels, H, W).
    """

    def __init__(self, channels: int = 3, filters: int = 64, blocks: int = 9, norm: str | None = "instance", unit_range: bool = True) -> None:
        super().__init__()
        use_bias = norm != "batch"
        seq: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(channels, filters, 7, bias=use_bias), norm_layer(norm, filters), nn.ReLU(True)]
        for i in range(2):
            f = filters * 2**i
            seq += [nn.Conv2d(f, 2 * f, 3, stride=2, padding=1, bias=use_bias), norm_layer(norm, 2 * f), nn.ReLU(True)]
        seq += [ResnetBlock(filters * 4, norm) for _ in range(blocks)]
        for i in range(2):
            f = filters * 2 ** (2 - i)
            seq += [nn.ConvTranspose2d(f, f // 2, 3, stride=2, padding=1, output_padding=1, bias=use_bias), norm_layer(norm, f // 2), nn.ReLU(True)]
        seq += [nn.ReflectionPad2d(3), nn.Conv2d(filters, channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*seq)
        self.unit_range = unit_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.unit_range:
            return self.model(x)
        return (self.model(2.0 * x - 1.0) + 1.0) / 2.0
