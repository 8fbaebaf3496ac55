"""A diffusers model directory of the same architecture -> a zoo digit diffusion model.

There is no official release of these tiny models; the "official" layout is diffusers' own:

- class model: a ``UNet2DModel`` directory (``config.json`` + ``diffusion_pytorch_model.safetensors``), as
  ``model.net.unet.save_pretrained(dir)`` writes, with ``num_class_embeds`` 11 and 1 (grey) or 3 (colour) image channels;
- text model: a pipeline-style folder with ``unet/`` (``UNet2DConditionModel``) and ``text_encoder/``
  (transformers ``CLIPTextModel``) subfolders.

The shape-determining settings are read from the config files (:func:`official_config`); diffusers / transformers
read the weights, which go in through ``load_net_state``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_ATTENTION_BLOCKS = ("AttnDownBlock2D", "CrossAttnDownBlock2D")


def _unet_folder(path: str | Path) -> Path:
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    for candidate in (folder, folder / "unet"):
        if (candidate / "config.json").is_file():
            return candidate
    raise ValueError(f"path: expected a diffusers UNet directory (config.json) or a folder with unet/config.json, received {str(path)!r}")


def official_config(path: str | Path) -> dict[str, Any]:
    """The :class:`~zoo.models.digit_diffusion.module.DigitDiffusionConfig` fields a diffusers UNet config determines."""
    raw = json.loads((_unet_folder(path) / "config.json").read_text())
    kind = raw.get("_class_name")
    if kind not in ("UNet2DModel", "UNet2DConditionModel"):
        raise ValueError(f"config.json _class_name: expected 'UNet2DModel' or 'UNet2DConditionModel', received {kind!r}")
    if kind == "UNet2DModel" and raw.get("num_class_embeds") != 11:
        raise ValueError(f"config.json num_class_embeds: expected 11 (10 digits + the null label), received {raw.get('num_class_embeds')!r}")
    if raw.get("in_channels") not in (1, 3) or raw.get("out_channels") != raw.get("in_channels"):
        raise ValueError(f"config.json: expected 1 or 3 image channels in and out, received {raw.get('in_channels')} and {raw.get('out_channels')}")
    heads = raw.get("attention_head_dim", 8)
    out = {
        "conditioning": "text" if kind == "UNet2DConditionModel" else "class",
        "image_size": raw["sample_size"],
        "image_channels": raw["in_channels"],
        "channels": tuple(raw["block_out_channels"]),
        "layers_per_block": raw["layers_per_block"],
        "attention": tuple(b in _ATTENTION_BLOCKS for b in raw["down_block_types"]),
        "norm_groups": raw.get("norm_num_groups", 32),
        "head_dim": heads if isinstance(heads, int) else heads[0],
    }
    if kind == "UNet2DConditionModel":
        if raw.get("addition_embed_type") not in (None, "text"):
            raise ValueError(f"config.json addition_embed_type: expected null or 'text' (a pooled prompt embedding), received {raw.get('addition_embed_type')!r}")
        out["pooled_text"] = raw.get("addition_embed_type") == "text"
    text_config = _unet_folder(path).parent / "text_encoder" / "config.json"
    if kind == "UNet2DConditionModel" and text_config.is_file():
        text = json.loads(text_config.read_text())
        out.update(text_width=text["hidden_size"], text_layers=text["num_hidden_layers"], text_heads=text["num_attention_heads"],
                   max_prompt_tokens=text["max_position_embeddings"], text_encoder=_text_encoder_kind(text))
        pool_heads = raw.get("addition_embed_type_num_heads", 64)
        if out["pooled_text"] and pool_heads != text["num_attention_heads"]:  # the pooling's weights do not show its heads
            raise ValueError(f"config.json addition_embed_type_num_heads: expected the text encoder's {text['num_attention_heads']} heads, received {pool_heads}")
    return out


def _text_encoder_kind(text: dict[str, Any]) -> str:
    """``"digit_clip_tiny"`` for a text encoder over that model's byte tokens (its vocabulary and end token), else
    ``"joint"`` (word tokens)."""
    from zoo.models.digit_clip.model import EOS_ID, VOCAB_SIZE

    return "digit_clip_tiny" if text.get("vocab_size") == VOCAB_SIZE and text.get("eos_token_id") == EOS_ID else "joint"


def load_official(model, path: str | Path) -> None:
    """Load a diffusers UNet directory (and, for the text model, the ``text_encoder/`` beside it) into ``model``."""
    folder = _unet_folder(path)
    if model.config.conditioning == "text":
        from diffusers import UNet2DConditionModel
        from transformers import CLIPTextModel

        text_folder = folder.parent / "text_encoder"
        if not (text_folder / "config.json").is_file():
            raise ValueError(f"path: expected a text_encoder/ folder beside {folder}, received none")
        state = {f"unet.{k}": v for k, v in UNet2DConditionModel.from_pretrained(folder).state_dict().items()}
        state.update({f"text_encoder.{k}": v for k, v in CLIPTextModel.from_pretrained(text_folder).state_dict().items()})
    else:
        from diffusers import UNet2DModel

        state = {f"unet.{k}": v for k, v in UNet2DModel.from_pretrained(folder).state_dict().items()}
    model.load_net_state(state)
