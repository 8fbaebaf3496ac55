"""The model registry: one :class:`ModelSpec` per model, as plain data, discovered from the model packages.

Every paper is one package ``zoo/models/<pkg>/`` whose ``specs.py`` holds a ``SPECS`` tuple of ModelSpecs (and its
presets), with no torch import. The registry imports only those ``specs`` modules, found with ``pkgutil`` over
``zoo.models.__path__``, so adding a model edits no shared file and ``zoo.list_models()`` stays torch-free. The spec
names the LightningModule by import path; :func:`resolve_class` imports it only when a model is built.

What was measured about a shipped checkpoint (file hashes, parameter count, metrics) lives in
``zoo/checkpoints.json``, written by ``tools/make_weights.py`` and never by hand, read as typed records
(:mod:`zoo.records`).

Each model's Hub revision is pinned (:func:`pinned_revision`): the record's ``hub_commit`` once a push recorded it,
else a content-addressed tag, ``zoo-`` and the first 12 hex digits of a sha256 over the recorded digests of the
files loading reads (every file of the folder but the card and its images, :func:`pin_tag`). The tag exists before
any push (it is computed from the record) and ``tools/push_to_hub.py`` creates it on the commit it uploads, never
moving an existing one; new weights make a new tag, so an installed zoo keeps loading the files it recorded.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import importlib
import json
import pkgutil
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from zoo.core.files import CARD_NAME
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
        hub_revision: the revision of ``hub_repo`` that ``zoo.load`` fetches; empty (the default): the pinned one
            that :func:`pinned_revision` derives from the shipped checkpoint's record, which is the record's
            ``hub_commit`` once a push recorded it, else the content-addressed tag :func:`pin_tag` of the recorded
            files (``zoo-<12 hex>``, created by ``tools/push_to_hub.py`` on the commit it pushes). A pin, not a
            branch: later commits to ``main`` (an edited card) cannot change what an installed zoo loads. Set it only
            to pin another revision by hand; the sha256 recorded in ``zoo/checkpoints.json`` are the files of the
            pinned revision.
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
    hub_revision: str = ""
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


PIN_PREFIX = "zoo-"
_NOT_PINNED_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".md")
"""The card and its images: what an edit on the Hub may change without touching the pin."""


def pinned_files(sha256: Mapping[str, str]) -> dict[str, str]:
    """The recorded files a pin covers: every file but the card and its images (``model.safetensors``,
    ``config.json`` and the companion files some packages load, such as unem's ``backbone.safetensors``)."""
    return {f: d for f, d in sorted(sha256.items()) if f != CARD_NAME and not f.lower().endswith(_NOT_PINNED_SUFFIXES)}


def pin_tag(sha256: Mapping[str, str]) -> str:
    """The content-addressed Hub tag of a checkpoint: ``zoo-`` + the first 12 hex digits of the sha256 of the lines
    ``"<file> <hex sha256>\\n"`` of :func:`pinned_files`, sorted by file name.

    Args:
        sha256: file name -> hex sha256 (a record's ``sha256``).

    Raises:
        ValueError: ``sha256`` lacks ``model.safetensors`` or ``config.json``.
    """
    from zoo.core.files import LOAD_FILES

    files = pinned_files(sha256)
    missing = [f for f in LOAD_FILES if f not in files]
    if missing:
        raise ValueError(f"sha256: expected the digests of {', '.join(LOAD_FILES)}, received none for {', '.join(missing)}")
    text = "".join(f"{name} {digest}\n" for name, digest in files.items())
    return PIN_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def pinned_revision(spec: ModelSpec) -> str:
    """The Hub revision ``zoo.load`` fetches for ``spec`` by default: ``spec.hub_revision`` when set, else the record's
    ``hub_commit``, else its :func:`pin_tag`; ``"main"`` for a model with no recorded checkpoint (nothing to pin)."""
    names = pinned_revisions(spec)
    return names[0] if names else "main"


def pinned_revisions(spec: ModelSpec) -> tuple[str, ...]:
    """Every name of the pinned revision of ``spec``, preferred first (the spec's ``hub_revision``, the record's
    ``hub_commit``, its :func:`pin_tag`): the revisions whose files the record holds, for which the shipped copy is
    used and the record's sha256 are checked. Empty when nothing is recorded or pinned."""
    record = checkpoint_record(spec.name)
    names = [spec.hub_revision] if spec.hub_revision else []
    if record is not None:
        names += [record.hub_commit] if record.hub_commit else []
        names += [pin_tag(record.sha256)] if pinned_files(record.sha256) else []
    return tuple(dict.fromkeys(n for n in names if n))


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
