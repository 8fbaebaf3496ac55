"""A Lightning checkpoint of this GAN (``zoo train`` / LightningCLI ``.ckpt``) -> zoo weights.

The official Adapt-then-Unlearn MNIST generator is a rosinality-style StyleGAN2 (``g``, ``d``, ``g_ema`` state dicts,
32x32, modulated convolutions) with no counterpart in this DCGAN, so no official file converts. A training
checkpoint of this module converts: its generator (the EMA copy ``net_ema.module.*`` when kept, else ``net.*``) and
its discriminator (``discriminators.d.*``); sizes are inferred from the tensors (:func:`official_config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zoo.core.convert import read_official


def _split(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    state = read_official(path)
    for prefix in ("net_ema.module.", "net.", ""):
        generator = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if "stem.weight" in generator and "mapping.net.0.weight" in generator:
            break
    else:
        raise ValueError(f"{path}: expected a digit GAN checkpoint with the generator's 'stem.weight' and 'mapping.net.0.weight', received keys {sorted(state)[:6]}")
    generator = {k: v for k, v in generator.items() if not k.startswith(("discriminators.", "net.", "net_ema.")) and k != "n_averaged"}
    discriminator = {k[len("discriminators.d."):]: v for k, v in state.items() if k.startswith("discriminators.d.")}
    return generator, discriminator


def official_config(path: str | Path) -> dict[str, Any]:
    """``latent_dim``, ``w_dim``, ``mapping_layers``, ``width`` and ``d_width`` of the checkpoint at ``path``."""
    generator, discriminator = _split(path)
    layers = sum(1 for k in generator if k.startswith("mapping.net.") and k.endswith(".weight"))
    out = {"latent_dim": int(generator["mapping.net.0.weight"].shape[1]), "w_dim": int(generator["stem.weight"].shape[1]),
           "mapping_layers": layers, "width": int(generator["to_image.weight"].shape[0]) // 2}
    if "features.0.weight" in discriminator:
        out["d_width"] = int(discriminator["features.0.weight"].shape[0])
    return out


def load_official(model, path: str | Path) -> None:
    """Load a training checkpoint's generator (and its discriminator, when it holds one) into ``model``.

    Raises:
        ValueError: not a digit GAN checkpoint, or names / shapes that differ.
    """
    from zoo.core.checks import check_state_dict

    generator, discriminator = _split(path)
    model.load_net_state(generator)
    if discriminator:
        check_state_dict(model.discriminator, discriminator, "DigitGAN discriminator")
        model.discriminator.load_state_dict(discriminator, strict=True)
