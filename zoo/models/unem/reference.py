"""UNEM-Gaussian in the official formulation, for ``zoo bench`` and the parity tests.

My re-statement of the official ``U_Paddle_EMBT.forward`` (``UNEM_Gaussian/src/methods/U_Paddle_embt.py``): one-hot
support labels from an identity matrix sized by ``torch.unique`` and indexed task by task, the class-balance term
repeated over the queries, centres updated with two ``einsum`` products. The values are those of
:class:`~zoo.models.unem.model.UnrolledGaussianEM`; the formulation is what the bench compares zoo's against (its
data-dependent ``torch.unique`` splits a compiled graph).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SMALL_TASKS = 10
"""The bench's second row: few tasks per call (the shipped model's ``predict`` serves one task at a time)."""


class OfficialGaussianEM(nn.Module):
    """The official forward over the learned scalars of ``net`` (an ``UnrolledGaussianEM``).

    Shape:
        - support: (B, S, D), support_labels: (B, S) int64 in 0..K-1, query: (B, Q, D). Output: (B, Q, K).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    @staticmethod
    def one_hot(labels: torch.Tensor) -> torch.Tensor:
        eye = torch.eye(torch.unique(labels).size(0), device=labels.device)
        return torch.cat([eye[task].unsqueeze(0) for task in labels], 0)

    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        net = self.net
        u_support = self.one_hot(support_labels)
        n_tasks, n_query = query.shape[0], query.shape[1]
        z_s, z_q = support * F.softplus(net.t1), query * F.softplus(net.t1)
        w = (u_support.transpose(1, 2) @ z_s) / u_support.sum(1).view(n_tasks, -1, 1)
        v = torch.zeros(n_tasks, u_support.shape[2], device=query.device) + 1
        for gamma, t2 in zip(net.gamma, net.t2):
            logits = z_q @ w.transpose(1, 2) - 0.5 * (w**2).sum(2).view(n_tasks, 1, -1) - 0.5 * (z_q**2).sum(2).view(n_tasks, -1, 1)
            balance = F.softplus(gamma) * v.unsqueeze(1).repeat(1, n_query, 1)
            u = ((1 / (F.softplus(t2) + 1)) * (logits + balance)).softmax(2)
            v = torch.log(u.sum(1) / n_query + 1e-6) + 1
            num = torch.einsum("bkq,bqd->bkd", u.transpose(1, 2), z_q) + torch.einsum("bkq,bqd->bkd", u_support.transpose(1, 2), z_s)
            w = num / (u.sum(1) + u_support.sum(1)).unsqueeze(2)
        return u


def tasks(n_tasks: int, dim: int, ways: int = 20, shots: int = 5, queries: int = 75, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Synthetic Gaussian tasks (the parity fixture's recipe): ``ways`` class means 3 N(0, 1) in ``dim`` dimensions,
    samples = mean + N(0, 1); support shot-major, queries from 5 of the classes.

    Returns:
        ``(support (B, ways*shots, dim), support_labels (B, ways*shots), query (B, queries, dim))``.
    """
    g = torch.Generator().manual_seed(seed)
    means = 3 * torch.randn(n_tasks, ways, dim, generator=g)
    labels = torch.arange(ways).repeat(shots).expand(n_tasks, -1)
    support = means.gather(1, labels[..., None].expand(-1, -1, dim)) + torch.randn(n_tasks, ways * shots, dim, generator=g)
    present = torch.stack([torch.randperm(ways, generator=g)[:5] for _ in range(n_tasks)])
    q_labels = present.gather(1, torch.randint(0, 5, (n_tasks, queries), generator=g))
    query = means.gather(1, q_labels[..., None].expand(-1, -1, dim)) + torch.randn(n_tasks, queries, dim, generator=g)
    return support, labels.contiguous(), query


def bench_paths(model, batch_size: int | None = None, size: int | None = None) -> list:
    """``zoo bench`` rows (Gaussian): 20-way 5-shot tasks with 75 queries and ``size``-d features (default 640, the
    ResNet-12 width), at ``batch_size`` tasks (default 100) and at :data:`SMALL_TASKS`; the official formulation as
    the reference. The Dirichlet variant's inner fit (up to 10 x 1000 steps) is not benchmarked this way."""
    from zoo.bench import BenchPaths

    if model.config.variant != "gaussian":
        return []
    dim, rows = size or 640, []
    for n in dict.fromkeys((batch_size or 100, SMALL_TASKS)):
        x = tuple(t.to(model.device) for t in tasks(n, dim))
        rows.append(BenchPaths(f"{n} tasks, 20-way 5-shot, 75 queries, d={dim}", model.inference_net, x, OfficialGaussianEM(model.inference_net).eval(), items=n))
    return rows
