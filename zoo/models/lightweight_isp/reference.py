"""The official inference formulation of the ISP, re-expressed for benchmarking and equivalence tests."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from zoo.data.raw import normalize_packed, pack_bayer


def official_from_counts(model, mosaics: list[np.ndarray]) -> list[torch.Tensor]:
    """Per image: numpy ``dstack`` packing and per-plane normalisation, then one forward per image (as the
    official ``pretrained/run_inference.py`` processes a folder)."""
    black = np.asarray(model.config.black_level, dtype=np.float32)
    outputs = []
    for raw in mosaics:
        planes = np.dstack((raw[1::2, 1::2], raw[0::2, 1::2], raw[0::2, 0::2], raw[1::2, 0::2])).astype(np.float32)
        planes = (planes - black) / (model.config.white_level - black)
        x = torch.from_numpy(planes).permute(2, 0, 1)[None].to(model.device)
        outputs.append(model(model.raw_to_net_input(x)))
    return outputs


def zoo_from_counts(model, mosaics: list[np.ndarray], forward: Callable | None = None) -> torch.Tensor:
    """zoo's formulation: one batched tensor pipeline (pack, normalise, forward) on the model's device."""
    counts = torch.from_numpy(np.stack(mosaics).astype(np.float32))[:, None].to(model.device)
    packed = normalize_packed(pack_bayer(counts), model.config.black_level, model.config.white_level)
    return (model if forward is None else forward)(model.raw_to_net_input(packed))


def bench_size(model) -> int:
    """The bench's default output side: 1024 for the packed-RAW generators, 512 for RMFA-Net tiny and 256 for its
    deeper variants (each fits the bench's 3 minutes on 2 cores)."""
    if model.config.generator != "rmfa":
        return 1024
    return 512 if len(model.inference_net.rmfa_blocks) <= 2 else 256


def bench_paths(model, batch_size: int | None = None, size: int | None = None) -> list:
    """``zoo bench`` row: the generator on random input at ``size`` px of output (default :func:`bench_size`).

    The generator of ``model.py`` is the official network (same modules, same keys, same op order), so the
    reference columns are zoo's eager and ``torch.compile`` calls; zoo's own path is channels-last with freezing.
    """
    from zoo.bench import BenchPaths

    size, batch_size = size or bench_size(model), batch_size or 1
    packed = torch.rand(batch_size, 4, size // 2, size // 2, generator=torch.Generator().manual_seed(0)).to(model.device)
    x = model.raw_to_net_input(packed)
    shape = "x".join(map(str, x.shape))
    return [BenchPaths(f"generator {shape}", model.inference_net, (x,), items=batch_size, channels_last=True)]
