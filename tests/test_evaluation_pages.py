"""Evaluation pages: written once by a tools/ script, rendered as markdown, embedded in the cards of their models."""

import json

import pytest

from zoo.evaluation_pages import evaluation_sections, format_cell, write_evaluation_page


def test_page_round_trip_and_card_section(tmp_path):
    root = tmp_path / "docs"
    (root / "llm").mkdir(parents=True)
    (root / "llm" / "curve.png").write_bytes(b"png")
    written = write_evaluation_page(root / "llm" / "attacks", title="Attacks", command="python tools/x.py", models=("tiny_llama",),
                                    columns=("method", "recovery"), rows=[("GradDiff", 0.312345), ("retrain", 1234.56)],
                                    summary="Recovered.", notes=("Reduced steps.",), figures=("curve.png",))
    page = json.loads(written.read_text())
    assert page["rows"] == [["GradDiff", 0.312345], ["retrain", 1234.56]]  # the data keeps full precision
    markdown = (root / "llm" / "attacks.md").read_text()
    assert "| GradDiff | 0.3123 |" in markdown and "| retrain | 1235 |" in markdown and "![curve.png](curve.png)" in markdown
    section = evaluation_sections("tiny_llama", root)
    assert section.startswith("## Further evaluations") and "### Attacks" in section and "python tools/x.py" in section
    assert evaluation_sections("tiny_moe", root) == ""


def test_bad_rows_and_missing_figures_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected 2 cells"):
        write_evaluation_page(tmp_path / "p", title="t", command="c", models=(), columns=("a", "b"), rows=[(1,)])
    with pytest.raises(FileNotFoundError, match="missing"):
        write_evaluation_page(tmp_path / "p", title="t", command="c", models=(), columns=("a",), rows=[(1,)], figures=("nope.png",))
    assert not (tmp_path / "p.json").exists()


def test_cells():
    assert format_cell(0.5) == "0.5" and format_cell(None) == "–" and format_cell(True) == "True" and format_cell(3) == "3"
