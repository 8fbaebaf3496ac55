"""The digit GAN's registered model and its record: plain data, no torch."""

from dataclasses import dataclass, field

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

TINY = {"latent_dim": 64, "w_dim": 64, "mapping_layers": 4, "width": 16, "d_width": 16}
"""The shipped setting (``recipes/digit_gan_tiny/tiny.yaml``); ``paper.yaml``: z, w 512, 8 mapping layers, width 64."""
SAMPLES_NAME = "samples.png"
HISTOGRAM_NAME = "class_histogram.png"


@dataclass(frozen=True, kw_only=True)
class GANRecord(CheckpointRecord):
    """The shipped GAN's record: the common fields, what the classifier reads in its samples, the evaluation setting.

    Args:
        class_histogram: digit (as a string) -> share of the evaluated samples the classifier reads as it (fraction).
        evaluation: ``samples`` (count), ``classifier`` (the judge's name), ``features`` (the FID / KID feature network,
            named), ``reference`` (the real digits FID / KID compare with).
        ms_per_image: sampling time per image (milliseconds, batches of 512, on ``train_device``).
    """

    class_histogram: dict[str, float] = field(default_factory=dict)
    ms_per_image: float = 0.0
    evaluation: dict[str, str] = field(default_factory=dict)


LIMITATIONS = """- A DCGAN with a mapping network, not StyleGAN2 (no modulated convolutions, noise inputs, path-length
  regulariser or ADA): the official Adapt-then-Unlearn MNIST generator is a StyleGAN2 at 32x32.
- Trained briefly on 4,000 real digits on one CPU thread; its FID / KID use the zoo's digit/style classifier's
  features, so they rank this family's generators only."""

SPECS = (
    ModelSpec(
        name="digit_gan_tiny",
        task="unconditional-image-generation",
        paper="Adapt then Unlearn: Exploring Parameter Space Semantics for Unlearning in Generative Adversarial Networks (Tiwary, Guha, Panda, Prathosh; TMLR)",
        paper_url="https://arxiv.org/abs/2309.14054",
        official_repo="atriguha/Adapt_Unlearn",
        official_license="none",
        module="zoo.models.digit_gan.module:DigitGAN",
        config=dict(TINY),
        hub_repo="zoo-models/digit_gan_tiny",
        license="mit",
        tags=("gan", "dcgan", "mapping-network", "mnist", "machine-unlearning", "unconditional-image-generation"),
        headline_metric="fid",
        description="A small unconditional GAN on real MNIST digits: a DCGAN generator driven by a StyleGAN-like mapping network, "
        "StyleGAN2's losses (non-saturating logistic, R1), generator EMA; the pretrained GAN that Adapt-then-Unlearn unlearns a digit from.",
        num_params=266_273,
        pipeline_tag="unconditional-image-generation",
        usage="images = model.predict(16, seed=0)  # -> (16, 1, 28, 28) digits in [0, 1]; model.generator / model.discriminator for fine-tuning",
        record_type=GANRecord,
        limitations=LIMITATIONS,
        metric_names={"fid": "FID (digit/style classifier features, not Inception)", "kid": "KID (digit/style classifier features, not Inception)"},
    ),
)
