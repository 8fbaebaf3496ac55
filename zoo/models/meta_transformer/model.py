"""Meta-Transformer's plain networks (Zhang et al., 2023): one shared encoder, a tokenizer and a head per modality.

Usable without Lightning: ``MetaTransformerNet(MetaTransformerConfig(...))(x, modality)``; :mod:`.module` trains it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from zoo.models.meta_transformer.encoder import SharedEncoder
from zoo.models.meta_transformer.heads import HEADS, ForecastHead, TokenHead
from zoo.models.meta_transformer.tokenizers import MODALITY_TOKENIZERS, TOKENIZERS


@dataclasses.dataclass
class MetaTransformerConfig:
    """Configuration of :class:`MetaTransformerNet` and the ``MetaTransformer`` module (defaults: the B/16 encoder with an ImageNet image head).

    Args:
        dim: token width (B/16: 768, L/14: 1024).
        depth: encoder blocks (B/16: 12, L/14: 24).
        num_heads: attention heads (B/16: 12, L/14: 16).
        mlp_ratio: MLP width / dim.
        freeze_encoder: keep the shared encoder frozen (the paper's setting).
        modalities: modality name (see ``MODALITY_TOKENIZERS``) -> ``{"head": "classification" | "regression" |
            "forecasting", "outputs": int, "tokenizer": {keyword arguments of its tokenizer}}``; forecasting also
            takes ``"length"``, ``"horizon"`` and ``"channels"``.
        lr: AdamW learning rate of the trained parts.
        weight_decay: AdamW weight decay.
        encoder_weights: an encoder file loaded at construction (official Meta-Transformer ``.pth``, OpenCLIP
            checkpoint or a zoo encoder ``.safetensors``; see ``convert.py``); empty: random initialisation.
    """

    dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    freeze_encoder: bool = True
    modalities: dict = dataclasses.field(default_factory=lambda: {"image": {"head": "classification", "outputs": 1000, "tokenizer": {}}})
    lr: float = 1e-3
    weight_decay: float = 0.05
    encoder_weights: str = ""


class MetaTransformerNet(nn.Module):
    """The shared encoder with one tokenizer and one head per configured modality.

    Args:
        cfg: a :class:`MetaTransformerConfig` (its ``modalities`` name the tokenizers and heads).

    Shape:
        - forward: the modality's input (see ``tokenizers.py``; graphs: a ``(nodes, adjacency)`` tuple) -> its head's
          output: (N, outputs) logits or values, or (N, horizon, channels) forecasts.

    Raises:
        ValueError: an unknown modality or head, at construction or in ``forward``.
    """

    def __init__(self, cfg: MetaTransformerConfig) -> None:
        super().__init__()
        self.encoder = SharedEncoder(cfg.dim, cfg.depth, cfg.num_heads, cfg.mlp_ratio)
        self.tokenizers, self.heads = nn.ModuleDict(), nn.ModuleDict()
        for name, spec in cfg.modalities.items():
            if name not in MODALITY_TOKENIZERS:
                raise ValueError(f"modalities: unknown modality {name!r}; expected names from {sorted(MODALITY_TOKENIZERS)}")
            kind, defaults = MODALITY_TOKENIZERS[name]
            self.tokenizers[name] = TOKENIZERS[kind](cfg.dim, **{**defaults, **spec.get("tokenizer", {})})
            head = spec.get("head", "classification")
            if head not in HEADS:
                raise ValueError(f"modalities.{name}.head: expected one of {HEADS}, received {head!r}")
            if head == "forecasting":
                self.heads[name] = ForecastHead(cfg.dim, spec["length"], spec["horizon"], spec["channels"])
            else:
                self.heads[name] = TokenHead(cfg.dim, spec["outputs"])
        self.default_modality = next(iter(cfg.modalities))

    def forward(self, x: Any, modality: str | None = None) -> torch.Tensor:
        """The head output of ``modality`` (default: the first configured) on its input ``x``."""
        modality = modality or self.default_modality
        if modality not in self.tokenizers:
            raise ValueError(f"modality: expected one of {sorted(self.tokenizers)}, received {modality!r}")
        tokens, padding = self.tokenizers[modality](x)
        return self.heads[modality](self.encoder(tokens, padding))
