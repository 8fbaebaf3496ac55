"""Encoder files -> the shared encoder of :class:`~zoo.models.meta_transformer.module.MetaTransformer`.

Two layouts are read (pickles only with ``weights_only=True``, or safetensors):

- the official Meta-Transformer encoder files (``Meta-Transformer_base_patch16_encoder.pth``, ``..._large_patch14...``):
  a bare state_dict of timm blocks, ``{i}.norm1``, ``{i}.attn.qkv``, ``{i}.attn.proj``, ``{i}.norm2``,
  ``{i}.mlp.fc1``, ``{i}.mlp.fc2`` (optionally under ``blocks.``): the encoder's own names;
- OpenCLIP ViT checkpoints (the LAION-2B image towers the official files were cut from):
  ``[visual.]transformer.resblocks.{i}.ln_1``, ``attn.in_proj_weight|bias``, ``attn.out_proj``, ``ln_2``,
  ``mlp.c_fc``, ``mlp.c_proj``; everything outside the resblocks (patch embedding, class token, positions, ``ln_pre``,
  ``ln_post``, projection, the text tower) is not part of the shared encoder and is left out.

Only the encoder is replaced; tokenizers and heads keep their weights (train them with ``zoo train``). The
encoder's width, depth and MLP ratio are read from the file (:func:`official_config`); the head count changes no
shape and is taken from the released sizes (B/16: 12, L/14: 16) when the file is one of them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from zoo.core.convert import read_official
from zoo.models.meta_transformer.encoder import SIZES

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


def config_from_encoder(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The :class:`~zoo.models.meta_transformer.module.MetaTransformerConfig` fields an encoder state_dict determines.

    Args:
        state: the encoder's state_dict (``{i}.norm1.weight`` ..., as :func:`encoder_state` returns it).

    Returns:
        ``dim``, ``depth`` and ``mlp_ratio``; ``num_heads`` too when (dim, depth) is a released size (the heads
        change no tensor shape). Nothing when the state holds no encoder block.
    """
    blocks = {int(k.split(".", 1)[0]) for k in state if k.split(".", 1)[0].isdigit()}
    if not blocks or "0.norm1.weight" not in state or "0.mlp.fc1.weight" not in state:
        return {}
    dim, depth = int(state["0.norm1.weight"].shape[0]), max(blocks) + 1
    out: dict[str, Any] = {"dim": dim, "depth": depth, "mlp_ratio": state["0.mlp.fc1.weight"].shape[0] / dim}
    released = {(d, n): heads for name, (d, n, heads) in SIZES.items() if name != "tiny"}
    if (dim, depth) in released:
        out["num_heads"] = released[(dim, depth)]
    return out


def official_config(path: Path) -> dict[str, Any]:
    """Config fields of the encoder the file at ``path`` holds (see :func:`config_from_encoder`).

    Args:
        path: an official Meta-Transformer encoder file or an OpenCLIP checkpoint.

    Returns:
        The inferred config fields.
    """
    return config_from_encoder(encoder_state(read_official(path)))


def load_official(model, path: str | Path) -> None:
    """Load an official Meta-Transformer encoder file or an OpenCLIP checkpoint into ``model``'s shared encoder.

    Args:
        model: a :class:`~zoo.models.meta_transformer.module.MetaTransformer`; its tokenizers and heads keep their
            weights.
        path: the encoder file.

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
    full = model.net.state_dict()
    full.update({f"encoder.{k}": v.float() for k, v in state.items()})
    model.load_net_state(full)
