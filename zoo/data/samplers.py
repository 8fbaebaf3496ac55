"""Samplers whose order depends only on (seed, epoch), so that a resumed run sees the batches it would have seen."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import Sampler


class SeededShuffleSampler(Sampler[int]):
    """A fresh permutation each epoch, drawn from ``seed + epoch``.

    Lightning calls ``set_epoch`` on samplers that have it, so an interrupted run resumed from its last
    checkpoint shuffles exactly as an uninterrupted one; :class:`ResumeMidEpoch` makes a run resumed from a
    checkpoint taken inside an epoch continue with that epoch's next batch.

    Args:
        length: dataset length.
        seed: base seed.
    """

    def __init__(self, length: int, seed: int = 0) -> None:
        self.length, self.seed, self.epoch = length, seed, 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def skip_next(self, count: int) -> None:
        """Leave out the first ``count`` indices of the next iteration only (the part of an epoch already trained on)."""
        self._skip = count

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        skip, self._skip = self._skip, 0
        return iter(torch.randperm(self.length, generator=gen).tolist()[skip:])


class ResumeMidEpoch(L.Callback):
    """Continue an epoch where its checkpoint left it.

    Lightning restarts the dataloader of an epoch interrupted mid-way from its first batch (a plain ``DataLoader``
    keeps no position), so a run resumed from a checkpoint saved every N steps would see that epoch's first batches
    twice. When training starts after such a restore, before the first batch is drawn, this tells each
    training loader's :class:`SeededShuffleSampler` to leave out the batches the checkpoint had already trained on.
    :class:`~zoo.core.module.ZooModule` adds it to every fit (``configure_callbacks``).
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loop = trainer.fit_loop
        done = loop.epoch_loop.batch_progress.current.ready
        if not loop.epoch_loop.restarting or done <= 0 or loop._combined_loader is None:
            return
        for loader in loop._combined_loader.flattened:
            batch_sampler = getattr(loader, "batch_sampler", None)
            sampler = getattr(batch_sampler, "sampler", None)
            if isinstance(sampler, SeededShuffleSampler) and done < len(loader):
                sampler.skip_next(done * batch_sampler.batch_size)
