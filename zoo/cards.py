"""Model cards: a ``huggingface_hub.ModelCard`` built from the registry spec and a measured checkpoint record.

Every number in a card comes from ``record`` (written by ``tools/make_weights.py`` from its own evaluation).
"""

from __future__ import annotations

import importlib
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from zoo.core.files import BEFORE_AFTER_NAME
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
                    metric_value=round(float(value), 4),
                )
            )
    return ModelCardData(
        license=spec.license,
        library_name="zoo",
        tags=list(spec.tags),
        datasets=[record.train_dataset] if record else None,
        metrics=sorted(record.metrics) if record else None,
        model_name=spec.name,
        eval_results=eval_results or None,
        pipeline_tag=spec.pipeline_tag,
        paper=spec.paper_url,
        official_repository=f"https://github.com/{spec.official_repo}",
        official_license=spec.official_license,
    )


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
    if record:
        parts.append(f"## Licence\nThese weights: {spec.license}; trained by zoo, not converted from the authors' release.")
    else:
        parts.append(f"## Licence\nNo weights are shipped. Official weights loaded with `official=True` keep the authors' licence ({spec.official_license}).")
    content = f"---\n{card_data(spec, record).to_yaml()}\n---\n\n" + "\n\n".join(parts) + "\n"
    return ModelCard(content)
