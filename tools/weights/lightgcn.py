"""How ``tools/make_weights.py`` makes the shipped LightGCN checkpoint and its unlearning table.

1. Train LightGCN with ``recipes/lightgcn_tiny/tiny.yaml`` (BPR on the seeded synthetic interactions, 50 epochs).
2. Evaluate Recall@20 / NDCG@20 on the held-out interactions (full ranking, training items masked), with a
   most-popular baseline and SGL-ED trained on the same data with the same schedule.
3. Pre-train UnlearnRec's Influence Encoder on simulated requests (shipped as ``influence_encoder.safetensors``).
4. The unlearning table (``zoo.unlearning.recommendation.evaluate.compare_methods``): 3 random requests of 1% of
   the training interactions; retrain, UnlearnRec zero-shot and fine-tuned, SISA, influence function, fine-tuning.

Run with ``OMP_NUM_THREADS=1`` on a shared CPU (one thread is several times faster when the cores are contended).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file
from weights.common import device_name, evaluate, fit_or_restore

from zoo.models.lightgcn.specs import ENCODER_NAME, RecommenderRecord
from zoo.records import EvalDataset

RECIPE = "recipes/lightgcn_tiny/tiny.yaml"
REQUEST_SHARE = 0.01
REQUESTS = 3
PRETRAIN_REQUESTS = 20
SIM_EPOCHS = 2
FINETUNE_EPOCHS = 1


def _most_popular(model, data) -> dict[str, float]:
    from zoo.data.interactions import dense_mask
    from zoo.metrics.ranking import ranking_metrics

    train = dense_mask(data.train_edges, data.num_users, data.num_items)
    scores = train.sum(0).float().expand(data.num_users, -1)
    return ranking_metrics(scores, dense_mask(data.test_edges, data.num_users, data.num_items), train, model.config.top_k)


def _sgl(model, data, epochs: int) -> dict[str, float]:
    import zoo
    from zoo.unlearning.recommendation.training import fit_bpr

    sgl = zoo.create("sgl_tiny", lr=model.config.lr, reg=model.config.reg)
    torch.manual_seed(0)
    fit_bpr(sgl.net, data.train_edges, sgl.config, epochs, data.hparams.batch_size, seed=0)
    return evaluate(sgl, data.test_dataloader())[0]


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> RecommenderRecord:
    """Train, evaluate and write ``out_dir`` (the model and the pre-trained Influence Encoder).

    Args:
        spec: the ``lightgcn_tiny`` spec.
        out_dir: the weights folder.
        ckpt: resume the recipe's run (``"last"``) or None.
        overrides: LightningCLI overrides of the recipe.

    Returns:
        The measured record (file hashes are added by ``make_weights``).
    """
    import zoo
    from zoo.unlearning.recommendation.evaluate import compare_methods
    from zoo.unlearning.recommendation.family import backbone_digest
    from zoo.unlearning.recommendation.unlearnrec import UnlearnRecConfig

    run = fit_or_restore(RECIPE, overrides, ckpt)
    data = run.cli.datamodule
    epochs = run.cli.trainer.max_epochs
    run.model.save_pretrained(out_dir, card=False, manifest=False)
    model = zoo.load(spec.name, weights=out_dir)
    metrics, count = evaluate(model, data.test_dataloader())
    baselines = {"most popular": _most_popular(model, data), f"SGL-ED ({epochs} epochs, ssl_weight 0.01)": _sgl(model, data, epochs)}
    print({"metrics": metrics, "baselines": baselines})

    config = UnlearnRecConfig(sim_epochs=SIM_EPOCHS)
    with tempfile.TemporaryDirectory() as cache:  # a fresh pre-training, timed (not a cached encoder)
        previous = os.environ.get("ZOO_CACHE")
        os.environ["ZOO_CACHE"] = cache
        try:
            table, setting, runner = compare_methods(model, data.test_edges, REQUEST_SHARE, REQUESTS, epochs, PRETRAIN_REQUESTS,
                                                     FINETUNE_EPOCHS, unlearnrec_config=config)
        finally:
            if previous is None:
                os.environ.pop("ZOO_CACHE")
            else:
                os.environ["ZOO_CACHE"] = previous
    state = {k: v.detach().cpu().contiguous() for k, v in runner.encoder.state_dict().items()}
    save_file(state, str(out_dir / ENCODER_NAME), metadata={"backbone_sha256": backbone_digest(model.net), "sim_epochs": str(SIM_EPOCHS),
                                                           "pretrain_requests": str(PRETRAIN_REQUESTS)})
    setting["sim_epochs"] = float(SIM_EPOCHS)
    setting["finetune_epochs"] = float(FINETUNE_EPOCHS)
    return RecommenderRecord(
        num_params=model.num_params(),
        metrics=metrics,
        baselines=baselines,
        unlearning=table,
        unlearning_setting=setting,
        eval_dataset=EvalDataset(
            name="synthetic implicit feedback (400 users x 300 items)",
            type="zoo-synthetic-interactions",
            split="test (20% of each user's interactions)",
            num_samples=count,
            unit="users",
            description="zoo.data.interactions.synthetic_interactions(seed=0): latent tastes (rank 4), Zipf popularity 0.8, 10% random "
            "interactions; Recall@20 / NDCG@20 (fractions) over the users with test interactions, full ranking, training items masked.",
        ),
        eval_command=f"OMP_NUM_THREADS=1 python tools/make_weights.py {spec.name}",
        train_dataset="zoo.data.interactions.synthetic_interactions (seed 0), 80% of each user's interactions",
        recipe=RECIPE,
        train_steps=run.steps,
        train_seconds=run.seconds,
        train_device=device_name(),
    )
