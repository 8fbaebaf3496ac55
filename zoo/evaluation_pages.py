"""Evaluation pages: tables measured by a tools/ script across methods or models, kept as docs pages that cards embed.

A page is two files under ``docs/``: ``<slug>.json`` (the data, read back by the cards) and ``<slug>.md`` (rendered
for readers), plus the figures the script wrote beside them. A card regenerated for a model that a page lists in
``models`` gains a section with the page's table (:func:`evaluation_sections`).

    >>> write_evaluation_page("docs/unlearning/llm/attacks", title="Attacks", command="python tools/llm_attacks.py",
    ...                       models=("tiny_llama",), columns=("method", "recovery"), rows=[("GradDiff", 0.31)])
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

DOCS_ROOT = Path(__file__).resolve().parents[1] / "docs"
"""The checkout's docs folder (absent in an installed wheel: cards are regenerated from a checkout)."""


def format_cell(value: Any) -> str:
    """A table cell: floats to four significant figures (whole numbers from 1,000 up), the rest as text."""
    if isinstance(value, bool) or not isinstance(value, float):
        return "–" if value is None else str(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """``rows`` under ``columns`` as a markdown table; a row of the wrong length is refused."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row {list(row)!r}: expected {len(columns)} cells ({', '.join(columns)}), received {len(row)}")
        lines.append("| " + " | ".join(format_cell(v) for v in row) + " |")
    return "\n".join(lines)


def write_evaluation_page(
    path: str | Path,
    *,
    title: str,
    command: str,
    models: Sequence[str],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    summary: str = "",
    notes: Sequence[str] = (),
    figures: Sequence[str] = (),
) -> Path:
    """Write the page ``<path>.json`` and ``<path>.md``.

    Args:
        path: the page without suffix, e.g. ``"docs/unlearning/llm/attacks"``.
        title: the section title.
        command: the command that measured the table (printed on the page and in the cards).
        models: the zoo model names whose cards embed the table.
        columns: the column headers.
        rows: one sequence of cells per row, as measured (floats are rounded for display only).
        summary: what was measured and whether the paper's claim holds in small.
        notes: further remarks (reduced steps, caveats).
        figures: file names of figures already written next to the page.

    Returns:
        The path of the ``.json`` file.
    """
    path = Path(path)
    rows = [list(row) for row in rows]
    missing = [f for f in figures if not (path.parent / f).is_file()]
    if missing:
        raise FileNotFoundError(f"figures: expected files next to {path}, missing {missing}")
    table = markdown_table(columns, rows)  # validates the row lengths before anything is written
    page = {"title": title, "command": command, "models": list(models), "columns": list(columns), "rows": rows,
            "summary": summary, "notes": list(notes), "figures": list(figures)}
    path.parent.mkdir(parents=True, exist_ok=True)
    json_path = path.with_suffix(".json")
    json_path.write_text(json.dumps(page, indent=1, default=float) + "\n")
    parts = [f"# {title}", summary, table, *[f"- {n}" for n in notes], *[f"![{f}]({f})" for f in figures],
             f"Measured by `{command}`."]
    path.with_suffix(".md").write_text("\n\n".join(p for p in parts if p) + "\n")
    return json_path


def evaluation_sections(model: str, root: Path = DOCS_ROOT) -> str:
    """The markdown sections, one per page under ``root`` that lists ``model``, for its card ("" when none)."""
    sections = []
    for json_path in sorted(root.rglob("*.json")) if root.is_dir() else []:
        try:
            page = json.loads(json_path.read_text())
        except ValueError:
            continue
        if not isinstance(page, dict) or not {"title", "columns", "rows", "command"} <= page.keys():
            continue  # another json under docs/ (the bench data, raw runs): not a page
        if model not in page.get("models", ()):
            continue
        where = json_path.with_suffix(".md").relative_to(root.parent)
        parts = [f"### {page['title']}", page.get("summary", ""), markdown_table(page["columns"], page["rows"]),
                 *[f"- {n}" for n in page.get("notes", ())], f"Measured by `{page['command']}` (page: `{where}`)."]
        sections.append("\n\n".join(p for p in parts if p))
    return "## Further evaluations\n\n" + "\n\n".join(sections) if sections else ""
