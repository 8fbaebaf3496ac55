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
    twice. When training starts after such a restore, this tells each training loader's :class:`EpochSeededSampler`
    the epoch it is in and to leave out the batches the checkpoint had already trained on (in ``max_size_cycle``
    mode a shorter loader resumes at its position in its own cycle), then restarts the loaders' iterators, which
    Lightning had already created (loader workers draw their indices as soon as they start). A loader's batch sampler
    may itself be an :class:`EpochSeededSampler` whose items are batches (the unlearning family's
    :class:`~zoo.unlearning.data.ForgetThenRetainBatches`). Modules add it to every fit through
    :class:`ResumesMidEpoch`.
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loop = trainer.fit_loop
        done = loop.epoch_loop.batch_progress.current.ready
        combined = loop._combined_loader
        # done == the epoch's batches: the checkpoint closed the epoch and Lightning starts the next one from its start
        if not loop.epoch_loop.restarting or combined is None or not 0 < done < trainer.num_training_batches:
            return
        cycle = combined._mode == "max_size_cycle"
        skipped = False
        for loader in combined.flattened:
            batch_sampler = getattr(loader, "batch_sampler", None)
            if isinstance(batch_sampler, EpochSeededSampler):  # its items are whole batches
                sampler, per_batch = batch_sampler, 1
            else:
                sampler, per_batch = getattr(batch_sampler, "sampler", None), getattr(batch_sampler, "batch_size", None)
            if not isinstance(sampler, EpochSeededSampler):
                continue
            position = done % len(loader) if cycle else done
            if position < len(loader):
                sampler.set_epoch(loop.epoch_progress.current.processed)
                sampler.skip_next(position * per_batch)
                skipped = True
        if skipped and loop._data_fetcher is not None:
            iter(loop._data_fetcher)


class ResumesMidEpoch:
    """Mixin of the project's LightningModules (:class:`~zoo.core.module.ZooModule`,
    :class:`~zoo.unlearning.base.Unlearner`): every fit resumed from a step checkpoint continues the interrupted epoch
    at its next batch (:class:`ResumeMidEpoch`). ``Unlearner.run`` never checkpoints; the callback serves a caller who
    fits an unlearner with its own ``Trainer`` and ``ckpt_path``. A subclass that adds callbacks extends
    ``super().configure_callbacks()``."""

    def configure_callbacks(self) -> list[L.Callback]:
        return [ResumeMidEpoch()]
