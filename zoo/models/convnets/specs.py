"""The unlearning papers' convnet testbeds (All-CNN, ResNet-18): plain data, no torch.

Deep Regression Unlearning (Blindspot; Tarun et al., ICML 2023) and Model Sparsity Can Simplify Machine Unlearning
(Unlearn-Sparse; Jia et al., NeurIPS 2023) train these networks and unlearn from them; ``zoo.unlearning`` holds the
methods.
"""

from dataclasses import dataclass

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

FIGURE_NAME = "unlearning.png"
"""The regressor card's figure: predictions on the forget samples, per model."""

BLINDSPOT_LABEL, FINETUNE_LABEL, GAUSSIAN_LABEL = "**Blindspot** (1 ep; proxy 2 ep)", "fine-tune (Adam 1e-3, 5 ep)", "Gaussian fine-tuning (1 ep)"
SSD_LABEL = "SSD (α 10, λ 1)"
"""Row labels the card's claims and the regressor's figure single out."""

REGRESSION_FORGET = "range:0:2"
REGRESSION_METHODS = {
    FINETUNE_LABEL: {"method": "finetune", "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "epochs": 5},
    GAUSSIAN_LABEL: {"method": "gaussian_finetune"},
    BLINDSPOT_LABEL: {"method": "blindspot"},
    "gradient ascent (SGD 1e-4, 5 ep)": {"method": "gradient_ascent"},
    "random labels (SGD 0.01, 5 ep)": {"method": "random_labels", "epochs": 5},
    "l1-sparse (SGD 0.01, 10 ep, γ 5e-4)": {"method": "l1_sparse"},
    "Fisher forgetting (α 1e-6)": {"method": "fisher"},
    SSD_LABEL: {"method": "ssd"},
    "LFSSD (label-free)": {"method": "lfssd"},
}
"""The regressor's unlearning table: row label -> ``{"method": registered name, **hyper-parameters}``, in card order."""

CLASSIFICATION_FORGETS = ("random:0.1", "class:0")
CLASSIFICATION_METHODS = {
    "FT (SGD 0.01, 10 ep)": {"method": "finetune"},
    "GA (SGD 1e-4, 5 ep)": {"method": "gradient_ascent"},
    "RL (SGD 0.01, 5 ep)": {"method": "random_labels", "epochs": 5},
    "l1-sparse (SGD 0.01, 10 ep, γ 5e-4)": {"method": "l1_sparse"},
    SSD_LABEL: {"method": "ssd"},
    "LFSSD (label-free)": {"method": "lfssd"},
    "Fisher forgetting (α 1e-6)": {"method": "fisher"},
}
"""The classifier's unlearning tables (one per forget set of ``CLASSIFICATION_FORGETS``), in card order."""


@dataclass(frozen=True, kw_only=True)
class UnlearningRecord(CheckpointRecord):
    """A shipped testbed's record: the common fields and its unlearning tables.

    Args:
        unlearning: forget set (``ForgetSpec`` text) -> row (``"original"``, ``"retrain"``, a method label) -> metric
            -> value, as ``zoo.unlearning.compare_methods`` returns it (``seconds``: wall-clock on
            ``unlearning_device``; the SSD row adds ``dampened_share``, the fraction of weights it dampened).
        split_sizes: forget set -> ``{"forget", "retain", "val", "test"}`` -> samples of its split (count).
        retrain_lr: Adam learning rate of the retrained reference.
        retrain_epochs: epochs of the retrained reference.
        retrain_batch_size: batch size of the retrained reference.
        unlearning_device: what ran the methods and the retraining (``tools/weights/common.py: device_name``).
    """

    unlearning: dict[str, dict[str, dict[str, float]]]
    split_sizes: dict[str, dict[str, int]]
    retrain_lr: float
    retrain_epochs: int
    retrain_batch_size: int
    unlearning_device: str

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
