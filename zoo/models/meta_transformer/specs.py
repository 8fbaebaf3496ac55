"""Meta-Transformer's registered models (Zhang et al., 2023) and the shipped tiny model's modalities: plain data."""

from dataclasses import dataclass

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

SCRATCH_BASELINE = "same size, from scratch, one modality"
"""The baseline of the shipped checkpoint's record: per modality, the same architecture trained on it alone."""


@dataclass(frozen=True, kw_only=True)
class MetaTransformerRecord(CheckpointRecord):
    """The shipped Meta-Transformer's record: the common fields, the encoder's pretraining and trained parameters.

    Args:
        pretrain_seconds: wall-clock seconds of the encoder's pretraining (included in ``train_seconds``).
        trained_params: modality -> trainable parameters of its tokenizer and head in this checkpoint (count).
        scratch_params: modality -> parameters of its from-scratch baseline, encoder included (count).
    """

    pretrain_seconds: float
    trained_params: dict[str, int]
    scratch_params: dict[str, int]


# The shipped Meta-Transformer's modalities: data in zoo/data/modalities.py.
TINY_MODALITIES = {
    "image": {"head": "classification", "outputs": 10, "tokenizer": {"in_channels": 1, "patch_size": 2, "image_size": 8}},
    "tabular": {"head": "regression", "outputs": 1, "tokenizer": {"columns": 10}},
    "time_series": {"head": "forecasting", "length": 48, "horizon": 12, "channels": 1, "tokenizer": {"channels": 1}},
    "imu": {"head": "classification", "outputs": 4, "tokenizer": {"channels": 6}},
    "point_cloud": {"head": "classification", "outputs": 5, "tokenizer": {"groups": 32, "group_size": 16}},
    "graph": {"head": "classification", "outputs": 4, "tokenizer": {"node_features": 1, "max_edges": 64, "eigenvectors": 8}},
    "audio": {"head": "classification", "outputs": 5, "tokenizer": {"n_fft": 126, "hop": 64, "patch_size": 16, "stride": 8, "frames": 63}},
}

_COMMON = dict(
    task="multimodal",
    paper="Meta-Transformer: A Unified Framework for Multimodal Learning (Zhang et al., 2023)",
    paper_url="https://arxiv.org/abs/2307.10802",
    official_repo="invictus717/MetaTransformer",
    official_license="Apache-2.0",
    module="zoo.models.meta_transformer.module:MetaTransformer",
    tags=("multimodal", "frozen-encoder", "vision-transformer"),
    pipeline_tag="feature-extraction",
    record_type=MetaTransformerRecord,
    usage='out = model.predict(points, modality="point_cloud")  # also image, tabular, time_series, imu, graph, audio',
)

SPECS = (
    ModelSpec(
        name="meta_transformer_tiny",
        config={"dim": 64, "depth": 4, "num_heads": 4, "modalities": TINY_MODALITIES},
        hub_repo="zoo-models/meta_transformer_tiny",
        headline_metric="image_accuracy",
        description="A 4-block, width-64 encoder pretrained on real MNIST digits and frozen, shared by tokenizers and heads of seven modalities.",
        num_params=290089,
        **_COMMON,
    ),
    ModelSpec(
        name="meta_transformer_b16",
        config={"dim": 768, "depth": 12, "num_heads": 12},
        hub_repo="zoo-models/meta_transformer_b16",
        description="The paper's B/16 encoder (the OpenCLIP LAION-2B ViT-B/16 trunk, 85M parameters) with an image tokenizer and head; load the official encoder file with `official=True`.",
        num_params=86566888,
        **_COMMON,
    ),
    ModelSpec(
        name="meta_transformer_l14",
        config={"dim": 1024, "depth": 24, "num_heads": 16, "modalities": {"image": {"head": "classification", "outputs": 1000, "tokenizer": {"patch_size": 14}}}},
        hub_repo="zoo-models/meta_transformer_l14",
        description="The paper's L/14 encoder (the OpenCLIP LAION-2B ViT-L/14 trunk, 302M parameters) with an image tokenizer and head; load the official encoder file with `official=True`.",
        num_params=304202728,
        **_COMMON,
    ),
)
