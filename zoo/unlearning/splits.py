"""Forget / retain / validation / test splits with seeded index files.

A split is four index arrays into one dataset, plus the test cohorts (test samples that belong to the forgotten
classes or label range, and the rest). Forget sets, as the field uses them:

- ``random:F``        a random fraction F of the training samples (Unlearn-Sparse's "10% random": ``random:0.1``)
- ``class:C[,C...]``  every training sample of the given classes (whole-class forgetting)
- ``subclass:S[,..]`` every training sample whose *group* (a finer label than the target, e.g. CIFAR-100 classes
                      inside CIFAR-20 superclasses) is one of S
- ``range:LO:HI``     every training sample with a regression target in [LO, HI] (Blindspot: ages 0-30)

``Split.save`` writes the indices and how they were drawn to JSON next to a result, ``Split.load`` reads them back,
and ``Split.fingerprint`` names the split in caches (the retrained reference is computed once per split).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("random", "class", "subclass", "range")


@dataclass(frozen=True)
class ForgetSpec:
    """What to forget: ``kind`` in :data:`KINDS` and its values (fraction, class ids, group ids or (low, high))."""

    kind: str
    values: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> "ForgetSpec":
        """Parse ``"random:0.1"``, ``"class:3"``, ``"class:3,5"``, ``"subclass:12"`` or ``"range:0:2"``.

        Raises:
            ValueError: naming the part of ``text`` that is wrong (the kind, a value, their count or order) and the
                form that was expected.
        """
        text = str(text)
        kind, _, rest = text.partition(":")
        forms = {"random": "random:FRACTION", "class": "class:C[,C...]", "subclass": "subclass:S[,S...]", "range": "range:LOW:HIGH"}
        if kind not in forms:
            raise ValueError(f"forget: expected a kind of {', '.join(forms)} ({', '.join(forms.values())}), received {kind!r} in {text!r}")

        def refuse(what: str, received: str) -> ValueError:
            return ValueError(f"forget: expected {forms[kind]} with {what}, received {received} in {text!r}")

        def number(value: str, cast: type = float) -> float:
            try:
                return float(cast(value))
            except ValueError:
                raise refuse("integer ids" if cast is int else "numbers", repr(value)) from None

        if kind == "random":
            (fraction,) = values = (number(rest),)
            if not 0.0 < fraction < 1.0:
                raise refuse("a FRACTION strictly between 0 and 1", f"{fraction:g}")
        elif kind in ("class", "subclass"):
            values = tuple(number(v, int) for v in rest.split(","))
        else:
            parts = rest.split(":")
            if len(parts) != 2:
                raise refuse("two numbers LOW:HIGH", f"{len(parts)} value(s) {rest!r}")
            low, high = values = (number(parts[0]), number(parts[1]))
            if np.isnan(values).any():
                raise refuse("numbers (inf allowed)", repr(rest))
            if low > high:
                raise refuse("LOW <= HIGH", f"LOW {low:g} > HIGH {high:g}")
        return cls(kind, values)

    def __str__(self) -> str:
        if self.kind == "range":
            return f"range:{self.values[0]:g}:{self.values[1]:g}"
        if self.kind == "random":
            return f"random:{self.values[0]:g}"
        return f"{self.kind}:" + ",".join(str(int(v)) for v in self.values)

    def cohort(self, targets: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray | None:
        """Boolean mask of the samples in the forgotten cohort (classes, groups or label range); None for random."""
        if self.kind == "random":
            return None
        if self.kind == "class":
            return np.isin(targets, np.asarray(self.values, dtype=targets.dtype))
        if self.kind == "subclass":
            if groups is None:
                raise ValueError("forget: subclass forgetting expects groups (the finer labels), received none")
            return np.isin(groups, np.asarray(self.values).astype(groups.dtype))
        low, high = self.values
        return (targets >= low) & (targets <= high)


@dataclass(frozen=True)
class Split:
    """Index arrays into one dataset.

    Args:
        forget: training samples to forget.
        retain: training samples to keep.
        val: held-out training samples (not trained on by the unlearning methods), e.g. AIN's forget-validation set.
        test: test samples.
        test_forget: the test samples of the forgotten cohort (empty for random forgetting).
        val_forget: the validation samples of the forgotten cohort (empty for random forgetting).
        forget_spec: how ``forget`` was drawn, as text (``ForgetSpec`` syntax).
        seed: the seed of every random draw.
    """

    forget: np.ndarray
    retain: np.ndarray
    val: np.ndarray
    test: np.ndarray
    test_forget: np.ndarray
    val_forget: np.ndarray
    forget_spec: str
    seed: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def test_retain(self) -> np.ndarray:
        """Test samples outside the forgotten cohort (all of them for random forgetting)."""
        return np.setdiff1d(self.test, self.test_forget)

    @property
    def train(self) -> np.ndarray:
        """Everything the original model was trained on: forget and retain."""
        return np.union1d(self.forget, self.retain)

    def to_dict(self) -> dict[str, Any]:
        arrays = {k: getattr(self, k).tolist() for k in ("forget", "retain", "val", "test", "test_forget", "val_forget")}
        return {"forget_spec": self.forget_spec, "seed": self.seed, "meta": self.meta, **arrays}

    def fingerprint(self) -> str:
        """sha256 of the split's JSON: equal splits share a retrained reference in the cache."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Split":
        values = json.loads(Path(path).read_text())
        arrays = {k: np.asarray(values[k], dtype=np.int64) for k in ("forget", "retain", "val", "test", "test_forget", "val_forget")}
        return cls(forget_spec=values["forget_spec"], seed=int(values["seed"]), meta=values.get("meta", {}), **arrays)


def make_split(
    targets: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    forget: str | ForgetSpec,
    val_fraction: float = 0.1,
    groups: np.ndarray | None = None,
    seed: int = 0,
) -> Split:
    """Draw a split of the training indices ``train``; ``test`` indices are kept as given.

    Args:
        targets: (N,) targets of the whole dataset (class ids or regression values).
        train: indices of the training samples.
        test: indices of the test samples.
        forget: a :class:`ForgetSpec` or its text form.
        val_fraction: share of the training samples held out as validation, drawn first (stratified by cohort).
        groups: (N,) finer labels, for ``subclass`` forgetting.
        seed: seed of the validation and random-forget draws.
    """
    spec = ForgetSpec.parse(forget) if isinstance(forget, str) else forget
    targets = np.asarray(targets)
    if targets.ndim != 1:
        raise ValueError(f"targets: expected a 1-D array of class ids or values, received shape {targets.shape}")
    train, test = np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(train)
    n_val = int(round(val_fraction * len(train)))
    val, pool = np.sort(order[:n_val]), np.sort(order[n_val:])
    cohort = spec.cohort(targets, groups)
    if cohort is None:
        n_forget = int(round(spec.values[0] * len(pool)))
        forget_idx = np.sort(rng.choice(pool, n_forget, replace=False))
        test_forget = val_forget = np.empty(0, dtype=np.int64)
    else:
        forget_idx = pool[cohort[pool]]
        test_forget, val_forget = test[cohort[test]], val[cohort[val]]
    if len(forget_idx) == 0 or len(forget_idx) == len(pool):
        raise ValueError(f"forget: {spec} selects {len(forget_idx)} of {len(pool)} training samples; expected some but not all")
    retain = np.setdiff1d(pool, forget_idx)
    return Split(forget_idx, retain, val, test, test_forget, val_forget, str(spec), seed)
