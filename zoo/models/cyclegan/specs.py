"""CycleGAN's registered models: the paper's 256 px generator pair and the official 128 px setting. Plain data."""

from zoo.registry import ModelSpec

_COMMON = dict(
    task="image-to-image",
    paper="Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks (Zhu et al., ICCV 2017)",
    paper_url="https://arxiv.org/abs/1703.10593",
    official_repo="junyanz/pytorch-CycleGAN-and-pix2pix",
    official_license="BSD",
    module="zoo.models.cyclegan.module:CycleGAN",
    tags=("image-to-image", "unpaired", "gan", "cyclegan"),
    headline_metric="psnr",
    usage='b = model.predict(a)  # (3, H, W) tensor in [0, 1], (H, W, 3) array, PIL image or path; direction="ba" for B -> A',
)

SPECS = (
    ModelSpec(
        name="cyclegan_resnet9",
        config={},
        hub_repo="zoo-models/cyclegan_resnet9",
        description="The paper's 256 px CycleGAN: two ResNet generators (ngf 64, 9 residual blocks, instance norm; the official `resnet_9blocks`), trained against two 70x70 PatchGANs; official checkpoints load with `official=True`.",
        num_params=22756358,
        **_COMMON,
    ),
    ModelSpec(
        name="cyclegan_resnet6",
        config={"n_blocks": 6},
        hub_repo="zoo-models/cyclegan_resnet6",
        description="CycleGAN at the official 128 px setting: two ResNet generators (ngf 64, 6 residual blocks, instance norm; the official `resnet_6blocks`), trained against two 70x70 PatchGANs; official checkpoints load with `official=True`.",
        num_params=15675398,
        **_COMMON,
    ),
)
