"""Encoder files -> the shared encoder of :class:`~zoo.models.meta_transformer.module.MetaTransformer`.

Two layouts are read (pickles only with ``weights_only=True``, or safetensors):

- the official Meta-Transformer encoder files (``Meta-Transformer_base_patch16_encoder.pth``, ``..._large_patch14...``):
  a bare state_dict of timm blocks, ``{i}.norm1``, ``{i}.attn.qkv``, ``{i}.attn.proj``, ``{i}.norm2``,
  ``{i}.mlp.fc1``, ``{i}.mlp.fc2`` (optionally under ``blocks.``): the encoder's own names;
- OpenCLIP ViT checkpoints (the LAION-2B image towers the official files were cut from):
  ``[visual.]transformer.resblocks.{i}.ln_1``, ``attn.in_proj_weight|bias``, ``attn.out_proj``, ``ln_2``,
  ``mlp.c_fc``, ``mlp.c_proj``; everything outside the resblocks (patch embedding, class token, positions, ``ln_pre``,
  ``ln_post``, projection, the text tower) is not part of the shared encoder and is left out.

Only the encoder is replaced; tokenizers and heads keep their weights (train them with ``zoo train``).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from zoo.core.convert import read_official

_OPENCLIP_NAMES = (
    ("ln_1.", "norm1."),
    ("ln_2.", "norm2."),
    ("attn.in_proj_weight", "attn.qkv.weight"),
    ("attn.in_proj_bias", "attn.qkv.bias"),
    ("attn.out_proj.", "attn.proj."),
    ("mlp.c_fc.", "mlp.fc1."),
    ("mlp.c_proj.", "mlp.fc2."),
)
_OPENCLIP_BLOCK = re.compile(r"^(?:visual\.)?transformer\.resblocks\.(\d+)\.(.+)$")
_OFFICIAL_BLOCK = re.compile(r"^(?:blocks\.)?(\d+)\.(.+)$")


def encoder_from_openclip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The resblocks of an OpenCLIP image tower under the encoder's names (``{i}.norm1.weight`` ...)."""
    out = {}
    for key, value in state.items():
        match = _OPENCLIP_BLOCK.match(key)
        if not match or key.startswith("transformer.") and any(k.startswith("visual.") for k in state):
            continue  # not a block, or the text tower of a full CLIP checkpoint
        rest = match.group(2)
        for old, new in _OPENCLIP_NAMES:
            rest = rest.replace(old, new)
        out[f"{match.group(1)}.{rest}"] = value
    return out


def encoder_from_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official encoder file's blocks (with or without a ``blocks.`` prefix) under the encoder's names."""
    out = {}
    for key, value in state.items():
        match = _OFFICIAL_BLOCK.match(key)
        if match:
            out[f"{match.group(1)}.{match.group(2)}"] = value
    return out


def encoder_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detect the layout (OpenCLIP or official Meta-Transformer) and return the encoder's state_dict."""
    if any(_OPENCLIP_BLOCK.match(k) for k in state):
        return encoder_from_openclip(state)
    return encoder_from_official(state)


def load_official(model, path: str | Path) -> None:
    """Load an official Meta-Transformer encoder file or an OpenCLIP checkpoint into ``model``'s shared encoder.

    Raises:
        ValueError: the file's blocks do not match the encoder's depth, width or names.
    """
    state = encoder_state(read_official(path))
    expected = model.net.encoder.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"encoder file {path}: missing {missing[:4]}, unexpected {unexpected[:4]}; expected {model.config.depth} blocks "
            f"of width {model.config.dim} (is it the other size, B/16 vs L/14?)"
        )
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise ValueError(f"encoder file {path}: {key} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}")
    model.net.encoder.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
