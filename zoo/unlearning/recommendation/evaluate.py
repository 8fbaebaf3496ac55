"""How well a recommender forgot a request: test quality, where the removed interactions now rank, and a membership
attack on them.

- ``recall@K``, ``ndcg@K``: full ranking of the held-out test interactions, the remaining training edges masked.
- ``forget_rank``: mean percentile rank of the removed interactions in their users' rankings (0 = top, 1 = bottom;
  the remaining training edges masked). A retrained model puts them where unseen true preferences go; the original,
  having trained on them, near the top.
- ``mia_auc``: ROC AUC of a rank-based membership attack telling the removed interactions (members before the
  request) from as many held-out test interactions (never trained on): 0.5 = indistinguishable, as for a retrained model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from sklearn.metrics import roc_auc_score

from zoo.data.interactions import dense_mask
from zoo.metrics.ranking import item_rank_percentile, ranking_metrics


@torch.no_grad()
def unlearning_metrics(scorer: Callable[[torch.Tensor], torch.Tensor], remaining: torch.Tensor, test: torch.Tensor, forget: torch.Tensor,
                       num_users: int, num_items: int, k: int = 20, seed: int = 0) -> dict[str, float]:
    """The metrics of the module docstring for one unlearned recommender.

    Args:
        scorer: users (B,) -> scores (B, num_items) (a LightGCN, a sharded ensemble, ...).
        remaining: (N, 2) training edges after the request (masked in every ranking).
        test: (T, 2) held-out test interactions.
        forget: (M, 2) the removed interactions.
        num_users, num_items: sizes.
        k: cut-off of Recall / NDCG.
        seed: seed of the attack's test sample.

    Returns:
        ``{"recall@K", "ndcg@K", "forget_rank", "mia_auc"}``.
    """
    device = remaining.device
    scores = scorer(torch.arange(num_users, device=device)).float()
    train = dense_mask(remaining, num_users, num_items)
    results = ranking_metrics(scores, dense_mask(test.to(device), num_users, num_items), train, k)
    forget, test = forget.to(device), test.to(device)
    forget_rank = item_rank_percentile(scores, forget[:, 0], forget[:, 1], train)
    gen = torch.Generator().manual_seed(seed)
    sample = test[torch.randperm(len(test), generator=gen)[: len(forget)].to(device)]
    test_rank = item_rank_percentile(scores, sample[:, 0], sample[:, 1], train)
    ranks = torch.cat([forget_rank, test_rank]).cpu().numpy()
    labels = [1] * len(forget_rank) + [0] * len(test_rank)
    results["forget_rank"] = float(forget_rank.mean())
    results["mia_auc"] = float(roc_auc_score(labels, -ranks))  # a higher rank (smaller percentile) says "member"
    return results


def compare_methods(model, test: torch.Tensor, share: float = 0.025, seeds: int = 3, epochs: int = 50, pretrain_requests: int = 30,
                    finetune_epochs: int = 1, num_shards: int = 4, unlearnrec_config=None, log=print) -> tuple[dict[str, dict[str, float]], dict[str, float], object]:
    """The unlearning table: every method on ``seeds`` random requests of ``share`` of the training edges.

    Args:
        model: the trained recommender (its graph = the training edges).
        test: (T, 2) held-out test interactions.
        share: request size as a share of the training edges.
        seeds: requests averaged.
        epochs: the retraining schedule (retrain and each SISA shard).
        pretrain_requests: simulated requests of UnlearnRec's pre-training (one-off, timed apart).
        finetune_epochs: UnlearnRec's fine-tuning epochs (and the fine-tuning baseline's).
        num_shards: SISA shards.
        unlearnrec_config: UnlearnRec's ``UnlearnRecConfig`` (default: the research code's).
        log: progress printer.

    Returns:
        ``(method -> metric -> mean over requests, setting, the UnlearnRec runner with its pre-trained encoder)``; metrics as in the module docstring plus ``seconds``
        (wall time per request), ``speedup`` (retrain's seconds / the method's) and ``forget_rank_gap``
        (|forget_rank - retrain's|). The original model is the row ``original``.
    """
    import time

    from zoo.unlearning.recommendation import baselines, family
    from zoo.unlearning.recommendation.unlearnrec import request_graphs

    net, config = model.net, model.config
    edges = net.active_edges()
    start = time.perf_counter()
    runner = family.pretrained_encoder(model, pretrain_requests, seed=0, config=unlearnrec_config)
    pretrain_seconds = time.perf_counter() - start
    start = time.perf_counter()
    sharded = baselines.ShardedRecommender(config, edges, num_shards, epochs, seed=0)
    log(f"pre-training {pretrain_seconds:.1f} s, SISA shards {time.perf_counter() - start:.1f} s")
    rows: dict[str, list[dict[str, float]]] = {}
    size = max(1, int(share * len(edges)))
    for seed in range(seeds):
        gen = torch.Generator().manual_seed(100 + seed)
        forget = edges[torch.randperm(len(edges), generator=gen)[:size].to(edges.device)]
        remaining = request_graphs(net, forget)[0]

        def timed(make):
            t = time.perf_counter()
            out = make()
            return out, time.perf_counter() - t

        candidates = {
            "original": (net, 0.0),
            "retrain": timed(lambda: baselines.retrain(net, forget, config, epochs, seed)),
            "UnlearnRec (zero-shot)": timed(lambda: runner.unlearn(forget, 0, seed=seed)),
            f"UnlearnRec (+{finetune_epochs} fine-tune epochs)": timed(lambda: runner.unlearn(forget, finetune_epochs, seed=seed)),
            f"SISA ({num_shards} user shards)": sharded.unlearn(forget),
            "influence function": timed(lambda: baselines.influence(net, forget, seed=seed)),
            f"fine-tune ({finetune_epochs} epochs)": timed(lambda: baselines.finetune(net, forget, config, finetune_epochs, seed=seed)),
        }
        for name, (scorer, seconds) in candidates.items():
            scorer.eval()
            metrics = unlearning_metrics(scorer, remaining, test, forget, net.num_users, net.num_items, config.top_k, seed)
            rows.setdefault(name, []).append({**metrics, "seconds": seconds})
        log(f"request {seed}: " + ", ".join(f"{n} {r[-1]['recall@20']:.3f}/{r[-1]['forget_rank']:.3f}/{r[-1]['mia_auc']:.3f}/{r[-1]['seconds']:.2f}s" for n, r in rows.items()))
    table = {name: {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]} for name, runs in rows.items()}
    reference = table["retrain"]
    for name, values in table.items():
        values["forget_rank_gap"] = abs(values["forget_rank"] - reference["forget_rank"])
        values["speedup"] = reference["seconds"] / values["seconds"] if values["seconds"] > 0 else 0.0
    setting = {"edges": float(size), "share": share, "seeds": float(seeds), "pretrain_seconds": pretrain_seconds,
               "pretrain_requests": float(pretrain_requests), "shard_train_seconds": float(sum(sharded.seconds))}
    return table, setting, runner
