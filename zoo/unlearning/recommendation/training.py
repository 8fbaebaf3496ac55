"""The plain BPR loop the recommendation baselines retrain and fine-tune with (no Lightning: each request's wall
time is then the optimisation alone)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from zoo.core.progress import trange
from zoo.data.interactions import BPRTriples
from zoo.models.lightgcn.model import LightGCN
from zoo.models.lightgcn.module import LightGCNConfig, dropped_adjacency, recommendation_loss


def fresh_net(config: LightGCNConfig, seed: int) -> LightGCN:
    """A randomly initialised LightGCN of ``config``'s sizes (seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LightGCN(config.num_users, config.num_items, config.dim, config.num_layers)


def fit_bpr(net: LightGCN, edges: torch.Tensor, config: LightGCNConfig, epochs: int, batch_size: int = 1024, seed: int = 0,
            lr: float | None = None, extra_loss: Callable[[LightGCN], torch.Tensor] | None = None) -> float:
    """Train ``net`` on ``edges`` with the recommender's loss, SGL's views included (its graph becomes ``edges``).

    Args:
        net: the LightGCN, trained in place.
        edges: (N, 2) training interactions.
        config: the recommender's config (loss weights, learning rate).
        epochs: passes over the edges.
        batch_size: BPR triples per step.
        seed: seed of the batches and negatives.
        lr: Adam learning rate (default: ``config.lr``).
        extra_loss: a term added to every step's loss (fine-tuning's forget term).

    Returns:
        Wall-clock seconds.
    """
    start = time.perf_counter()
    device = net.user_embedding.weight.device
    net.set_graph(edges.to(device))
    triples = BPRTriples(edges.cpu(), net.num_users, net.num_items, batch_size, seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr if lr is None else lr)
    for _ in trange(epochs, f"{config.variant} training", unit="epoch"):
        views = tuple(dropped_adjacency(net, config.ssl_drop) for _ in range(2)) if config.variant == "sgl" else None
        for index in range(len(triples)):
            batch = {k: v.to(device) for k, v in triples[index].items()}
            loss = recommendation_loss(net, batch, config, views)["loss"]
            if extra_loss is not None:
                loss = loss + extra_loss(net)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start
