"""UNEM's registered models (Zhou et al., CVPR 2025) and the shipped checkpoint's setting: plain data, no torch."""

from dataclasses import dataclass

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

BACKBONE_NAME = "backbone.safetensors"
"""The feature backbone's file in a UNEM weights folder."""
TRAIN_TASKS = 200
"""Validation tasks the shipped checkpoint's hyper-parameters are learned on (official: 1,000)."""
EM_GRID = {"scales": (0.1, 0.5, 2.0), "balances": (0.01, 2.0, 10.0), "temperatures": (1.1, 2.0, 5.0)}
"""The iterative-EM baseline's grid (effective feature scale, class-balance weight, temperature)."""
EVAL_SHOTS = (1, 5)
"""Shots of the evaluation tasks (metrics ``accuracy_{shots}shot``)."""
EM_BASELINE = "iterative EM (grid-searched)"
"""The iterative-EM baseline's name in the record's ``baselines`` and ``ci95``."""


@dataclass(frozen=True, kw_only=True)
class UNEMRecord(CheckpointRecord):
    """The shipped UNEM's record: the common fields, confidence intervals and the baseline's validation accuracy.

    Args:
        ci95: method (``"UNEM"`` and each baseline) -> metric -> half-width of its 95% confidence interval over
            the tasks (percentage points).
        em_val_accuracy: mean accuracy (%) of the iterative-EM baseline on the validation tasks at the grid point
            it was chosen at.
    """

    ci95: dict[str, dict[str, float]]
    em_val_accuracy: float


_COMMON = dict(
    task="transductive-few-shot",
    paper="UNEM: UNrolled Generalized EM for Transductive Few-Shot Learning (Zhou et al., CVPR 2025)",
    paper_url="https://arxiv.org/abs/2412.16739",
    official_repo="ZhouLong0/UNEM-Transductive",
    official_license="none",
    module="zoo.models.unem.module:UNEM",
    tags=("few-shot", "transductive", "unrolling", "expectation-maximization"),
    headline_metric="accuracy_5shot",
    num_params=21,
    pipeline_tag="image-classification",
    record_type=UNEMRecord,
    usage='out = model.predict((support, support_labels, query))  # -> {"labels": (Q,), "probabilities": (Q, K)}',
)

SPECS = (
    ModelSpec(
        name="unem_gaussian",
        config={"variant": "gaussian"},
        hub_repo="zoo-models/unem_gaussian",
        description="UNEM-Gaussian: 10 unrolled EM layers over backbone features, learned class-balance weights and temperatures.",
        **_COMMON,
    ),
    ModelSpec(
        name="unem_dirichlet",
        config={"variant": "dirichlet"},
        hub_repo="zoo-models/unem_dirichlet",
        description="UNEM-Dirichlet: 10 unrolled EM layers over vision-language class probabilities with Dirichlet likelihoods.",
        **_COMMON,
    ),
)
