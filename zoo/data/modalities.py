"""Small offline datasets for seven modalities (Meta-Transformer's shipped checkpoint): real data that scikit-learn
bundles where it exists, seeded synthetic data elsewhere. Each builder returns ``(train, test)`` TensorDatasets
(a graph's input is the pair (node features, adjacency)).

- image: scikit-learn's 8x8 digits (1,797, 10 classes)
- tabular: scikit-learn's diabetes (442 patients, 10 standardised columns; regression of the standardised
  disease progression)
- time_series: forecasting: 48 steps of a noisy two-season series with a random trend -> the next 12
- imu: 6-channel accelerometer / gyroscope windows of 4 synthetic activities (rest, walk, run, jump)
- point_cloud: 256 points on 5 shapes (sphere, cube, cylinder, cone, torus), randomly rotated, scaled and jittered
- graph: 4 networkx random-graph families (Erdős–Rényi, Barabási–Albert, Watts–Strogatz, random regular), 12-20 nodes
- audio: 0.5 s at 8 kHz of 5 sound classes (tone, rising chirp, falling chirp, amplitude-modulated tone, noise burst)
"""

from __future__ import annotations

import math

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader, TensorDataset

from zoo.data.samplers import SeededShuffleSampler

TEST_FRACTION = 0.25


def _split(x, y, seed: int = 0):
    n = len(y)
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(TEST_FRACTION * n))
    test, train = order[:n_test], order[n_test:]
    pick = lambda a, idx: tuple(t[idx] for t in a) if isinstance(a, tuple) else a[idx]
    wrap = lambda a, idx: TensorDataset(*pick(a, idx), y[idx]) if isinstance(a, tuple) else TensorDataset(pick(a, idx), y[idx])
    return wrap(x, train), wrap(x, test)


def image_digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return _split(torch.from_numpy(x).float().div(16.0).reshape(-1, 1, 8, 8), torch.from_numpy(y))


def tabular_diabetes():
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    y = (y - y.mean()) / y.std()
    return _split(torch.from_numpy(x).float(), torch.from_numpy(y).float()[:, None])


def time_series_forecasting(n: int = 1200, length: int = 48, horizon: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(length + horizon)
    series = []
    for _ in range(n):
        p1, p2 = rng.uniform(8, 16), rng.uniform(20, 40)
        s = (rng.uniform(0.5, 1.5) * np.sin(2 * math.pi * t / p1 + rng.uniform(0, 6.3))
             + rng.uniform(0.2, 0.8) * np.sin(2 * math.pi * t / p2 + rng.uniform(0, 6.3))
             + rng.uniform(-0.03, 0.03) * t + rng.normal(0, 0.1, len(t)))
        series.append(s)
    data = torch.from_numpy(np.stack(series)).float()[..., None]
    return _split(data[:, :length], data[:, length:])


def imu_activities(n_per_class: int = 200, length: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 32.0  # 32 Hz
    xs, ys = [], []
    for label, (freq, amp, spike) in enumerate([(0.0, 0.0, 0.0), (1.8, 0.6, 0.0), (2.8, 1.4, 0.0), (1.0, 0.4, 3.0)]):
        for _ in range(n_per_class):
            f = freq * rng.uniform(0.85, 1.15)
            phase = rng.uniform(0, 6.3, 6)
            gains = amp * rng.uniform(0.5, 1.0, 6)
            window = np.stack([gains[c] * np.sin(2 * math.pi * f * t + phase[c]) for c in range(6)], 1)
            window[:, 2] += 1.0  # gravity on the accelerometer's z axis
            if spike:
                at = rng.integers(8, length - 8)
                window[at: at + 3, 2] += spike * rng.uniform(0.8, 1.2)
            xs.append(window + rng.normal(0, 0.15, window.shape))
            ys.append(label)
    return _split(torch.from_numpy(np.stack(xs)).float(), torch.tensor(ys))


def _shape_points(kind: int, n: int, rng) -> np.ndarray:
    u, v = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    if kind == 0:  # sphere
        p = rng.normal(size=(n, 3))
        return p / np.linalg.norm(p, axis=1, keepdims=True)
    if kind == 1:  # cube surface
        p = rng.uniform(-1, 1, (n, 3))
        axis = rng.integers(0, 3, n)
        p[np.arange(n), axis] = np.sign(rng.uniform(-1, 1, n))
        return p
    if kind == 2:  # cylinder
        a = 2 * math.pi * u
        return np.stack([np.cos(a), np.sin(a), 2 * v - 1], 1)
    if kind == 3:  # cone
        a, h = 2 * math.pi * u, v
        return np.stack([(1 - h) * np.cos(a), (1 - h) * np.sin(a), 2 * h - 1], 1)
    a, b = 2 * math.pi * u, 2 * math.pi * v  # torus
    return np.stack([(1 + 0.4 * np.cos(b)) * np.cos(a), (1 + 0.4 * np.cos(b)) * np.sin(a), 0.4 * np.sin(b)], 1)


def point_cloud_shapes(n_per_class: int = 120, points: int = 256, seed: int = 0):
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for label in range(5):
        for _ in range(n_per_class):
            p = _shape_points(label, points, rng) * rng.uniform(0.6, 1.4, 3)
            p = p @ Rotation.random(random_state=rng.integers(1 << 31)).as_matrix().T
            xs.append(p + rng.normal(0, 0.02, p.shape))
            ys.append(label)
    return _split(torch.from_numpy(np.stack(xs)).float(), torch.tensor(ys))


def graph_families(n_per_class: int = 150, max_nodes: int = 20, seed: int = 0):
    import networkx as nx

    rng = np.random.default_rng(seed)
    makers = [
        lambda v, s: nx.gnp_random_graph(v, 0.2, seed=s),
        lambda v, s: nx.barabasi_albert_graph(v, 2, seed=s),
        lambda v, s: nx.watts_strogatz_graph(v, 4, 0.1, seed=s),
        lambda v, s: nx.random_regular_graph(3, v if v % 2 == 0 else v + 1, seed=s),
    ]
    nodes, adjacency, ys = [], [], []
    for label, make in enumerate(makers):
        for _ in range(n_per_class):
            v = int(rng.integers(12, max_nodes - 1))
            a = nx.to_numpy_array(make(v, int(rng.integers(1 << 31))))
            padded = np.zeros((max_nodes, max_nodes))
            padded[: len(a), : len(a)] = a
            feats = np.zeros((max_nodes, 1))
            feats[: len(a)] = 1.0
            nodes.append(feats)
            adjacency.append(padded)
            ys.append(label)
    x = (torch.from_numpy(np.stack(nodes)).float(), torch.from_numpy(np.stack(adjacency)).float())
    return _split(x, torch.tensor(ys))


def audio_sounds(n_per_class: int = 120, rate: int = 8000, seconds: float = 0.5, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    xs, ys = [], []
    for label in range(5):
        for _ in range(n_per_class):
            f0 = rng.uniform(300, 1500)
            if label == 0:
                s = np.sin(2 * math.pi * f0 * t)
            elif label in (1, 2):
                f1 = f0 * rng.uniform(1.5, 2.5)
                f_start, f_end = (f0, f1) if label == 1 else (f1, f0)
                s = np.sin(2 * math.pi * (f_start * t + (f_end - f_start) * t**2 / (2 * seconds)))
            elif label == 3:
                s = (1 + 0.8 * np.sin(2 * math.pi * rng.uniform(4, 12) * t)) * np.sin(2 * math.pi * f0 * t) / 1.8
            else:
                s = np.zeros_like(t)
                start = rng.integers(0, len(t) // 2)
                s[start: start + len(t) // 3] = rng.normal(0, 0.5, len(s[start: start + len(t) // 3]))
            xs.append(rng.uniform(0.3, 1.0) * s + rng.normal(0, 0.05, len(t)))
            ys.append(label)
    return _split(torch.from_numpy(np.stack(xs)).float(), torch.tensor(ys))


DATASETS = {
    "image": image_digits,
    "tabular": tabular_diabetes,
    "time_series": time_series_forecasting,
    "imu": imu_activities,
    "point_cloud": point_cloud_shapes,
    "graph": graph_families,
    "audio": audio_sounds,
}


class ModalityDataModule(L.LightningDataModule):
    """Batches of several modalities at once: ``{modality: (x, y)}`` through Lightning's ``CombinedLoader``
    (``max_size_cycle``: an epoch is one pass over the largest dataset; smaller ones cycle).

    Args:
        modalities: names from :data:`DATASETS`.
        batch_size: samples per modality per batch.
        seed: shuffling seed (each epoch reshuffles from ``seed + epoch``, so a resumed run sees the same batches).
    """

    def __init__(self, modalities: list[str] | tuple[str, ...] = tuple(DATASETS), batch_size: int = 64, seed: int = 0) -> None:
        super().__init__()
        unknown = sorted(set(modalities) - set(DATASETS))
        if unknown:
            raise ValueError(f"modalities: unknown {unknown}; expected names from {sorted(DATASETS)}")
        self.modalities, self.batch_size, self.seed = list(modalities), batch_size, seed
        self.train_sets: dict[str, TensorDataset] = {}
        self.test_sets: dict[str, TensorDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        for name in self.modalities:
            if name not in self.train_sets:
                self.train_sets[name], self.test_sets[name] = DATASETS[name]()

    def train_dataloader(self) -> CombinedLoader:
        loaders = {
            name: DataLoader(data, self.batch_size, sampler=SeededShuffleSampler(len(data), self.seed + i))
            for i, (name, data) in enumerate(self.train_sets.items())
        }
        return CombinedLoader(loaders, mode="max_size_cycle")
