"""LightGCN's and SGL's registered models and the shipped checkpoint's record: plain data, no torch."""

from dataclasses import dataclass

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

ENCODER_NAME = "influence_encoder.safetensors"
"""UnlearnRec's Influence Encoder pre-trained for the shipped backbone, in the weights folder."""
TINY = {"num_users": 400, "num_items": 300, "dim": 32, "num_layers": 3}
"""The shipped setting: the synthetic interactions of ``recipes/lightgcn_tiny/tiny.yaml``."""


@dataclass(frozen=True, kw_only=True)
class RecommenderRecord(CheckpointRecord):
    """The shipped recommender's record: the common fields and the unlearning table.

    Args:
        unlearning: method -> metric -> value, for one removal request, averaged over ``unlearning_setting["seeds"]``
            requests: ``recall@20`` / ``ndcg@20`` (fractions) on the test interactions, ``forget_rank`` (mean
            percentile rank of the removed interactions, 0 = top, 1 = bottom), ``forget_rank_gap`` (|forget_rank -
            retrain's|), ``mia_auc`` (AUC of the score attack separating removed interactions from held-out test
            interactions; 0.5 = indistinguishable), ``seconds`` (wall time per request) and ``speedup`` (retrain's
            seconds / the method's).
        unlearning_setting: the request: ``edges`` (removed interactions per request), ``share`` (of the training
            interactions), ``seeds`` (requests averaged), ``pretrain_seconds`` (the Influence Encoder's one-off
            pre-training), ``pretrain_requests`` (simulated requests it saw).
    """

    unlearning: dict[str, dict[str, float]]
    unlearning_setting: dict[str, float]


LIMITATIONS = """- Trained and evaluated on seeded synthetic interactions, not on MovieLens / Gowalla / Yelp (`paper.yaml` reads
  MovieLens-1M if you supply the file); the numbers show the methods' behaviour, not the papers' scores.
- UnlearnRec follows a third-party copy of the authors' research code (`Shuvayu12/UnlearnRec2`); the official
  `HKUDS/UnlearnRec` and the paper's tables were not available, so no number here is compared with a published one.
- The SISA baseline splits users at random and scores each user with its own shard (RecEraser's balanced
  clustering and attention aggregation are not reproduced); the MIA is a rank attack, the paper's protocol was not found."""

_COMMON = dict(
    official_license="none",
    limitations=LIMITATIONS,
    module="zoo.models.lightgcn.module:LightGCNRecommender",
    pipeline_tag="other",
    record_type=RecommenderRecord,
    headline_metric="recall@20",
    usage='out = model.predict([0, 1, 2], k=20)  # -> {"items": (3, 20) unseen item ids, "scores": (3, 20)}',
)

SPECS = (
    ModelSpec(
        name="lightgcn_tiny",
        task="recommendation",
        paper="LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation (He et al., SIGIR 2020)",
        paper_url="https://arxiv.org/abs/2002.02126",
        official_repo="gusye1234/LightGCN-PyTorch",
        config={**TINY, "variant": "lightgcn"},
        hub_repo="zoo-models/lightgcn_tiny",
        tags=("recommendation", "graph-neural-network", "collaborative-filtering", "bpr", "unlearning"),
        description="LightGCN on seeded synthetic implicit feedback (400 users x 300 items), with UnlearnRec's pre-trained Influence Encoder.",
        num_params=(TINY["num_users"] + TINY["num_items"]) * TINY["dim"],
        **_COMMON,
    ),
    ModelSpec(
        name="sgl_tiny",
        task="recommendation",
        paper="Self-supervised Graph Learning for Recommendation (Wu et al., SIGIR 2021)",
        paper_url="https://arxiv.org/abs/2010.10783",
        official_repo="wujcan/SGL-Torch",
        config={**TINY, "variant": "sgl", "ssl_weight": 0.01},
        hub_repo="zoo-models/sgl_tiny",
        tags=("recommendation", "graph-neural-network", "self-supervised", "contrastive", "bpr"),
        description="SGL-ED: LightGCN trained with BPR plus an InfoNCE between two edge-dropped views of the graph "
        "(ssl_weight 0.01 at this size: the official 0.1 held BPR at chance for 30 epochs on the tiny data).",
        num_params=(TINY["num_users"] + TINY["num_items"]) * TINY["dim"],
        **_COMMON,
    ),
)
