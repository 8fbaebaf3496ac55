"""Benchmark rows of Meta-Transformer: the shared encoder on image-sized token batches.

The official encoder is an ``nn.Sequential`` of timm ``Block``s, which :class:`~zoo.models.meta_transformer.encoder.
SharedEncoder` is (same blocks, same keys), so the reference columns of ``zoo bench`` are zoo's eager and compiled calls.
"""

from __future__ import annotations

import torch

ONNX_MAX_PARAMS = 50_000_000
"""Above this many parameters the bench skips the ONNX column: B/16 (85 M) would spend most of its 3 minutes on the
export (external data) and on four more calls per round."""


def bench_paths(model, batch_size: int | None = None, size: int | None = None) -> list:
    """``zoo bench`` row: the encoder on ``(batch, tokens, dim)`` tokens, as a ``size`` px image makes them with the
    model's patch (defaults: 8 images of 224 px, 197 tokens at patch 16, for B/16; 2 of 224 px for L/14; 8 of 16 px
    for the tiny model)."""
    from zoo.bench import BenchPaths

    encoder, cfg = model.net.encoder, model.config
    image = next((m for m in model.modalities if getattr(model.net.tokenizers[m], "patch_size", None)), None)
    patch = model.net.tokenizers[image].patch_size if image else 16
    large = sum(p.numel() for p in encoder.parameters()) > ONNX_MAX_PARAMS
    size = size or (224 if cfg.dim >= 768 else 16)
    batch_size = batch_size or (2 if cfg.dim >= 1024 else 8)
    tokens = 1 + (size // patch) ** 2
    x = torch.randn(batch_size, tokens, cfg.dim, generator=torch.Generator().manual_seed(0)).to(model.device)
    notes = ["onnxruntime skipped: over 50M parameters (the export and its calls would not fit the 3 minutes)"] if large else []
    return [BenchPaths(f"encoder {batch_size}x{tokens}x{cfg.dim} tokens", encoder, (x,), items=batch_size * tokens, onnx=not large, notes=notes)]
