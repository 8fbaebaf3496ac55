"""The All-CNN testbeds' card prose: ``zoo unlearn`` usage, the measured unlearning tables and the paper's claims."""

from __future__ import annotations

from typing import Any

from zoo.models.convnets.specs import (
    BLINDSPOT_LABEL,
    CLASSIFICATION_FORGETS,
    CLASSIFICATION_METHODS,
    FIGURE_NAME,
    FINETUNE_LABEL,
    GAUSSIAN_LABEL,
    REGRESSION_FORGET,
    REGRESSION_METHODS,
    SSD_LABEL,
    UnlearningRecord,
)
from zoo.registry import ModelSpec
from zoo.unlearning.report import results_table

TARGETS = {
    "regression": "the digit value 0-9 as a regression target (the only ordinal label real images bundled offline carry, "
    "a bounded integer range like AgeDB's ages)",
    "classification": "the digit class",
}
METRIC_NOTES = {
    "regression": "Forget-range test L1 = L1 on test digits 0-2; retain-range = on digits 3-9 (the paper's retain/forget test "
    "error). MIA member rate = share of forget samples an RBF-SVC on per-sample L1 loss judges members (trained on 1,000 "
    "training vs the 1,000 test samples, balanced as the official 2,000 vs 2,000). AIN = Adam steps (lr 0.01, batch 256, "
    "at most 10 epochs) until the forget-cohort validation L1 returns to 1.05x the original's, divided by the retrained "
    "model's steps.",
    "classification": "MIA-efficacy = share of forget samples an RBF-SVC on the confidence p_y (or the entropy) judges "
    "non-members; loss-MIA member rate = share an RBF-SVC on the per-sample loss judges members (shadow members: 1,000 "
    "retain samples, non-members: the 1,000 test samples). Test accuracy is on the classes kept; forgotten-class test acc. "
    "on the forgotten class. Avg. gap = mean |difference to retrain| over forget, retain, test accuracy and MIA-efficacy "
    "(SalUn).",
}
DEVIATIONS = """## Deviations from the official code
- Data: real MNIST digits at 28x28, grey, without augmentation, instead of AgeDB faces at 32x32 with crops and flips
  (no face-age dataset is bundled offline); All-CNN at a quarter of the filters (24/48), global average pooling in place
  of the 8x8 pool (the same at 32x32); original and retrained models 30 epochs instead of 100.
- The membership attack computes losses without augmentation (the official notebook's train-split losses are augmented).
- Fisher forgetting's alpha is user-set in the official code; 1e-6 here.
"""


def card_notes(spec: ModelSpec, config: Any, record: UnlearningRecord | None) -> str:
    """Markdown for the card of an All-CNN / ResNet-18 testbed.

    Args:
        spec: the model's spec.
        config: its ``ConvNetConfig`` (``task`` chooses the regression or the classification protocol).
        record: the measured record (None: no shipped checkpoint, so no unlearning results).

    Returns:
        The ``zoo unlearn`` usage; with a record, the unlearning tables, the paper's claims and the deviations.
    """
    usage = _usage(spec.name, config.task)
    if record is None:
        return usage + "\n\nNo unlearning results are measured for this variant: no checkpoint of it is shipped."
    return f"{usage}\n\n{_results(config.task, record)}\n\n{DEVIATIONS}"


def _usage(name: str, task: str) -> str:
    forget, method = (REGRESSION_FORGET, "blindspot") if task == "regression" else ("class:0", "ssd")
    return f"""## Unlearning with `zoo unlearn`
```bash
zoo unlearn blindspot --model {name} --forget {forget} --evaluate -o outputs/unlearned
```
```python
import zoo
from zoo.unlearning import make_split
model = zoo.load("{name}")
unlearned = zoo.unlearn(model, "{method}", forget=forget_set, retain=retain_set)
```"""


def _ordered(keys, order) -> list[str]:
    """``keys`` in the order of ``order``; keys it does not name follow, sorted."""
    known = [k for k in order if k in keys]
    return known + sorted(set(keys) - set(known))


def _results(task: str, record: UnlearningRecord) -> str:
    forgets = _ordered(record.unlearning, (REGRESSION_FORGET,) if task == "regression" else CLASSIFICATION_FORGETS)
    methods = ("original", "retrain", *(REGRESSION_METHODS if task == "regression" else CLASSIFICATION_METHODS))
    tables = []
    for forget in forgets:
        sizes = record.split_sizes[forget]
        rows = {name: record.unlearning[forget][name] for name in _ordered(record.unlearning[forget], methods)}
        tables.append(f"### Forget `{forget}` ({sizes['forget']} forget / {sizes['retain']} retain training samples, "
                      f"{sizes['test']} test)\n\n" + results_table(rows, task))
    figure = f"\n\n![predictions on the forget samples]({FIGURE_NAME})" if task == "regression" else ""
    sizes = record.split_sizes[forgets[0]]
    epochs = record.retrain_epochs
    return f"""## Unlearning results (measured by `{record.eval_command}`)
Model: this checkpoint, trained on {TARGETS[task]} of {sizes['forget'] + sizes['retain']:,} real MNIST digits ({sizes['val']:,} more held out for validation).
Reference: the same architecture retrained from scratch on the retain set only with the recipe
(Adam {record.retrain_lr}, {epochs} epochs, batch {record.retrain_batch_size}; the plateau scheduler of the recipe never
fires in {epochs} epochs and is left out). Every method starts from this checkpoint; times are wall-clock seconds on
{record.unlearning_device}. Metric directions are in the headers; "near retrain" means the retrained model's value is the target.
{METRIC_NOTES[task]}

{(chr(10) * 2).join(tables)}{figure}

### The paper's claim, in small
{_regression_claims(record) if task == "regression" else _classification_claims(record, forgets)}"""


def _regression_claims(record: UnlearningRecord) -> str:
    """Blindspot against fine-tuning and Gaussian fine-tuning, nearest retrain (the Blindspot paper's claim)."""
    rows = record.unlearning[REGRESSION_FORGET]
    blind, ft, gauss, ret = rows[BLINDSPOT_LABEL], rows[FINETUNE_LABEL], rows[GAUSSIAN_LABEL], rows["retrain"]

    def three(metric: str, fmt: str = ".2f", unit: str = "") -> str:
        return ", ".join(f"{label} {row[metric]:{fmt}}{unit}" for label, row in (("Blindspot", blind), ("fine-tune", ft), ("Gaussian fine-tuning", gauss)))

    lines = [
        f"- W-distance to retrain on the forget samples: {three('w_distance_to_retrain')}.",
        f"- forget-range test L1 (retrain {ret['test_forget_l1']:.2f}): {three('test_forget_l1')}.",
        f"- retain-range test L1, the cost (original {rows['original']['test_retain_l1']:.2f}): {three('test_retain_l1')}.",
        f"- membership (retrain {ret['loss_mia_member_rate']:.1f}%): {three('loss_mia_member_rate', '.1f', '%')}; AIN: {three('ain')} "
        "(the paper reports Blindspot nearest retrain on these too).",
    ]
    share = rows[SSD_LABEL].get("dampened_share")
    if share is not None:
        lines.append(f"- SSD at the official alpha = 10 dampens {100 * share:.2f}% of this regressor's weights"
                     + (": no parameter is 10x more important to the forget cohort than to the whole training set, so its "
                        "row equals the original's." if share == 0 else "."))
    return "\n".join(lines)


def _classification_claims(record: UnlearningRecord, forgets: list[str]) -> str:
    """SSD's speed against retraining (the SSD paper's claim), per forget set."""
    lines, shares = [], []
    for forget in forgets:
        rows = record.unlearning[forget]
        ssd, retrain = rows[SSD_LABEL], rows["retrain"]["seconds"]
        shares.append(ssd.get("dampened_share"))
        dampened = "" if shares[-1] is None else f"; it dampened {100 * shares[-1]:.2f}% of the weights"
        lines.append(f"- `{forget}`: SSD took {ssd['seconds']:.2f} s, retrain {retrain:.1f} s: {retrain / ssd['seconds']:.0f}x faster{dampened}.")
    cost = ("- SSD costs one forward-backward pass over the forget set and one over the training set, about one epoch; "
            f"the ratio grows with the retraining budget ({record.retrain_epochs} epochs here, 100 in the paper recipe).")
    if all(share == 0 for share in shares):  # measured, and nothing dampened
        cost += (" With 10% of the data forgotten, the forget batches make up 10% of the full pass, so no weight can be 10x "
                 "more important to them (alpha = 10 needs a forget share under 10%, as the paper's CIFAR-100 classes): SSD "
                 "at the official setting leaves this model unchanged.")
    return "\n".join(lines + [cost])
