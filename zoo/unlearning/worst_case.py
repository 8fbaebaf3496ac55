"""Worst-case forget sets (Fan et al., "Challenging Forgets: Unveiling the Worst-Case Forget Sets in Machine
Unlearning", ECCV 2024; official code OPTML-Group/Unlearn-WorstCase, ``data-wise/unlearn/impl.py::optimize_select``
and ``unlearn/FT.py::w_FT_iter``).

Bi-level selection of the K training samples (data-wise) or classes (class-wise) that an unlearning method forgets
worst. Weights ``w`` live on the capped simplex ``{0 <= w <= 1, sum w = K}``:

- lower level, ``theta*(w)``: ``unlearn_steps`` epochs of the method over the candidate samples, weighted by ``w``,
  with sign-SGD (lr ``theta_lr``, the official ``SignSGD``): fine-tuning minimises ``sum (1 - w_i) l(z_i)`` (the
  retain part), random labels ``sum w_i l(x_i, random) + (1 - w_i) l(z_i)``;
- upper level: ``w <- Proj(w - w_lr * (l(theta*; z_i)_i + 2 gamma w))``, the projection by bisection on the shift
  (the official ``utils.bisection``); the class-wise variant weights every sample by its class's ``w`` and steps on
  the class-mean losses (a sign step would be uninformative there: every loss is positive, so every class would move
  alike);
- after ``select_epochs`` rounds the forget set is the top K of ``w``: the samples whose loss stays lowest after
  unlearning, i.e. the hardest to forget.

Defaults: the official ``w_lr`` 0.01, ``theta_lr`` 0.01, ``gamma`` 0, ``select_epochs`` 2, ``unlearn_steps`` 2.
Each round restarts the lower level from the original weights (``theta*(w)`` of the bi-level problem); the official
script keeps one model across rounds.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from zoo.core.progress import trange
from zoo.losses.supervised import task_loss

INNER_METHODS = ("finetune", "random_labels")


def project_capped_simplex(w: torch.Tensor, k: float, iterations: int = 100) -> torch.Tensor:
    """Euclidean projection of ``w`` onto ``{0 <= v <= 1, sum v = k}``: ``v = clamp(w - tau, 0, 1)`` with ``tau``
    found by bisection.

    Raises:
        ValueError: ``k`` outside ``[0, len(w)]``.
    """
    if not 0 <= k <= w.numel():
        raise ValueError(f"k: expected a budget in [0, {w.numel()}], received {k!r}")
    low, high = float(w.min()) - 1.0, float(w.max())
    for _ in range(iterations):
        tau = 0.5 * (low + high)
        if float((w - tau).clamp(0, 1).sum()) > k:
            low = tau
        else:
            high = tau
    return (w - 0.5 * (low + high)).clamp(0, 1)


def _sign_sgd_step(model: nn.Module, lr: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.sub_(lr * p.grad.sign())


def _weighted_unlearning(model, dataset, sample_weights, inner, steps, lr, batch_size, num_classes, seed) -> nn.Module:
    """The lower level: ``steps`` epochs of the ``w``-weighted method with sign-SGD, from a copy of ``model``."""
    model = copy.deepcopy(model).train()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    weights = torch.as_tensor(sample_weights, dtype=torch.float32)
    for _ in range(steps):
        order = torch.randperm(len(dataset), generator=gen)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            x, y = next(iter(DataLoader(Subset(dataset, idx.tolist()), len(idx))))[:2]
            x, y, w = x.to(device), y.to(device), weights[idx].to(device)
            out = model(x)
            loss = ((1 - w) * task_loss("classification", out, y, reduction="none")).sum()
            if inner == "random_labels":
                random = torch.randint(0, num_classes, y.shape, generator=gen).to(device)
                loss = loss + (w * task_loss("classification", out, random, reduction="none")).sum()
            model.zero_grad()
            loss.backward()
            _sign_sgd_step(model, lr)
    return model.eval()


@torch.no_grad()
def _per_sample_losses(model: nn.Module, dataset: Dataset, batch_size: int = 512) -> torch.Tensor:
    device = next(model.parameters()).device
    losses = [task_loss("classification", model(x.to(device)), y.to(device), reduction="none").cpu() for x, y, *_ in DataLoader(dataset, batch_size)]
    return torch.cat(losses).double()


def _check(inner: str, k: int, n: int, what: str) -> None:
    if inner not in INNER_METHODS:
        raise ValueError(f"inner: expected one of {INNER_METHODS}, received {inner!r}")
    if not 0 < k < n:
        raise ValueError(f"k: expected between 1 and {n - 1} {what}, received {k!r}")


def select_worst_case(
    model: nn.Module,
    dataset: Dataset,
    candidates: np.ndarray,
    k: int,
    inner: str = "finetune",
    select_epochs: int = 2,
    unlearn_steps: int = 2,
    w_lr: float = 0.01,
    theta_lr: float = 0.01,
    gamma: float = 0.0,
    batch_size: int = 256,
    seed: int = 0,
) -> tuple[np.ndarray, torch.Tensor]:
    """Data-wise worst-case forget set of ``k`` samples among ``candidates`` for the method ``inner``.

    Args:
        model: the trained classifier (not modified).
        dataset: the dataset ``candidates`` indexes, of ``(x, y)``.
        candidates: (N,) indices of the training samples to choose from.
        k: forget-set size.
        inner: ``"finetune"`` or ``"random_labels"``.
        select_epochs, unlearn_steps, w_lr, theta_lr, gamma: see the module docstring.
        batch_size: batch size of the lower level.
        seed: seed of the lower level's shuffling and random labels.

    Returns:
        The selected dataset indices (sorted) and the final ``w`` over ``candidates``.
    """
    candidates = np.asarray(candidates)
    _check(inner, k, len(candidates), "samples")
    pool = Subset(dataset, candidates.tolist())
    num_classes = int(model(pool[0][0][None].to(next(model.parameters()).device)).shape[1])
    w = torch.full((len(candidates),), k / len(candidates), dtype=torch.float64)
    for epoch in trange(select_epochs, "worst-case selection", unit="epoch"):
        unlearned = _weighted_unlearning(model, pool, w, inner, unlearn_steps, theta_lr, batch_size, num_classes, seed + epoch)
        w = project_capped_simplex(w - w_lr * (_per_sample_losses(unlearned, pool) + 2 * gamma * w), k)
    top = torch.argsort(w, descending=True, stable=True)[:k].numpy()
    return np.sort(candidates[top]), w


def select_worst_classes(
    model: nn.Module,
    dataset: Dataset,
    candidates: np.ndarray,
    k: int = 1,
    inner: str = "finetune",
    select_epochs: int = 2,
    unlearn_steps: int = 2,
    w_lr: float = 0.01,
    theta_lr: float = 0.01,
    gamma: float = 0.0,
    batch_size: int = 256,
    seed: int = 0,
) -> tuple[list[int], torch.Tensor]:
    """Class-wise worst-case forget set: the ``k`` classes whose samples ``inner`` forgets worst.

    Returns:
        The selected classes (sorted) and the final ``w`` over the classes present in ``candidates``.
    """
    candidates = np.asarray(candidates)
    labels = np.asarray([int(dataset[int(i)][1]) for i in candidates])
    classes = np.unique(labels)
    _check(inner, k, len(classes), "classes")
    pool = Subset(dataset, candidates.tolist())
    num_classes = int(model(pool[0][0][None].to(next(model.parameters()).device)).shape[1])
    position = {c: j for j, c in enumerate(classes)}
    members = torch.as_tensor([position[c] for c in labels])
    w = torch.full((len(classes),), k / len(classes), dtype=torch.float64)
    for epoch in trange(select_epochs, "worst-case selection", unit="epoch"):
        unlearned = _weighted_unlearning(model, pool, w[members], inner, unlearn_steps, theta_lr, batch_size, num_classes, seed + epoch)
        losses = _per_sample_losses(unlearned, pool)
        class_loss = torch.zeros(len(classes), dtype=torch.float64).index_add_(0, members, losses) / torch.bincount(members, minlength=len(classes))
        w = project_capped_simplex(w - w_lr * (class_loss + 2 * gamma * w), k)
    top = torch.argsort(w, descending=True, stable=True)[:k].tolist()
    return sorted(int(classes[j]) for j in top), w
