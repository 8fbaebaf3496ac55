"""Stage 2 of BVTON: layered mask generation with an HR-VITON-style try-on condition generator.

A garment encoder and a person encoder (parse-agnostic layout + pose) feed one coarse-to-fine flow cascade, which
warps the garment onto the person, and a segmentation decoder that reads both pyramids and the warped garment
features and predicts the person's layout with its occlusion order (garment over or under the lower garment, arms over
the torso). BVTON trains it on canonical proxies instead of real in-shop garments.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.bvton.flow import PyramidFlow, conv, widths
from zoo.ops.warp import backward_warp


class ConditionGenerator(nn.Module):
    """Try-on condition generator: appearance flow and layered layout (HR-VITON's ``ConditionGenerator`` in small).

    Args:
        classes: layout classes.
        keypoints: pose-map channels.
        width, levels: of the pyramids.

    Shape:
        - garment (N, 3, H, W), garment_mask (N, 1, H, W), parse_agnostic (N, classes, H, W), pose (N, keypoints, H, W).
        - output: ``flow`` (N, 2, H, W) in pixels (sample the garment at ``pos + flow``) and ``logits``
          (N, classes, H, W).
    """

    def __init__(self, classes: int = 8, keypoints: int = 18, width: int = 8, levels: int = 4) -> None:
        super().__init__()
        chans = widths(width, levels)
        self.flow = PyramidFlow(4, classes + keypoints, width, levels)
        self.seg = nn.ModuleList(conv(2 * c + (chans[k + 1] if k + 1 < levels else 0), c) for k, c in enumerate(chans))
        self.head = nn.Conv2d(chans[0], classes, 3, 1, 1)

    def forward(self, garment: torch.Tensor, garment_mask: torch.Tensor, parse_agnostic: torch.Tensor, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flow, levels = self.flow(torch.cat([garment, garment_mask], 1), torch.cat([parse_agnostic, pose], 1))
        h = None
        for k in reversed(range(len(levels))):
            src, tgt, f = levels[k]
            parts = [backward_warp(src, f), tgt]
            if h is not None:
                parts.append(F.interpolate(h, size=tgt.shape[-2:], mode="bilinear", align_corners=False))
            h = self.seg[k](torch.cat(parts, 1))
        return flow, self.head(h)


def remove_overlap(seg: torch.Tensor, warped_mask: torch.Tensor, occluders: tuple[int, ...]) -> torch.Tensor:
    """HR-VITON's occlusion handling: the warped garment mask minus what the layout puts in front of it.

    Args:
        seg: layout probabilities (softmax) or one-hot. (N, C, H, W).
        warped_mask: (N, 1, H, W).
        occluders: the classes that cover the garment where they are.

    Returns:
        (N, 1, H, W).
    """
    return warped_mask - seg[:, list(occluders)].sum(1, keepdim=True) * warped_mask
