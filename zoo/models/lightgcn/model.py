"""LightGCN (He et al., SIGIR 2020) as a plain ``nn.Module`` over ``torch.sparse`` (no graph library needed).

The network holds the layer-0 embeddings of users and items and the interaction graph it propagates over (a buffer
of (user, item) edges and a mask of the active ones, so that removing interactions keeps the shapes). Final
embeddings are the mean of the K+1 layer outputs of E^(k+1) = A_hat E^(k), A_hat = D^-1/2 A D^-1/2 over the
bipartite user-item graph (the official code's mean; the paper's alpha_k = 1/(K+1)).
"""

from __future__ import annotations

import torch
from torch import nn


def normalized_adjacency(edges: torch.Tensor, num_users: int, num_items: int) -> torch.Tensor:
    """The symmetric-normalised bipartite adjacency D^-1/2 A D^-1/2 of (user, item) edges.

    Nodes 0..U-1 are users, U..U+I-1 items; nodes without edges have empty rows.

    Args:
        edges: (N, 2) int64 (user, item) pairs, no duplicates.
        num_users, num_items: sizes.

    Returns:
        A sparse COO (U+I, U+I) float32 matrix on ``edges``' device.
    """
    n = num_users + num_items
    users, items = edges[:, 0], edges[:, 1] + num_users
    rows, cols = torch.cat([users, items]), torch.cat([items, users])
    degree = torch.bincount(rows, minlength=n).float()
    inv_sqrt = degree.clamp_min(1).rsqrt()
    values = inv_sqrt[rows] * inv_sqrt[cols]
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n), check_invariants=False).coalesce()


def propagate(adjacency: torch.Tensor, embeddings: torch.Tensor, num_layers: int) -> torch.Tensor:
    """LightGCN's layer combination: mean of E, A E, ..., A^K E.

    Shape:
        - adjacency: sparse (N, N); embeddings: (N, D)
        - Output: (N, D)
    """
    total, layer = embeddings, embeddings
    for _ in range(num_layers):
        layer = torch.sparse.mm(adjacency, layer)
        total = total + layer
    return total / (num_layers + 1)


class LightGCN(nn.Module):
    """User-item scores from propagated embeddings.

    Args:
        num_users, num_items: sizes of the embedding tables.
        dim: embedding width.
        num_layers: propagation layers K.

    Shape:
        - forward(users): (B,) int64 -> (B, num_items) scores (inner products of the final embeddings).
    """

    def __init__(self, num_users: int, num_items: int, dim: int = 64, num_layers: int = 3) -> None:
        super().__init__()
        self.num_users, self.num_items, self.num_layers = num_users, num_items, num_layers
        self.user_embedding = nn.Embedding(num_users, dim)
        self.item_embedding = nn.Embedding(num_items, dim)
        nn.init.normal_(self.user_embedding.weight, std=0.1)  # the official init
        nn.init.normal_(self.item_embedding.weight, std=0.1)
        self.register_buffer("edges", torch.zeros(0, 2, dtype=torch.long))
        self.register_buffer("active", torch.zeros(0, dtype=torch.bool))
        self._cache: tuple[tuple, torch.Tensor] | None = None
        self._exported: tuple[torch.Tensor, torch.Tensor] | None = None  # freeze_for_export's final embeddings

    # ------------------------------------------------------------------ graph
    def set_graph(self, edges: torch.Tensor, active: torch.Tensor | None = None) -> None:
        """Replace the interaction graph.

        Args:
            edges: (N, 2) int64 (user, item) pairs within the table sizes.
            active: (N,) bool, which of them are in the graph (default: all).
        """
        if not isinstance(edges, torch.Tensor) or edges.ndim != 2 or edges.shape[1] != 2 or edges.is_floating_point():
            raise ValueError(f"edges: expected an (N, 2) integer tensor of (user, item) pairs, received {getattr(edges, 'shape', type(edges).__name__)}")
        edges = edges.long()
        if len(edges) and (edges.min() < 0 or edges[:, 0].max() >= self.num_users or edges[:, 1].max() >= self.num_items):
            raise ValueError(f"edges: expected users in [0, {self.num_users}) and items in [0, {self.num_items}), "
                             f"received users {int(edges[:, 0].min())}..{int(edges[:, 0].max())}, items {int(edges[:, 1].min())}..{int(edges[:, 1].max())}")
        active = torch.ones(len(edges), dtype=torch.bool) if active is None else active.bool()
        if active.shape != (len(edges),):
            raise ValueError(f"active: expected shape ({len(edges)},), received {tuple(active.shape)}")
        device = self.user_embedding.weight.device
        self.edges, self.active = edges.to(device), active.to(device)
        self._cache = None

    def edge_index(self, edges: torch.Tensor) -> torch.Tensor:
        """Positions in :attr:`edges` of the given (user, item) pairs, -1 for pairs not in the graph. Shape: (M, 2) -> (M,)."""
        key = self.edges[:, 0] * self.num_items + self.edges[:, 1]
        query = edges[:, 0].to(key.device).long() * self.num_items + edges[:, 1].to(key.device).long()
        missing = torch.full_like(query, -1)
        if not len(key):
            return missing
        sorted_key, order = torch.sort(key)
        pos = torch.searchsorted(sorted_key, query).clamp_max(len(key) - 1)
        return torch.where(sorted_key[pos] == query, order[pos], missing)

    def remove_edges(self, edges: torch.Tensor) -> int:
        """Deactivate the given (user, item) pairs (M, 2); returns how many active edges were removed."""
        index = self.edge_index(edges)
        index = index[index >= 0]
        removed = int(self.active[index].sum())
        active = self.active.clone()
        active[index] = False
        self.active = active
        self._cache = None
        return removed

    def active_edges(self) -> torch.Tensor:
        """The (N, 2) edges currently in the graph."""
        return self.edges[self.active]

    def adjacency(self) -> torch.Tensor:
        """The normalised adjacency of the active edges (cached until the graph changes)."""
        e, a = self.edges, self.active
        key = (e.data_ptr(), e._version, a.data_ptr(), a._version, e.device, len(e))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, normalized_adjacency(self.active_edges(), self.num_users, self.num_items))
        return self._cache[1]

    # --------------------------------------------------------------- forward
    def layer0(self) -> torch.Tensor:
        """The (U+I, D) layer-0 embeddings, users first."""
        return torch.cat([self.user_embedding.weight, self.item_embedding.weight])

    def propagate(self, adjacency: torch.Tensor | None = None, layer0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user (U, D) and item (I, D) embeddings over ``adjacency`` (default: the model's graph) from ``layer0``
        (default: the model's embeddings)."""
        adjacency = self.adjacency() if adjacency is None else adjacency
        final = propagate(adjacency, self.layer0() if layer0 is None else layer0, self.num_layers)
        return final[: self.num_users], final[self.num_users:]

    def freeze_for_export(self) -> None:
        """Compute the final embeddings of the current graph once, for ``torch.export``: the exported graph scores
        users against them, because ONNX has no sparse matmul (they change only with the graph or the weights, and
        serving LightGCN means exactly this lookup)."""
        with torch.no_grad():
            self._exported = tuple(t.detach().clone() for t in self.propagate())

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_exporting():
            if self._exported is None:
                raise RuntimeError("LightGCN: call freeze_for_export() before torch.export (ONNX has no sparse matmul)")
            user_final, item_final = self._exported
        else:
            user_final, item_final = self.propagate()
        return user_final[users] @ item_final.T
