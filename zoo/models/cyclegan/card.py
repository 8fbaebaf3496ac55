"""The CycleGAN card's prose: a function of the config and of the measured record (None: nothing shipped)."""

from __future__ import annotations

import dataclasses
from typing import Any

from zoo.registry import ModelSpec

_INFERENCE_ONLY = ("pool_seed",)


def _changed_settings(config: Any) -> str:
    """The config fields that differ from the official defaults, as a markdown table ("None." when none do)."""
    defaults = type(config)()
    rows = [
        f"| `{f.name}` | {getattr(defaults, f.name)} | {getattr(config, f.name)} |"
        for f in dataclasses.fields(config)
        if f.name not in _INFERENCE_ONLY and getattr(defaults, f.name) != getattr(config, f.name)
    ]
    return "\n".join(["| setting | official default | this model |", "|---|---|---|", *rows]) if rows else "None."


def card_notes(spec: ModelSpec, config: Any, record: Any | None) -> str:
    """Markdown for the card: method, settings, official checkpoints, differences from the official code, data.

    Args:
        spec: the registry spec.
        config: the model's :class:`~zoo.models.cyclegan.module.CycleGANConfig`.
        record: the measured checkpoint record, or None when no checkpoint is shipped.

    Returns:
        The notes (every number in them is a config value).
    """
    cfg = config
    norm = {"instance": "instance norm", "batch": "batch norm", None: "no norm"}[cfg.norm]
    gan = (
        "LSGAN (mean squared error to 1 for real, 0 for fake)" if cfg.gan_mode == "lsgan"
        else "the vanilla GAN loss (binary cross-entropy on logits)"
    )
    identity = (
        f"identity L1 `|G_A(b) - b|` and `|G_B(a) - a|` at {cfg.lambda_identity:g} of lambda"
        if cfg.lambda_identity > 0 else "no identity loss"
    )
    pool = f"a history pool of {cfg.pool_size} generated images per discriminator" if cfg.pool_size else "no history pool"
    schedule = (
        f"constant for {cfg.n_epochs} epochs, then decaying linearly towards zero over {cfg.n_epochs_decay} more"
        if cfg.n_epochs_decay else "constant"
    )
    patchgan = "70x70 PatchGANs (3 layers)" if cfg.n_layers_d == 3 else f"{cfg.n_layers_d}-layer PatchGANs"
    six = (
        f" (with `--model.init_args.config.n_blocks={cfg.n_blocks}`, and `--data.init_args.crop=128` with a smaller"
        " `--data.init_args.size` for the 128 px setting)" if cfg.n_blocks != 9 else ""
    )
    trained = "" if record is None else f"The shipped weights were trained with recipe `{record.recipe}`.\n\n"
    return f"""## Method
{trained}As the official `cycle_gan` model: two ResNet generators, G_A (A -> B) and G_B (B -> A), each a 7x7 conv with
{cfg.ngf} filters, two stride-2 downsamplings, {cfg.n_blocks} residual blocks, two transposed-conv upsamplings and a
7x7 conv with tanh ({norm}, reflection padding); two {patchgan} with {cfg.ndf} filters: D_A judges domain B, D_B
domain A. Generator loss: {gan} through both discriminators, cycle
L1 `|G_B(G_A(a)) - a|` at lambda_A = {cfg.lambda_a:g} and `|G_A(G_B(b)) - b|` at lambda_B = {cfg.lambda_b:g}, and
{identity}. Each discriminator's loss is the mean of its real and fake terms; its fakes come from {pool}: once
full, each new image is returned as it is with probability 0.5, or else swapped with a stored one, which is returned.
Adam {cfg.g_lr:g} (generators) / {cfg.d_lr:g} (discriminators), betas {tuple(cfg.g_betas)}; the rate is {schedule}.
Weights drawn as the official `init_weights` ({cfg.init_type}, gain {cfg.init_gain:g}).

## Settings that differ from the official defaults
{_changed_settings(cfg)}

## Official checkpoints
`zoo.load("{spec.name}", weights="checkpoints/<name>", official=True)` reads an official run directory
(`latest_net_G_A.pth` -> A -> B, `latest_net_G_B.pth` -> B -> A; the discriminators too when saved, for further
training; `train_opt.txt` for the training settings, and its `--direction BtoA` swaps the domains), a released
pretrained model (`latest_net_G.pth`, A -> B) or one generator file. The architecture (channels, `ngf`, residual
blocks, norm) is read from the tensors, so any ResNet-generator run loads, not only this preset's. U-Net generators
(`--netG unet_256`, pix2pix's default) are not supported.

## Differences from the official code
- Images are in [0, 1] (the zoo's convention): the generators map to the official [-1, 1] inside, the
  discriminators are fed `2x - 1` and the L1 terms are taken in [-1, 1], so losses and gradients are the official ones.
- `predict` pads an image by reflection to sides divisible by 4 (at least 8) and crops the output back; the
  official test script resizes instead (`--preprocess none` rounds to a multiple of 4).
- One Adam optimiser per discriminator instead of one over both: Adam is per-parameter, so the updates are the same.
- The history pool draws from its own seeded generator (`pool_seed`) instead of Python's `random`, and its images
  and generator state are saved in the Lightning checkpoint, so a resumed run continues as an uninterrupted one.
- `--use_dropout` generators load for inference (dropout is inactive in eval mode); zoo's generator has no dropout
  to train with. Under `--norm none` the official convs have no bias; zoo's do, set to zero on conversion.

## Data
`recipes/cyclegan_resnet9/paper.yaml`{six} reads the official layout (`trainA`, `trainB`, `testA`, `testB`) with
`zoo.data.raw_to_raw.UnpairedImageFolderDataModule`: resized (286) and randomly cropped (256) with horizontal flips,
as the official `resize_and_crop`, but with a bilinear resize (official: bicubic), and each A image meets a seeded
partner B image and crop that stay the same every epoch (the official loader draws a new random B image and crop at
every step). `tiny.yaml` trains on two simulated cameras (`SyntheticCameraPairDataModule`), no download needed."""
