"""UnlearnRec (Chen, Xia and Huang, "Pre-training for Recommendation Unlearning", SIGIR 2025, arXiv 2505.22649).

An Influence Encoder (IE) maps an unlearning request (the interactions to remove) and the recommender's current
parameters to the change of its layer-0 embeddings, Delta E; the frozen backbone then propagates E + Delta E over the
remaining graph. The IE is pre-trained once on many simulated requests and then applied to a real request in one
forward pass, optionally with a short fine-tuning on that request.

Read from the authors' research code as copied in ``Shuvayu12/UnlearnRec2`` (``Model.py: GraphUnlearning``,
``main_drop.py``; the official ``HKUDS/UnlearnRec`` was not available):

- H^(0): a trainable (U+I, D) table, initialised at 0, propagated L hops over A_f (the normalised adjacency of the
  removed edges alone); H = sum_l H^(l) (layer 0 included). A second copy over an edge-dropped A_f (keep 0.95) feeds
  the contrastive term.
- withdraw term: W^(0) = E_bar * eta (eta: a trainable (U+I, 1) rate, initialised at 2 * lr), W^(L) = A_f^L W^(0).
- Delta E = MLP(-rho * W^(L) + H), rho = 0.1; the MLP is 2 x (Linear, LeakyReLU(0.99)).
- loss = L_M (the backbone's BPR + reg on the remaining edges, with the unlearned embeddings)
  + lambda_u L_U (softplus of the removed edges' scores: push them down)
  + lambda_a L_P (squared L2 between the in-batch log-softmax of the positives' scores, unlearned vs original)
  + lambda_c L_C (InfoNCE between the two H views over the batch's users and items).
- pre-training draws a new simulated request (a random ``pretrain_drop`` share of the training edges) every
  ``sim_epochs`` epochs and keeps the IE with the largest score gap between random negatives and the removed edges
  on a held-out simulated request.
"""

from __future__ import annotations

import copy
import dataclasses
import time

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.progress import trange
from zoo.data.interactions import BPRTriples, dense_mask, sample_negatives
from zoo.losses.ranking import bpr_loss, embedding_l2, info_nce
from zoo.models.lightgcn.model import LightGCN, normalized_adjacency, propagate


@dataclasses.dataclass
class UnlearnRecConfig:
    """UnlearnRec's hyper-parameters (defaults: the research code's ``params.py`` and LightGCN example script; the
    code declares ``overall_withdraw_rate``, ``hyper_temp``, ``unlearn_ssl`` and ``withdraw_rate_init`` as ints,
    which would refuse 0.1 on its command line: floats here).

    Args:
        lr: Adam learning rate of the IE (1e-3).
        batch_size: BPR batch (``params.py``: 512; the LightGCN example script: 1024).
        reg: L2 weight of L_M (1e-7).
        unlearn_weight: lambda_u of L_U (pre-training 1; fine-tuning 0.2 in the example script).
        align_weight: lambda_a of L_P (pre-training 0.005; fine-tuning 0.01).
        align_temperature: tau_a of L_P (pre-training 1; fine-tuning 10).
        contrast_weight: lambda_c of L_C (``unlearn_ssl`` 1e-3).
        contrast_temperature: tau_h of L_C (``hyper_temp`` 1).
        keep_rate: edge keep rate of the second H view (0.95).
        withdraw: rho, the overall withdraw rate (0.1).
        withdraw_init: initial eta (``withdraw_rate_init`` 1: 2 * lr).
        leaky: LeakyReLU slope of the MLP (0.99).
        mlp_layers: FeedForward layers of the MLP (2).
        pretrain_drop: share of the training edges of a simulated request (code default 0.05).
        sim_epochs: epochs per simulated request (5).
    """

    lr: float = 1e-3
    batch_size: int = 512
    reg: float = 1e-7
    unlearn_weight: float = 1.0
    align_weight: float = 0.005
    align_temperature: float = 1.0
    contrast_weight: float = 1e-3
    contrast_temperature: float = 1.0
    keep_rate: float = 0.95
    withdraw: float = 0.1
    withdraw_init: float = 2e-3
    leaky: float = 0.99
    mlp_layers: int = 2
    pretrain_drop: float = 0.05
    sim_epochs: int = 5


class InfluenceEncoder(nn.Module):
    """The change of a recommender's layer-0 embeddings that removes a request's interactions.

    Args:
        num_nodes: users + items.
        dim: embedding width D.
        num_layers: hops L over the removed-edge graph (the backbone's depth).
        withdraw_init, withdraw, leaky, mlp_layers: see :class:`UnlearnRecConfig`.

    Shape:
        - forward(final, request_adjacency): (U+I, D) final embeddings of the current model, sparse (U+I, U+I)
          normalised adjacency of the removed edges -> (U+I, D) Delta E.
    """

    def __init__(self, num_nodes: int, dim: int, num_layers: int, withdraw_init: float = 2e-3, withdraw: float = 0.1,
                 leaky: float = 0.99, mlp_layers: int = 2) -> None:
        super().__init__()
        self.num_layers, self.withdraw = num_layers, withdraw
        self.edge_embeds = nn.Parameter(torch.zeros(num_nodes, dim))
        self.withdraw_rate = nn.Parameter(torch.full((num_nodes, 1), float(withdraw_init)))
        self.mlp = nn.Sequential(*(m for _ in range(mlp_layers) for m in (nn.Linear(dim, dim), nn.LeakyReLU(leaky))))

    def hops(self, adjacency: torch.Tensor, x: torch.Tensor) -> list[torch.Tensor]:
        """[x, A x, ..., A^L x]."""
        layers = [x]
        for _ in range(self.num_layers):
            layers.append(torch.sparse.mm(adjacency, layers[-1]))
        return layers

    def forward(self, final: torch.Tensor, request_adjacency: torch.Tensor) -> torch.Tensor:
        return self.encode(final, request_adjacency)[0]

    def encode(self, final: torch.Tensor, request_adjacency: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Delta E and the H layers (for the contrastive term)."""
        h_layers = self.hops(request_adjacency, self.edge_embeds)
        withdrawn = self.hops(request_adjacency, final * self.withdraw_rate)[-1]
        return self.mlp(-self.withdraw * withdrawn + sum(h_layers)), h_layers


def request_graphs(net: LightGCN, forget: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The remaining edges and the normalised adjacencies of the remaining (A_r) and removed (A_f) graphs.

    Args:
        net: the recommender (its active edges are the current graph).
        forget: (M, 2) the request's (user, item) pairs (pairs not in the graph are ignored).

    Returns:
        ``(remaining_edges, A_r, A_f)``.
    """
    edges = net.active_edges()
    index = net.edge_index(forget)
    drop = torch.zeros(len(net.edges), dtype=torch.bool, device=edges.device)
    drop[index[index >= 0]] = True
    drop = drop[net.active]
    removed, remaining = edges[drop], edges[~drop]
    return remaining, normalized_adjacency(remaining, net.num_users, net.num_items), normalized_adjacency(removed, net.num_users, net.num_items)


class UnlearnRec:
    """The IE around a frozen backbone: pre-train on simulated requests, unlearn real ones.

    Args:
        net: the trained backbone (frozen; never modified).
        config: :class:`UnlearnRecConfig`.
        encoder: a pre-trained :class:`InfluenceEncoder` (default: a fresh one).
    """

    def __init__(self, net: LightGCN, config: UnlearnRecConfig | None = None, encoder: InfluenceEncoder | None = None) -> None:
        self.net, self.config = net, config or UnlearnRecConfig()
        c = self.config
        dim = net.user_embedding.weight.shape[1]
        self.encoder = encoder or InfluenceEncoder(net.num_users + net.num_items, dim, net.num_layers, c.withdraw_init, c.withdraw, c.leaky, c.mlp_layers)
        self.encoder.to(net.user_embedding.weight.device)
        with torch.no_grad():
            self.layer0 = net.layer0().detach()
            self.final = propagate(net.adjacency(), self.layer0, net.num_layers).detach()

    # ----------------------------------------------------------------- losses
    def unlearned(self, request_adjacency: torch.Tensor, remaining_adjacency: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list]:
        """E^0' = E^0 + Delta E and the final embeddings over A_r; with the H layers."""
        delta, h_layers = self.encoder.encode(self.final, request_adjacency)
        layer0 = self.layer0 + delta
        return layer0, propagate(remaining_adjacency, layer0, self.net.num_layers), h_layers

    def loss(self, batch: dict[str, torch.Tensor], removed: torch.Tensor, request_adjacency: torch.Tensor, remaining_adjacency: torch.Tensor,
             unlearn_weight: float, align_weight: float, align_temperature: float, contrast: bool = True) -> dict[str, torch.Tensor]:
        """L = L_M + lambda_u L_U + lambda_a L_P (+ lambda_c L_C) on a BPR batch of remaining edges."""
        c, users_n = self.config, self.net.num_users
        layer0, final, h_layers = self.unlearned(request_adjacency, remaining_adjacency)
        u, i, j = batch["users"], batch["positives"] + users_n, batch["negatives"] + users_n
        pos, neg = (final[u] * final[i]).sum(-1), (final[u] * final[j]).sum(-1)
        terms = {"main": bpr_loss(pos, neg) + c.reg * embedding_l2(layer0[u], layer0[i], layer0[j])}
        dropped = (final[removed[:, 0]] * final[removed[:, 1] + users_n]).sum(-1)
        terms["unlearn"] = F.softplus(dropped).mean()
        new = torch.log_softmax(final[u] @ final[i].T / align_temperature, -1).diagonal()
        old = torch.log_softmax(self.final[u] @ self.final[i].T / align_temperature, -1).diagonal()
        terms["align"] = (new - old).square().sum()
        loss = terms["main"] + unlearn_weight * terms["unlearn"] + align_weight * terms["align"]
        if contrast:
            keep = torch.rand(request_adjacency._nnz(), device=final.device) < c.keep_rate
            view = torch.sparse_coo_tensor(request_adjacency.indices()[:, keep], request_adjacency.values()[keep], request_adjacency.shape,
                                           check_invariants=False).coalesce()
            nodes = torch.unique(torch.cat([u, i]))
            terms["contrast"] = sum(info_nce(h[nodes].detach(), v[nodes], c.contrast_temperature)
                                    for h, v in zip(h_layers[1:], self.encoder.hops(view, self.encoder.edge_embeds)[1:]))
            loss = loss + c.contrast_weight * terms["contrast"]
        terms["loss"] = loss
        return terms

    def _epochs(self, remaining: torch.Tensor, removed: torch.Tensor, epochs: int, optimizer, seed: int, **weights) -> None:
        net, device = self.net, self.layer0.device
        request_adjacency = normalized_adjacency(removed, net.num_users, net.num_items)
        remaining_adjacency = normalized_adjacency(remaining, net.num_users, net.num_items)
        triples = BPRTriples(remaining.cpu(), net.num_users, net.num_items, self.config.batch_size, seed)
        for _ in range(epochs):
            for index in range(len(triples)):
                batch = {k: v.to(device) for k, v in triples[index].items()}
                loss = self.loss(batch, removed, request_adjacency, remaining_adjacency, **weights)["loss"]
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    # ------------------------------------------------------------ pre-training
    @torch.no_grad()
    def score_gap(self, forget: torch.Tensor, seed: int = 0) -> float:
        """mean(score of random negatives) - mean(score of the removed edges) after a zero-shot unlearning (the
        research code's checkpoint criterion: larger is better)."""
        net = self.net
        _, remaining_adjacency, request_adjacency = request_graphs(net, forget)
        _, final, _ = self.unlearned(request_adjacency, remaining_adjacency)
        gen = torch.Generator().manual_seed(seed)
        positives = dense_mask(net.active_edges().cpu(), net.num_users, net.num_items)
        users = forget[:, 0].cpu()
        negatives = sample_negatives(users, positives, net.num_items, gen).to(final.device)
        users, items = forget[:, 0].to(final.device), forget[:, 1].to(final.device) + net.num_users
        neg = (final[users] * final[negatives + net.num_users]).sum(-1)
        return float(neg.mean() - (final[users] * final[items]).sum(-1).mean())

    def pretrain(self, requests: int = 30, seed: int = 0) -> dict[str, float]:
        """Pre-train the IE on ``requests`` simulated requests, ``sim_epochs`` epochs each.

        Returns:
            ``{"seconds", "requests", "best_gap"}``; the IE keeps its best state on a held-out simulated request.
        """
        c, net = self.config, self.net
        start = time.perf_counter()
        edges = net.active_edges()
        gen = torch.Generator().manual_seed(seed)
        held_out = edges[torch.randperm(len(edges), generator=gen)[: max(1, int(c.pretrain_drop * len(edges)))].to(edges.device)]
        optimizer = torch.optim.Adam(self.encoder.parameters(), lr=c.lr)
        best, best_state = self.score_gap(held_out, seed), copy.deepcopy(self.encoder.state_dict())
        for request in trange(requests, "UnlearnRec pre-training", unit="request"):
            drop = torch.rand(len(edges), generator=gen).to(edges.device) < c.pretrain_drop
            self._epochs(edges[~drop], edges[drop], c.sim_epochs, optimizer, seed + 1000 * request,
                         unlearn_weight=c.unlearn_weight, align_weight=c.align_weight, align_temperature=c.align_temperature)
            gap = self.score_gap(held_out, seed)
            if gap > best:
                best, best_state = gap, copy.deepcopy(self.encoder.state_dict())
        self.encoder.load_state_dict(best_state)
        return {"seconds": time.perf_counter() - start, "requests": float(requests), "best_gap": best}

    # ------------------------------------------------------------- unlearning
    def unlearn(self, forget: torch.Tensor, finetune_epochs: int = 0, unlearn_weight: float = 0.2, align_weight: float = 0.01,
                align_temperature: float = 10.0, touched_only: bool = False, seed: int = 0) -> LightGCN:
        """The backbone with the request removed: its graph without the edges, its layer-0 embeddings E^0 + Delta E.

        Args:
            forget: (M, 2) (user, item) pairs to remove.
            finetune_epochs: epochs of fine-tuning a copy of the IE on this request first (0: zero-shot, one forward
                pass); the weights are the research code's fine-tuning example's.
            touched_only: during fine-tuning, update only the H^(0) rows of the request's users and items (the
                research code's ``allgrad False``); False (the default, ``allgrad True``) updates every row.
            seed: seed of the fine-tuning batches.

        Returns:
            A new LightGCN (the backbone and the pre-trained IE are unchanged).
        """
        forget = forget.to(self.layer0.device).long()
        remaining, remaining_adjacency, request_adjacency = request_graphs(self.net, forget)
        worker = self
        if finetune_epochs:
            worker = UnlearnRec(self.net, self.config, copy.deepcopy(self.encoder))
            optimizer = torch.optim.Adam(worker.encoder.parameters(), lr=self.config.lr)
            removed = forget[self.net.edge_index(forget) >= 0]
            if touched_only:
                touched = torch.zeros(len(self.layer0), 1, dtype=torch.bool, device=self.layer0.device)
                touched[removed[:, 0]] = touched[removed[:, 1] + self.net.num_users] = True
                worker.encoder.edge_embeds.register_hook(lambda grad: grad * touched)
            worker._epochs(remaining, removed, finetune_epochs, optimizer, seed, unlearn_weight=unlearn_weight,
                           align_weight=align_weight, align_temperature=align_temperature, contrast=False)
        with torch.no_grad():
            layer0, _, _ = worker.unlearned(request_adjacency, remaining_adjacency)
        out = copy.deepcopy(self.net)
        with torch.no_grad():
            out.user_embedding.weight.copy_(layer0[: out.num_users])
            out.item_embedding.weight.copy_(layer0[out.num_users:])
        out.remove_edges(forget)
        return out
