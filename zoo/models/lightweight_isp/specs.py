"""The Learned Lightweight Smartphone ISP's registered models (Arhire & Timofte, CVPRW 2025): plain data, no torch."""

from zoo.registry import ModelSpec

_COMMON = dict(
    task="raw-to-rgb",
    paper="Learned Lightweight Smartphone ISP with Unpaired Data (Arhire & Timofte, CVPRW 2025)",
    paper_url="https://arxiv.org/abs/2505.10420",
    official_repo="AndreiiArhire/Learned-Lightweight-Smartphone-ISP-with-Unpaired-Data",
    official_license="none",
    module="zoo.models.lightweight_isp.module:LightweightISP",
    pipeline="zoo.models.lightweight_isp.pipeline:ISPPipeline",
    tags=("image-to-image", "isp", "raw-to-rgb", "unpaired", "gan"),
    headline_metric="psnr",
    usage='rgb = model.predict("raw.png")  # 16-bit RGGB Bayer PNG -> PIL image; also arrays and tensors',
)

VARIANTS = (
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

SPECS = tuple(
    ModelSpec(
        name=f"lightweight_isp_{suffix}",
        config=config,
        hub_repo=f"zoo-models/lightweight_isp_{suffix}",
        num_params=num_params,
        description=description,
        **_COMMON,
    )
    for suffix, config, num_params, description in VARIANTS
)
