"""BVTON's registered models (Yang, Zang, Liu, arXiv 2411.01593): the paper-size preset and the shipped tiny one. Plain data."""

from dataclasses import dataclass, field

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec


@dataclass(frozen=True)
class BVTONRecord(CheckpointRecord):
    """The shipped checkpoint's record, with what the stages measured besides the headline metrics.

    Args:
        stage_seconds: wall-clock training seconds of each run (stage and row), by run name.
        stage_steps: optimiser steps of each run, by run name.
        proxy_metrics: stage 1 on held-out dolls: ``proxy_l1`` (proxy vs the visible in-shop garment), ``flow_epe``
            (pixels, against the doll's analytic flows, on visible pixels), ``proxy_l1_identity`` (no warp).
        loss_curves: each run's logged generator total loss, averaged over each quarter of its training, by run name,
            and some of its terms under ``"<run> <term>"``.
        step_curves: held-out ``ssim`` and ``lpips`` of a synthesizer run at each checkpoint it kept, with their
            ``generator_steps``, by run name (``stage3``: BVTON; ``baseline``: the paired-only baseline).
        feature_network: how the FID / KID features were made.
    """

    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_steps: dict[str, int] = field(default_factory=dict)
    proxy_metrics: dict[str, float] = field(default_factory=dict)
    loss_curves: dict[str, list[float]] = field(default_factory=dict)
    step_curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    feature_network: str = ""


_COMMON = dict(
    task="virtual-try-on",
    paper="High-Fidelity Virtual Try-on with Large-Scale Unpaired Learning (Yang et al., arXiv 2024)",
    paper_url="https://arxiv.org/abs/2411.01593",
    official_repo="sangyun884/HR-VITON",  # BVTON released no code: the anchor whose two generators this follows
    official_license="none",
    module="zoo.models.bvton.module:BVTON",
    tags=("virtual-try-on", "gan", "spade", "appearance-flow", "unpaired"),
    headline_metric="ssim",
    pipeline_tag="image-to-image",
    usage='model.predict(person="person.jpg", garment="cloth.jpg", parsing="parse.png", pose="pose_keypoints.json")  # uint8 (H, W, 3)',
    record_type=BVTONRecord,
    metric_names={
        "ssim": "SSIM of the unpaired try-on against the exact render of the body in the new garment",
        "lpips": "LPIPS (random-init AlexNet trunk, v0.1 linear heads: not comparable with published LPIPS)",
        "fid": "FID (features of a small CNN trained here on paper dolls, not Inception: not comparable with published FID)",
        "kid": "KID (the same small-CNN features; subsets of 32)",
        "ssim_paired": "SSIM of the person re-dressed in its own garment",
        "layout_acc": "pixel accuracy of the condition generator's layout (person in its own garment) against the exact parsing",
    },
)

TINY = {
    "image_size": (64, 48), "flow_width": 8, "flow_levels": 4, "layout_width": 8, "layout_levels": 4, "synth_width": 16,
    "synth_levels": 3, "spade_hidden": 16, "spectral": False, "d_filters": 16, "d_layers": 2, "d_scales": 2,
    "vgg_layers": (1, 6), "vgg_layer_weights": (1 / 32, 1 / 16),
}
"""The shipped tiny preset: 64 x 48, widths 8 / 8 / 16, VGG taps relu1_1 and relu2_1 (the CPU budget)."""

VARIANTS = (
    ("bvton_tiny", TINY, 974699,
     "A tiny BVTON (64x48 try-on, three stages) trained here on synthetic paper dolls, with its paired-only and no-proxy ablations measured in the card."),
    ("bvton", {}, 88722233,
     "BVTON at the paper's 1024x768 with anchor-sized stages (condition generator ngf 96, SPADE ngf 64 with spectral norm); no weights exist."),
)

SPECS = tuple(ModelSpec(name=n, config=c, hub_repo=f"zoo-models/{n}", num_params=p, description=d, **_COMMON) for n, c, p, d in VARIANTS)
