"""The baselines UNEM is compared against: nearest-centroid prototypes, and iterative EM with fixed
hyper-parameters shared by every iteration, chosen by grid search on validation tasks."""

from __future__ import annotations

import itertools
import math
from typing import Iterable

import torch
import torch.nn.functional as F

from zoo.models.unem.model import UnrolledGaussianEM


def nearest_centroid(support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Predicted classes by the nearest support class mean (inductive prototype baseline).

    Shapes: support (B, S, D), support_labels (B, S), query (B, Q, D) -> (B, Q).
    """
    onehot = F.one_hot(support_labels).to(support.dtype)
    centres = (onehot.transpose(1, 2) @ support) / onehot.sum(1).unsqueeze(-1)
    return torch.cdist(query, centres).argmin(-1)


def iterative_em(n_layers: int, t1: float, gamma: float, t2: float) -> UnrolledGaussianEM:
    """Gaussian EM whose iterations all share the raw hyper-parameters ``(t1, gamma, t2)`` (not trained)."""
    model = UnrolledGaussianEM(n_layers, gamma=gamma, t1=t1, t2=t2)
    return model.requires_grad_(False)


def raw_from_value(value: float) -> float:
    """Inverse softplus: the raw parameter whose softplus is ``value`` (> 0)."""
    return value + math.log(-math.expm1(-value))


@torch.no_grad()
def accuracy(model, tasks: Iterable[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Per-task query accuracy of ``model(support, support_labels, query)`` (soft assignments) over batched tasks."""
    scores = []
    for batch in tasks:
        u = model(batch["support"], batch["support_labels"], batch["query"])
        scores.append((u.argmax(-1) == batch["query_labels"]).float().mean(-1))
    return torch.cat(scores)


def grid_search_em(
    tasks: list[dict[str, torch.Tensor]],
    n_layers: int,
    scales: Iterable[float],
    balances: Iterable[float],
    temperatures: Iterable[float],
) -> tuple[dict[str, float], float]:
    """The iterative-EM baseline's hyper-parameters: the grid point with the best mean accuracy on ``tasks``.

    Grid values are the effective ones: feature scale ``softplus(t1)``, class-balance weight ``softplus(gamma)``
    and temperature ``1 + softplus(t2)`` (> 1).

    Returns:
        ``({"t1", "gamma", "t2"}: raw values, best mean accuracy)``.
    """
    best, best_acc = None, -1.0
    for scale, balance, temperature in itertools.product(scales, balances, temperatures):
        raw = {"t1": raw_from_value(scale), "gamma": raw_from_value(balance), "t2": raw_from_value(temperature - 1.0)}
        acc = float(accuracy(iterative_em(n_layers, **raw), tasks).mean())
        if acc > best_acc:
            best, best_acc = raw, acc
    return best, best_acc
