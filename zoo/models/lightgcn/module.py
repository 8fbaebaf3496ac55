"""LightGCN and SGL recommenders as zoo models: BPR training, full-ranking Recall@K / NDCG@K, top-K ``predict``.

    zoo train recipes/lightgcn_tiny/tiny.yaml

SGL (Wu et al., SIGIR 2021, the edge-dropout variant SGL-ED) is LightGCN trained with an extra self-supervised
InfoNCE between two edge-dropped views of the graph, redrawn every epoch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from zoo.core import checks
from zoo.core.module import ZooModule
from zoo.losses.ranking import bpr_loss, embedding_l2, info_nce
from zoo.models.lightgcn.model import LightGCN, normalized_adjacency


@dataclasses.dataclass
class LightGCNConfig:
    """Configuration of :class:`LightGCNRecommender` (defaults: the LightGCN paper's, SGL's for the SSL terms).

    Args:
        num_users, num_items: table sizes (must match the data).
        dim: embedding width (paper: 64).
        num_layers: propagation layers (paper: 3).
        variant: ``"lightgcn"`` or ``"sgl"`` (SGL-ED: LightGCN + edge-dropout contrastive views).
        lr: Adam learning rate (paper: 1e-3).
        reg: weight of the L2 regulariser on the batch's layer-0 embeddings (paper: 1e-4).
        ssl_weight: SGL's lambda_1 (official: 0.1).
        ssl_temperature: SGL's tau (official: 0.2).
        ssl_drop: SGL's edge-dropout ratio rho (official: 0.1).
        top_k: K of the reported Recall@K / NDCG@K and the default of ``predict``.
    """

    num_users: int = 400
    num_items: int = 300
    dim: int = 64
    num_layers: int = 3
    variant: str = "lightgcn"
    lr: float = 1e-3
    reg: float = 1e-4
    ssl_weight: float = 0.1
    ssl_temperature: float = 0.2
    ssl_drop: float = 0.1
    top_k: int = 20


def dropped_adjacency(net: LightGCN, drop: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """The normalised adjacency of a random ``1 - drop`` share of the net's active edges (one SGL view)."""
    edges = net.active_edges()
    keep = torch.rand(len(edges), generator=generator).to(edges.device) >= drop
    return normalized_adjacency(edges[keep], net.num_users, net.num_items)


def recommendation_loss(net: LightGCN, batch: dict[str, torch.Tensor], config: LightGCNConfig, views: tuple | None = None,
                        adjacency: torch.Tensor | None = None, layer0: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The training loss of a BPR batch: BPR + reg * L2 (+ SGL's InfoNCE over the two views when ``views`` is given).

    Args:
        net: the LightGCN.
        batch: ``{"users", "positives", "negatives"}`` (B,) each.
        config: weights of the terms.
        views: SGL's two view adjacencies, or None (LightGCN).
        adjacency, layer0: propagate over / from these instead of the net's own graph and embeddings.

    Returns:
        ``{"loss", "bpr", "reg"}`` (and ``"ssl"`` with views).
    """
    layer0 = net.layer0() if layer0 is None else layer0
    user_final, item_final = net.propagate(adjacency, layer0)
    u, i, j = batch["users"], batch["positives"], batch["negatives"]
    pos = (user_final[u] * item_final[i]).sum(-1)
    neg = (user_final[u] * item_final[j]).sum(-1)
    terms = {"bpr": bpr_loss(pos, neg), "reg": embedding_l2(layer0[u], layer0[net.num_users + i], layer0[net.num_users + j])}
    loss = terms["bpr"] + config.reg * terms["reg"]
    if views is not None:
        (u1, i1), (u2, i2) = (net.propagate(view, layer0) for view in views)
        users, items = torch.unique(u), torch.unique(i)
        terms["ssl"] = info_nce(u1[users], u2[users], config.ssl_temperature) + info_nce(i1[items], i2[items], config.ssl_temperature)
        loss = loss + config.ssl_weight * terms["ssl"]
    terms["loss"] = loss
    return terms


class LightGCNRecommender(ZooModule):
    """A graph recommender: scores of every item for the given users, from the embeddings propagated over the
    interaction graph it holds.

    A model created with ``zoo.create`` has an empty graph; training sets the graph to the data module's training
    interactions, and a shipped checkpoint carries its graph in the weights (``edges``, ``active``).

    Args:
        config: a :class:`LightGCNConfig` (or a dict of its fields).

    Shape:
        - ``forward(users)``: (B,) int64 -> (B, num_items) scores.

    Example:
        >>> model = zoo.load("lightgcn_tiny")
        >>> model.predict([0, 1], k=5)["items"]      # (2, 5) item ids, already-seen items excluded
        >>> unlearned = zoo.unlearn(model, "unlearnrec", forget=torch.tensor([[0, 17]]))
    """

    config_class = LightGCNConfig
    progress_metrics = ("recall@20",)

    def __init__(self, config: LightGCNConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.variant not in ("lightgcn", "sgl"):
            raise ValueError(f"variant: expected 'lightgcn' or 'sgl', received {cfg.variant!r}")
        for name in ("num_users", "num_items", "dim", "num_layers"):
            if getattr(cfg, name) < (0 if name == "num_layers" else 1):
                raise ValueError(f"{name}: expected a positive int, received {getattr(cfg, name)!r}")
        self.net = LightGCN(cfg.num_users, cfg.num_items, cfg.dim, cfg.num_layers)
        self._views: tuple | None = None

    # ------------------------------------------------------------------ graph
    def load_net_state(self, state: dict[str, torch.Tensor]) -> None:
        """As the base, but the graph buffers take the size of the saved graph first (graphs differ in edges)."""
        if "edges" in state and "active" in state and state["edges"].ndim == 2 and state["edges"].shape[-1:] == (2,):
            self.net.set_graph(torch.zeros_like(state["edges"]), torch.zeros_like(state["active"]))
        super().load_net_state(state)
        self.net._cache = None

    def setup(self, stage: str) -> None:
        """Take the graph of the data module's training interactions (an ``InteractionDataModule``)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        train = getattr(datamodule, "train_edges", None)
        if train is None:
            return
        if (datamodule.num_users, datamodule.num_items) != (self.config.num_users, self.config.num_items):
            raise ValueError(f"data: expected {self.config.num_users} users and {self.config.num_items} items (the model's config), "
                             f"received {datamodule.num_users} and {datamodule.num_items}")
        self.net.set_graph(train)

    # ---------------------------------------------------------------- training
    def on_train_epoch_start(self) -> None:
        if self.config.variant == "sgl":
            self._views = tuple(dropped_adjacency(self.net, self.config.ssl_drop) for _ in range(2))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.config.variant == "sgl" and self._views is None:
            self.on_train_epoch_start()
        terms = recommendation_loss(self.net, batch, self.config, self._views if self.config.variant == "sgl" else None)
        for key, value in terms.items():
            self.log(f"train/{key}", value, prog_bar=key == "loss", batch_size=len(batch["users"]))
        return terms["loss"]

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.config.lr)

    @torch.no_grad()
    def evaluate_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Recall@K and NDCG@K of a batch of users (training items masked, full ranking)."""
        from zoo.metrics.ranking import ranking_metrics

        scores = self.net(batch["users"])
        metrics = ranking_metrics(scores, batch["test"], batch["train"], self.config.top_k)
        return {key: torch.tensor(value) for key, value in metrics.items()}

    # -------------------------------------------------------------- inference
    def export_calls(self, batch_size: int = 2) -> list[tuple[tuple, dict[str, Any]]]:
        """As the default, with the final embeddings of the current graph frozen into the exported graph
        (:meth:`LightGCN.freeze_for_export`): the ONNX graph maps user ids to scores over every item."""
        self.inference_net.freeze_for_export()
        return super().export_calls(batch_size)

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """User ids 0..batch_size-1 (modulo the number of users)."""
        return (torch.arange(batch_size) % self.config.num_users).to(self.device)

    def prepare_input(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """Validate user ids.

        Args:
            x: an int, a list of ints, or a 0-/1-D integer tensor or numpy array of user ids in [0, num_users).

        Returns:
            The (B,) int64 ids and ``{"batched": bool}``.
        """
        if isinstance(x, str):  # "3" or "0,1,2" (the command line)
            fields = x.replace(",", " ").split()
            if not fields or not all(v.lstrip("-").isdigit() for v in fields):
                raise ValueError(f"users: expected user ids such as '3' or '0,1,2', received {x!r:.80}")
            x = [int(v) for v in fields] if len(fields) > 1 else int(fields[0])
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            x = torch.tensor([int(x)]), False
        elif isinstance(x, (list, tuple)) and x and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in x):
            x = torch.tensor([int(v) for v in x]), True
        elif isinstance(x, np.ndarray) and x.dtype.kind in "iu":
            x = torch.from_numpy(x.astype(np.int64)), x.ndim == 1
        elif isinstance(x, torch.Tensor) and not x.is_floating_point() and not x.is_complex() and x.dtype != torch.bool:
            x = x.long(), x.ndim == 1
        else:
            raise ValueError(f"users: expected user ids (an int, a list of ints, or an integer tensor / array), received {checks.describe(x)}")
        users, batched = x
        if users.ndim > 1:
            raise ValueError(f"users: expected a 0-D or 1-D array of user ids, received {checks.describe(users)}")
        users = users.reshape(-1)
        checks.check_not_empty(users, "users")
        if users.min() < 0 or users.max() >= self.config.num_users:
            raise ValueError(f"users: expected ids in [0, {self.config.num_users}), received {int(users.min())}..{int(users.max())}")
        return users, {"batched": batched, "users": users}

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Top-K unseen items: ``{"items": (B, K), "scores": (B, K)}`` (without B for a single user)."""
        users = context["users"].to(y.device)
        seen = torch.zeros_like(y, dtype=torch.bool)
        edges = self.net.active_edges()
        match = edges[:, 0][None, :] == users[:, None]  # (B, E)
        rows, cols = torch.nonzero(match, as_tuple=True)
        seen[rows, edges[cols, 1]] = True
        k = min(context.get("k", self.config.top_k), self.config.num_items)
        scores, items = y.masked_fill(seen, float("-inf")).topk(k, dim=-1)
        out = {"items": items.cpu(), "scores": scores.float().cpu()}
        return out if context["batched"] else {key: v[0] for key, v in out.items()}

    @torch.no_grad()
    def predict(self, x: Any, k: int | str | None = None) -> dict[str, torch.Tensor]:
        """Recommend the top ``k`` items each user has not interacted with.

        Args:
            x: user ids (see :meth:`prepare_input`).
            k: how many items (default: ``config.top_k``); a string of digits is accepted (the CLI's options).

        Returns:
            ``{"items": (B, k) int64, "scores": (B, k) float}``; for a single int user, (k,) each.
        """
        if k is not None:
            if isinstance(k, str) and k.isdigit():
                k = int(k)
            if not isinstance(k, int) or isinstance(k, bool) or k < 1:
                raise ValueError(f"k: expected a positive int, received {k!r}")
        users, context = self.prepare_input(x)
        if k is not None:
            context["k"] = k
        was_training = self.training
        self.eval()
        try:
            y = self(users.to(self.net.user_embedding.weight.device))
        finally:
            self.train(was_training)
        return self.postprocess(y, context)
