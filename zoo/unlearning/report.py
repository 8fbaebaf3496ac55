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
        ("seconds", "time (s)", "↓"),
    ),
}


def results_table(rows: dict[str, dict[str, float]], task: str) -> str:
    """One row per method, one column per metric present in any row ("–" where a row lacks it)."""
    columns = [c for c in COLUMNS[task] if any(c[0] in r for r in rows.values())]
    lines = [
        "| method | " + " | ".join(f"{label} {direction}" for _, label, direction in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name, metrics in rows.items():
        cells = [f"{metrics[key]:.2f}" if key in metrics else "–" for key, _, _ in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
