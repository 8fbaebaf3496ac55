"""A transformers CLIP directory (``config.json`` with ``model_type`` "clip" and its weights, e.g. the Hub's
``openai/clip-vit-base-patch32``) -> this package.

The architecture is read from the directory's ``config.json`` (:func:`official_config`); transformers reads the
weights and they go in through ``load_net_state`` under this package's ``clip.`` prefix. The official text tower
reads CLIP's BPE ids (vocabulary 49,408), not this package's bytes: pass such ids to ``forward`` as tensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _config_file(path: str | Path) -> Path:
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not (folder / "config.json").is_file():
        raise ValueError(f"path: expected a transformers CLIP directory with config.json, received {str(path)!r}")
    return folder / "config.json"


def official_config(path: str | Path) -> dict[str, Any]:
    """The :class:`~zoo.models.digit_clip.model.DigitCLIPConfig` fields a transformers CLIP ``config.json`` determines."""
    raw = json.loads(_config_file(path).read_text())
    if raw.get("model_type") != "clip":
        raise ValueError(f"config.json model_type: expected 'clip', received {raw.get('model_type')!r}")
    vision, text = raw.get("vision_config", {}), raw.get("text_config", {})
    return {
        "image_size": vision.get("image_size", 224), "patch_size": vision.get("patch_size", 32),
        "vision_width": vision.get("hidden_size", 768), "vision_layers": vision.get("num_hidden_layers", 12),
        "vision_heads": vision.get("num_attention_heads", 12), "text_width": text.get("hidden_size", 512),
        "text_layers": text.get("num_hidden_layers", 12), "text_heads": text.get("num_attention_heads", 8),
        "context_length": text.get("max_position_embeddings", 77), "embed_dim": raw.get("projection_dim", 512),
    }


def load_official(model, path: str | Path) -> None:
    """Load a transformers CLIP directory's weights into ``model`` (a :class:`~zoo.models.digit_clip.module.DigitCLIP`
    built from :func:`official_config`, whose token embedding must match the checkpoint's vocabulary).

    Raises:
        ValueError: not a CLIP directory, or tensors that do not match the model (named by ``load_net_state``).
    """
    from transformers import CLIPModel

    state = CLIPModel.from_pretrained(_config_file(path).parent).state_dict()
    expected = model.net.state_dict()
    # position_ids are non-persistent buffers in recent transformers: drop them when this install does not save them
    model.load_net_state({f"clip.{k}": v for k, v in state.items() if f"clip.{k}" in expected or not k.endswith("position_ids")})
