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
