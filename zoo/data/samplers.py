"""Samplers whose order depends only on (seed, epoch), so that a resumed run sees the batches it would have seen."""

from __future__ import annotations

import torch
from torch.utils.data import Sampler


class SeededShuffleSampler(Sampler[int]):
    """A fresh permutation each epoch, drawn from ``seed + epoch``.

    Lightning calls ``set_epoch`` on samplers that have it, so an interrupted run resumed from its last
    checkpoint shuffles exactly as an uninterrupted one.

    Args:
        length: dataset length.
        seed: base seed.
    """

    def __init__(self, length: int, seed: int = 0) -> None:
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.length, generator=gen).tolist())
