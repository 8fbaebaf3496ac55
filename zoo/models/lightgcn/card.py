"""LightGCN / SGL card prose: the recommendation results and UnlearnRec's unlearning table, from the measured record."""

from __future__ import annotations

from typing import Any

from zoo.models.lightgcn.specs import ENCODER_NAME, RecommenderRecord
from zoo.registry import ModelSpec

_COLUMNS = (("recall@20", "Recall@20", "{:.4f}"), ("ndcg@20", "NDCG@20", "{:.4f}"), ("forget_rank", "removed edges' rank", "{:.3f}"),
            ("forget_rank_gap", "gap to retrain", "{:.3f}"), ("mia_auc", "MIA AUC", "{:.3f}"), ("seconds", "s / request", "{:.2f}"),
            ("speedup", "speed-up vs retrain", "{:.1f}x"))


def card_notes(spec: ModelSpec, config: Any, record: RecommenderRecord | None) -> str:
    """Markdown for the card of a LightGCN / SGL recommender.

    Args:
        spec: the model's spec.
        config: its ``LightGCNConfig``.
        record: the measured record (None: no shipped checkpoint).

    Returns:
        With a record (the recommendation metrics are the card's Evaluation section): the unlearning table with what it says about the paper's claim, and the setting;
        without: the architecture and how to train it.
    """
    variant = "SGL-ED (LightGCN + InfoNCE between two edge-dropped views)" if config.variant == "sgl" else "LightGCN"
    about = (f"## Model\n{variant}: {config.num_users} users x {config.num_items} items, d = {config.dim}, {config.num_layers} propagation "
             "layers (mean of the layer outputs), BPR loss with L2 on the batch's layer-0 embeddings, plain `torch.sparse` propagation. "
             "The interaction graph is part of the weights (`edges`, `active`); `zoo.unlearn(model, method, forget=edges)` removes "
             "interactions (methods: unlearnrec, retrain, sisa, influence, finetune).")
    if record is None:
        return f"{about}\n\nTrain it: `zoo train recipes/lightgcn_tiny/tiny.yaml --model.init_args.config.variant {config.variant}`."
    return f"{_unlearning(record)}\n\n{about}\n\n{_setting(config, record)}"


def _unlearning(record: RecommenderRecord) -> str:
    s, table = record.unlearning_setting, record.unlearning
    rows = ["| method | " + " | ".join(c[1] for c in _COLUMNS) + " |", "|---" * (len(_COLUMNS) + 1) + "|"]
    for name, values in table.items():
        cells = ["-" if name == "original" and key in ("seconds", "speedup") else fmt.format(values[key]) for key, _, fmt in _COLUMNS]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    retrain = table["retrain"]
    zero = next(v for k, v in table.items() if "zero-shot" in k)
    tuned_name, tuned = next((k, v) for k, v in table.items() if k.startswith("UnlearnRec (+"))
    sisa_name, sisa = next((k, v) for k, v in table.items() if k.startswith("SISA"))
    holds = zero["recall@20"] >= 0.95 * retrain["recall@20"] and zero["speedup"] >= 10 and zero["recall@20"] > sisa["recall@20"]
    return f"""## Unlearning (UnlearnRec: Chen, Xia and Huang, "Pre-training for Recommendation Unlearning", SIGIR 2025, [arXiv 2505.22649](https://arxiv.org/abs/2505.22649))
{int(s['seeds'])} random requests of {int(s['edges'])} interactions each ({100 * s['share']:.0f}% of the training edges), averaged.
Removed edges' rank: mean percentile in their users' rankings (0 = top; the retrained model is the target). MIA AUC:
a rank attack telling the removed interactions from held-out test ones (0.5 = indistinguishable). Wall time per
request on {record.train_device} (a CPU shared with other jobs: the ratios carry over better than the seconds); UnlearnRec's encoder was pre-trained once, before any request, on
{int(s['pretrain_requests'])} simulated requests ({s['pretrain_seconds']:.0f} s, shipped as `{ENCODER_NAME}`); SISA's shards were trained
once before the requests ({s['shard_train_seconds']:.0f} s).

{chr(10).join(rows)}

The paper's claim in small — close to retrain in quality at a fraction of its time, better than the partition
baseline — {"holds" if holds else "does not fully hold"} for the zero-shot encoder here: Recall@20 {zero['recall@20']:.4f} against retrain's
{retrain['recall@20']:.4f} and SISA's {sisa['recall@20']:.4f}, the removed edges' rank {zero['forget_rank']:.3f} against retrain's
{retrain['forget_rank']:.3f} (the original model: {table['original']['forget_rank']:.3f}), {zero['speedup']:.0f}x faster than retraining.
With the paper's fine-tuning weights, {tuned_name} overshoots at this size: Recall@20 {tuned['recall@20']:.4f}, rank
{tuned['forget_rank']:.3f}. {sisa_name} is exact but each user sees only its shard's data (Recall@20 {sisa['recall@20']:.4f}) and random
requests touch most shards ({sisa['speedup']:.1f}x). RecEraser's learned aggregation is not reproduced (SISA-style user shards)."""


def _setting(config: Any, record: RecommenderRecord) -> str:
    return f"""## Setting
- Data: {record.eval_dataset.description}
- Training: `{record.recipe}`, Adam lr {config.lr:g} (paper: 1e-3; raised for the 50-epoch CPU budget), reg {config.reg:g},
  {record.train_steps} steps in {record.train_seconds or 0:.0f} s on {record.train_device}. `paper.yaml` holds the paper's
  setting (d = 64, 3 layers, batch 2048, lr 1e-3, 1000 epochs) on MovieLens-1M read by `zoo.data.interactions.load_interactions`.
- UnlearnRec: the research code's hyper-parameters (`Shuvayu12/UnlearnRec2`, a copy of the authors' code; the official
  `HKUDS/UnlearnRec` was not available), except {int(record.unlearning_setting['sim_epochs'])} epochs per simulated request
  (code: 5) and {int(record.unlearning_setting['pretrain_requests'])} requests, for CPU time; fine-tuning
  {int(record.unlearning_setting['finetune_epochs'])} epoch with the example script's weights (unlearn 0.2, align 0.01, align temperature 10).
- Baselines: retrain = the same schedule from scratch on the remaining edges; influence function = one Newton step on the
  layer-0 embeddings (conjugate gradients, damping 1); fine-tune = the remaining edges' BPR + softplus of the removed
  edges' scores, {int(record.unlearning_setting['finetune_epochs'])} epoch."""
