"""SSGMap's registered models: the paper-size generator and the shipped tiny one. Plain data."""

from dataclasses import dataclass, field

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec


@dataclass(frozen=True)
class SSGMapRecord(CheckpointRecord):
    """The shipped SSGMap's record: the common fields and what its ablation runs and map checks measured.

    Args:
        map_stats: per map (SSGMap, cylindrical), mesh -> map -> mesh round-trip error (template units) over the
            held-out faces, the share of pixels on the mesh and the symmetry error of the map positions (pixels).
        row_train_seconds: wall-clock training seconds of each row of the card's table.
        row_steps: generator steps of each row (``train_steps`` is the shipped row's).
        row_d_steps: discriminator steps of each row (one per iteration; the generator steps every ``n_critic``-th).
        lightning_global_steps: Lightning's ``global_step`` of each row (both optimisers' steps together).
        row_workers: how many rows trained at a time (each in its own one-thread process).
        row_discriminator_accuracy: per row, how well its trained discriminator's classification head reads the real
            held-out faces (expression and gender accuracy, age error in years; D is not shipped).
    """

    map_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    row_train_seconds: dict[str, float] = field(default_factory=dict)
    row_steps: dict[str, int] = field(default_factory=dict)
    row_d_steps: dict[str, int] = field(default_factory=dict)
    lightning_global_steps: dict[str, int] = field(default_factory=dict)
    row_workers: int = 1
    row_discriminator_accuracy: dict[str, dict[str, float]] = field(default_factory=dict)


_COMMON = dict(
    task="3d-face-attribute-translation",
    paper="Unpaired Multi-domain Attribute Translation of 3D Facial Shapes with a Square and Symmetric Geometric Map (Fan et al., ICCV 2023)",
    paper_url="https://arxiv.org/abs/2308.13245",
    official_repo="NaughtyZZ/3D_facial_shape_attribute_translation_ssgmap",
    official_license="none",
    module="zoo.models.ssgmap.module:SSGMap",
    tags=("3d", "mesh", "face", "attribute-editing", "unpaired", "gan", "stargan", "geometric-map"),
    headline_metric="vertex_error",
    pipeline_tag="other",
    record_type=SSGMapRecord,
    usage='out = model.predict("face.ply", expression="smile", age=60)  # mesh on the template topology -> translated mesh',
)

TINY = {"map_size": 64, "conv_dim": 8, "repeat_num": 2, "d_conv_dim": 8, "normalisation": "face"}
"""The shipped tiny SSGMap: a 64 x 64 map, generator width 8 with 2 residual blocks, discriminator width 8, each face
normalised per axis by its own centroid and spread before the generator."""

SPECS = (
    ModelSpec(
        name="ssgmap_tiny",
        config=TINY,
        hub_repo="zoo-models/ssgmap_tiny",
        description="A small SSGMap (64 x 64 square symmetric geometric map; StarGAN generator of width 8 with 2 residual blocks, each face normalised by its own centroid and spread) translating the expression, gender and age of procedural 3-D faces; official generators load into `ssgmap` with `official=True`.",
        num_params=69912,
        **_COMMON,
    ),
    ModelSpec(
        name="ssgmap",
        config={},
        hub_repo="zoo-models/ssgmap",
        description="The paper's SSGMap: a 128 x 128 square symmetric geometric map and StarGAN's generator (width 64, 6 residual blocks, 8,493,248 parameters) against the hierarchical PatchGAN (44,931,648); the official `g_model.pth` loads with `official=True` (with its `grid.hdf5`).",
        num_params=8493248,
        **_COMMON,
    ),
)
