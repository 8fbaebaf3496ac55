"""Baselines of recommendation unlearning: retraining, SISA-style sharded retraining, influence functions on the
embeddings, and fine-tuning with the removed edges.

- retrain: a fresh LightGCN trained on the remaining edges with the original schedule (the exact reference).
- SISA (Bourtoule et al., S&P 2021), the partition-based family that RecEraser (Chen et al., WWW 2022) adapts to
  recommendation: users split into shards, one sub-model per shard, each user scored by its shard's model; a
  request retrains only the shards it touches. RecEraser's balanced clustering and learned attention aggregation are
  not reproduced: users are split at random (SISA) and a user's own shard scores it.
- influence: one Newton step on the layer-0 embeddings, theta' = theta + (H + lambda I)^-1 grad sum_f l_f, H the
  Hessian of the summed BPR loss of the training edges (fixed negatives), solved by conjugate gradients on
  Hessian-vector products (Koh and Liang, ICML 2017, applied to embeddings as in recommendation-unlearning work);
  the removed edges also leave the propagation graph.
- finetune: a few epochs of the backbone's own loss on the remaining edges plus lambda * softplus(score) of the
  removed edges (pushing them down), over the remaining graph.
"""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from torch import nn

from zoo.data.interactions import dense_mask, sample_negatives
from zoo.models.lightgcn.model import LightGCN
from zoo.models.lightgcn.module import LightGCNConfig
from zoo.unlearning.recommendation.training import fit_bpr, fresh_net
from zoo.unlearning.recommendation.unlearnrec import request_graphs


def retrain(net: LightGCN, forget: torch.Tensor, config: LightGCNConfig, epochs: int, seed: int = 0, batch_size: int = 1024) -> LightGCN:
    """A LightGCN trained from scratch on the net's edges without ``forget`` (same sizes, schedule and loss)."""
    remaining, _, _ = request_graphs(net, forget.to(net.edges.device))
    new = fresh_net(config, seed).to(net.edges.device)
    fit_bpr(new, remaining, config, epochs, batch_size, seed)
    return new


def finetune(net: LightGCN, forget: torch.Tensor, config: LightGCNConfig, epochs: int = 2, forget_weight: float = 1.0,
             seed: int = 0, batch_size: int = 1024, lr: float | None = None) -> LightGCN:
    """A copy of ``net`` fine-tuned on the remaining edges with the removed edges' scores pushed down."""
    forget = forget.to(net.edges.device).long()
    remaining, _, _ = request_graphs(net, forget)
    removed = forget[net.edge_index(forget) >= 0]
    new = copy.deepcopy(net)

    def push_down(model: LightGCN) -> torch.Tensor:
        users, items = model.propagate()
        return forget_weight * F.softplus((users[removed[:, 0]] * items[removed[:, 1]]).sum(-1)).mean()

    fit_bpr(new, remaining, config, epochs, batch_size, seed, lr=lr, extra_loss=push_down if len(removed) else None)
    return new


def _summed_bpr(net: LightGCN, layer0: torch.Tensor, edges: torch.Tensor, negatives: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    users, items = net.propagate(adjacency, layer0)
    pos = (users[edges[:, 0]] * items[edges[:, 1]]).sum(-1)
    neg = (users[edges[:, 0]] * items[negatives]).sum(-1)
    return F.softplus(neg - pos).sum()


def influence(net: LightGCN, forget: torch.Tensor, damping: float = 1.0, scale: float = 1.0, cg_steps: int = 50, seed: int = 0) -> LightGCN:
    """One influence-function (Newton) removal step on the layer-0 embeddings.

    Args:
        net: the trained LightGCN.
        forget: (M, 2) interactions to remove.
        damping: lambda added to the Hessian (it is not positive definite away from an exact optimum).
        scale: multiplier of the step.
        cg_steps: conjugate-gradient iterations.
        seed: seed of the fixed negatives.

    Returns:
        A copy with the updated embeddings and the removed edges out of its graph.
    """
    device = net.edges.device
    forget = forget.to(device).long()
    removed = forget[net.edge_index(forget) >= 0]
    edges = net.active_edges()
    gen = torch.Generator().manual_seed(seed)
    positives = dense_mask(edges.cpu(), net.num_users, net.num_items)
    negatives = sample_negatives(edges[:, 0].cpu(), positives, net.num_items, gen).to(device)
    forget_negatives = sample_negatives(removed[:, 0].cpu(), positives, net.num_items, gen).to(device)
    adjacency = net.adjacency()
    theta = net.layer0().detach().requires_grad_(True)
    gradient = torch.autograd.grad(_summed_bpr(net, theta, removed, forget_negatives, adjacency), theta)[0]
    loss_gradient = torch.autograd.grad(_summed_bpr(net, theta, edges, negatives, adjacency), theta, create_graph=True)[0]

    def hvp(v: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(loss_gradient, theta, v, retain_graph=True)[0] + damping * v

    # Conjugate gradients for (H + damping I) x = gradient.
    x = torch.zeros_like(gradient)
    r = gradient.clone()
    p = r.clone()
    rr = (r * r).sum()
    for _ in range(cg_steps):
        hp = hvp(p)
        curvature = (p * hp).sum()
        if curvature <= 0:  # negative curvature: stop at the current iterate
            break
        alpha = rr / curvature
        x, r = x + alpha * p, r - alpha * hp
        rr_new = (r * r).sum()
        if rr_new.sqrt() < 1e-6 * gradient.norm():
            break
        p, rr = r + (rr_new / rr) * p, rr_new
    new = copy.deepcopy(net)
    with torch.no_grad():
        layer0 = theta.detach() + scale * x.detach()
        new.user_embedding.weight.copy_(layer0[: net.num_users])
        new.item_embedding.weight.copy_(layer0[net.num_users:])
    new.remove_edges(forget)
    return new


class ShardedRecommender(nn.Module):
    """SISA over users: ``num_shards`` LightGCNs, each trained on the interactions of its users.

    Args:
        config: the recommender's config (sizes and loss).
        edges: (N, 2) training interactions.
        num_shards: S.
        epochs: training epochs of each shard (the full model's schedule).
        seed: seed of the user split and of the shards' training.

    Shape:
        - forward(users): (B,) -> (B, num_items) scores, each user's from its own shard.
    """

    def __init__(self, config: LightGCNConfig, edges: torch.Tensor, num_shards: int = 4, epochs: int = 50, seed: int = 0, batch_size: int = 1024) -> None:
        super().__init__()
        self.config, self.epochs, self.seed, self.batch_size = config, epochs, seed, batch_size
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("shard_of", torch.randperm(config.num_users, generator=gen) % num_shards)
        self.edges = edges
        self.shards = nn.ModuleList(fresh_net(config, seed + s) for s in range(num_shards))
        self.seconds = [self._train(s) for s in range(num_shards)]

    def _train(self, shard: int) -> float:
        mine = self.edges[self.shard_of[self.edges[:, 0]] == shard]
        self.shards[shard] = fresh_net(self.config, self.seed + shard).to(self.edges.device)
        return fit_bpr(self.shards[shard], mine, self.config, self.epochs, self.batch_size, self.seed + shard)

    def active_edges(self) -> torch.Tensor:
        return self.edges

    def unlearn(self, forget: torch.Tensor) -> tuple[ShardedRecommender, float]:
        """A copy without ``forget``: the shards holding a removed edge retrained. Returns it and the seconds spent."""
        new = copy.copy(self)
        new.shards = nn.ModuleList(copy.deepcopy(list(self.shards)))
        key = lambda e: e[:, 0] * self.config.num_items + e[:, 1]  # noqa: E731
        new.edges = self.edges[~torch.isin(key(self.edges), key(forget.to(self.edges.device).long()))]
        start = time.perf_counter()
        for shard in torch.unique(self.shard_of[forget[:, 0].to(self.shard_of.device)]).tolist():
            new._train(shard)
        return new, time.perf_counter() - start

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        scores = torch.empty(len(users), self.config.num_items, device=users.device)
        for s, shard in enumerate(self.shards):
            mine = self.shard_of[users] == s
            if mine.any():
                scores[mine] = shard(users[mine])
        return scores
