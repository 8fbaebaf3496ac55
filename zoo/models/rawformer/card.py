"""Rawformer's card prose, a function of the config and the measured record: the two training stages, the
limitation warning, the identity-loss deviation, the colour table, and the code/paper differences."""

from __future__ import annotations

import dataclasses
from typing import Any

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

NOT_SCALED = ("pretrained", "tile", "tile_overlap")
"""Config fields that are paths or inference settings, not training settings scaled down from the paper."""


def reconstruction_clause(record: CheckpointRecord) -> str:
    """The clause on stage 1's recorded reconstruction of held-out images ("" when not recorded)."""
    rec = getattr(record, "pretrain_reconstruction", None)
    if not rec:
        return ""
    return f"; its reconstruction of the unmasked held-out camera-A images: PSNR {rec['psnr']:.2f} dB, SSIM {rec['ssim']:.3f}"


def limitations(record: CheckpointRecord | None) -> str:
    """A warning when the recorded evaluation does not beat the identity mapping ("" otherwise)."""
    if record is None:
        return ""
    identity = next((v for k, v in record.baselines.items() if k.startswith("identity")), None)
    if not identity:
        return ""
    lost = [m.upper() for m in ("psnr", "ssim") if m in identity and record.metrics.get(m, 0.0) <= identity[m]]
    if not lost:
        return ""
    return (
        f"**Limitation: at this training budget the checkpoint does not beat the identity mapping on {' and '.join(lost)}** "
        "(see the evaluation table): passing camera A's image through unchanged scores as well or better.\n\n"
    )


def identity_note(cfg: Any) -> str:
    """Why the tiny recipe turns the official identity term down, when it does ("" at the official weight)."""
    official = type(cfg)().w_identity
    if cfg.w_identity >= official:
        return ""
    return (
        f"**Deviation: identity loss at {cfg.w_identity:g} of the cycle weight instead of the official "
        f"{official:g}.** The two cameras differ mostly in colour and exposure. At this budget the "
        "generator cannot yet tell their images apart, and the official identity loss (L1 of `G_ab(b)` against `b`) "
        "then holds its output at camera A's colour: with it, the same recipe does not beat the identity mapping "
        "(the ablation and its command are in `recipes/rawformer/tiny.yaml`). `paper.yaml` keeps 0.5.\n\n"
    )


def colour_table(record: CheckpointRecord | None) -> str:
    """The recorded mean R, G, B of the held-out images: where the output's colour and exposure land between the
    cameras' (SSIM barely sees a global colour shift, so the metrics alone do not show it)."""
    means = getattr(record, "channel_means", None)
    if not means:
        return ""
    # zoo/checkpoints.json sorts keys: put the input first and the ground truth last.
    order = sorted(means, key=lambda name: (not name.startswith("camera A"), name.startswith("camera B"), name))
    rows = "\n".join(f"| {name} | " + " | ".join(f"{m:.3f}" for m in means[name]) + " |" for name in order)
    source, target = means[order[0]], means[order[-1]]
    shares = [
        f"{100 * (out - a) / (b - a):.0f}%"
        for name in order[1:-1]
        for out, a, b in zip(means[name], source, target)
        if abs(b - a) > 1e-6
    ]
    moved = f" The output's means cover {', '.join(shares)} (R, G, B) of the way from camera A's to camera B's." if len(order) == 3 else ""
    return (
        f"Mean R, G, B of the {record.eval_dataset.num_samples} held-out images:{moved}\n\n"
        f"| image | R | G | B |\n|---|---|---|---|\n{rows}\n\n"
    )


def stages(record: CheckpointRecord | None) -> str:
    """The two training stages and the baseline, with their recorded steps and seconds ("" without a record)."""
    if record is None or not getattr(record, "pretrain_steps", 0):
        return ""
    return (
        f"Stage 1, masked-autoencoder pre-training (`recipes/rawformer/pretrain_tiny.yaml`): {record.pretrain_steps} steps, "
        f"{record.pretrain_seconds:.0f} s{reconstruction_clause(record)}. Stage 2, translation (`recipes/rawformer/tiny.yaml`): {record.train_steps} steps, "
        f"{record.train_seconds:.0f} s. The CycleGAN baseline (`recipes/rawformer/cyclegan_tiny.yaml`): "
        f"{record.baseline_seconds:.0f} s.\n\n"
    )


def card_notes(spec: ModelSpec, config: Any, record: CheckpointRecord | None) -> str:
    """Markdown for a Rawformer card.

    Args:
        spec: the model's spec.
        config: its ``RawformerConfig``.
        record: the measured ``RawformerRecord`` (None: no shipped checkpoint).

    Returns:
        The method, scaled-settings, code/paper-difference and data sections.
    """
    cfg = config
    paper = type(cfg)()
    changed = [
        f"| `{f.name}` | {getattr(paper, f.name)} | {getattr(cfg, f.name)} |"
        for f in dataclasses.fields(cfg)
        if f.name not in NOT_SCALED and getattr(paper, f.name) != getattr(cfg, f.name)
    ]
    scaled = "\n".join(["| setting | paper / official code | this checkpoint |", "|---|---|---|", *changed]) if changed else "None."
    stages_text = stages(record)
    identity = f"identity L1 at {cfg.w_identity:g} of it" if cfg.w_identity > 0 else "no identity loss (official: L1 at 0.5 of it)"
    return f"""## Method
{stages_text}{limitations(record)}{identity_note(cfg)}{colour_table(record)}As the official code (a UVCGAN v2 fork): a masked autoencoder (patches masked with probability 0.4) pre-trains one
generator on both cameras' images and initialises both generators; then CycleGAN-style training with LSGAN against
two discriminators (PatchGAN body, batch head judging each batch next to a queue of {cfg.queue_size} cached rows of past
features), cycle loss `L1 + VGG + {cfg.w_cycle_ssim:g} (1 - SSIM)` at weight {cfg.w_cycle:g}, {identity}, a zero-centred gradient penalty ({cfg.gp_lambda:g}) at real/fake interpolations, generator EMA
({cfg.ema_decay:g}; the shipped weights are the EMA), Adam {cfg.g_lr:g} / {cfg.d_lr:g} with betas {tuple(cfg.g_betas)}.

## Settings scaled down from the paper for this checkpoint
{scaled}

## Where the official code and the paper differ (zoo follows the code)
- The cycle loss's "MS-SSIM" term is single-scale SSIM (11x11 Gaussian window, sigma 1.5) in the official code; zoo uses
  kornia's SSIM with the same window.
- The official VGG term of the cycle loss runs under `torch.no_grad`, so it adds nothing to the gradient;
  `cycle_vgg_grad=False` (default) keeps that; the tiny recipe skips computing it (`w_cycle_vgg: 0`).
- Condensed-query attention uses a fixed temperature `1/sqrt(C)`; `rawnet_num_heads` is never used by the official forward.

## Differences from the official model
- Any input size: the official generator is locked to the resolution it was built for (its ViT position buffers);
  zoo's rebuilds the position grid for the input's size by the official formula (identical at the built size), takes
  sides that are multiples of 64 directly, pads other sizes (reflection) and tiles images larger than
  `tile` = {cfg.tile} px with {cfg.tile_overlap} px overlap, blended linearly.
- The U-Net levels are flat lists instead of the nested `inner_module` chain: `zoo.load("rawformer_base",
  weights="path/to/run", official=True)` maps the official files (`net_gen_ab.pth`, `net_avg_gen_*.pth`,
  `net_disc_*.pth`); the parity test reproduces the official generator's outputs to 1e-5. The authors have released
  no weights (their README's to-do list), so no official checkpoint can be shipped or converted for you.
- The attention is computed with two `scaled_dot_product_attention` calls instead of materialised attention matrices
  (same values; less memory).

## Data
Two simulated cameras made with zoo's inverse ISP from photographs that scikit-image and scikit-learn bundle: the raw
images are 3-channel (R, mean of the greens, B) at half the sensor resolution, normalised by black and white level, as the
official loader reads its PNGs. Training pairs are unpaired; evaluation uses paired captures of held-out scenes.
For real data, `zoo.data.raw_to_raw.UnpairedImageFolderDataModule` reads the CycleGAN layout (`trainA`, `trainB`,
`testA`, `testB`) of the NUS multi-camera and Samsung S9 / iPhone X sets."""
