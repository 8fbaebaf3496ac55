"""Rawformer's registered models (Perevozchikov et al., ECCV 2024) and the shipped tiny preset: plain data."""

from dataclasses import dataclass, field

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec


@dataclass(frozen=True)
class RawformerRecord(CheckpointRecord):
    """The shipped Rawformer's record: the common fields and what its three training runs measured.

    Args:
        pretrain_steps: optimiser steps of stage 1, the masked-autoencoder pre-training (count).
        pretrain_seconds: wall-clock seconds of stage 1.
        pretrain_reconstruction: PSNR (dB) / SSIM of stage 1's unmasked reconstruction of held-out camera-A images.
        baseline_seconds: wall-clock seconds of the plain-CycleGAN baseline's training.
        channel_means: mean R, G, B of the held-out images, by image (camera A, the output, camera B).
    """

    pretrain_steps: int = 0
    pretrain_seconds: float = 0.0
    pretrain_reconstruction: dict[str, float] = field(default_factory=dict)
    baseline_seconds: float = 0.0
    channel_means: dict[str, list[float]] = field(default_factory=dict)

_COMMON = dict(
    task="raw-to-raw",
    paper="Rawformer: Unpaired Raw-to-Raw Translation for Learnable Camera ISPs (Perevozchikov et al., ECCV 2024)",
    paper_url="https://arxiv.org/abs/2404.10700",
    official_repo="gosha20777/rawformer",
    official_license="MIT",
    module="zoo.models.rawformer.module:Rawformer",
    tags=("image-to-image", "raw-to-raw", "unpaired", "gan", "cyclegan", "isp"),
    headline_metric="psnr",
    record_type=RawformerRecord,
    usage='b = model.predict(a)  # camera-A raw image (3, H, W) in [0, 1], any size -> camera B; direction="ba" for B -> A',
)

TINY = {
    "image_size": 64, "unet_features": (16, 32, 48, 96), "vit_dim": 48, "vit_heads": 2, "vit_blocks": 2, "vit_ffn": 96,
    "vit_embed": 48, "disc_filters": 16,
}
"""The shipped tiny Rawformer: U-Net 16/32/48/96 and a 2-block, width-48 ViT bottleneck."""

SPECS = (
    ModelSpec(
        name="rawformer",
        config=TINY,
        hub_repo="zoo-models/rawformer",
        description="A small Rawformer (U-Net 16/32/48/96, 2-block ViT bottleneck; two 1M-parameter generators) translating between two simulated cameras' raw images, both directions.",
        num_params=2053362,
        **_COMMON,
    ),
    ModelSpec(
        name="rawformer_base",
        config={"image_size": 256},
        hub_repo="zoo-models/rawformer_base",
        description="The paper's Rawformer (the official `rawformer` preset: U-Net 24/48/96/192, 12-block ViT bottleneck; two generators of 9,135,811 parameters); official checkpoints load with `official=True`.",
        num_params=18271622,
        **_COMMON,
    ),
)
