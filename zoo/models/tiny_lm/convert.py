"""A transformers checkpoint directory of the same architecture -> a zoo tiny LM.

The "official" release of a tiny LM is a transformers directory (``config.json`` with ``model_type`` llama or
mixtral, and ``model.safetensors``), such as :meth:`TinyLM.to_transformers` writes. The shape-determining settings
are read from its ``config.json`` (:func:`official_config`); the weights go in through ``load_net_state``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


_FIELDS = {"vocab_size": "vocab_size", "hidden_size": "hidden_size", "num_hidden_layers": "num_layers", "num_attention_heads": "num_heads",
           "num_key_value_heads": "num_kv_heads", "intermediate_size": "intermediate_size", "max_position_embeddings": "max_position",
           "num_local_experts": "num_experts", "num_experts_per_tok": "experts_per_token"}


def _config_file(path: str | Path) -> Path:
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not (folder / "config.json").is_file():
        raise ValueError(f"path: expected a transformers directory with config.json, received {str(path)!r}")
    return folder / "config.json"


def official_config(path: str | Path) -> dict[str, Any]:
    """The :class:`~zoo.models.tiny_lm.module.TinyLMConfig` fields a transformers ``config.json`` determines."""
    raw = json.loads(_config_file(path).read_text())
    kind = raw.get("model_type")
    if kind not in ("llama", "mixtral"):
        raise ValueError(f"config.json model_type: expected 'llama' or 'mixtral', received {kind!r}")
    out = {"variant": "moe" if kind == "mixtral" else "llama"}
    out.update({ours: raw[theirs] for theirs, ours in _FIELDS.items() if theirs in raw})
    return out


def load_official(model, path: str | Path) -> None:
    """Load a transformers directory's weights into ``model``.

    transformers itself reads the directory (its files may use another layout than the in-memory modules, e.g.
    Mixtral's per-expert tensors on disk and fused ones in memory); the state then goes in through ``load_net_state``.
    """
    from transformers import AutoModelForCausalLM

    folder = _config_file(path).parent
    model.load_net_state(AutoModelForCausalLM.from_pretrained(folder).state_dict())
