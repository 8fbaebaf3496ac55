"""Implicit-feedback interactions (user, item pairs) for graph recommenders: a seeded synthetic generator, a
MovieLens-style loader and the LightningDataModule that feeds BPR training and full-ranking evaluation.

Synthetic generator (:func:`synthetic_interactions`): every user u has latent tastes p_u ~ N(0, I_r) and every item i
latent traits q_i ~ N(0, I_r) and a popularity bias b_i = -skew * log(rank_i) (a Zipf law over a random item order).
User u interacts with n_u ~ 1 + Poisson(mean - 1) distinct items drawn without replacement with probabilities
softmax_i(sharpness * p_u.q_i / sqrt(r) + b_i); a share ``noise`` of them is replaced by items drawn uniformly
(interactions no taste explains, which a model can only memorise). Each gets a timestamp from a per-user increasing
sequence. The same seed gives the same interactions.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from zoo.core import checks


@dataclasses.dataclass
class Interactions:
    """A set of (user, item) interactions with contiguous ids.

    Args:
        edges: (N, 2) int64 rows (user, item), no duplicates.
        num_users: users (ids 0..num_users-1).
        num_items: items (ids 0..num_items-1).
        timestamps: (N,) int64 time of each interaction (None: unknown).
        user_ids: raw user id of each contiguous id (None: the ids are the raw ones).
        item_ids: raw item id of each contiguous id, likewise.
    """

    edges: torch.Tensor
    num_users: int
    num_items: int
    timestamps: torch.Tensor | None = None
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.edges)

    def split(self, test_fraction: float = 0.2, seed: int = 0, by_time: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """A per-user train/test split of the edges.

        Args:
            test_fraction: share of each user's interactions held out (users with one interaction keep it in train).
            seed: seed of the random split.
            by_time: hold out each user's latest interactions instead of random ones (needs timestamps).

        Returns:
            ``(train_edges, test_edges)``, each (N, 2) int64.
        """
        if not 0 <= test_fraction < 1:
            raise ValueError(f"test_fraction: expected a number in [0, 1), received {test_fraction!r}")
        if by_time and self.timestamps is None:
            raise ValueError("by_time: expected interactions with timestamps, received none")
        gen = torch.Generator().manual_seed(seed)
        key = self.timestamps.double() if by_time else torch.rand(len(self.edges), generator=gen, dtype=torch.float64)
        order = torch.argsort(key, stable=True)
        order = order[torch.argsort(self.edges[order, 0], stable=True)]  # grouped by user, by key within a user
        users = self.edges[order, 0]
        counts = torch.bincount(users, minlength=self.num_users)
        starts = torch.cumsum(counts, 0) - counts
        position = torch.arange(len(order)) - starts[users]
        n_test = torch.floor(counts.double() * test_fraction).long()
        n_test = torch.where(counts > 1, n_test, torch.zeros_like(n_test))
        is_test = position >= (counts - n_test)[users]
        return self.edges[order[~is_test]], self.edges[order[is_test]]


def synthetic_interactions(
    num_users: int = 400,
    num_items: int = 300,
    rank: int = 4,
    mean_interactions: float = 25.0,
    skew: float = 0.8,
    sharpness: float = 2.0,
    noise: float = 0.1,
    seed: int = 0,
) -> Interactions:
    """Seeded implicit feedback from latent tastes with a popularity skew (the module docstring gives the model).

    Args:
        num_users, num_items: sizes.
        rank: latent dimension r.
        mean_interactions: mean interactions per user.
        skew: Zipf exponent of the item popularity (0: no skew).
        sharpness: weight of the taste match against popularity.
        noise: share of each user's interactions drawn uniformly at random instead.
        seed: the seed; equal seeds give equal interactions.

    Returns:
        The interactions, with timestamps.
    """
    for value, name in ((num_users, "num_users"), (num_items, "num_items"), (rank, "rank")):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a positive int, received {value!r}")
    if not 0 <= noise <= 1:
        raise ValueError(f"noise: expected a share in [0, 1], received {noise!r}")
    if not 1 <= mean_interactions <= num_items:
        raise ValueError(f"mean_interactions: expected a number in [1, num_items={num_items}], received {mean_interactions!r}")
    rng = np.random.default_rng(seed)
    tastes, traits = rng.standard_normal((num_users, rank)), rng.standard_normal((num_items, rank))
    popularity = -skew * np.log(1.0 + rng.permutation(num_items))
    logits = sharpness * tastes @ traits.T / np.sqrt(rank) + popularity
    counts = np.minimum(1 + rng.poisson(mean_interactions - 1, num_users), num_items)
    rows, times = [], []
    for user in range(num_users):
        # Gumbel top-k: sampling without replacement with probabilities softmax(logits).
        keys = logits[user] + rng.gumbel(size=num_items)
        items = np.argpartition(-keys, counts[user] - 1)[: counts[user]]
        random = rng.random(len(items)) < noise
        if random.any():
            others = np.setdiff1d(np.arange(num_items), items)
            k = min(int(random.sum()), len(others))
            items[np.flatnonzero(random)[:k]] = rng.choice(others, k, replace=False)
        rows.append(np.stack([np.full(len(items), user), items], 1))
        times.append(np.sort(rng.integers(0, 10**9, len(items))))
    edges = torch.from_numpy(np.concatenate(rows)).long()
    return Interactions(edges, num_users, num_items, torch.from_numpy(np.concatenate(times)).long())


def load_interactions(path: str | Path, sep: str | None = None, min_rating: float | None = None) -> Interactions:
    """Read a MovieLens-style ratings file: one ``user item rating timestamp`` row per line.

    ``u.data`` of MovieLens-100K (tab-separated) and ``ratings.dat`` of MovieLens-1M (``::``) both read. Raw ids are
    mapped to contiguous ids in sorted order; a repeated (user, item) pair keeps its latest row.

    Args:
        path: the file.
        sep: the column separator (None: any whitespace, or ``::`` when the first line holds it).
        min_rating: keep only rows rated at least this (None: every row is an interaction).

    Returns:
        The interactions, with timestamps and the raw ids.

    Raises:
        ValueError: a line without four columns, or values that are not numbers, naming the line.
    """
    path = checks.check_path(path, "interactions file")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"interactions file: expected 'user item rating timestamp' rows, received an empty file {path}")
    if sep is None and "::" in lines[0]:
        sep = "::"
    raw = []
    for number, line in enumerate(lines, 1):
        fields = line.split(sep) if sep else line.split()
        if len(fields) != 4:
            raise ValueError(f"{path}:{number}: expected 4 columns 'user item rating timestamp', received {len(fields)}: {line!r:.80}")
        try:
            raw.append((fields[0].strip(), fields[1].strip(), float(fields[2]), int(fields[3])))
        except ValueError:
            raise ValueError(f"{path}:{number}: expected a numeric rating and an integer timestamp, received {line!r:.80}") from None
    if min_rating is not None:
        raw = [row for row in raw if row[2] >= min_rating]
        if not raw:
            raise ValueError(f"min_rating: expected some ratings >= {min_rating}, received none in {path}")
    latest = {}
    for user, item, _, time in sorted(raw, key=lambda r: r[3]):
        latest[(user, item)] = time

    def ids(values: set[str]) -> np.ndarray:
        numeric = all(v.lstrip("-").isdigit() for v in values)
        return np.array(sorted(values, key=int if numeric else str))

    user_ids, item_ids = ids({u for u, _ in latest}), ids({i for _, i in latest})
    user_index, item_index = {u: k for k, u in enumerate(user_ids)}, {i: k for k, i in enumerate(item_ids)}
    edges = torch.tensor([(user_index[u], item_index[i]) for u, i in latest], dtype=torch.long)
    times = torch.tensor(list(latest.values()), dtype=torch.long)
    return Interactions(edges, len(user_ids), len(item_ids), times, user_ids, item_ids)


def dense_mask(edges: torch.Tensor, num_users: int, num_items: int) -> torch.Tensor:
    """(U, I) bool, True at the (user, item) pairs of ``edges`` (N, 2)."""
    mask = torch.zeros(num_users, num_items, dtype=torch.bool, device=edges.device)
    mask[edges[:, 0], edges[:, 1]] = True
    return mask


def sample_negatives(users: torch.Tensor, positives: torch.Tensor, num_items: int, generator: torch.Generator | None = None, tries: int = 10) -> torch.Tensor:
    """One uniformly drawn item per user that is not among its positives (rejection sampling, ``tries`` rounds).

    Args:
        users: (B,) user ids.
        positives: the (U, I) bool mask of observed pairs.
        num_items: items to draw from.
        generator: the random generator (None: torch's global one).

    Returns:
        (B,) item ids (after ``tries`` rounds a remaining clash is kept, as LightGCN's sampler would retry forever).
    """
    negatives = torch.randint(0, num_items, users.shape, generator=generator)
    for _ in range(tries):
        clash = positives[users, negatives]
        if not clash.any():
            break
        negatives[clash] = torch.randint(0, num_items, (int(clash.sum()),), generator=generator)
    return negatives


class BPRTriples(Dataset):
    """An epoch of BPR batches ``{"users", "positives", "negatives"}`` over a fixed edge set, one batch per index
    (use with ``DataLoader(batch_size=None)``); the edges are reshuffled and negatives redrawn at every epoch.

    Args:
        edges: (N, 2) training edges.
        num_users, num_items: sizes.
        batch_size: triples per batch.
        seed: base seed; epoch e uses seed + e.
    """

    def __init__(self, edges: torch.Tensor, num_users: int, num_items: int, batch_size: int, seed: int = 0) -> None:
        self.edges, self.num_items, self.batch_size, self.seed = edges, num_items, batch_size, seed
        self.positives = dense_mask(edges, num_users, num_items)
        self.epoch = -1
        self._order = torch.arange(len(edges))
        self._negatives = torch.zeros(len(edges), dtype=torch.long)

    def __len__(self) -> int:
        return max(1, -(-len(self.edges) // self.batch_size))

    def _new_epoch(self) -> None:
        self.epoch += 1
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        self._order = torch.randperm(len(self.edges), generator=gen)
        self._negatives = sample_negatives(self.edges[self._order, 0], self.positives, self.num_items, gen)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index == 0:
            self._new_epoch()
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        chosen = self.edges[self._order[rows]]
        return {"users": chosen[:, 0], "positives": chosen[:, 1], "negatives": self._negatives[rows]}


class RankingUsers(Dataset):
    """Evaluation batches for full ranking: ``{"users": (B,), "train": (B, I) bool, "test": (B, I) bool}`` over the
    users with at least one test interaction."""

    def __init__(self, train: torch.Tensor, test: torch.Tensor, num_users: int, num_items: int, batch_size: int = 256) -> None:
        self.train, self.test = dense_mask(train, num_users, num_items), dense_mask(test, num_users, num_items)
        self.users = torch.nonzero(self.test.any(1)).flatten()
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.users) // self.batch_size)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        users = self.users[index * self.batch_size: (index + 1) * self.batch_size]
        return {"users": users, "train": self.train[users], "test": self.test[users]}


class InteractionDataModule(L.LightningDataModule):
    """Implicit feedback for BPR training (``train``) and full-ranking Recall@K / NDCG@K evaluation (``val``/``test``:
    the held-out interactions, training items masked).

    Args:
        path: a MovieLens-style ``user item rating timestamp`` file (:func:`load_interactions`); None uses the
            synthetic generator (:func:`synthetic_interactions`) with ``num_users``, ``num_items``, ``rank``,
            ``mean_interactions``, ``skew``, ``noise`` and ``seed``.
        sep, min_rating: for the file.
        test_fraction: share of each user's interactions held out.
        by_time: hold out each user's latest interactions (default: random ones).
        batch_size: BPR triples per step.
        eval_batch_size: users per evaluation batch.
        seed: seed of the synthetic data, of the split and of the negative sampling.
    """

    def __init__(
        self,
        path: str | None = None,
        sep: str | None = None,
        min_rating: float | None = None,
        num_users: int = 400,
        num_items: int = 300,
        rank: int = 4,
        mean_interactions: float = 25.0,
        skew: float = 0.8,
        noise: float = 0.1,
        test_fraction: float = 0.2,
        by_time: bool = False,
        batch_size: int = 1024,
        eval_batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.interactions: Interactions | None = None
        self.train_edges = self.test_edges = None

    def setup(self, stage: str | None = None) -> None:
        if self.interactions is not None:
            return
        h = self.hparams
        if h.path is None:
            self.interactions = synthetic_interactions(h.num_users, h.num_items, h.rank, h.mean_interactions, h.skew, noise=h.noise, seed=h.seed)
        else:
            self.interactions = load_interactions(h.path, h.sep, h.min_rating)
        self.train_edges, self.test_edges = self.interactions.split(h.test_fraction, h.seed, h.by_time)

    @property
    def num_users(self) -> int:
        return self.interactions.num_users

    @property
    def num_items(self) -> int:
        return self.interactions.num_items

    def train_dataloader(self) -> DataLoader:
        triples = BPRTriples(self.train_edges, self.num_users, self.num_items, self.hparams.batch_size, self.hparams.seed)
        return DataLoader(triples, batch_size=None, shuffle=False)

    def _ranking(self) -> DataLoader:
        users = RankingUsers(self.train_edges, self.test_edges, self.num_users, self.num_items, self.hparams.eval_batch_size)
        return DataLoader(users, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return self._ranking()

    def test_dataloader(self) -> DataLoader:
        return self._ranking()
