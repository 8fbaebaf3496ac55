"""MAAG's registered models: the official ACDC setting and the shipped CPU-sized model. Plain data, no torch."""

from dataclasses import dataclass

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

ROWS = ("UNet, full masks (upper bound)", "UNet, scribbles (WPCE)", "UNet, scribbles + mask prior (no attention gates)", "MAAG")
"""The card's rows, in order: the first three are the record's baselines, the last its metrics."""
ROW_CONFIGS = {
    ROWS[0]: {"supervision": "masks", "adversarial": False, "attention_gates": False},
    ROWS[1]: {"supervision": "scribbles", "adversarial": False, "attention_gates": False},
    ROWS[2]: {"supervision": "scribbles", "adversarial": True, "attention_gates": False},
    ROWS[3]: {},
}
"""Config overrides of each row's model (the recipe's model otherwise)."""
OVERLAY_NAME = "overlay.png"
"""The card's figure: held-out image, scribbles of a training slice, each row's prediction."""


@dataclass(frozen=True, kw_only=True)
class MAAGRecord(CheckpointRecord):
    """The shipped MAAG's record: the common fields and each row's training time.

    Args:
        row_seconds: row name -> wall-clock training seconds.
        row_steps: row name -> optimiser steps (grouped updates).
    """

    row_seconds: dict[str, float]
    row_steps: dict[str, int]


_COMMON = dict(
    task="weakly-supervised-segmentation",
    paper="Learning to Segment from Scribbles using Multi-scale Adversarial Attention Gates (Valvano et al., IEEE TMI 2021)",
    paper_url="https://arxiv.org/abs/2007.01152",
    official_repo="gvalvano/multiscale-adversarial-attention-gates",
    official_license="Apache-2.0",
    module="zoo.models.maag.module:MAAG",
    tags=("image-segmentation", "medical", "cardiac-mri", "scribbles", "weak-supervision", "gan", "attention-gates"),
    headline_metric="dice_mean",
    pipeline_tag="image-segmentation",
    record_type=MAAGRecord,
    usage='labels = model.predict("patient001_frame01.nii.gz")  # or a 2-D slice array; 0 BG, 1 RV, 2 MYO, 3 LV',
)

SPECS = (
    ModelSpec(
        name="maag",
        config={},
        hub_repo="zoo-models/maag",
        description="MAAG at the official ACDC setting: SAUNet (32 filters, attention gates, 224 px) trained from scribbles against a multi-resolution mask discriminator; official TF checkpoints load with `official=True`.",
        num_params=5493076,
        **_COMMON,
    ),
    ModelSpec(
        name="maag_tiny",
        config={"n_filters": 8, "d_filters": 8, "input_size": 64, "pixel_spacing": 5.285},
        hub_repo="zoo-models/maag_tiny",
        description="MAAG at CPU size (8 filters, 64 px) trained from scribbles on synthetic short-axis cardiac phantoms.",
        num_params=345700,
        **_COMMON,
    ),
)
