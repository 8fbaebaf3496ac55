"""The Learned Lightweight ISP's card prose: method, frozen feature networks, scaled settings, deviations."""

from __future__ import annotations

import dataclasses
from typing import Any

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec


def card_notes(spec: ModelSpec, config: Any, record: CheckpointRecord | None) -> str:
    """Markdown for the card of an ISP model.

    Args:
        spec: the model's spec.
        config: its ``LightweightISPConfig``.
        record: the measured record (unused: the figures are in the card's evaluation table).

    Returns:
        The card's method, frozen-network, scaled-settings and deviation sections.
    """
    cfg = config
    frozen = {
        f"content (VGG-19, {cfg.content_layer})": (cfg.content_net_weights, cfg.feature_seed),
        "texture (LPIPS AlexNet slices " + ", ".join(map(str, cfg.texture_layers)) + ")": (cfg.texture_net_weights, cfg.feature_seed + 1),
        f"colour ({cfg.color_vit} at {cfg.color_img_size} px)": (cfg.color_net_weights, cfg.feature_seed + 2),
    }
    nets = "\n".join(
        f"- {role}: " + (f"weights from `{path}`" if path else f"random initialisation, seed {seed}, frozen")
        for role, (path, seed) in frozen.items()
    )
    paper = type(cfg)(generator=cfg.generator, rmfa_blocks=cfg.rmfa_blocks)
    changed = [
        f"| `{f.name}` | {getattr(paper, f.name)} | {getattr(cfg, f.name)} |"
        for f in dataclasses.fields(cfg)
        if getattr(paper, f.name) != getattr(cfg, f.name)
    ]
    scaled = "\n".join(["| setting | paper / official code | this checkpoint |", "|---|---|---|", *changed]) if changed else "None."
    return f"""## Method
Unpaired training as the official code has it: content loss between frozen luma features of the output and of
a classical pseudo-ISP of the same RAW (reference: `{cfg.content_reference}`), L2 total variation, two texture
discriminators and one colour discriminator with the relativistic pairing loss and R1 + R2 penalties
(gamma {cfg.r1_gamma:g} / {cfg.r2_gamma:g}), every generator term divided by the norm of its gradient;
generator Adam lr {cfg.g_lr:g} betas {tuple(cfg.g_betas)}, discriminators Adam lr {cfg.d_lr:g}, updated every
{cfg.d_every} generator steps, gradient clip {cfg.d_grad_clip:g}.
Generator pretraining on the pseudo-ISP (pixel MSE, no target): {cfg.pretrain_steps} steps.
Generator EMA: {f"decay {cfg.ema_decay:g} (the shipped weights are the EMA)" if cfg.ema_decay > 0 else "none"}.

Frozen feature networks used for this checkpoint (the official code downloads pretrained VGG-19, LPIPS AlexNet and
`google/vit-base-patch16-224`; zoo builds them offline, from local weight files when given):
{nets}

## Settings scaled down from the paper for this checkpoint
{scaled}

## Differences from the official code
- Demosaicing of the pseudo-ISP: bilinear (kornia) instead of Menon 2007 (colour-demosaicing).
- The texture discriminators' first Linear layer is sized from `train_size` at construction instead of lazily on the first batch.
- Input RAW: packed planes in the official order `[raw[1::2,1::2], raw[0::2,1::2], raw[0::2,0::2], raw[1::2,0::2]]`,
  normalised by black level {tuple(cfg.black_level)} and white level {cfg.white_level:g}.
- The architecture is the official one: `zoo.load(name, weights="official.pth", official=True)` loads the authors'
  checkpoints, and the parity test reproduces their outputs to 1e-5. The authors' repository has no licence, so
  their weights are not redistributed."""
