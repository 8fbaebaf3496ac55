"""Typed checkpoint records: what ``tools/make_weights.py`` measured about a shipped checkpoint.

A record is a dataclass (fields with units), read from and written to ``zoo/checkpoints.json``. A package whose
evaluation measures more than the common fields subclasses :class:`CheckpointRecord` in its ``specs.py`` and names
the subclass in its specs (``ModelSpec.record_type``). Nothing here imports torch.

``from_dict`` refuses unknown and missing keys and values of the wrong type by name, so a record that does not
match its schema fails when it is read, not when a card is rendered.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
R = TypeVar("R", bound="CheckpointRecord")


@dataclass(frozen=True)
class EvalDataset:
    """The held-out data a checkpoint was evaluated on.

    Args:
        name: human-readable name (shown in the README table and the card).
        type: dataset identifier for the card's model-index.
        split: which part of it (``"test"``, ``"novel classes"``, ...).
        num_samples: how many units were evaluated.
        description: how it was made and how the metrics are computed.
        unit: what ``num_samples`` counts (``"samples"``, ``"frames"``, ``"tasks per setting"``).
    """

    name: str
    type: str
    split: str
    num_samples: int
    description: str
    unit: str = "samples"


@dataclass(frozen=True)
class CheckpointRecord:
    """What was measured about one shipped checkpoint.

    Args:
        num_params: parameters of the inference network (count).
        metrics: the checkpoint's metrics on ``eval_dataset``, by name (units in the dataset's description).
        eval_dataset: the held-out data.
        eval_command: the command that produced this record.
        train_dataset: what it was trained on.
        recipe: the recipe file (or script) it was trained with.
        train_steps: optimiser steps (count).
        train_seconds: wall-clock seconds of training (None: not measured).
        train_device: what trained it (``tools/weights/common.py: device_name``).
        baselines: the same metrics for the baselines, by baseline name.
        sha256: hex sha256 of every file in the weights folder, by file name.
        hub_commit: the Hub commit (40 hex digits) that holds these files, once ``tools/push_to_hub.py --record``
            recorded it: then the pinned revision (:func:`zoo.registry.pinned_revision`), ahead of the pin tag.
            None (left out of the JSON form): not pushed, the pin is the tag.
    """

    num_params: int
    metrics: dict[str, float]
    eval_dataset: EvalDataset
    eval_command: str
    train_dataset: str
    recipe: str
    train_steps: int
    train_seconds: float | None
    train_device: str
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)
    hub_commit: str | None = None

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        """Build and validate a record from its JSON form.

        Raises:
            ValueError: unknown or missing keys, or a value of the wrong type, named.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected a JSON object, received {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {unknown}; expected a subset of {sorted(fields)}")
        required = [n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = sorted(set(required) - set(data))
        if missing:
            raise ValueError(f"{cls.__name__}: missing keys {missing}")
        hints = typing.get_type_hints(cls)
        values = {}
        for key, value in data.items():
            if key == "eval_dataset":
                value = _eval_dataset(value)
            _check_type(f"{cls.__name__}.{key}", value, hints[key])
            values[key] = value
        record = cls(**values)
        record.validate()
        return record

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``zoo/checkpoints.json``); ``hub_commit`` only once recorded."""
        data = dataclasses.asdict(self)
        if data.get("hub_commit") is None:
            data.pop("hub_commit", None)
        return data

    def validate(self) -> None:
        """Check values beyond their types: counts positive, metrics finite, digests well formed.

        Raises:
            ValueError: naming the field and the value.
        """
        name = type(self).__name__
        if self.num_params <= 0:
            raise ValueError(f"{name}.num_params: expected a positive count, received {self.num_params}")
        if self.train_steps < 0:
            raise ValueError(f"{name}.train_steps: expected a count >= 0, received {self.train_steps}")
        if self.train_seconds is not None and not (math.isfinite(self.train_seconds) and self.train_seconds >= 0):
            raise ValueError(f"{name}.train_seconds: expected seconds >= 0, received {self.train_seconds}")
        if not self.metrics:
            raise ValueError(f"{name}.metrics: expected at least one metric, received none")
        for group, values in {"metrics": self.metrics, **{f"baselines[{k!r}]": v for k, v in self.baselines.items()}}.items():
            for metric, value in values.items():
                if not math.isfinite(value):
                    raise ValueError(f"{name}.{group}[{metric!r}]: expected a finite number, received {value}")
        if self.hub_commit is not None and not _COMMIT.match(self.hub_commit):
            raise ValueError(f"{name}.hub_commit: expected a Hub commit sha (40 lower-case hex digits), received {self.hub_commit!r}")
        for filename, digest in self.sha256.items():
            if not _SHA256.match(digest):
                raise ValueError(f"{name}.sha256[{filename!r}]: expected 64 lower-case hex digits, received {digest!r}")


def _eval_dataset(value: Any) -> EvalDataset:
    if isinstance(value, EvalDataset):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"eval_dataset: expected a JSON object, received {type(value).__name__}")
    fields = {f.name for f in dataclasses.fields(EvalDataset)}
    unknown = sorted(set(value) - fields)
    if unknown:
        raise ValueError(f"eval_dataset: unknown keys {unknown}; expected a subset of {sorted(fields)}")
    try:
        dataset = EvalDataset(**value)
    except TypeError as error:
        raise ValueError(f"eval_dataset: {error}") from error
    for key, hint in typing.get_type_hints(EvalDataset).items():
        _check_type(f"eval_dataset.{key}", getattr(dataset, key), hint)
    return dataset


def _check_type(where: str, value: Any, hint: Any) -> None:
    """Raise ValueError unless ``value`` matches the annotation ``hint`` (JSON types: int, float, str, bool, None,
    list, tuple, dict; an int is accepted where a float is expected)."""
    if not _matches(value, hint):
        raise ValueError(f"{where}: expected {_describe(hint)}, received {type(value).__name__} {value!r:.80}")


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        return isinstance(value, dict) and all(_matches(k, key_type) and _matches(v, value_type) for k, v in value.items())
    if origin in (list, tuple):
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
        return all(_matches(v, args[0]) for v in value) if args else True
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
