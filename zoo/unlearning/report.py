"""Markdown tables of unlearning results, with each metric's direction in its header."""

from __future__ import annotations

COLUMNS = {
    "classification": (
        ("forget_accuracy", "forget acc. (%)", "near retrain"),
        ("retain_accuracy", "retain acc. (%)", "↑"),
        ("test_accuracy", "test acc. (%)", "↑"),
        ("test_forget_accuracy", "forgotten-class test acc. (%)", "near retrain"),
        ("mia_efficacy", "MIA-efficacy (%)", "near retrain"),
        ("mia_efficacy_entropy", "MIA-eff. entropy (%)", "near retrain"),
        ("loss_mia_member_rate", "loss-MIA member rate (%)", "near retrain"),
        ("average_gap", "avg. gap to retrain", "↓"),
        ("dampened_percent", "weights changed (%)", ""),
        ("alpha", "α", ""),
        ("seconds", "time (s)", "↓"),
    ),
    "regression": (
        ("forget_l1", "forget L1", "near retrain"),
        ("retain_l1", "retain L1", "↓"),
        ("test_forget_l1", "forget-range test L1", "near retrain"),
        ("test_retain_l1", "retain-range test L1", "↓"),
        ("w_distance_to_retrain", "W-dist. to retrain", "↓"),
        ("loss_mia_member_rate", "MIA member rate (%)", "near retrain"),
        ("ain", "AIN", "near 1"),
        ("average_gap", "avg. gap to retrain", "↓"),
        ("dampened_percent", "weights changed (%)", ""),
        ("alpha", "α", ""),
        ("seconds", "time (s)", "↓"),
    ),
}


def _cell(value: float) -> str:
    """Two decimals; a small nonzero value keeps two significant digits instead of rounding to 0.00."""
    return f"{value:.2g}" if 0 < abs(value) < 0.005 else f"{value:.2f}"


def results_table(rows: dict[str, dict[str, float]], task: str) -> str:
    """One row per method, one column per metric present in any row ("–" where a row lacks it)."""
    columns = [c for c in COLUMNS[task] if any(c[0] in r for r in rows.values())]
    lines = [
        "| method | " + " | ".join(f"{label} {direction}" for _, label, direction in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name, metrics in rows.items():
        cells = [_cell(metrics[key]) if key in metrics else "–" for key, _, _ in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


REPRESENTATION_COLUMNS = (
    ("knn_forget_accuracy", "k-NN forget acc. (%)", "near retrain"),
    ("knn_retain_accuracy", "k-NN retain acc. (%)", "↑"),
    ("probe_accuracy", "probe acc. (%)", "near retrain"),
    ("cka_original", "CKA to original (mean)", ""),
    ("cka_retrain", "CKA to retrain (mean)", "↑"),
)


def representation_table(rows: dict[str, dict[str, float]], layers: tuple[str, ...]) -> str:
    """The representation columns (:mod:`zoo.unlearning.representation`): k-NN and probe accuracies, mean CKA, and
    per layer "CKA to original / CKA to retrain"; rows without them are left out."""
    rows = {name: r for name, r in rows.items() if "cka_original" in r}
    columns = [c for c in REPRESENTATION_COLUMNS if any(c[0] in r for r in rows.values())]
    header = [f"{label} {direction}".strip() for _, label, direction in columns] + [f"{layer} orig. / retr." for layer in layers]
    lines = ["| method | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    for name, r in rows.items():
        cells = [_cell(r[key]) if key in r else "–" for key, _, _ in columns]
        cells += [f"{r[f'cka_original@{layer}']:.2f} / {r[f'cka_retrain@{layer}']:.2f}" if f"cka_original@{layer}" in r else "–" for layer in layers]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
