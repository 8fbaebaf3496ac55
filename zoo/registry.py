"""The model registry: one :class:`ModelSpec` per model, as plain data, discovered from the model packages.

Every paper is one package ``zoo/models/<pkg>/`` whose ``specs.py`` holds a ``SPECS`` tuple of ModelSpecs (and its
presets), with no torch import. The registry imports only those ``specs`` modules, found with ``pkgutil`` over
``zoo.models.__path__``, so adding a model edits no shared file and ``zoo.list_models()`` stays torch-free. The spec
names the LightningModule by import path; :func:`resolve_class` imports it only when a model is built.

What was measured about a shipped checkpoint (file hashes, parameter count, metrics) lives in
``zoo/checkpoints.json``, written by ``tools/make_weights.py`` and never by hand, read as typed records
(:mod:`zoo.records`).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import json
import pkgutil
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from zoo.records import CheckpointRecord

CHECKPOINTS_FILE = Path(__file__).with_name("checkpoints.json")
SPECS_MODULE = "specs"
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_]*$")
HUGE_PARAMS = 50_000_000
"""Presets above this many parameters are built only by the opt-in test run (``pytest -m huge``), as timm's size caps."""


@dataclass(frozen=True)
class ModelSpec:
    """What the zoo knows about one model before building it.

    Args:
        name: registry name; lower-case letters, digits and underscores.
        task: short task label, e.g. ``"raw-to-rgb"``.
        paper: paper title.
        paper_url: link to the paper (arXiv abstract page).
        official_repo: ``owner/name`` of the authors' code on GitHub.
        official_license: licence of the authors' code and weights (``"none"`` if the repo has none).
        module: ``"package.module:Class"`` of the LightningModule.
        config: overrides applied to the module's config dataclass for this variant.
        hub_repo: Hugging Face Hub repo id the weights would be pushed to.
        hub_revision: the revision of ``hub_repo`` that ``zoo.load`` fetches (a commit sha once pushed: pinned, so
            that later commits to the repo cannot change what an installed zoo loads). The sha256 recorded in
            ``zoo/checkpoints.json`` are the files of this revision.
        license: licence of the weights the zoo ships (trained here).
        tags: Hub tags.
        headline_metric: key in the checkpoint's metrics shown in the README table.
        description: one sentence for the card.
        num_params: trainable parameters of the inference network (checked against the real count by the tests).
        pipeline_tag: Hugging Face pipeline tag of the card.
        usage: the ``predict`` line of the card's usage snippet.
        record_type: the :class:`~zoo.records.CheckpointRecord` (sub)class of its shipped checkpoint's record.
        hub_datasets: Hub dataset ids of the training data (the card's ``datasets:``); empty when it is synthetic or
            bundled with a PyPI package (the card's Training section names it).
        metric_names: metric key -> the name the card's model-index gives it, with its caveats (e.g. an LPIPS
            measured with a random-init trunk is not the published LPIPS).
        limitations: model-specific lines of the card's Limitations section, after the common ones.
        pipeline: ``"package.module:Class"`` of the light inference pipeline (:func:`zoo.pipeline`: the network
            and its pre- and post-processing without Lightning); empty: ``zoo.pipeline`` returns ``zoo.load``.
    """

    name: str
    task: str
    paper: str
    paper_url: str
    official_repo: str
    official_license: str
    module: str
    config: dict[str, Any] = field(default_factory=dict)
    hub_repo: str = ""
    hub_revision: str = "main"
    license: str = "apache-2.0"
    tags: tuple[str, ...] = ()
    headline_metric: str = ""
    description: str = ""
    num_params: int = 0
    pipeline_tag: str = "image-to-image"
    usage: str = ""
    record_type: type[CheckpointRecord] = CheckpointRecord
    hub_datasets: tuple[str, ...] = ()
    metric_names: dict[str, str] = field(default_factory=dict)
    limitations: str = ""
    pipeline: str = ""

    @property
    def package(self) -> str:
        """The import path of the model's package (``zoo.models.<pkg>``), home of its specs, model, module, convert
        and card."""
        return self.module.split(":")[0].rsplit(".", 1)[0]


def model_packages() -> list[str]:
    """Import paths of the model packages: every package under ``zoo.models.__path__`` that has a ``specs.py``."""
    import zoo.models

    found = []
    for info in sorted(pkgutil.iter_modules(zoo.models.__path__), key=lambda i: i.name):
        if info.ispkg and (Path(info.module_finder.path) / info.name / f"{SPECS_MODULE}.py").is_file():
            found.append(f"zoo.models.{info.name}")
    return found


def _discover() -> dict[str, ModelSpec]:
    specs: dict[str, ModelSpec] = {}
    for package in model_packages():
        module = importlib.import_module(f"{package}.{SPECS_MODULE}")
        for spec in getattr(module, "SPECS", None) or ():
            if not isinstance(spec, ModelSpec):
                raise TypeError(f"{package}.{SPECS_MODULE}.SPECS: expected ModelSpec entries, received {type(spec).__name__}")
            if not _NAME_PATTERN.fullmatch(spec.name):
                raise ValueError(f"{package}.{SPECS_MODULE}: model name {spec.name!r} must match {_NAME_PATTERN.pattern}")
            if spec.name in specs:
                raise ValueError(f"model {spec.name!r} is registered twice: by {specs[spec.name].package} and {spec.package}")
            if spec.package != package:
                raise ValueError(f"{package}.{SPECS_MODULE}: {spec.name!r} names a module outside its package ({spec.module})")
            specs[spec.name] = spec
    return specs


class _Registry(Mapping):
    """Name -> ModelSpec, discovered on first use (so that importing zoo imports no model package)."""

    def __init__(self) -> None:
        self._specs: dict[str, ModelSpec] | None = None

    def _all(self) -> dict[str, ModelSpec]:
        if self._specs is None:
            self._specs = _discover()
        return self._specs

    def reload(self) -> None:
        """Discover the packages again (after one was added to ``zoo.models.__path__``)."""
        self._specs = None

    def __getitem__(self, name: str) -> ModelSpec:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


REGISTRY = _Registry()


def validate_name(name: str) -> str:
    """Return ``name`` if it is a well-formed registered model name, else raise.

    Names are checked against a strict pattern before any path is built from them, so that a name
    such as ``"../etc"`` can never reach the file system.

    Raises:
        ValueError: the name is malformed.
        KeyError: the name is well formed but not registered.
    """
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"model name must match {_NAME_PATTERN.pattern} (lower-case letters, digits, underscores); got {name!r}"
        )
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, list(REGISTRY), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise KeyError(f"unknown model {name!r}; {hint}registered models: {', '.join(sorted(REGISTRY))}")
    return name


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model (name validated)."""
    return REGISTRY[validate_name(name)]


def list_models(filter: str | None = None, pretrained: bool = False) -> list[str]:
    """Registered model names, sorted.

    Args:
        filter: a shell-style pattern the names must match (``"*isp*"``).
        pretrained: only the models with a shipped checkpoint (a record in ``zoo/checkpoints.json``).
    """
    names = sorted(REGISTRY)
    if filter:
        names = [n for n in names if fnmatch.fnmatch(n, filter)]
    if pretrained:
        names = [n for n in names if n in _checkpoint_records()]
    return names


@lru_cache(maxsize=1)
def _checkpoint_records() -> dict[str, dict[str, Any]]:
    if not CHECKPOINTS_FILE.exists():
        return {}
    return json.loads(CHECKPOINTS_FILE.read_text())


def checkpoint_record(name: str) -> CheckpointRecord | None:
    """What ``tools/make_weights.py`` measured for the shipped checkpoint of ``name`` (typed by the spec's
    ``record_type``), or None.

    Raises:
        ValueError: the recorded entry does not match its schema.
    """
    spec = get_spec(name)
    data = _checkpoint_records().get(spec.name)
    return None if data is None else spec.record_type.from_dict(data)


def reload_checkpoint_records() -> None:
    """Forget the cached ``checkpoints.json`` (after ``tools/make_weights.py`` rewrote it)."""
    _checkpoint_records.cache_clear()


def resolve_class(spec: ModelSpec) -> type:
    """Import and return the LightningModule class named by ``spec.module``."""
    module_path, _, class_name = spec.module.partition(":")
    return getattr(importlib.import_module(module_path), class_name)


def models_table() -> str:
    """The README's model table (markdown), from the registry and the measured checkpoint records."""
    rows = [
        "| model | task | paper | parameters | shipped checkpoint |",
        "|---|---|---|---|---|",
    ]
    for name in list_models():
        spec = REGISTRY[name]
        record = checkpoint_record(name)
        params = f"{spec.num_params:,}"
        if record:
            metric = spec.headline_metric
            value = record.metrics.get(metric)
            shipped = f"{metric.upper()} {value:.2f} ({record.eval_dataset.name})" if value is not None else "yes"
        else:
            shipped = "none"
        paper = f"[{spec.paper.split(' (')[0]}]({spec.paper_url})"
        rows.append(f"| `{name}` | {spec.task} | {paper} | {params} | {shipped} |")
    return "\n".join(rows)
