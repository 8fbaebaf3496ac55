"""The digit diffusion models' registered specs and the shipped checkpoints' record: plain data, no torch."""

from dataclasses import dataclass, field

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

GRID_NAME = "samples.png"
"""The card's sample grid, written next to the weights by ``tools/weights/digit_diffusion.py``."""


@dataclass(frozen=True, kw_only=True)
class DigitDiffusionRecord(CheckpointRecord):
    """A shipped digit diffusion model's record: the common fields and the sample evaluation.

    Args:
        per_class: digit -> share (%) of its samples (over every prompt of that digit) the judge labels as that digit.
        per_style: text model: style -> share (%) of its samples the judge labels as that style.
        judge_on_real: head (``digit``, ``style``) -> the judge's accuracy (%) on real test images (what a perfect
            generator would score).
        guidance_sweep: guidance weight -> ``{"classifier_accuracy", "fid", "kid"}`` at the shipped step count.
        sampling: ``seconds_per_image`` (batched), ``seconds_single_image`` (batch of one), the ``steps`` and the
            ``guidance`` they were measured at, and ``threads`` (torch threads).
        judge: the classifier that decides what was generated.
        feature_network: the network of the FID / KID (``zoo.metrics.fid.FeatureNetwork.kind``).
        reduced: what the tiny recipe scales down from ``paper.yaml``, one line each.
        train_cpu_seconds: CPU seconds of the training process (one thread: what it takes on an idle core; the wall
            time ``train_seconds`` is inflated on a shared machine).
        background: text model: how far the samples' backgrounds (their 4x4 corners) are from the nearest real style
            background (chosen without the prompt), and what the judge reads once that cast is removed:
            ``sample_error`` / ``real_error`` (mean absolute difference per channel, in [0, 1], of the samples and of
            the real test images), ``classifier_accuracy`` / ``style_accuracy`` (%, the judge on the samples shifted
            by that difference).
    """

    per_class: dict[str, float]
    per_style: dict[str, float]
    judge_on_real: dict[str, float]
    guidance_sweep: dict[str, dict[str, float]]
    sampling: dict[str, float]
    judge: str
    feature_network: str
    reduced: tuple[str, ...] = field(default_factory=tuple)
    train_cpu_seconds: float = 0.0
    background: dict[str, float] = field(default_factory=dict)


_COMMON = dict(
    task="image-generation",
    paper="Denoising Diffusion Probabilistic Models (Ho et al., NeurIPS 2020) with Classifier-Free Diffusion Guidance (Ho & Salimans, 2022)",
    paper_url="https://arxiv.org/abs/2006.11239",
    official_repo="hojonathanho/diffusion",
    official_license="none",
    pipeline_tag="unconditional-image-generation",
    headline_metric="classifier_accuracy",
    record_type=DigitDiffusionRecord,
    metric_names={"fid": "FID (SmallFeatureNet trained here on MNIST-5k, not Inception)", "kid": "KID (SmallFeatureNet trained here on MNIST-5k, not Inception)",
                  "classifier_accuracy": "share of samples the digit classifier labels as the asked digit (%)"},
)

SPECS = (
    ModelSpec(
        name="digit_ddpm_tiny",
        module="zoo.models.digit_diffusion.module:DigitDDPM",
        hub_repo="zoo-models/digit_ddpm_tiny",
        tags=("diffusion", "ddpm", "ddim", "classifier-free-guidance", "mnist", "generative-unlearning"),
        description="A tiny class-conditional DDPM (diffusers UNet2DModel, 10 digits + a null label for classifier-free guidance) trained here on real MNIST digits: the teacher of SFD and the generator of the generative-unlearning methods.",
        num_params=637_169,
        usage="images = model.predict(7, num_samples=4, steps=25, guidance=2.0, seed=0)  # (4, 1, 28, 28) in [0, 1]",
        **_COMMON,
    ),
    ModelSpec(
        name="digit_text_ddpm_tiny",
        module="zoo.models.digit_diffusion.module:DigitTextDDPM",
        config={"conditioning": "text", "image_channels": 3, "attention": (False, False, True), "text_encoder": "digit_clip_tiny", "max_prompt_tokens": 44, "pooled_text": True},
        hub_repo="zoo-models/digit_text_ddpm_tiny",
        tags=("diffusion", "text-to-image", "ddim", "classifier-free-guidance", "mnist", "concept-erasure"),
        description="A tiny text-to-digit diffusion model (diffusers UNet2DConditionModel cross-attending to the frozen text tower of digit_clip_tiny, as Stable Diffusion keeps CLIP frozen, plus an attention-pooled prompt embedding added to the timestep embedding, as Imagen does) on the stylised digits (a digit in a style, RGB 28x28): the testbed of concept erasure and UnlearnCanvas-style benchmarks, and T2UE's text-to-image model.",
        num_params=1_122_547,
        usage='images = model.predict("a seven in the thick style", num_samples=4, seed=0)  # (4, 3, 28, 28) in [0, 1]',
        **_COMMON,
    ),
)
