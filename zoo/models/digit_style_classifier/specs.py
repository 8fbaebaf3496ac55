"""The digit/style classifier's registered model and its record: plain data, no torch."""

from dataclasses import dataclass, field

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

TINY = {"num_digits": 10, "num_styles": 6, "width": 32}
"""The shipped setting (``recipes/digit_style_classifier_tiny/tiny.yaml``): 6 styles, width 32, 3 epochs."""


@dataclass(frozen=True, kw_only=True)
class ClassifierRecord(CheckpointRecord):
    """The shipped classifier's record: the common fields and the held-out accuracies by style.

    Args:
        per_style: style name -> ``{"digit_accuracy", "style_accuracy"}`` (fractions) on the 1,000 test digits in it.
        confusion: true style -> predicted style -> share of the test items of the true style (fractions).
        grey_baseline: ``"digit_accuracy"`` / ``"digit_accuracy_<style>"`` -> the digit accuracy (%) on the same items of
            :data:`GREY_BASELINE`, a digit classifier trained on plain grey digits only (it has no style head, so it is
            not a row of the metrics table).
    """

    per_style: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion: dict[str, dict[str, float]] = field(default_factory=dict)
    grey_baseline: dict[str, float] = field(default_factory=dict)


GREY_BASELINE = "allcnn_mnist_classifier (trained on plain grey digits only, fed the channel mean)"

LIMITATIONS = """- Trained on six programmatic styles of real MNIST digits: it knows nothing of other styles or of natural images,
  and a generator's failure modes (blur, broken strokes) are outside its training data; it is a judge for this
  family's 28x28 generators, not a general digit recogniser.
- Its FID / KID features are not Inception's: figures measured with them rank models of this family only."""

SPECS = (
    ModelSpec(
        name="digit_style_classifier_tiny",
        task="image-classification",
        paper="UnlearnCanvas: Stylized Image Dataset for Enhanced Machine Unlearning Evaluation in Diffusion Models (Zhang et al., NeurIPS 2024 D&B)",
        paper_url="https://arxiv.org/abs/2402.11846",
        official_repo="OPTML-Group/UnlearnCanvas",
        official_license="none",
        module="zoo.models.digit_style_classifier.module:DigitStyleClassifier",
        config=dict(TINY),
        hub_repo="zoo-models/digit_style_classifier_tiny",
        license="mit",
        tags=("machine-unlearning", "image-classification", "unlearncanvas", "evaluation"),
        headline_metric="digit_accuracy",
        description="A small CNN with a digit head and a style head, trained on the UnlearnCanvas-style stylised MNIST digits: "
        "the judge of the generative-unlearning family (what was generated) and its FID / KID feature network.",
        num_params=141_808,
        pipeline_tag="image-classification",
        usage='out = model.predict(images)  # (N, 3 or 1, 28, 28) in [0, 1] -> {"digit": (N, 10) probs, "style": (N, 6) probs}',
        record_type=ClassifierRecord,
        limitations=LIMITATIONS,
    ),
)
