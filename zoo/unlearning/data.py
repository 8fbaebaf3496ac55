"""Forget and retain data as the unlearning methods consume it.

Training-loop methods read one of four streams (``Unlearner.data_mode``):

- ``"paired"``: a forget batch and a retain batch together, ``{"forget": (x, y), "retain": (x, y)}``, through
  Lightning's ``CombinedLoader`` in ``max_size_cycle`` mode (the smaller set cycles), as SalUn's RL and every
  forget+retain objective;
- ``"mixed"``: shuffled batches of forget and retain samples together with a flag, ``(x, y, is_forget)``, as the
  Blindspot code does (the forget share of a batch weights its losses);
- ``"sequential"``: each epoch every forget batch, then every retain batch, each pure and flagged,
  ``(x, y, is_forget)``, as the Unlearn-Sparse / SalUn CIFAR-10 RL loop (one pass over D_f, then one over D_r);
- ``"retain"`` / ``"forget"``: one of the two sets, ``(x, y)``.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from zoo.data.samplers import EpochSeededSampler, SeededShuffleSampler
from zoo.unlearning.splits import Split

DATA_MODES = ("paired", "mixed", "sequential", "retain", "forget")


class _Flagged(Dataset):
    """``(x, y, flag)`` for every sample of ``dataset``."""

    def __init__(self, dataset: Dataset, flag: bool) -> None:
        self.dataset, self.flag = dataset, torch.tensor(flag)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        x, y = self.dataset[index][:2]
        return x, y, self.flag


class ForgetThenRetainBatches(EpochSeededSampler):
    """Batches of indices into ``ConcatDataset([forget, retain])``: the forget samples shuffled and batched, then the
    retain samples likewise; no batch mixes the two. Each epoch reshuffles from ``seed + epoch``; its items are the
    batches, so a mid-epoch resume (:class:`~zoo.data.samplers.ResumeMidEpoch`) skips whole batches.

    Args:
        n_forget: forget samples (indices ``0 .. n_forget - 1``).
        n_retain: retain samples (the indices after them).
        batch_size: samples per batch (the last batch of each set may be smaller).
        seed: base seed.
    """

    def __init__(self, n_forget: int, n_retain: int, batch_size: int, seed: int = 0) -> None:
        super().__init__(seed)
        self.n_forget, self.n_retain, self.batch_size = n_forget, n_retain, batch_size

    def __len__(self) -> int:
        return -(-self.n_forget // self.batch_size) + -(-self.n_retain // self.batch_size)

    def epoch_order(self, generator: torch.Generator) -> list[list[int]]:
        batches = []
        for offset, n in ((0, self.n_forget), (self.n_forget, self.n_retain)):
            order = (torch.randperm(n, generator=generator) + offset).tolist()
            batches += [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        return batches


class UnlearningData(L.LightningDataModule):
    """Forget and retain sets (and optionally validation and test sets) for one unlearning run.

    Args:
        forget: dataset of ``(x, y)`` to forget.
        retain: dataset of ``(x, y)`` to keep.
        mode: which stream ``train_dataloader`` yields (see :data:`DATA_MODES`).
        batch_size: samples per batch (per set in ``"paired"`` mode).
        seed: shuffling seed; each epoch reshuffles from ``seed + epoch``.
    """

    def __init__(self, forget: Dataset, retain: Dataset, mode: str = "paired", batch_size: int = 256, seed: int = 0) -> None:
        super().__init__()
        if mode not in DATA_MODES:
            raise ValueError(f"mode: expected one of {DATA_MODES}, received {mode!r}")
        for name, data in (("forget", forget), ("retain", retain)):
            if len(data) == 0:
                raise ValueError(f"{name}: expected a non-empty dataset of (x, y) samples, received an empty one")
        self.forget, self.retain, self.mode, self.batch_size, self.seed = forget, retain, mode, batch_size, seed
        self.forget_classes: tuple[int, ...] = ()

    @classmethod
    def from_split(cls, dataset: Dataset, split: Split, **kwargs) -> "UnlearningData":
        """Forget and retain subsets of ``dataset`` as ``split`` draws them (whole-class splits also record the classes)."""
        data = cls(Subset(dataset, split.forget.tolist()), Subset(dataset, split.retain.tolist()), **kwargs)
        kind, _, values = split.forget_spec.partition(":")
        if kind == "class":
            data.forget_classes = tuple(int(v) for v in values.split(","))
        return data

    def with_mode(self, mode: str, batch_size: int, seed: int) -> "UnlearningData":
        """The same sets read as another stream."""
        data = UnlearningData(self.forget, self.retain, mode, batch_size, seed)
        data.forget_classes = self.forget_classes
        return data

    def shuffled(self, dataset: Dataset, seed_offset: int = 0) -> DataLoader:
        return DataLoader(dataset, self.batch_size, sampler=SeededShuffleSampler(len(dataset), seed=self.seed + seed_offset))

    def train_dataloader(self):
        if self.mode == "paired":
            loaders = {"forget": self.shuffled(self.forget), "retain": self.shuffled(self.retain, 1)}
            return CombinedLoader(loaders, mode="max_size_cycle")
        flagged = ConcatDataset([_Flagged(self.forget, True), _Flagged(self.retain, False)])
        if self.mode == "mixed":
            return self.shuffled(flagged)
        if self.mode == "sequential":
            return DataLoader(flagged, batch_sampler=ForgetThenRetainBatches(len(self.forget), len(self.retain), self.batch_size, self.seed))
        return self.shuffled(self.forget if self.mode == "forget" else self.retain)


def stack_dataset(dataset: Dataset, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``(x, y)`` of a dataset as two tensors (for statistics of small datasets)."""
    xs, ys = zip(*(batch[:2] for batch in DataLoader(dataset, batch_size)))
    return torch.cat(xs), torch.cat(ys)

