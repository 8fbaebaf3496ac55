"""Top-K ranking metrics of recommenders under the full-ranking protocol (every item scored, training items masked).

Recall@K and NDCG@K are torchmetrics' retrieval metrics; this module only turns a (users, items) score matrix and
its masks into torchmetrics' (preds, target, indexes) form.
"""

from __future__ import annotations

import torch
from torchmetrics.retrieval import RetrievalNormalizedDCG, RetrievalRecall


def ranking_metrics(scores: torch.Tensor, relevant: torch.Tensor, exclude: torch.Tensor | None = None, k: int = 20) -> dict[str, float]:
    """Recall@K and NDCG@K averaged over the users with at least one relevant item.

    Args:
        scores: predicted scores.
        relevant: True where the (user, item) pair is a held-out positive.
        exclude: True where the pair must not be ranked (the training interactions); None ranks every item.
        k: the cut-off.

    Returns:
        ``{"recall@K": ..., "ndcg@K": ...}`` (fractions in [0, 1]).

    Shape:
        - scores, relevant, exclude: (U, I)
    """
    if scores.shape != relevant.shape or (exclude is not None and exclude.shape != scores.shape):
        raise ValueError(f"ranking_metrics: expected scores, relevant and exclude of one shape (U, I), received {tuple(scores.shape)}, "
                         f"{tuple(relevant.shape)}, {None if exclude is None else tuple(exclude.shape)}")
    keep = torch.ones_like(relevant, dtype=torch.bool) if exclude is None else ~exclude
    users = torch.arange(scores.shape[0], device=scores.device)[:, None].expand_as(scores)
    preds, target, indexes = scores[keep].float(), relevant[keep], users[keep]
    recall = RetrievalRecall(top_k=k, empty_target_action="skip").to(scores.device)
    ndcg = RetrievalNormalizedDCG(top_k=k, empty_target_action="skip").to(scores.device)
    return {f"recall@{k}": float(recall(preds, target, indexes=indexes)), f"ndcg@{k}": float(ndcg(preds, target, indexes=indexes))}


def item_rank_percentile(scores: torch.Tensor, users: torch.Tensor, items: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Where each (user, item) pair falls in its user's ranking: the share of rankable items scored above it.

    0 is the top of the list, 1 the bottom. Items in ``exclude`` (other than the pair's own item) are not ranked.

    Shape:
        - scores, exclude: (U, I); users, items: (N,) int64
        - Output: (N,) in [0, 1]
    """
    rows = scores[users]
    own = rows.gather(1, items[:, None])
    above = rows > own
    rankable = torch.ones_like(rows, dtype=torch.bool) if exclude is None else ~exclude[users]
    rankable = rankable.scatter(1, items[:, None], False)
    return (above & rankable).sum(1).float() / rankable.sum(1).clamp_min(1).float()
