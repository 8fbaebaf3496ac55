"""The digit/style classifier's card prose: what it judges, its accuracy by style, its role as the FID feature network."""

from __future__ import annotations

from typing import Any

from zoo.models.digit_style_classifier.specs import GREY_BASELINE, ClassifierRecord
from zoo.registry import ModelSpec

FIGURE_NAME = "styles.png"

USAGE = """## Use
```python
import zoo
judge = zoo.load("{name}")
out = judge.predict(images)        # (N, 3, 28, 28) RGB or (N, 1, 28, 28) grey in [0, 1]
out["digit"], out["style"]         # (N, 10) and (N, 6) probabilities; styles: zoo.data.stylized_digits.STYLES
feats = judge.features(images)     # (N, {features}) pooled features
from zoo.metrics.fid import fid_kid
fid_kid(real, fake, judge.feature_network())   # FID / KID with these features (RGB batches)
```"""

ROLE = """## Role
UnlearnCanvas (Zhang et al., NeurIPS 2024 D&B) measures unlearning in generators with two classifiers, one per domain
(the styles, the objects): unlearning accuracy (UA, 1 - the style classifier's accuracy on images prompted with the
erased style), in-domain retainability (IRA, its accuracy on the other styles) and cross-domain retainability (CRA,
the object classifier's accuracy). This model plays both classifiers for the zoo's 28x28 generators: the digits are
the objects and the styles are the six programmatic styles of `zoo.data.stylized_digits` (plain, thick, thin,
slanted, striped, sunset). The official judges are two ViT-Large/16 (timm `vit_large_patch16_224`, ImageNet-21k,
fine-tuned on 512-px paintings); here one small CNN with two heads on a shared trunk (five 3x3 conv blocks, width
{width}, global average pooling), whose pooled features are also the family's FID / KID features (named with
every figure measured with them: not Inception, not comparable with published FID / KID)."""


def card_notes(spec: ModelSpec, config: Any, record: ClassifierRecord | None) -> str:
    """Markdown for the classifier's card.

    Args:
        spec: the model's spec.
        config: its ``DigitStyleClassifierConfig``.
        record: the measured record (None: no shipped checkpoint).

    Returns:
        Usage and role; with a record, the accuracy by style, the style confusion and the baseline.
    """
    parts = [USAGE.format(name=spec.name, features=4 * config.width), ROLE.format(width=config.width)]
    if record is not None:
        parts.append(_results(record))
    return "\n\n".join(parts)


def _results(record: ClassifierRecord) -> str:
    styles = list(record.per_style)
    baseline = record.grey_baseline
    baseline_name = GREY_BASELINE
    rows = ["| style | digit accuracy (%) | style accuracy (%) | baseline digit accuracy (%) |", "|---|---|---|---|"]
    for name, values in record.per_style.items():
        rows.append(f"| {name} | {values['digit_accuracy']:.1f} | {values['style_accuracy']:.1f} | {baseline.get(f'digit_accuracy_{name}', float('nan')):.1f} |")
    confusion = ["| true \\ read | " + " | ".join(styles) + " |", "|---" * (len(styles) + 1) + "|"]
    for name in styles:
        confusion.append(f"| {name} | " + " | ".join(f"{100 * record.confusion[name][o]:.1f}" for o in styles) + " |")
    worst = min(styles, key=lambda s: record.per_style[s]["style_accuracy"])
    return f"""## Accuracy by style (measured by `{record.eval_command}`)
{record.eval_dataset.num_samples:,} held-out items: the 1,000 test digits in each style. Overall: digits
{record.metrics['digit_accuracy']:.1f}%, styles {record.metrics['style_accuracy']:.1f}%; plain grey (N, 1, 28, 28) digits
{record.metrics['grey_digit_accuracy']:.1f}%. Baseline: {baseline_name}, {baseline['digit_accuracy']:.1f}% on the digits over
all styles: a judge that never saw the styles misreads the styled digits, hence this one.

{chr(10).join(rows)}

Style confusion (% of each true style's test items read as each style); the hardest style to name is `{worst}`:

{chr(10).join(confusion)}

![test digits in each style with the classifier's reading]({FIGURE_NAME})

Trained {record.train_steps} steps in {record.train_seconds or 0:.0f} s on {record.train_device} (`{record.recipe}`: Adam
with a cosine schedule, 3 epochs, no augmentation, so that a resumed run repeats an uninterrupted one exactly)."""
