"""Model cards: a ``huggingface_hub.ModelCard`` built from the registry spec and a measured checkpoint record.

Every number in a card comes from ``record`` (written by ``tools/make_weights.py`` from its own evaluation).
"""

from __future__ import annotations

import importlib
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from zoo.core.files import BEFORE_AFTER_NAME
from zoo.evaluation_pages import evaluation_sections, write_evaluation_page  # noqa: F401 (write_...: re-exported for tools)
from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

CARD_MODULE = "card"


def package_card_notes(spec: ModelSpec, config: Any, record: CheckpointRecord | None) -> str:
    """The model-specific markdown of a card: ``card_notes(config, record)`` of the package's ``card.py``.

    Args:
        spec: the registry spec.
        config: the model's config dataclass instance.
        record: the measured record (None: no shipped checkpoint).
    """
    module = importlib.import_module(f"{spec.package}.{CARD_MODULE}")
    return module.card_notes(spec, config, record)


def settings_table(config: Any, skip: tuple[str, ...] = ()) -> str:
    """The config fields that differ from the config class's defaults (the official ones), as a markdown table
    (``"None."`` when none do).

    Args:
        config: a config dataclass instance whose class defaults are the official settings.
        skip: fields left out (paths, inference-only settings).
    """
    import dataclasses

    defaults = type(config)()
    rows = [
        f"| `{f.name}` | {getattr(defaults, f.name)} | {getattr(config, f.name)} |"
        for f in dataclasses.fields(config)
        if f.name not in skip and getattr(defaults, f.name) != getattr(config, f.name)
    ]
    return "\n".join(["| setting | official default | this model |", "|---|---|---|", *rows]) if rows else "None."


def card_data(spec: ModelSpec, record: CheckpointRecord | None) -> ModelCardData:
    """The YAML header: licence, tags, datasets, metrics, model-index, paper and official repository."""
    eval_results = []
    if record:
        for metric, value in record.metrics.items():
            eval_results.append(
                EvalResult(
                    task_type=spec.task,
                    dataset_type=record.eval_dataset.type,
                    dataset_name=record.eval_dataset.name,
                    dataset_split=record.eval_dataset.split,
                    metric_type=metric,
                    metric_name=spec.metric_names.get(metric),
                    metric_value=round(float(value), 4),
                )
            )
    return ModelCardData(
        license=spec.license,
        library_name="zoo",
        tags=list(spec.tags),
        datasets=list(spec.hub_datasets) or None,
        metrics=sorted(record.metrics) if record else None,
        model_name=spec.name,
        eval_results=eval_results or None,
        pipeline_tag=spec.pipeline_tag,
        paper=spec.paper_url,
        official_repository=f"https://github.com/{spec.official_repo}",
        official_license=spec.official_license,
    )


def bibtex(spec: ModelSpec) -> str:
    """A BibTeX entry for the spec's paper, from its title, authors and year (``"Title (Authors, Venue Year)"``) and
    its arXiv link; "et al." becomes BibTeX's ``and others``.

    Returns:
        The entry (``@misc`` with ``eprint`` for arXiv papers, else ``@misc`` with ``howpublished``).
    """
    import re

    title, _, meta = spec.paper.rpartition(" (")
    if not title:
        title, meta = spec.paper, ""
    meta = meta.rstrip(")")
    authors_text, _, venue = meta.partition(", ")
    year = (re.findall(r"(?:19|20)\d\d", meta) or [""])[-1]
    authors = authors_text.replace(" et al.", " and others").replace(" & ", " and ")
    first = re.sub(r"[^a-z]", "", authors.split(" and ")[0].split()[-1].lower()) if authors else "anonymous"
    word = next((w for w in re.findall(r"[A-Za-z]+", title) if len(w) > 3), "paper").lower()
    arxiv = re.search(r"arxiv\.org/abs/([0-9.]+)", spec.paper_url)
    fields = [f"  title = {{{{{title}}}}}", f"  author = {{{authors or 'Anonymous'}}}", f"  year = {{{year}}}"]
    if venue and not venue.strip().isdigit():
        fields.append(f"  note = {{{venue.strip()}}}")
    if arxiv:
        fields += [f"  eprint = {{{arxiv.group(1)}}}", "  archivePrefix = {arXiv}"]
    fields.append(f"  url = {{{spec.paper_url}}}")
    return "@misc{" + f"{first}{year}{word},\n" + ",\n".join(fields) + "\n}"


def _limitations(spec: ModelSpec, record: CheckpointRecord | None) -> str:
    lines = []
    if record:
        lines.append(
            f"- This checkpoint comes from the CPU-sized recipe `{record.recipe}` ({record.train_steps} steps, "
            f"{record.num_params:,} parameters; training data: {record.train_dataset}). It shows the method at work; it is not "
            "the paper's model, and its figures, measured on the held-out data above, are not comparable with the paper's tables."
        )
        lines.append(
            "- The paper's setting is `recipes/" + record.recipe.split("/")[1] + "/paper.yaml` (train it on the paper's data), "
            "or the authors' weights through `official=True` where they are released."
        )
    else:
        lines.append("- No trained weights: `zoo.create` builds the architecture randomly initialised.")
    if spec.limitations:
        lines.append(spec.limitations.strip())
    return "## Limitations\n" + "\n".join(lines)


def _metrics_table(record: CheckpointRecord) -> str:
    rows = ["| method | " + " | ".join(m.upper() for m in record.metrics) + " |", "|---" * (1 + len(record.metrics)) + "|"]
    rows.append("| **this checkpoint** | " + " | ".join(f"**{v:.4f}**" for v in record.metrics.values()) + " |")
    for baseline, values in record.baselines.items():
        rows.append(f"| {baseline} | " + " | ".join(f"{values[m]:.4f}" for m in record.metrics) + " |")
    return "\n".join(rows)


def build_card(spec: ModelSpec, record: CheckpointRecord | None, notes: str = "", has_image: bool = False) -> ModelCard:
    """The full card: header, description, before/after picture, usage, evaluation, training, notes.

    Args:
        spec: the registry spec.
        record: what ``tools/make_weights.py`` measured (None: no shipped checkpoint).
        notes: model-specific markdown (method, deviations from the official code, licences):
            :func:`package_card_notes`.
        has_image: the weights folder holds ``before_after.png``.
    """
    parts = [
        f"# {spec.name}",
        f"{spec.description}",
        f"Paper: [{spec.paper}]({spec.paper_url}). Official code: [{spec.official_repo}](https://github.com/{spec.official_repo}) "
        f"(licence: {spec.official_license}).",
    ]
    if has_image:
        parts.append(f"![before / after]({BEFORE_AFTER_NAME})")
    parts += [
        "## Usage",
        f'```python\nimport zoo\nmodel = zoo.load("{spec.name}")\n{spec.usage}\n```\n'
        f"```bash\nzoo info {spec.name}\nzoo card {spec.name}\n```",
    ]
    if record:
        ds = record.eval_dataset
        parts += [
            "## Evaluation",
            f"Measured by `{record.eval_command}` on {ds.name} ({ds.split}, {ds.num_samples} {ds.unit}): {ds.description}",
            _metrics_table(record),
            "## Training",
            f"Recipe `{record.recipe}`: {record.train_steps} training steps"
            + (f", {record.train_seconds:.0f} s of training on {record.train_device}. " if record.train_seconds else ". ")
            + f"Parameters: {record.num_params:,}.",
        ]
    else:
        parts += ["## Weights", "No checkpoint is shipped for this variant yet; `zoo.create` builds it randomly initialised."]
    if notes:
        parts.append(notes)
    further = evaluation_sections(spec.name)
    if further:
        parts.append(further)
    parts.append(_limitations(spec, record))
    if record:
        parts.append(f"## Licence\nThese weights: {spec.license}; trained by zoo, not converted from the authors' release.")
    else:
        parts.append(f"## Licence\nNo weights are shipped. Official weights loaded with `official=True` keep the authors' licence ({spec.official_license}).")
    parts.append(f"## Citation\n```bibtex\n{bibtex(spec)}\n```")
    content = f"---\n{card_data(spec, record).to_yaml()}\n---\n\n" + "\n\n".join(parts) + "\n"
    return ModelCard(content)
