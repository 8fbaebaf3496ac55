"""``zoo.unlearn`` and the protocol that compares methods against the retrained reference.

    >>> import zoo
    >>> model = zoo.load("allcnn_mnist_regressor")
    >>> unlearned = zoo.unlearn(model, "blindspot", forget=forget_set, retain=retain_set)

The retrained reference is computed once per (split, architecture, recipe) and cached in
``$ZOO_CACHE/unlearning`` (default ``~/.cache/zoo/unlearning``).
"""

from __future__ import annotations

import copy
import inspect
import time
import typing
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from zoo.core import checks
from zoo.core.progress import progress
from zoo.unlearning.base import METHODS, hyperparameters
from zoo.unlearning.cache import cache_dir, cached_network, entry_key
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.evaluate import evaluate, forget_val_l1, relearn_steps
from zoo.unlearning.splits import Split

AIN_TOLERANCE = 0.05


def _methods() -> dict[str, type]:
    import zoo.unlearning.methods  # noqa: F401  (registers every method)

    return METHODS


def method_names() -> list[str]:
    """Registered unlearning methods."""
    return sorted(_methods())


def _annotation(cls: type, key: str) -> Any:
    """The type annotation of the keyword ``key`` in the first ``__init__`` along ``cls``'s MRO that takes it."""
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is not None and key in inspect.signature(init).parameters:
            return typing.get_type_hints(init).get(key, Any)
    return Any


def check_hyperparameters(name: str, hparams: dict[str, Any]) -> None:
    """Check a method's name and hyper-parameters before anything runs.

    Args:
        name: one of :func:`method_names`.
        hparams: hyper-parameter -> value (as a command line or JSON gives them: lists for tuples).

    Raises:
        ValueError: an unknown method or hyper-parameter, a value not of the hyper-parameter's type (``lr=abc``), or
            a negative number (``batch_size`` below 1), naming the hyper-parameter, what was expected and what was received.
    """
    methods = _methods()
    if name not in methods:
        raise ValueError(f"method: expected one of {sorted(methods)}, received {name!r}")
    known = hyperparameters(methods[name])
    unknown = sorted(set(hparams) - set(known))
    if unknown:
        raise ValueError(f"{name}: unknown hyper-parameters {unknown}; expected a subset of {sorted(known)}")
    for key, value in hparams.items():
        checks.check_type(value, _annotation(methods[name], key), f"{name} {key}")
        low = 1 if key == "batch_size" else 0
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < low:
            raise ValueError(f"{name} {key}: expected a number >= {low}, received {value!r}")


def build_method(name: str, net: nn.Module, task: str, **hparams: Any):
    """The method ``name`` around ``net``; unknown methods and hyper-parameters, and values of the wrong type or sign,
    are refused by name (:func:`check_hyperparameters`)."""
    check_hyperparameters(name, hparams)
    return _methods()[name](net, task, **hparams)


def _as_dataset(data: Any, what: str) -> Dataset:
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        return TensorDataset(*data)
    raise ValueError(f"{what}: expected a Dataset of (x, y) or a tuple (inputs, targets) of tensors, received {type(data).__name__}")


def _net_and_task(model: nn.Module, task: str | None) -> tuple[nn.Module, str]:
    from zoo.core.module import ZooModule

    if isinstance(model, ZooModule):
        model_task = getattr(model.config, "task", None)
        if model_task is None:
            raise ValueError(f"model: {type(model).__name__} is neither a classifier nor a regressor (its config has no task)")
        return model.net, task or model_task
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module or a zoo model, received {type(model).__name__}")
    if task is None:
        raise ValueError('task: expected "classification" or "regression" for a plain nn.Module, received None')
    return model, task


def unlearn(model: nn.Module, method: str, forget: Any, retain: Any = None, task: str | None = None, **hparams: Any) -> nn.Module:
    """Unlearn ``forget`` from a copy of ``model`` with ``method`` and return the copy (the input is untouched).

    Args:
        model: a zoo classifier / regressor or any ``nn.Module`` (then ``task`` is required).
        method: one of :func:`method_names`.
        forget: the samples to forget: a Dataset of ``(x, y)`` or a tuple ``(inputs, targets)``.
        retain: the samples to keep, likewise (required by the classifier methods; a family may do without).
        task: ``"classification"`` or ``"regression"`` (read from a zoo model's config).
        hparams: the method's hyper-parameters (``zoo unlearn --list`` lists them).

    Causal LMs and recommenders are unlearned by their own family (:mod:`zoo.unlearning.families`), with the
    family's methods and its kinds of ``forget`` and ``retain``.
    """
    from zoo.unlearning.families import family_for

    family = family_for(model)
    if family is not None:
        return family.unlearn(model, method, forget, retain, **hparams)
    if retain is None:
        raise ValueError("retain: expected a Dataset of (x, y) or a tuple (inputs, targets) of tensors, received None")
    model = copy.deepcopy(model)
    net, task = _net_and_task(model, task)
    data = UnlearningData(_as_dataset(forget, "forget"), _as_dataset(retain, "retain"))
    build_method(method, net, task, **hparams).run(data)
    if net is not model:
        model.eval()
    return model


def run_method(net: nn.Module, method: str, dataset: Dataset, split: Split, task: str, **hparams: Any) -> tuple[nn.Module, float]:
    """Run ``method`` on a copy of ``net`` for ``split``; returns the unlearned copy and the wall time in seconds."""
    net = copy.deepcopy(net)
    data = UnlearningData.from_split(dataset, split)
    start = time.perf_counter()
    build_method(method, net, task, **hparams).run(data)
    return net.eval(), time.perf_counter() - start


def retrained_reference(
    net: nn.Module, dataset: Dataset, split: Split, task: str, cache: Path | None = None, *, show_progress: bool | None = None, **hparams: Any
) -> tuple[nn.Module, float]:
    """The model retrained on the retain set, computed once per (split, architecture, hyper-parameters) and cached.

    Concurrent runs on the same entry wait for each other (a file lock next to it) instead of all retraining; an
    entry that is corrupt or incomplete is rebuilt.

    Args:
        net: the trained network (not modified).
        dataset: the dataset ``split`` indexes.
        split: forget / retain / validation / test indices.
        task: ``"classification"`` or ``"regression"``.
        cache: the cache directory (default :func:`cache_dir`).
        show_progress: the retraining's progress bar, overriding the ``progress`` hyper-parameter for display only
            (None: as ``progress`` says): ``progress`` is part of the cache key, which a display choice must not change.
        hparams: the ``retrain`` method's hyper-parameters.

    Returns:
        The retrained network and the seconds its training took (when it was computed).
    """
    fingerprint = split.fingerprint()
    key = entry_key(fingerprint, net, task, sorted(hparams.items()))
    shown = hparams if show_progress is None else {**hparams, "progress": show_progress}
    return cached_network(cache or cache_dir(), key, fingerprint, net, lambda: run_method(net, "retrain", dataset, split, task, **shown), hparams)


def compare_methods(
    net: nn.Module,
    dataset: Dataset,
    split: Split,
    task: str,
    methods: dict[str, dict[str, Any]],
    retrain: dict[str, Any],
    cache: Path | None = None,
    anamnesis: bool = True,
    regression_loss: str = "l1",
    representation: bool = False,
    probe_targets: Any = None,
    retrain_progress: bool | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, nn.Module]]:
    """Evaluate the original model, the retrained reference and every method on one split.

    Args:
        net: the trained network.
        dataset: the dataset ``split`` indexes.
        split: forget / retain / validation / test indices.
        task: ``"classification"`` or ``"regression"``.
        methods: display name -> ``{"method": registered name, **hyper-parameters}``.
        retrain: the retrained reference's hyper-parameters (the original model's recipe).
        cache: where the retrained reference is cached (default :func:`cache_dir`).
        anamnesis: also measure the anamnesis index (regression splits with a forget cohort).
        representation: also measure the representation columns of classifiers (per-layer CKA to the original and
            to retrain, k-NN accuracy on forget / retain features, and with ``probe_targets`` a downstream linear
            probe: :func:`zoo.unlearning.representation.representation_columns`).
        probe_targets: (len(dataset),) labels of the probe's downstream task.
        retrain_progress: the retraining's bar (:func:`retrained_reference`'s ``show_progress``; not in its cache key).

    Returns:
        Row name (``"original"``, ``"retrain"``, then the display names) -> metrics, and row name -> network.
    """
    retrained, retrain_seconds = retrained_reference(net, dataset, split, task, cache, show_progress=retrain_progress, **retrain)
    reference = evaluate(retrained, dataset, split, task, regression_loss=regression_loss)
    rows = {"original": evaluate(net, dataset, split, task, reference, regression_loss), "retrain": evaluate(retrained, dataset, split, task, reference, regression_loss)}
    rows["retrain"]["seconds"] = retrain_seconds
    models = {"original": net, "retrain": retrained}
    for name, spec in progress(methods.items(), "unlearning methods", total=len(methods), unit="method"):
        spec = dict(spec)
        unlearned, seconds = run_method(net, spec.pop("method"), dataset, split, task, **spec)
        rows[name] = evaluate(unlearned, dataset, split, task, reference, regression_loss)
        rows[name]["seconds"] = seconds
        models[name] = unlearned
    if anamnesis and task == "regression" and len(split.val_forget):
        threshold = (1 + AIN_TOLERANCE) * forget_val_l1(net, dataset, split)
        gold_steps = relearn_steps(retrained, dataset, split, threshold, regression_loss=regression_loss, seed=split.seed)
        for name, model in models.items():
            steps = gold_steps if name == "retrain" else relearn_steps(model, dataset, split, threshold, regression_loss=regression_loss, seed=split.seed)
            rows[name]["ain"] = steps / gold_steps if gold_steps else float("nan")  # undefined if retrain needs no relearning
    if representation and task == "classification":
        from zoo.unlearning.representation import representation_columns

        for name, columns in representation_columns(models, dataset, split, probe_targets).items():
            rows[name].update(columns)
    for row in rows.values():
        row.pop("_forget_predictions", None)
    return rows, models
