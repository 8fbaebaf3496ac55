"""Representation-level evaluation ("Are we truly forgetting?"): does unlearning change the features, or only the head?

For every model of a comparison (original, retrain, each method):

- ``cka_original@<layer>`` / ``cka_retrain@<layer>``: linear CKA (Kornblith et al., 2019) between the model's and the
  original's / the retrained model's activations of ``layer`` on the same forget samples; ``cka_original`` /
  ``cka_retrain`` average the layers. A method that only moves the last layers keeps CKA to the original near 1 in
  the early ones, where the retrained model is far;
- ``knn_forget_accuracy`` / ``knn_retain_accuracy`` (%): a k-NN classifier over the penultimate features (the head's
  input, L2-normalised) of the validation samples, all classes, never trained on, labels the forget / retain samples:
  high on the forget set means the forgotten classes are still separable in the representation whatever the head says;
- ``probe_accuracy`` (%): a logistic-regression probe on the penultimate features, trained on the validation samples
  for a downstream task (``probe_targets``: a label per dataset sample, e.g. "the digit has a closed loop" next to a
  forgotten 0) and tested on the test samples: how much of the forgotten concept a new task can still read.

CKA uses the Gram form ``<K_c, L_c> / (||K_c|| ||L_c||)`` with ``K = X X^T`` centred, so wide activations cost only
an N x N matrix per layer.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from zoo.unlearning.activations import default_activation_layers, record_activations
from zoo.unlearning.splits import Split

SAMPLES = 300
"""Forget / retain samples (at most) per representation metric."""


def centred_gram(features: torch.Tensor) -> torch.Tensor:
    """``H X X^T H`` in float64 for (N, ...) features, flattened per sample."""
    x = features.reshape(len(features), -1).double()
    gram = x @ x.T
    mean_row = gram.mean(0, keepdim=True)
    return gram - mean_row - mean_row.T + gram.mean()


def cka_from_grams(k: torch.Tensor, l: torch.Tensor) -> float:
    """Linear CKA from two centred Gram matrices of the same samples."""
    denominator = float(k.norm() * l.norm())
    return float((k * l).sum()) / denominator if denominator > 0 else float("nan")


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between two (N, ...) feature sets of the same N samples (1 = the same up to rotation and scale).

    Raises:
        ValueError: the two sets hold a different number of samples.
    """
    if len(x) != len(y):
        raise ValueError(f"features: expected the same samples in both sets, received {len(x)} and {len(y)}")
    return cka_from_grams(centred_gram(x), centred_gram(y))


@torch.no_grad()
def layer_grams(model: nn.Module, dataset: Dataset, layers: tuple[str, ...], batch_size: int = 100) -> dict[str, torch.Tensor]:
    """Centred Gram matrix of each layer's activations over ``dataset`` (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    per_layer: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    for batch in DataLoader(dataset, batch_size):
        with record_activations(model, layers) as acts:
            model(batch[0].to(device))
        for name, act in zip(layers, acts):
            per_layer[name].append(act.flatten(1).double().cpu())
    return {name: centred_gram(torch.cat(chunks)) for name, chunks in per_layer.items()}


@torch.no_grad()
def penultimate_features(model: nn.Module, dataset: Dataset, batch_size: int = 256) -> np.ndarray:
    """The head's input (the last ``nn.Linear`` or analytic head) for every sample, L2-normalised, as (N, d)."""
    from zoo.unlearning.methods.acu import last_linear

    model.eval()
    _, _, head = last_linear(model)
    captured: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach().float().cpu()))
    device = next(model.parameters()).device
    try:
        for batch in DataLoader(dataset, batch_size):
            model(batch[0].to(device))
    finally:
        handle.remove()
    features = torch.cat(captured)
    return torch.nn.functional.normalize(features, dim=1).numpy()


def _sample(indices: np.ndarray, seed: int, n: int = SAMPLES) -> list[int]:
    indices = np.asarray(indices)
    if len(indices) > n:
        indices = np.sort(np.random.default_rng(seed).choice(indices, n, replace=False))
    return indices.tolist()


def representation_columns(
    models: dict[str, nn.Module],
    dataset: Dataset,
    split: Split,
    probe_targets: np.ndarray | None = None,
    layers: tuple[str, ...] | None = None,
    k: int = 10,
) -> dict[str, dict[str, float]]:
    """The representation metrics of every model (see the module docstring).

    Args:
        models: row name -> network; must hold ``"original"`` and ``"retrain"``.
        dataset: the dataset ``split`` indexes, of ``(x, y)`` with class targets.
        split: forget / retain / validation / test indices (validation samples are the k-NN bank and the probe's
            training set).
        probe_targets: (len(dataset),) downstream labels; None leaves the probe out.
        layers: module names compared by CKA (default: the original's ``activation_layers``).
        k: neighbours of the k-NN classifier.

    Returns:
        Row name -> metric -> value.
    """
    for needed in ("original", "retrain"):
        if needed not in models:
            raise ValueError(f"models: expected a {needed!r} entry, received {sorted(models)}")
    if len(split.val) < k:
        raise ValueError(f"split: expected at least k = {k} validation samples for the k-NN bank, received {len(split.val)}")
    layers = tuple(layers or default_activation_layers(models["original"]))
    forget = Subset(dataset, _sample(split.forget, split.seed))
    retain = Subset(dataset, _sample(split.retain, split.seed + 1))
    val, test = Subset(dataset, split.val.tolist()), Subset(dataset, split.test.tolist())
    targets = lambda subset: np.asarray([int(dataset[i][1]) for i in subset.indices])  # noqa: E731
    val_y, forget_y, retain_y = targets(val), targets(forget), targets(retain)

    grams = {}
    for name, model in models.items():
        present = tuple(layer for layer in layers if layer in dict(model.named_modules()))
        grams[name] = layer_grams(model, forget, present)
    results: dict[str, dict[str, float]] = {}
    for name, model in models.items():
        row: dict[str, float] = {}
        for reference in ("original", "retrain"):
            values = [cka_from_grams(grams[name][layer], grams[reference][layer]) for layer in layers if layer in grams[name]]
            row.update({f"cka_{reference}@{layer}": v for layer, v in zip(layers, values)})
            row[f"cka_{reference}"] = float(np.mean(values))
        bank = penultimate_features(model, val)
        knn = KNeighborsClassifier(n_neighbors=k).fit(bank, val_y)
        row["knn_forget_accuracy"] = 100.0 * float((knn.predict(penultimate_features(model, forget)) == forget_y).mean())
        row["knn_retain_accuracy"] = 100.0 * float((knn.predict(penultimate_features(model, retain)) == retain_y).mean())
        if probe_targets is not None:
            probe_targets = np.asarray(probe_targets)
            probe = LogisticRegression(max_iter=2000).fit(bank, probe_targets[split.val])
            row["probe_accuracy"] = 100.0 * float((probe.predict(penultimate_features(model, test)) == probe_targets[split.test]).mean())
        results[name] = row
    return results
