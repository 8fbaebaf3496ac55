"""Corrective machine unlearning (Goel, Prabhu, Sanyal, Lim, Torr, Kumaraguru, TMLR 2024; official code
drimpossible/corrective-unlearning-bench, ``src/datasets.py``, ``src/main.py``).

A model is trained on data of which ``n_m`` samples were manipulated; the developer identifies only a fraction of
them (the *known* subset, the forget set) and unlearns it. Manipulations (``manipulate``):

- ``"poisoning"``: a ``patch_size`` x ``patch_size`` patch at the image's bottom-right corner, set to the data's
  maximum value, and the label set to ``target`` (official: 3x3, the maximum pixel value, class 0);
- ``"interclass"`` (official ``interclasslabelswap``): the first ``n_m / 2`` training samples of class A relabelled
  B and the first ``n_m / 2`` of B relabelled A (Interclass Confusion);
- ``"random"`` (official ``randomlabelswap``): the labels of ``n_m`` random samples permuted among them.

Metrics (``corrective_metrics``), in %: ``test_accuracy`` on the clean test set; ``affected_accuracy``, the clean
accuracy on the classes the manipulation affects (the two swapped classes; every class for random swaps; for
poisoning the clean-label accuracy on patched test images of the other classes); for poisoning also
``attack_success``, the share of those patched images classified as the target. :data:`HEADLINE` names each
manipulation's headline metric (the y axis of the paper's curves). The reference is the model retrained on the
data without the known subset (it still holds the unknown manipulated samples).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from zoo.unlearning.api import build_method
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.evaluate import outputs_and_targets

MANIPULATIONS = ("poisoning", "interclass", "random")
HEADLINE = {"poisoning": "affected_accuracy", "interclass": "affected_accuracy", "random": "test_accuracy"}


def add_patch(images: torch.Tensor, patch_size: int = 3, value: float | None = None) -> torch.Tensor:
    """A copy of ``images`` (N, C, H, W) with the bottom-right ``patch_size`` square set to ``value`` (default: their maximum)."""
    if images.ndim != 4:
        raise ValueError(f"images: expected (N, C, H, W), received shape {tuple(images.shape)}")
    out = images.clone()
    out[:, :, -patch_size:, -patch_size:] = float(images.max()) if value is None else value
    return out


def manipulate(
    images: torch.Tensor,
    labels: torch.Tensor,
    candidates: np.ndarray,
    kind: str,
    n_manipulated: int,
    seed: int = 0,
    patch_size: int = 3,
    target: int = 0,
    classes: tuple[int, int] = (4, 9),
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Manipulate ``n_manipulated`` of the samples ``candidates`` (indices into ``images``) as ``kind`` says.

    Returns:
        The manipulated images and labels (copies; samples outside ``candidates`` unchanged) and the sorted
        indices of the manipulated samples.
    """
    if kind not in MANIPULATIONS:
        raise ValueError(f"kind: expected one of {MANIPULATIONS}, received {kind!r}")
    candidates = np.asarray(candidates)
    if not 0 < n_manipulated <= len(candidates):
        raise ValueError(f"n_manipulated: expected 1..{len(candidates)}, received {n_manipulated}")
    rng = np.random.default_rng(seed)
    images, labels = images.clone(), labels.clone()
    if kind == "interclass":
        if n_manipulated % 2:
            raise ValueError(f"n_manipulated: expected an even count for an interclass swap, received {n_manipulated}")
        a, b = classes
        first_a = candidates[labels[candidates].numpy() == a][: n_manipulated // 2]
        first_b = candidates[labels[candidates].numpy() == b][: n_manipulated // 2]
        labels[first_a], labels[first_b] = b, a
        return images, labels, np.sort(np.concatenate([first_a, first_b]))
    chosen = rng.choice(candidates, n_manipulated, replace=False)
    if kind == "poisoning":
        images[chosen] = add_patch(images[chosen], patch_size, float(images.max()))
        labels[chosen] = target
    else:
        labels[np.sort(chosen)] = labels[chosen]  # the official manip_dict: sorted indices get the drawn order's labels
    return images, labels, np.sort(chosen)


def known_subset(manipulated: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """The manipulated samples the developer identifies: a random ``fraction`` of them (at least one), sorted."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction: expected a share in (0, 1], received {fraction}")
    n = max(1, int(round(fraction * len(manipulated))))
    return np.sort(np.random.default_rng(seed + 1).choice(manipulated, n, replace=False))


def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, torch.Tensor]:
    logits, _ = outputs_and_targets(model, TensorDataset(images, labels))
    predictions = logits.argmax(1)
    return 100.0 * float((predictions == labels).float().mean()), predictions


def corrective_metrics(
    model: nn.Module,
    kind: str,
    test_inputs: torch.Tensor,
    test_labels: torch.Tensor,
    patched_inputs: torch.Tensor | None = None,
    patch_size: int = 3,
    target: int = 0,
    classes: tuple[int, int] = (4, 9),
) -> dict[str, float]:
    """Clean test accuracy, accuracy on the affected classes and (poisoning) attack success, in %.

    Args:
        patched_inputs: for poisoning, the model's inputs for the patched test images (default: ``add_patch`` of
            ``test_inputs`` with their maximum; pass them when the model reads features computed from the images).
    """
    metrics = {"test_accuracy": _accuracy(model, test_inputs, test_labels)[0]}
    if kind == "poisoning":
        others = test_labels != target
        patched = add_patch(test_inputs, patch_size) if patched_inputs is None else patched_inputs
        accuracy, predictions = _accuracy(model, patched[others], test_labels[others])
        metrics["affected_accuracy"] = accuracy
        metrics["attack_success"] = 100.0 * float((predictions == target).float().mean())
    elif kind == "interclass":
        affected = (test_labels == classes[0]) | (test_labels == classes[1])
        metrics["affected_accuracy"] = _accuracy(model, test_inputs[affected], test_labels[affected])[0]
    else:
        metrics["affected_accuracy"] = metrics["test_accuracy"]
    return metrics


def corrective_curve(
    net: nn.Module,
    train: TensorDataset,
    train_indices: np.ndarray,
    manipulated: np.ndarray,
    kind: str,
    test_inputs: torch.Tensor,
    test_labels: torch.Tensor,
    methods: dict[str, dict[str, Any]],
    fractions: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0),
    task: str = "classification",
    seed: int = 0,
    **metric_options: Any,
) -> dict[float, dict[str, dict[str, float]]]:
    """Every method (one of them the retrain reference, e.g. ``eu_k`` with ``k = -1``) at every known fraction.

    Args:
        net: the model trained on ``train`` (manipulated) at ``train_indices``.
        train: the manipulated training data.
        train_indices: the samples the model was trained on.
        manipulated: the manipulated samples among them.
        kind: one of :data:`MANIPULATIONS`.
        test_inputs, test_labels: the clean test set (the model's inputs).
        methods: row name -> ``{"method": registered name, **hyper-parameters}``.
        fractions: known shares of the manipulated samples.
        metric_options: ``patched_inputs``, ``patch_size``, ``target``, ``classes`` of :func:`corrective_metrics`.

    Returns:
        fraction -> row name -> metrics (``"original"`` is the model before unlearning).
    """
    original = corrective_metrics(net, kind, test_inputs, test_labels, **metric_options)
    curve: dict[float, dict[str, dict[str, float]]] = {}
    for fraction in fractions:
        known = known_subset(manipulated, fraction, seed)
        retain = np.setdiff1d(train_indices, known)
        data = UnlearningData(Subset(train, known.tolist()), Subset(train, retain.tolist()))
        rows = {"original": original}
        for name, spec in methods.items():
            spec = dict(spec)
            model = copy.deepcopy(net)
            build_method(spec.pop("method"), model, task, **spec).run(data)
            rows[name] = corrective_metrics(model.eval(), kind, test_inputs, test_labels, **metric_options)
        curve[fraction] = rows
    return curve
