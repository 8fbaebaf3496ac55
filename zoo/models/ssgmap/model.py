"""SSGMap's generator: StarGAN's G on the geometric map, with the symmetry error of the official ``model.py``.

The mesh (B, V, 3) is encoded into its map (B, 3, S, S) (holes zeroed), the label tiled over it (25 channels), and
the 28 channels go through a 7x7 conv, two stride-2 4x4 convs, ``repeat_num`` residual blocks, two stride-2 4x4
transposed convs and a 7x7 conv to 3 channels, linear (no tanh): every conv without bias, every norm an instance norm
with affine parameters and running statistics (``track_running_stats=True``). The output map is sampled back at the
vertices. Weights are drawn as the official code draws them: N(0, sqrt(2 / (k * k * out_channels))) for the convs,
PyTorch's default for the transposed convs (the official init loop tests ``isinstance(m, nn.Conv2d)``, which a
transposed conv is not).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.ssgmap.geomap import GeometricMap

SYMMETRY_FLAG = 22
"""Label index of the "symmetric expression" flag that gates the symmetry error."""


class RunningInstanceNorm2d(nn.InstanceNorm2d):
    """Instance norm with affine parameters and running statistics that normalises by each instance's own
    statistics at inference too.

    The official generator keeps running statistics (updated in training, saved in its state_dict), but its demo never
    calls ``eval()``, so its released outputs are normalised per instance. With ``use_running_stats=False`` (the
    default) this layer does the same in eval mode, without updating the statistics; True gives PyTorch's eval
    behaviour (normalise by the running averages).
    """

    def __init__(self, channels: int, use_running_stats: bool = False) -> None:
        super().__init__(channels, affine=True, track_running_stats=True)
        self.use_running_stats = use_running_stats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or self.use_running_stats:
            return super().forward(x)
        return F.instance_norm(x, None, None, self.weight, self.bias, True, self.momentum, self.eps)


def _conv_norm_relu(conv: nn.Module, channels: int, running: bool) -> nn.Sequential:
    return nn.Sequential(conv, RunningInstanceNorm2d(channels, running), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """``x + IN(conv3(ReLU(IN(conv3(x)))))``, no biases."""

    def __init__(self, channels: int, running: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), RunningInstanceNorm2d(channels, running), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), RunningInstanceNorm2d(channels, running),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def official_init(module: nn.Module) -> None:
    """The official weight draw: every ``nn.Conv2d`` from N(0, sqrt(2 / (kh * kw * out))), biases zero."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def symmetry_error(gmap: torch.Tensor, label: torch.Tensor, rotation: torch.Tensor, geomap: GeometricMap) -> torch.Tensor:
    """The official symmetry error of a generated map: rotate the map's xyz back by the augmentation rotation
    (``p @ r^T``), zero the holes, and compare with its mirror image (rows flipped): ``x + x'``, ``y - y'``, ``z - z'``;
    zero for faces whose label says "asymmetric expression" (``c[22] = 0``).

    Args:
        gmap: generated maps. Shape: (B, 3, S, S).
        label: the target labels. Shape: (B, C).
        rotation: the augmentation rotations the input was rotated by (``v @ r``). Shape: (B, 3, 3).
        geomap: the map (for its hole mask).

    Returns:
        The error map. Shape: (B, 3, S, S).
    """
    b, _, h, w = gmap.shape
    pixels = gmap.permute(0, 2, 3, 1).reshape(b, h * w, 3)
    upright = torch.bmm(pixels, rotation.transpose(1, 2)).transpose(1, 2).reshape(b, 3, h, w)
    upright = geomap.mask(upright)
    mirrored = torch.flip(upright, dims=[2])
    sign = torch.tensor([1.0, -1.0, -1.0], dtype=gmap.dtype, device=gmap.device).view(1, 3, 1, 1)
    return (upright + sign * mirrored) * label[:, SYMMETRY_FLAG].view(b, 1, 1, 1)


class SSGMapGenerator(nn.Module):
    """StarGAN's generator on the geometric map (see the module docstring).

    The network works in normalised coordinates: ``(v - centre)`` in, the output plus ``centre`` back (a fixed
    affine map outside the network, as the official data are normalised before training and denormalised after).
    ``centre`` zero (the default) is the official model on data normalised beforehand; a per-vertex mean face
    (``SSGMapConfig.normalisation = "mean_face"``) makes the network reproduce a face's deviation from the mean
    instead of its absolute coordinates; ``per_face`` centres each face on its centroid and divides each axis by the
    face's spread along it (``"face"``). The symmetry error is taken on the denormalised map.

    Args:
        geomap: the mesh <-> map tables.
        conv_dim: channels of the first conv (official 64).
        c_dim: label size (25).
        repeat_num: residual blocks (6).
        use_running_stats: normalise by the running statistics at inference (see :class:`RunningInstanceNorm2d`).
        centre: the normalisation's per-vertex offset (None: zero). Shape: (V, 3).
        per_face: normalise each face by its own centroid and spread along each axis instead (``normalisation =
            "face"``), so that the output follows the input's position and extent, which instance norm removes.

    Shape:
        - vertices: (B, V, 3); label: (B, c_dim); rotation: (B, 3, 3), optional (identity).
        - output: ``(vertices (B, V, 3), symmetry error (B, 3, S, S))``.
    """

    def __init__(
        self, geomap: GeometricMap, conv_dim: int = 64, c_dim: int = 25, repeat_num: int = 6, use_running_stats: bool = False,
        centre: torch.Tensor | None = None, per_face: bool = False,
    ) -> None:
        super().__init__()
        self.geomap, self.c_dim = geomap, c_dim
        if centre is not None and tuple(centre.shape) != (geomap.num_vertices, 3):
            raise ValueError(f"centre: expected shape ({geomap.num_vertices}, 3), received {tuple(centre.shape)}")
        # Not persistent: derived from the config (and the template), so the weights files keep the official keys.
        self.register_buffer("centre", torch.zeros(geomap.num_vertices, 3) if centre is None else centre.float(), persistent=False)
        self.per_face = per_face
        run = use_running_stats
        d = conv_dim
        self.stem = _conv_norm_relu(nn.Conv2d(3 + c_dim, d, 7, 1, 3, bias=False), d, run)
        self.down = nn.Sequential(
            _conv_norm_relu(nn.Conv2d(d, 2 * d, 4, 2, 1, bias=False), 2 * d, run),
            _conv_norm_relu(nn.Conv2d(2 * d, 4 * d, 4, 2, 1, bias=False), 4 * d, run),
        )
        self.blocks = nn.Sequential(*[ResidualBlock(4 * d, run) for _ in range(repeat_num)])
        self.up = nn.Sequential(
            _conv_norm_relu(nn.ConvTranspose2d(4 * d, 2 * d, 4, 2, 1, bias=False), 2 * d, run),
            _conv_norm_relu(nn.ConvTranspose2d(2 * d, d, 4, 2, 1, bias=False), d, run),
        )
        self.head = nn.Conv2d(d, 3, 7, 1, 3, bias=False)
        official_init(self)

    def stem_conv(self, gmap: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """The first conv on ``cat([map, label tiled over the map])``, computed without tiling the label.

        The conv is linear, so its label part is ``sum_k c_k * conv(ones, W[:, 3 + k])``: one batch-independent
        response per label channel (a grouped conv of a ones image) mixed by each face's label, which replaces a
        (3 + 25)-channel 7x7 conv per face by a 3-channel one. Equal to the official concatenation up to float rounding.
        """
        conv = self.stem[0]
        w = conv.weight
        d, size = w.shape[0], gmap.shape[-2:]
        x = F.conv2d(gmap, w[:, :3], padding=conv.padding)
        ones = torch.ones(1, self.c_dim, *size, dtype=gmap.dtype, device=gmap.device)
        per_label = F.conv2d(ones, w[:, 3:].transpose(0, 1).reshape(self.c_dim * d, 1, *w.shape[-2:]), padding=conv.padding, groups=self.c_dim)
        return x + torch.einsum("bk,kdhw->bdhw", label.to(gmap.dtype), per_label.view(self.c_dim, d, *size))

    def translate_map(self, gmap: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """The network on a (masked) map and its target label. Shape: (B, 3, S, S) -> (B, 3, S, S)."""
        h = self.stem[2](self.stem[1](self.stem_conv(gmap, label)))
        return self.head(self.up(self.blocks(self.down(h))))

    def forward(self, vertices: torch.Tensor, label: torch.Tensor, rotation: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if rotation is None:
            rotation = torch.eye(3, dtype=vertices.dtype, device=vertices.device).expand(len(vertices), 3, 3)
        centre = self.centre.to(vertices.dtype)[None].expand(len(vertices), -1, -1)
        scale = torch.ones(len(vertices), 1, 3, dtype=vertices.dtype, device=vertices.device)
        if self.per_face:
            centre = vertices.mean(1, keepdim=True).expand_as(vertices)
            scale = (vertices - centre).pow(2).mean(1, keepdim=True).clamp_min(1e-12).sqrt()
        out = self.translate_map(self.geomap.encode((vertices - centre) / scale), label)
        absolute = out * scale.transpose(1, 2)[..., None] + self.geomap.encode(centre, masked=False)
        return self.geomap.decode(out) * scale + centre, symmetry_error(absolute, label, rotation, self.geomap)
