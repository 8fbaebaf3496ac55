"""zoo.unlearning.taxonomy: every registered method of every family is placed, and the tables render."""

from pathlib import Path

import pytest

from zoo.cli import main
from zoo.unlearning import taxonomy as tx

ROOT = Path(__file__).resolve().parents[1]
PLANNED = {
    "llm": ("o3", "dp2unlearning", "lineas", "eco", "guard", "alu"),
    "generative": ("sfd", "doco", "adapt_then_unlearn"),
    "data_protection": ("bayes_error_ue", "error_min_noise", "t2ue"),
}


def test_every_registered_method_of_every_family_has_an_entry():
    registered = tx.registered_methods()
    assert {"classifier", "llm", "recommendation"} <= set(registered)
    assert tx.missing() == []
    for family, names in registered.items():
        for name in names:
            assert tx.entry(family, name).family == family


def test_the_planned_methods_are_placed_too():
    for family, names in PLANNED.items():
        for name in names:
            tx.entry(family, name)  # raises when absent
    assert tx.entry("llm", "eco").intention == tx.SUPPRESSION and tx.entry("llm", "npo").intention == tx.REMOVAL
    assert tx.entry("classifier", "retrain").approach == tx.EXACT


def test_entries_are_unique_and_valid():
    keys = [(e.family, e.name) for e in tx.TAXONOMY]
    assert len(keys) == len(set(keys))
    with pytest.raises(ValueError, match="intention"):
        tx.Entry("llm", "x", "X", "forgetting", tx.OPTIMISATION, "parameters", "p")
    with pytest.raises(ValueError, match="expected a method"):
        tx.entry("llm", "nope")


def test_measured_pages_that_exist_are_linked():
    for e in tx.TAXONOMY:
        assert e.measured == "" or e.measured.startswith(("weights/", "docs/"))
    table = tx.markdown()
    assert table.count("\n") == len(tx.TAXONOMY) + 1
    assert "[SSD](weights/allcnn_mnist_classifier/README.md)" in table
    assert "[ECO](docs/unlearning/llm/inference_time.md)" in table
    # the classifier card already exists in the checkout: its link resolves
    assert (ROOT / tx.entry("classifier", "ssd").measured).is_file()


def test_zoo_unlearn_list_prints_the_columns(capsys):
    assert main(["unlearn", "--taxonomy"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    for column in ("family", "method", "intention", "approach", "measured in", "attack evidence"):
        assert column in header
    assert all(e.name in out for e in tx.TAXONOMY)


def test_the_readme_table_is_the_taxonomy():
    readme = (ROOT / "README.md").read_text()
    assert "## Unlearning methods" in readme
    assert tx.markdown() in readme, "README's taxonomy table is stale: run python -m zoo.unlearning.taxonomy"


def test_attack_evidence_is_computed_from_the_attacks_page(tmp_path):
    """The evidence column follows the page's rule on its rows: forgot (closed-book recall within 0.2 of retrain's),
    then recovered by an attack (more than 0.1 above retrain's after the same attack), or did not forget."""
    from zoo.evaluation_pages import write_evaluation_page

    columns = ("model", "method", "closed-book recall", "Sleek direct", "Sleek implied", "held-out before relearning", "after relearning")
    rows = [("shipped", "retrain", 0.15, 0.02, 0.02, 0.15, 0.07),
            ("shipped", "RMU", 0.25, 0.18, 0.05, 0.25, 1.0),      # forgot, relearning recovers: suppression in effect
            ("shipped", "NPO", 0.0, 0.0, 0.0, 0.0, 0.03),         # forgot, nothing recovers
            ("shipped", "LinEAS", 1.0, 0.9, 0.8, 1.0, 1.0),       # did not forget
            ("icl", "NPO", 0.9, 0.9, 0.9, 0.9, 0.9)]              # another variant: ignored
    write_evaluation_page(tmp_path / tx.ATTACKS_PAGE, title="t", command="c", models=(), columns=columns, rows=rows)
    found = tx.attack_evidence(tmp_path)
    assert found[("llm", "rmu")].startswith("suppression in effect: recall 0.25 -> 1.00 after relearning; after relearning 1.00 vs retrain 0.07; Sleek direct 0.18 vs retrain 0.02")
    assert found[("llm", "npo")].startswith("no attack recovered more than retrain (recall 0.00 -> 0.03")
    assert found[("llm", "lineas")].startswith("did not forget")
    assert ("llm", "grad_ascent") not in found
    assert tx.attack_evidence(tmp_path / "nowhere") == {}
