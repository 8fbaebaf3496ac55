"""BVTON's networks as plain ``nn.Module``s (no Lightning): the three stages and the try-on that chains them."""

from __future__ import annotations

import torch
from torch import nn

from zoo.models.bvton.conditioning import LEFT_ARM, LOWER, NUM_CLASSES, NUM_KEYPOINTS, RIGHT_ARM, UPPER, one_hot
from zoo.models.bvton.flow import Canonicalizer
from zoo.models.bvton.layout import ConditionGenerator, remove_overlap
from zoo.models.bvton.synthesizer import SPADEGenerator
from zoo.ops.warp import backward_warp

OCCLUDERS = (LOWER, RIGHT_ARM, LEFT_ARM)
"""The layout classes that may lie over the upper garment: the lower garment (tucked in) and the arms."""


class BVTONNet(nn.Module):
    """The three stages of BVTON. ``forward`` is the try-on (stages 2 and 3); :meth:`canonicalize` is stage 1, used in
    training to make canonical proxies from on-model photographs.

    Args:
        flow_width, flow_levels: each part's canonicalizing flow network.
        layout_width, layout_levels: the condition generator.
        synth_width, synth_levels, spade_hidden, spectral: the SPADE generator.

    Shape (forward):
        - garment (N, 3, H, W) in [0, 1] on white, garment_mask (N, 1, H, W), agnostic (N, 3, H, W),
          parse_agnostic (N, 8, H, W), pose (N, 18, H, W); H and W divisible by ``2**max(levels)``.
        - output: the try-on image (N, 3, H, W) in [0, 1].
    """

    def __init__(
        self, flow_width: int = 8, flow_levels: int = 4, layout_width: int = 8, layout_levels: int = 4,
        synth_width: int = 16, synth_levels: int = 3, spade_hidden: int = 32, spectral: bool = False,
    ) -> None:
        super().__init__()
        self.canonicalizer = Canonicalizer(NUM_KEYPOINTS, flow_width, flow_levels)
        self.layout = ConditionGenerator(NUM_CLASSES, NUM_KEYPOINTS, layout_width, layout_levels)
        self.synthesizer = SPADEGenerator(3 + NUM_KEYPOINTS + 3, NUM_CLASSES + 1, synth_width, synth_levels, spade_hidden, spectral)

    def canonicalize(self, garment: torch.Tensor, parts: torch.Tensor, pose: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stage 1: the on-model garment -> the canonical proxy (see :class:`~zoo.models.bvton.flow.Canonicalizer`)."""
        return self.canonicalizer(garment, parts, pose)

    def condition(self, garment: torch.Tensor, garment_mask: torch.Tensor, parse_agnostic: torch.Tensor, pose: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stage 2 with HR-VITON's condition aligning: flow, layout logits, the warped garment and its mask with what
        the layout puts over it removed, and the aligned layout (the garment class only where the warped garment is).

        Returns:
            ``flow``, ``logits``, ``warped`` (N, 3, H, W), ``warped_mask`` (N, 1, H, W), ``layout`` (N, 8, H, W) one-hot.
        """
        flow, logits = self.layout(garment, garment_mask, parse_agnostic, pose)
        seg = logits.softmax(1)
        warped_mask = remove_overlap(seg, backward_warp(garment_mask, flow), OCCLUDERS)
        aligned = seg.clone()
        aligned[:, UPPER] = seg[:, UPPER] * (warped_mask.detach()[:, 0] > 0.5).float()
        return {"flow": flow, "logits": logits, "warped": backward_warp(garment, flow) * warped_mask, "warped_mask": warped_mask,
                "layout": one_hot(aligned.argmax(1)), "probabilities": seg}

    def synthesize(self, agnostic: torch.Tensor, pose: torch.Tensor, warped: torch.Tensor, warped_mask: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
        """Stage 3: the person from the agnostic person, the pose, the (warped or misaligned) garment and the layout; the
        misalignment mask is where the layout wants garment that the garment does not cover (ALIAS)."""
        misalign = (layout[:, UPPER : UPPER + 1] - warped_mask).clamp_min(0)
        return self.synthesizer(torch.cat([agnostic, pose, warped], 1), torch.cat([layout, misalign], 1))

    def tryon(self, garment, garment_mask, agnostic, parse_agnostic, pose) -> dict[str, torch.Tensor]:
        """Stages 2 and 3: :meth:`condition`'s outputs and the try-on ``image``."""
        cond = self.condition(garment, garment_mask, parse_agnostic, pose)
        return cond | {"image": self.synthesize(agnostic, pose, cond["warped"], cond["warped_mask"], cond["layout"])}

    def forward(self, garment, garment_mask, agnostic, parse_agnostic, pose) -> torch.Tensor:
        return self.tryon(garment, garment_mask, agnostic, parse_agnostic, pose)["image"]
