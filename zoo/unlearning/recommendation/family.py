"""The recommendation family of :func:`zoo.unlearn`: LightGCN / SGL recommenders, ``forget`` = interaction edges.

    >>> model = zoo.load("lightgcn_tiny")
    >>> unlearned = zoo.unlearn(model, "unlearnrec", forget=torch.tensor([[0, 17], [3, 250]]))

Methods: ``unlearnrec`` (the pre-trained Influence Encoder, zero-shot with ``finetune_epochs=0``), ``retrain``,
``sisa`` (user-sharded retraining), ``influence`` (a Newton step on the embeddings), ``finetune`` (the remaining
edges plus a push-down of the removed ones). Each returns a copy of the recommender (the input is untouched) whose
graph no longer holds the removed edges; ``sisa`` returns the sharded ensemble.

UnlearnRec's encoder is pre-trained once per backbone: the shipped one (``influence_encoder.safetensors`` of a
shipped checkpoint, hash-checked) when the backbone is that checkpoint, else one pre-trained on first use and cached
in ``$ZOO_CACHE/unlearning/unlearnrec/``.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

METHODS = ("unlearnrec", "retrain", "sisa", "influence", "finetune")
_HPARAMS = {
    "unlearnrec": {"finetune_epochs", "pretrain_requests", "encoder", "seed"},
    "retrain": {"epochs", "seed"},
    "sisa": {"shards", "num_shards", "epochs", "seed"},
    "influence": {"damping", "scale", "cg_steps", "seed"},
    "finetune": {"epochs", "forget_weight", "lr", "seed"},
}
TRAIN_EPOCHS = 50
"""Epochs of retraining (the shipped recipe's schedule) unless ``epochs`` is given."""


def method_names() -> list[str]:
    """The family's methods."""
    return list(METHODS)


def accepts(model: Any) -> bool:
    """True for a zoo LightGCN / SGL recommender (checked by class name: no import)."""
    return any(f"{c.__module__}.{c.__qualname__}" == "zoo.models.lightgcn.module.LightGCNRecommender" for c in type(model).__mro__)


def as_edges(edges: Any, what: str = "forget"):
    """(M, 2) int64 (user, item) pairs from a tensor, numpy array or list of pairs."""
    import numpy as np
    import torch

    if isinstance(edges, np.ndarray) and edges.dtype.kind in "iu":
        edges = torch.from_numpy(edges.astype(np.int64))
    elif isinstance(edges, (list, tuple)):
        try:
            edges = torch.tensor(edges, dtype=torch.long)
        except (TypeError, ValueError):
            raise ValueError(f"{what}: expected (user, item) integer pairs, received a list that is not one") from None
    if not isinstance(edges, torch.Tensor) or edges.is_floating_point() or edges.dtype == torch.bool or edges.ndim != 2 or edges.shape[1] != 2:
        from zoo.core.checks import describe

        raise ValueError(f"{what}: expected an (M, 2) integer tensor / array of (user, item) pairs, received {describe(edges)}")
    if not len(edges):
        raise ValueError(f"{what}: expected at least one (user, item) pair, received none")
    return edges.long()


def backbone_digest(net) -> str:
    """sha256 of a LightGCN's state (embeddings and graph): which backbone an encoder was pre-trained for."""
    digest = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _shipped_encoder(digest: str) -> Path | None:
    from zoo.hub import SHIPPED_WEIGHTS, verify_files
    from zoo.models.lightgcn.specs import ENCODER_NAME, SPECS
    from zoo.registry import checkpoint_record

    for spec in SPECS:
        path = SHIPPED_WEIGHTS / spec.name / ENCODER_NAME
        record = checkpoint_record(spec.name)
        if path.is_file() and record is not None and ENCODER_NAME in record.sha256:
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                if (f.metadata() or {}).get("backbone_sha256") == digest:
                    verify_files(path.parent, {ENCODER_NAME: record.sha256[ENCODER_NAME]})
                    return path
    return None


def pretrained_encoder(model, requests: int = 30, seed: int = 0, config=None):
    """The UnlearnRec runner for ``model``'s backbone with its pre-trained Influence Encoder (shipped, cached, or
    pre-trained now on ``requests`` simulated requests with ``config`` (an ``UnlearnRecConfig``; default: the
    research code's) and cached)."""
    import dataclasses
    import json

    from safetensors.torch import load_file, save_file

    from zoo.unlearning.cache import cache_dir
    from zoo.unlearning.recommendation.unlearnrec import UnlearnRec

    runner = UnlearnRec(model.net, config)
    digest = backbone_digest(model.net)
    setting = hashlib.sha256(json.dumps([dataclasses.asdict(runner.config), requests, seed]).encode()).hexdigest()[:12]
    cached = cache_dir() / "unlearnrec" / f"{digest[:32]}-{setting}.safetensors"
    path = _shipped_encoder(digest) or (cached if cached.is_file() else None)
    if path is not None:
        state = load_file(str(path), device=str(model.net.edges.device))
        runner.encoder.load_state_dict(state)
        return runner
    runner.pretrain(requests, seed)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in runner.encoder.state_dict().items()}, str(tmp), metadata={"backbone_sha256": digest})
    tmp.replace(cached)
    return runner


def unlearn(model, method: str, forget: Any, retain: Any = None, **hparams: Any):
    """Remove the interactions ``forget`` from a copy of the recommender ``model``.

    Args:
        model: a LightGCN / SGL recommender (:class:`~zoo.models.lightgcn.module.LightGCNRecommender`).
        method: one of :func:`method_names`.
        forget: (M, 2) (user, item) pairs of the model's graph (tensor, array or list of pairs).
        retain: None (the model's graph without ``forget``), or those same edges given explicitly.
        hparams: ``unlearnrec``: finetune_epochs (2), pretrain_requests (30), encoder (an ``UnlearnRec`` runner), seed;
            ``retrain``: epochs, seed; ``sisa``: shards (a pre-trained ``ShardedRecommender``), num_shards (4), epochs,
            seed; ``influence``: damping, scale, cg_steps, seed; ``finetune``: epochs (2), forget_weight, lr, seed.

    Returns:
        The unlearned recommender (``sisa``: the ``ShardedRecommender``).

    Raises:
        ValueError: an unknown method or hyper-parameter, malformed edges, edges not in the graph, or a ``retain``
            that is not the remaining graph.
    """
    import torch

    if method not in METHODS:
        raise ValueError(f"method: expected one of {list(METHODS)} for a recommender, received {method!r}")
    unknown = sorted(set(hparams) - _HPARAMS[method])
    if unknown:
        raise ValueError(f"{method}: unknown hyper-parameters {unknown}; expected a subset of {sorted(_HPARAMS[method])}")
    net = model.net
    forget = as_edges(forget).to(net.edges.device)
    present = net.edge_index(forget)
    missing = (present < 0) | ~net.active[present.clamp_min(0)] if len(net.edges) else torch.ones(len(forget), dtype=torch.bool)
    if missing.any():
        raise ValueError(f"forget: expected interactions of the model's graph, received {int(missing.sum())} that are not, "
                         f"e.g. {forget[missing][:3].tolist()}")
    if retain is not None:
        from zoo.unlearning.recommendation.unlearnrec import request_graphs

        remaining = request_graphs(net, forget)[0]
        retain = as_edges(retain, "retain").to(remaining.device)
        key = lambda e: torch.sort(e[:, 0] * net.num_items + e[:, 1]).values  # noqa: E731
        if len(retain) != len(remaining) or not torch.equal(key(retain), key(remaining)):
            raise ValueError(f"retain: expected the model's graph without forget ({len(remaining)} edges), received {len(retain)} other edges")
    seed = hparams.pop("seed", 0)
    config = model.config
    if method == "unlearnrec":
        runner = hparams.get("encoder") or pretrained_encoder(model, hparams.get("pretrain_requests", 30), seed)
        new_net = runner.unlearn(forget, finetune_epochs=hparams.get("finetune_epochs", 2), seed=seed)
    elif method == "retrain":
        from zoo.unlearning.recommendation.baselines import retrain

        new_net = retrain(net, forget, config, hparams.get("epochs", TRAIN_EPOCHS), seed)
    elif method == "influence":
        from zoo.unlearning.recommendation.baselines import influence

        new_net = influence(net, forget, seed=seed, **hparams)
    elif method == "finetune":
        from zoo.unlearning.recommendation.baselines import finetune

        new_net = finetune(net, forget, config, seed=seed, **hparams)
    else:
        from zoo.unlearning.recommendation.baselines import ShardedRecommender

        shards = hparams.get("shards")
        if shards is None:  # no ensemble trained before the request: train it on the remaining edges (exact)
            from zoo.unlearning.recommendation.unlearnrec import request_graphs

            remaining = request_graphs(net, forget)[0]
            return ShardedRecommender(config, remaining, hparams.get("num_shards", 4), hparams.get("epochs", TRAIN_EPOCHS), seed)
        return shards.unlearn(forget)[0]
    out = copy.deepcopy(model)
    out.net = new_net
    return out
