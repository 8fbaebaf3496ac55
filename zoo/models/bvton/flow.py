"""Stage 1 of BVTON: the compositional canonicalizing flow.

Each garment part (torso, right sleeve, left sleeve) has its own coarse-to-fine flow network, GP-VTON's local flows
run in reverse: it reads the on-model part and predicts, for every pixel of the in-shop (canonical) grid, where on
the person to sample it. The warped parts are composed with their warped masks into the **canonical proxy**, a
pseudo in-shop garment made from an on-model photograph alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.ops.warp import backward_warp


def conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv + LeakyReLU(0.1), the unit of the flow encoders and decoders (PWC-Net / PF-AFN use no norm)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.1))


def upsample_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a pixel flow to ``size``, scaling its values (``align_corners=True`` pixel units)."""
    h0, w0 = flow.shape[-2:]
    up = F.interpolate(flow, size=size, mode="bilinear", align_corners=True)
    scale = flow.new_tensor([(size[1] - 1) / max(w0 - 1, 1), (size[0] - 1) / max(h0 - 1, 1)]).view(1, 2, 1, 1)
    return up * scale


def coordinates(like: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) normalised x, y coordinates in [-1, 1] (CoordConv), so a decoder knows where on its grid it is."""
    n, _, h, w = like.shape
    ys = torch.linspace(-1, 1, h, device=like.device, dtype=like.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
    xs = torch.linspace(-1, 1, w, device=like.device, dtype=like.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
    return torch.cat([xs, ys], 1)


def widths(width: int, levels: int) -> list[int]:
    """Channels per pyramid level: ``width * min(2**k, 4)``."""
    return [width * min(2**k, 4) for k in range(levels)]


class Encoder(nn.Module):
    """A feature pyramid: level 0 at full resolution, each further level at half the previous one.

    Shape: (N, C, H, W) -> ``levels`` maps (N, widths[k], H / 2**k, W / 2**k).
    """

    def __init__(self, in_channels: int, width: int, levels: int) -> None:
        super().__init__()
        chans = widths(width, levels)
        self.stages = nn.ModuleList(
            nn.Sequential(conv(in_channels if k == 0 else chans[k - 1], c, 1 if k == 0 else 2), conv(c, c)) for k, c in enumerate(chans)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out


class PyramidFlow(nn.Module):
    """Coarse-to-fine flow from a source image onto a target grid (the PF-AFN / GP-VTON cascade): at the coarsest level
    a flow from both pyramids, then at each finer level the upsampled flow plus a residual predicted from the source
    features warped by it and the target features.

    Args:
        source_channels: channels of the image that is sampled.
        target_channels: channels describing the output grid (0: coordinates only).
        width: channels of the finest level.
        levels: pyramid levels (the coarsest at 1 / 2**(levels - 1)).

    Shape:
        - source: (N, source_channels, H, W); target: (N, target_channels, H, W) or None.
        - output: the flow (N, 2, H, W) in pixels (sample the source at ``pos + flow``), and per level (finest first)
          ``(source features, target features, flow)``.
    """

    def __init__(self, source_channels: int, target_channels: int, width: int, levels: int) -> None:
        super().__init__()
        chans = widths(width, levels)
        self.source = Encoder(source_channels, width, levels)
        self.target = Encoder(target_channels + 2, width, levels)
        self.heads = nn.ModuleList(nn.Sequential(conv(2 * c, c), nn.Conv2d(c, 2, 3, 1, 1)) for c in chans)
        for head in self.heads:  # every level starts as the identity warp
            nn.init.zeros_(head[-1].weight)
            nn.init.zeros_(head[-1].bias)

    def forward(self, source: torch.Tensor, target: torch.Tensor | None = None) -> tuple[torch.Tensor, list[tuple[torch.Tensor, ...]]]:
        grid = coordinates(source)
        src = self.source(source)
        tgt = self.target(grid if target is None else torch.cat([target, grid], 1))
        flow = source.new_zeros(source.shape[0], 2, *src[-1].shape[-2:])
        levels = []
        for k in reversed(range(len(src))):
            flow = upsample_flow(flow, tuple(src[k].shape[-2:]))
            flow = flow + self.heads[k](torch.cat([backward_warp(src[k], flow), tgt[k]], 1))
            levels.append((src[k], tgt[k], flow))
        return flow, levels[::-1]


class Canonicalizer(nn.Module):
    """The compositional canonicalizing flow: one :class:`PyramidFlow` per garment part, composed into the proxy.

    Args:
        keypoints: pose-map channels given with each part.
        width, levels: of each part's flow network.
        parts: number of garment parts (3: torso, right sleeve, left sleeve).

    Shape:
        - garment: the person's garment pixels (zero elsewhere). (N, 3, H, W).
        - parts: the on-model part masks. (N, parts, H, W).
        - pose: pose maps. (N, keypoints, H, W).
        - output: ``proxy`` (N, 3, H, W) on white, ``proxy_mask`` (N, 1, H, W), ``flows`` (N, parts, 2, H, W),
          ``part_masks`` (N, parts, H, W) (each part's warped mask).
    """

    def __init__(self, keypoints: int = 18, width: int = 8, levels: int = 4, parts: int = 3) -> None:
        super().__init__()
        self.parts = nn.ModuleList(PyramidFlow(3 + 1 + keypoints, 0, width, levels) for _ in range(parts))

    def forward(self, garment: torch.Tensor, parts: torch.Tensor, pose: torch.Tensor) -> dict[str, torch.Tensor]:
        flows, images, masks = [], [], []
        for p, net in enumerate(self.parts):
            mask = parts[:, p : p + 1]
            flow, _ = net(torch.cat([garment * mask, mask, pose], 1))
            flows.append(flow)
            images.append(backward_warp(garment * mask, flow))
            masks.append(backward_warp(mask, flow))
        return compose(images, masks) | {"flows": torch.stack(flows, 1), "part_masks": torch.cat(masks, 1)}


def compose(images: list[torch.Tensor], masks: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Compose warped, mask-premultiplied parts into one garment on white.

    Args:
        images: per part, its warped image premultiplied by its mask. (N, 3, H, W) each.
        masks: per part, its warped mask. (N, 1, H, W) each.

    Returns:
        ``proxy`` (N, 3, H, W): the mask-weighted mean of the parts where any covers, white elsewhere;
        ``proxy_mask`` (N, 1, H, W): their union, clamped to [0, 1].
    """
    total = sum(masks)
    mask = total.clamp(0, 1)
    colour = sum(images) / total.clamp_min(1e-3)
    return {"proxy": colour * mask + (1 - mask), "proxy_mask": mask}
