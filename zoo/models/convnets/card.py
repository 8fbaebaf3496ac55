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
    LFSSD_TUNED_LABEL,
    SSD_LABEL,
    SSD_TUNED_LABEL,
    UnlearningRecord,
)
from zoo.registry import ModelSpec
from zoo.unlearning.report import representation_table, results_table

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
LAYERS = tuple(f"conv{i}" for i in range(1, 9))
REPRESENTATION_NOTE = (
    "Linear CKA of each conv block's activations on 300 forget samples, to the original and to the retrained model; "
    "k-NN (k = 10) over the penultimate features of the 400 validation digits (all classes, never trained on) labels "
    "300 forget / 300 retain samples; the probe is a logistic regression on the same features, trained on the validation "
    "digits for a downstream task next to the forgotten 0, *the digit has a closed loop* (0, 6, 8, 9), and tested on the "
    "1,000 test digits (`zoo.unlearning.representation`).")
ULIRA = ("U-LiRA, the per-example likelihood-ratio attack with shadow models on random halves, is measured on MLP heads "
         "over this checkpoint's frozen conv1-conv6 features (a full All-CNN per shadow would be tens of 30-epoch retrains): "
         "[docs/unlearning/ulira.md](../../docs/unlearning/ulira.md), embedded under \"Further evaluations\" with the "
         "S3T, corrective, DMM and LAF pages.")
DEVIATIONS = """## Deviations from the official code
- Data: real MNIST digits at 28x28, grey, without augmentation, instead of AgeDB faces at 32x32 with crops and flips
  (no face-age dataset is bundled offline); All-CNN at a quarter of the filters (24/48), global average pooling in place
  of the 8x8 pool (the same at 32x32); original and retrained models 30 epochs instead of 100.
- The membership attack computes losses without augmentation (the official notebook's train-split losses are augmented).
- Classifier rows at reduced epochs (the shared CPU's budget): FT, RL and l1-sparse 5 epochs (official 10); the
  prune-first row retrains the pruned model 5 epochs on the training set and fine-tunes 5; IAU's gradient-restriction
  training is a 1-epoch fine-tune of this checkpoint instead of training from scratch with it.
- Prune-first keeps the trained weights as the rewind point (the official `--prune_type pt`): the checkpoint does not
  carry the epoch-8 weights of its run.
- ACU: no official code; the update rules are the paper's recursive least squares. The backbone is this checkpoint's,
  which saw the forget set: only the head is unlearnt exactly.
- Fisher forgetting's alpha is user-set in Unlearn-Sparse (its shared `--alpha` defaults to 0.2, noise that destroys a
  model this small); 3e-6 here, the value of Golatkar et al.'s own notebook.
"""

MEASURED_BEFORE_THE_FIXES = "Fisher forgetting (α 1e-6)"
"""A row that only tables measured before issue 20's fixes have (Fisher's default alpha is 3e-6 since)."""
STALE_TABLES = """## These tables predate the fixes of the code that ships
They were measured by the previous release of `tools/make_weights.py`. Since then: random labels (RL) makes one pass
over the forget set with labels drawn from all classes (the true one allowed), then one pass over the retain set, as
Unlearn-Sparse's CIFAR-10 branch (before: the forget set cycled 6-9 times an epoch, never its true class); the SVC
MIA's non-members leave out the forgotten class's test samples (the `class:0` original row's entropy MIA of 100 was an
artefact of that); Fisher forgetting's default alpha is 3e-6 (Golatkar et al.'s notebook; 1e-6 in these rows); the
anamnesis index steps, then checks. Prune-first, ACU, IAU, the representation columns, the tuned-alpha SSD rows, the
l1-sparse gamma sweep and the worst-case sets are implemented and tested but not yet in these tables: rerun
`python tools/make_weights.py {name}` to refresh them."""
LEGACY_DEVIATIONS = """## Deviations from the official code
- Data: real MNIST digits at 28x28, grey, without augmentation, instead of AgeDB faces at 32x32 with crops and flips
  (no face-age dataset is bundled offline); All-CNN at a quarter of the filters (24/48), global average pooling in place
  of the 8x8 pool (the same at 32x32); original and retrained models 30 epochs instead of 100.
- The membership attack computes losses without augmentation (the official notebook's train-split losses are augmented).
- Fisher forgetting's alpha is user-set in the official code; 1e-6 in these rows.
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
    if any(MEASURED_BEFORE_THE_FIXES in rows for rows in record.unlearning.values()):
        stale = STALE_TABLES.format(name=spec.name)
        return f"{usage}\n\n{stale}\n\n{_results(config.task, record)}\n\n{LEGACY_DEVIATIONS}"
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
        if any("cka_original" in r for r in rows.values()):
            tables.append(f"#### Representations, forget `{forget}`\n{REPRESENTATION_NOTE}\n\n" + representation_table(rows, LAYERS))
    figure = f"\n\n![predictions on the forget samples]({FIGURE_NAME})" if task == "regression" else _worst_case_table(record)
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
    return "\n".join(lines + [_ssd_claims(record, [REGRESSION_FORGET])])


TUNING = ("α is chosen from {grid} on the validation samples (never trained on), after one pair of importance passes: "
          "with a forgotten cohort (class or range) the α that best separates the cohort's validation samples from the rest "
          "(accuracy of the rest minus accuracy of the cohort; L1 of the cohort minus L1 of the rest), for random forgetting "
          "the α that best keeps validation accuracy while bringing the forget samples to the validation level "
          "(val acc. − |forget acc. − val acc.|); ties go to the larger α (`zoo.unlearning.methods.ssd.tune_alpha`).")


def _ssd_claims(record: UnlearningRecord, forgets: list[str]) -> str:
    """What SSD changed at the official alpha and at the tuned one, and its speed only where it changed something."""
    from zoo.unlearning.methods.ssd import ALPHA_GRID

    lines = []
    for forget in forgets:
        rows = record.unlearning[forget]
        official, retrain = rows[SSD_LABEL], rows["retrain"]
        share = official.get("dampened_percent", 100 * official["dampened_share"] if "dampened_share" in official else None)
        if share is None:
            continue
        text = f"- `{forget}`: SSD at the official α = 10 changed {share:.2g}% of the weights"
        if share == 0:
            text += (": no weight is 10x more important to the forget set than to the whole training set (with a forget "
                     "share p of the batches, the full importance is at least p times the forget one, so α = 10 selects "
                     "nothing once p ≥ 10%), so the row equals the original's and no speed-up can be claimed")
        else:
            text += f", in {official['seconds']:.2f} s against retrain's {retrain['seconds']:.1f} s ({retrain['seconds'] / official['seconds']:.0f}x faster)"
        for label, untuned in ((SSD_TUNED_LABEL, SSD_LABEL), (LFSSD_TUNED_LABEL, "LFSSD (label-free)")):
            tuned = rows.get(label)
            if tuned is not None:
                text += (f"; {label.split(' (')[0]} at the tuned α = {tuned['alpha']:g} changed {tuned['dampened_percent']:.2g}% "
                         f"(avg. gap to retrain {tuned['average_gap']:.2f}, at α = 10 {rows[untuned]['average_gap']:.2f})")
        lines.append(text + ".")
    tuned = any(SSD_TUNED_LABEL in record.unlearning[forget] for forget in forgets)
    return "\n".join(lines + (["- " + TUNING.format(grid=", ".join(f"{a:g}" for a in ALPHA_GRID))] if tuned else []))


def _classification_claims(record: UnlearningRecord, forgets: list[str]) -> str:
    """SSD against the official alpha and the tuned one (the SSD paper's speed claim where it changed something)."""
    cost = ("- SSD costs one forward-backward pass over the forget set and one over the training set, about one epoch; "
            f"the ratio to retraining grows with its budget ({record.retrain_epochs} epochs here, 100 in the paper recipe).")
    return "\n".join([_ssd_claims(record, forgets), cost, *_extra_classification_claims(record, forgets)])


def _worst_case_table(record: UnlearningRecord) -> str:
    """FT and RL on their worst-case forget sets against the random set of the same size (Fan et al., ECCV 2024)."""
    worst = getattr(record, "worst_case", {})
    if not worst:
        return ""
    from zoo.models.convnets.specs import WORST_CASE_FORGET, WORST_CASE_METHODS

    random_rows = record.unlearning[WORST_CASE_FORGET]
    rows = {}
    for short, label in WORST_CASE_METHODS.items():
        rows[f"{short} on the random set"] = random_rows[label]
        rows[f"{short} on its worst-case set"] = worst[f"{short} on its worst-case set"]
        rows[f"original on {short}'s worst-case set"] = worst[f"original on {short}'s worst-case set"]
    keep = ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy", "mia_efficacy_entropy", "seconds")
    table = results_table({n: {k: v for k, v in r.items() if k in keep} for n, r in rows.items()}, "classification")
    size = record.split_sizes[WORST_CASE_FORGET]["forget"]
    return (f"\n\n### Worst-case forget sets ({size} samples, against `{WORST_CASE_FORGET}`)\n"
            "The bi-level selection of Fan et al. (`zoo.unlearning.worst_case.select_worst_case`: w on the capped simplex, "
            "2 select epochs of 2 sign-SGD unlearning epochs, w_lr 0.01) picks, among the 3,600 training digits, the set the "
            "method forgets worst; each method then unlearns its own set with the row's settings. The worst-case rows have "
            "no retrain reference (it would need one retrain per set); forget accuracy higher and MIA-efficacy lower than "
            "on the random set mean harder to forget. Time of the worst-case rows: the selection and the unlearning.\n\n" + table)


def _extra_classification_claims(record: UnlearningRecord, forgets: list[str]) -> list[str]:
    """Prune-first at 95% against dense FT, the l1 gamma sweep, the methods that change only the last layers, and the
    worst-case sets, each as measured."""
    from zoo.models.convnets.specs import FT_LABEL, L1_LABEL, L1_SWEEP, L1_SWEEP_FORGET, PRUNE_FT_LABEL, WORST_CASE_METHODS

    lines = []
    for forget in forgets:
        rows = record.unlearning[forget]
        if PRUNE_FT_LABEL in rows and FT_LABEL in rows:
            dense, sparse, ret = rows[FT_LABEL], rows[PRUNE_FT_LABEL], rows["retrain"]
            lines.append(f"- Model sparsity (`{forget}`): FT on the 95%-sparse model reaches forget acc. {sparse['forget_accuracy']:.2f}% "
                         f"and MIA-efficacy {sparse['mia_efficacy']:.2f}% (dense FT {dense['forget_accuracy']:.2f}% and "
                         f"{dense['mia_efficacy']:.2f}%; retrain {ret['forget_accuracy']:.2f}% and {ret['mia_efficacy']:.2f}%), "
                         f"avg. gap {sparse['average_gap']:.2f} against {dense['average_gap']:.2f}, test acc. {sparse['test_accuracy']:.2f}% "
                         f"against {dense['test_accuracy']:.2f}%.")
    rows = record.unlearning.get(L1_SWEEP_FORGET, {})
    sweep = [label for label in (L1_LABEL, *L1_SWEEP) if label in rows]
    if FT_LABEL in rows and len(sweep) > 1:
        steps = int(CLASSIFICATION_METHODS[L1_LABEL]["epochs"]) * -(-record.split_sizes[L1_SWEEP_FORGET]["retain"] // 256)
        cells = "; ".join(f"γ {label.split('γ ')[1].rstrip(')')}: forget acc. {rows[label]['forget_accuracy']:.2f}%, MIA-eff. "
                          f"{rows[label]['mia_efficacy']:.2f}%, test acc. {rows[label]['test_accuracy']:.2f}%" for label in sweep)
        lines.append(f"- l1-sparse against FT (`{L1_SWEEP_FORGET}`; FT: forget acc. {rows[FT_LABEL]['forget_accuracy']:.2f}%, MIA-eff. "
                     f"{rows[FT_LABEL]['mia_efficacy']:.2f}%): {cells}. The l1 term moves each weight by at most lr·γ per step "
                     f"(towards 0), so at γ 5e-4, lr 0.01 and {steps} steps a weight moves by at most {0.01 * 5e-4 * steps:.1g}, far "
                     "below the weights' scale: the default row cannot differ from FT; the sweep shows where it starts to.")
    for forget in forgets:
        rows = record.unlearning[forget]
        early = [n for n, r in rows.items() if n not in ("original", "retrain") and "cka_original@conv7" in r
                 and min(r[f"cka_original@conv{i}"] for i in range(1, 8)) >= 0.99]
        if any("cka_original" in r for r in rows.values()):
            lines.append(f"- Representations (`{forget}`): methods whose conv1-conv7 activations keep CKA ≥ 0.99 to the "
                         f"original, i.e. that change only the last layers: {', '.join(early) or 'none'}; retrain's mean CKA "
                         f"to the original is {rows['retrain']['cka_original']:.2f}.")
    worst = getattr(record, "worst_case", {})
    if worst:
        from zoo.models.convnets.specs import WORST_CASE_FORGET

        random_rows = record.unlearning[WORST_CASE_FORGET]
        for short, label in WORST_CASE_METHODS.items():
            w, r = worst[f"{short} on its worst-case set"], random_rows[label]
            harder = w["forget_accuracy"] > r["forget_accuracy"] and w["mia_efficacy"] < r["mia_efficacy"]
            lines.append(f"- Worst-case set for {short}: forget acc. {w['forget_accuracy']:.2f}% against {r['forget_accuracy']:.2f}% "
                         f"on the random set, MIA-efficacy {w['mia_efficacy']:.2f}% against {r['mia_efficacy']:.2f}%: "
                         + ("harder to forget, as the paper finds." if harder else "not harder on both counts here, unlike the paper."))
    return lines + [f"- {ULIRA}"]
