"""Samplers whose order depends only on (seed, epoch), so that a resumed run sees the batches it would have seen."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import Sampler


class EpochSeededSampler(Sampler):
    """Base of the project's samplers: each epoch's order is drawn from ``seed + epoch`` alone.

    Lightning calls ``set_epoch`` on samplers that have it, so an interrupted run resumed from its last
    checkpoint draws exactly what an uninterrupted one does; :class:`ResumeMidEpoch` makes a run resumed from a
    checkpoint taken inside an epoch continue with that epoch's next batch (:meth:`skip_next`). Subclasses
    implement :meth:`epoch_order` and ``__len__``.

    Args:
        seed: base seed.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed, self.epoch, self._skip = seed, 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def skip_next(self, count: int) -> None:
        """Leave out the first ``count`` items of the next iteration only (the part of an epoch already trained on)."""
        self._skip = count

    def epoch_order(self, generator: torch.Generator) -> list:
        """This epoch's items, drawn from ``generator`` (seeded by ``seed + epoch``)."""
        raise NotImplementedError

    def __iter__(self):
        order = self.epoch_order(torch.Generator().manual_seed(self.seed + self.epoch))
        skip, self._skip = self._skip, 0
        return iter(order[skip:])


class SeededShuffleSampler(EpochSeededSampler):
    """A fresh permutation each epoch, drawn from ``seed + epoch`` (see :class:`EpochSeededSampler`).

    Args:
        length: dataset length.
        seed: base seed.
    """

    def __init__(self, length: int, seed: int = 0) -> None:
        super().__init__(seed)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def epoch_order(self, generator: torch.Generator) -> list[int]:
        return torch.randperm(self.length, generator=generator).tolist()


class ResumeMidEpoch(L.Callback):
    """Continue an epoch where its checkpoint left it.

    Lightning restarts the dataloader of an epoch interrupted mid-way from its first batch (a plain ``DataLoader``
    keeps no position), so a run resumed from a checkpoint saved every N steps would see that epoch's first batches
    twice. When training starts after such a restore, before the first batch is drawn, this tells each
    training loader's :class:`EpochSeededSampler` to leave out the batches the checkpoint had already trained on.
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
            if isinstance(sampler, EpochSeededSampler) and done < len(loader):
                sampler.skip_next(done * batch_sampler.batch_size)
