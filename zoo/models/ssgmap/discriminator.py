"""SSGMap's hierarchical PatchGAN discriminator with the auxiliary classifier (official ``model.py``).

Six stride-2 4x4 convs (LeakyReLU 0.01, with biases) in three levels on the mesh's map (holes zeroed): ``level1``
(``repeat_num - 4`` convs, S/4), ``level2`` (2 convs, S/16) and ``level3`` (2 convs, S/64). Each level has a 3x3 real/fake
head; the coarser heads' logits are repeated 16 and 256 times so that the three scales count equally in the mean.
``cls`` (a conv with the remaining spatial size as its kernel) gives the 24 attribute logits and the age regression.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.models.ssgmap.geomap import GeometricMap
from zoo.models.ssgmap.model import official_init

SCALES = (1, 2, 3)


def _level(convs: list[tuple[int, int]]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for cin, cout in convs:
        layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.01)]
    return nn.Sequential(*layers)


class HierarchicalDiscriminator(nn.Module):
    """The official discriminator; ``scales`` selects the real/fake heads (``(1, 2, 3)`` the paper's hierarchy,
    ``(3,)`` StarGAN's single head on the last level, the ablation without the hierarchy).

    Args:
        geomap: the mesh <-> map tables.
        image_size: the map side S (divisible by 2^repeat_num).
        conv_dim: channels of the first conv (64).
        c_dim: label size (25: 24 logits and the age).
        repeat_num: strided convs (6).
        scales: the heads whose logits form ``out_src``.
        centre: the data normalisation's per-vertex offset, subtracted before the map (None: zero; see
            :class:`~zoo.models.ssgmap.model.SSGMapGenerator`). Shape: (V, 3).

    Shape:
        - vertices: (B, V, 3).
        - output: ``(out_src (B, len(scales) * (S/4)^2), out_cls (B, c_dim))``.
    """

    def __init__(
        self, geomap: GeometricMap, image_size: int = 128, conv_dim: int = 64, c_dim: int = 25, repeat_num: int = 6,
        scales: tuple[int, ...] = SCALES, centre: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if repeat_num < 5 or image_size % 2**repeat_num:
            raise ValueError(f"discriminator: expected repeat_num >= 5 and image_size divisible by 2^repeat_num, received {repeat_num} and {image_size}")
        if not scales or any(s not in SCALES for s in scales):
            raise ValueError(f"scales: expected a non-empty subset of {SCALES}, received {scales}")
        self.geomap, self.scales = geomap, tuple(scales)
        self.register_buffer("centre", torch.zeros(geomap.num_vertices, 3) if centre is None else centre.float(), persistent=False)
        dims = [3] + [conv_dim * 2**i for i in range(repeat_num)]
        pairs = list(zip(dims[:-1], dims[1:]))
        first = repeat_num - 4
        self.level1, self.level2, self.level3 = _level(pairs[:first]), _level(pairs[first : first + 2]), _level(pairs[first + 2 :])
        self.src1 = nn.Conv2d(dims[first], 1, 3, 1, 1, bias=False)
        self.src2 = nn.Conv2d(dims[first + 2], 1, 3, 1, 1, bias=False)
        self.src3 = nn.Conv2d(dims[-1], 1, 3, 1, 1, bias=False)
        self.cls = nn.Conv2d(dims[-1], c_dim, image_size // 2**repeat_num, bias=False)
        official_init(self)

    def forward(self, vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = vertices.shape[0]
        h1 = self.level1(self.geomap.encode(vertices - self.centre.to(vertices.dtype)))
        h2 = self.level2(h1)
        h3 = self.level3(h2)
        heads = {
            1: self.src1(h1).reshape(b, -1),
            2: self.src2(h2).repeat(1, 1, 1, 16).reshape(b, -1),
            3: self.src3(h3).repeat(1, 1, 1, 256).reshape(b, -1),
        }
        return torch.cat([heads[s] for s in self.scales], 1), self.cls(h3).reshape(b, -1)
