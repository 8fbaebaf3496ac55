"""The unlearning papers' convnet testbeds (All-CNN, ResNet-18): plain data, no torch.

Deep Regression Unlearning (Blindspot; Tarun et al., ICML 2023) and Model Sparsity Can Simplify Machine Unlearning
(Unlearn-Sparse; Jia et al., NeurIPS 2023) train these networks and unlearn from them; ``zoo.unlearning`` holds the
methods.
"""

from dataclasses import dataclass, field

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

FIGURE_NAME = "unlearning.png"
"""The regressor card's figure: predictions on the forget samples, per model."""

BLINDSPOT_LABEL, FINETUNE_LABEL, GAUSSIAN_LABEL = "**Blindspot** (1 ep; proxy 2 ep)", "fine-tune (Adam 1e-3, 5 ep)", "Gaussian fine-tuning (1 ep)"
SSD_LABEL = "SSD (α 10, λ 1)"
SSD_TUNED_LABEL, LFSSD_TUNED_LABEL = "SSD (α tuned on validation)", "LFSSD (α tuned on validation)"
"""Row labels the card's claims and the regressor's figure single out (the tuned rows' alpha is in their ``alpha``)."""
SSD_ROWS = {SSD_LABEL: "ssd", "LFSSD (label-free)": "lfssd", SSD_TUNED_LABEL: "ssd", LFSSD_TUNED_LABEL: "lfssd"}
"""The SSD rows, whose ``dampened_percent`` make_weights measures (share of the weights they changed)."""

REGRESSION_FORGET = "range:0:2"
REGRESSION_METHODS = {
    FINETUNE_LABEL: {"method": "finetune", "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "epochs": 5},
    GAUSSIAN_LABEL: {"method": "gaussian_finetune"},
    BLINDSPOT_LABEL: {"method": "blindspot"},
    "gradient ascent (SGD 1e-4, 5 ep)": {"method": "gradient_ascent"},
    "random labels (SGD 0.01, 5 ep)": {"method": "random_labels", "epochs": 5},
    "l1-sparse (SGD 0.01, 10 ep, γ 5e-4)": {"method": "l1_sparse"},
    "Fisher forgetting (α 3e-6)": {"method": "fisher"},
    SSD_LABEL: {"method": "ssd"},
    "LFSSD (label-free)": {"method": "lfssd"},
    "ACU (analytic head, width 2048, γ 1)": {"method": "acu"},
    "IAU (GR fine-tune 1 ep, one step)": {"method": "iau", "gr_epochs": 1},
}
"""The regressor's unlearning table: row label -> ``{"method": registered name, **hyper-parameters}``, in card order."""

CLASSIFICATION_FORGETS = ("random:0.1", "class:0")
FT_LABEL, RL_LABEL, L1_LABEL = "FT (SGD 0.01, 5 ep)", "RL (SGD 0.01, 5 ep)", "l1-sparse (SGD 0.01, 5 ep, γ 5e-4)"
PRUNE_FT_LABEL = "OMP 95% sparse, then FT (SGD 0.01, 5 ep)"
CLASSIFICATION_METHODS = {
    FT_LABEL: {"method": "finetune", "epochs": 5},
    "GA (SGD 1e-4, 5 ep)": {"method": "gradient_ascent"},
    RL_LABEL: {"method": "random_labels", "epochs": 5},
    L1_LABEL: {"method": "l1_sparse", "epochs": 5},
    SSD_LABEL: {"method": "ssd"},
    "LFSSD (label-free)": {"method": "lfssd"},
    "Fisher forgetting (α 3e-6)": {"method": "fisher"},
    PRUNE_FT_LABEL: {"method": "prune_first", "sparsity": 0.95, "schedule": "omp", "train_epochs": 5,
                     "then": "finetune", "then_hparams": {"epochs": 5, "progress": False}},
    "ACU (analytic head, width 2048, γ 1)": {"method": "acu"},
    "IAU (GR fine-tune 1 ep, one step)": {"method": "iau", "gr_epochs": 1},
}
"""The classifier's unlearning tables (one per forget set of ``CLASSIFICATION_FORGETS``), in card order. FT, RL and
l1-sparse run 5 epochs instead of the official 10 (the shared CPU's budget); prune-first retrains the pruned model 5
epochs instead of the official full schedule."""

L1_SWEEP_FORGET = "class:0"
L1_SWEEP = {f"l1-sparse (SGD 0.01, 5 ep, γ {g})": {"method": "l1_sparse", "epochs": 5, "gamma": float(g)} for g in ("5e-3", "2e-2")}
"""Extra l1-sparse rows on ``L1_SWEEP_FORGET``: the gamma sweep against FT."""

WORST_CASE_FORGET = "random:0.1"
WORST_CASE_METHODS = {"FT": FT_LABEL, "RL": RL_LABEL}
"""Worst-case forget sets (Fan et al.) of the size of ``WORST_CASE_FORGET``'s, selected for and unlearnt by these rows."""

LOOP_DIGITS = (0, 6, 8, 9)
"""The representation probe's downstream task: does the digit have a closed loop (semantically next to a forgotten 0)."""


@dataclass(frozen=True, kw_only=True)
class UnlearningRecord(CheckpointRecord):
    """A shipped testbed's record: the common fields and its unlearning tables.

    Args:
        unlearning: forget set (``ForgetSpec`` text) -> row (``"original"``, ``"retrain"``, a method label) -> metric
            -> value, as ``zoo.unlearning.compare_methods`` returns it (``seconds``: wall-clock on
            ``unlearning_device``; the SSD rows add ``dampened_percent``, the share of weights they changed, and
            the tuned ones their ``alpha``).
        split_sizes: forget set -> ``{"forget", "retain", "val", "test"}`` -> samples of its split (count).
        retrain_lr: Adam learning rate of the retrained reference.
        retrain_epochs: epochs of the retrained reference.
        retrain_batch_size: batch size of the retrained reference.
        unlearning_device: what ran the methods and the retraining (``tools/weights/common.py: device_name``).
        ssd_alpha_scores: forget set -> tuned SSD row -> alpha -> its validation score (``tune_alpha``).
        worst_case: row (``"<method> on the worst-case set"``) -> metric -> value (no retrain reference: the
            forget-set metrics of the method on its worst-case set of ``WORST_CASE_FORGET``'s size).
    """

    unlearning: dict[str, dict[str, dict[str, float]]]
    split_sizes: dict[str, dict[str, int]]
    retrain_lr: float
    retrain_epochs: int
    retrain_batch_size: int
    unlearning_device: str
    ssd_alpha_scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    worst_case: dict[str, dict[str, float]] = field(default_factory=dict)

_COMMON = dict(
    module="zoo.models.convnets.module:ConvNetModule",
    pipeline_tag="image-classification",
    license="mit",
    record_type=UnlearningRecord,
)

_BLINDSPOT = dict(
    task="regression",
    paper="Deep Regression Unlearning (Tarun et al., ICML 2023)",
    paper_url="https://arxiv.org/abs/2210.08196",
    official_repo="ayu987/deep-regression-unlearning",
    official_license="MIT",
    tags=("machine-unlearning", "regression", "blindspot"),
    headline_metric="test_l1",
)

SPECS = (
    ModelSpec(
        name="allcnn_mnist_regressor",
        config={"task": "regression", "in_channels": 1, "image_size": 28, "filters_percentage": 0.25},
        hub_repo="zoo-models/allcnn_mnist_regressor",
        description="All-CNN (24/48 filters) regressing the digit value of real MNIST images: the testbed of `zoo unlearn` for regression, with the Blindspot paper's label-range forgetting measured in this card.",
        num_params=101737,
        usage="value = model.predict(image)  # 28x28 grey digit -> its value as a float",
        **_BLINDSPOT,
        **_COMMON,
    ),
    ModelSpec(
        name="allcnn_mnist_classifier",
        task="classification",
        paper="Model Sparsity Can Simplify Machine Unlearning (Jia et al., NeurIPS 2023)",
        paper_url="https://arxiv.org/abs/2304.04934",
        official_repo="OPTML-Group/Unlearn-Sparse",
        official_license="MIT",
        config={"task": "classification", "in_channels": 1, "image_size": 28, "filters_percentage": 0.25},
        hub_repo="zoo-models/allcnn_mnist_classifier",
        tags=("machine-unlearning", "image-classification"),
        headline_metric="test_accuracy",
        description="All-CNN (24/48 filters) classifying real MNIST digits: the testbed of `zoo unlearn` for classification, with random and whole-class forgetting measured in this card.",
        num_params=102178,
        usage='out = model.predict(image)  # 28x28 grey digit -> {"label": int, "probabilities": (10,)}',
        **_COMMON,
    ),
    ModelSpec(
        name="allcnn_agedb_regressor",
        config={"arch": "allcnn", "task": "regression", "in_channels": 3, "image_size": 32},
        hub_repo="zoo-models/allcnn_agedb_regressor",
        description="The paper's All-CNN age regressor (96/192 filters, 32x32 RGB faces); official checkpoints load with `official=True`.",
        num_params=1618273,
        usage="value = model.predict(image)  # RGB 32x32 face -> age",
        **_BLINDSPOT,
        **_COMMON,
    ),
    ModelSpec(
        name="resnet18_agedb_regressor",
        config={"arch": "resnet18", "task": "regression", "in_channels": 3, "image_size": 32},
        hub_repo="zoo-models/resnet18_agedb_regressor",
        description="The paper's ResNet-18 age regressor (torchvision ResNet-18, Linear(512, 1) head); official checkpoints load with `official=True`.",
        num_params=11177025,
        usage="value = model.predict(image)  # RGB 32x32 face -> age",
        **_BLINDSPOT,
        **_COMMON,
    ),
)
