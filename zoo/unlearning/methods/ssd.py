"""Selective Synaptic Dampening (Foster, Schoepf & Brintrup, AAAI 2024) and its label-free form (LFSSD).

One pass over the forget set and one over the full training set give diagonal importances ``[]_f`` and
``[]_D`` (mean of minibatch squared gradients of the loss). Every parameter with ``[]_f > alpha * []_D``
(specialised to the forget set) is dampened: ``theta <- min(lambda * []_D / []_f, 1) * theta``.
Defaults: the official ``selection_weighting`` alpha = 10 and ``dampening_constant`` lambda = 1, exponent 1, cap 1,
batch size 64 (the importance is a mean over minibatch gradients, so it depends on the batch size).
LFSSD replaces the loss by the squared L2 norm of the output (no labels) and squared gradients by absolute ones.

When the forget set is a share p of the training batches, ``[]_D >= p * []_f`` (its batches are part of the full
pass), so nothing can be selected unless alpha < 1 / p: alpha = 10 suits the paper's CIFAR-100 / CIFAR-20 classes
(1-5% of the data) but selects no weight when 10% of the data is forgotten (``SSD.dampened_share`` reports it).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Subset

from zoo.unlearning.base import OneShotUnlearner, register
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.importance import squared_gradients


def output_norm_loss(outputs: torch.Tensor, _targets: torch.Tensor) -> torch.Tensor:
    """LFSSD's label-free objective: the squared L2 norm of the output, averaged over the batch."""
    return outputs.reshape(len(outputs), -1).pow(2).sum(1).mean()


def dampen(model: nn.Module, forget_importance: dict[str, torch.Tensor], full_importance: dict[str, torch.Tensor], alpha: float, lam: float) -> float:
    """Dampen the parameters specialised to the forget set in place; returns the share of weights changed."""
    changed = total = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name not in forget_importance:
                continue
            fimp, oimp = forget_importance[name], full_importance[name]
            selected = fimp > alpha * oimp
            factor = (lam * oimp / fimp.clamp_min(torch.finfo(fimp.dtype).tiny)).clamp(max=1.0)
            p.mul_(torch.where(selected, factor, torch.ones_like(factor)))
            changed += int(selected.sum())
            total += p.numel()
    return changed / max(total, 1)


@register("ssd")
class SSD(OneShotUnlearner):
    """Selective Synaptic Dampening.

    Args:
        alpha: selection weighting (official 10; 5 for ViT full-class).
        lam: dampening constant (official 1).
        label_free: LFSSD (output-norm objective, absolute gradients).
        (others: :class:`OneShotUnlearner`)
    """

    def __init__(self, model: nn.Module, task: str, *, alpha: float = 10.0, lam: float = 1.0, label_free: bool = False, batch_size: int = 64, **kwargs) -> None:
        super().__init__(model, task, batch_size=batch_size, **kwargs)
        self.alpha, self.lam, self.label_free = alpha, lam, label_free
        self.dampened_share = 0.0

    def run(self, data: UnlearningData) -> nn.Module:
        loss = output_norm_loss if self.label_free else self.loss
        forget = squared_gradients(self.model, DataLoader(data.forget, self.batch_size), loss, absolute=self.label_free)
        full = squared_gradients(self.model, DataLoader(ConcatDataset([data.forget, data.retain]), self.batch_size), loss, absolute=self.label_free)
        self.dampened_share = dampen(self.model, forget, full, self.alpha, self.lam)
        return self.model.eval()


@register("lfssd")
class LabelFreeSSD(SSD):
    """SSD without labels (LFSSD): ``SSD(..., label_free=True)``."""

    def __init__(self, model: nn.Module, task: str, *, label_free: bool = True, **kwargs) -> None:
        super().__init__(model, task, label_free=label_free, **kwargs)


ALPHA_GRID = (0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0)


def tune_alpha(
    model: nn.Module, dataset, split, task: str, grid: tuple[float, ...] = ALPHA_GRID, label_free: bool = False, lam: float = 1.0, batch_size: int = 64
) -> tuple[float, dict[float, float]]:
    """Choose SSD's ``alpha`` on the validation samples (never trained on), from one pair of importance passes.

    The score of each ``alpha`` (higher is better; ties go to the larger, gentler ``alpha``):

    - a forgotten cohort with validation samples (class / range forgetting): how far apart the dampened model puts
      the cohort and the rest of the validation set, accuracy(val retain) - accuracy(val forget) for classifiers,
      L1(val forget) - L1(val retain) for regressors;
    - random forgetting (no cohort): the validation samples stand for unseen data, so the forget samples should score
      as they do, at the least loss of utility: accuracy(val) - |accuracy(forget) - accuracy(val)| (L1 likewise,
      negated).

    Args:
        model: the trained network (not modified).
        dataset: the dataset ``split`` indexes.
        split: a :class:`~zoo.unlearning.splits.Split` with validation samples.
        task: ``"classification"`` or ``"regression"``.
        grid: the ``alpha`` values tried.
        label_free: tune LFSSD instead.
        lam: the dampening constant.
        batch_size: the importance passes' batch size.

    Returns:
        The chosen ``alpha`` and the score of every ``alpha`` of the grid.
    """
    from zoo.unlearning.evaluate import outputs_and_targets

    if len(split.val) == 0:
        raise ValueError("split: expected validation samples to tune alpha on, received a split without any")
    probe = SSD(copy.deepcopy(model), task, label_free=label_free, batch_size=batch_size)
    loss = output_norm_loss if label_free else probe.loss
    forget, retain = Subset(dataset, split.forget.tolist()), Subset(dataset, split.retain.tolist())
    forget_imp = squared_gradients(probe.model, DataLoader(forget, batch_size), loss, absolute=label_free)
    # the batches of SSD.run on UnlearningData.from_split, so that the chosen alpha's row dampens the same weights
    full_imp = squared_gradients(probe.model, DataLoader(ConcatDataset([forget, retain]), batch_size), loss, absolute=label_free)

    def quality(net: nn.Module, indices) -> float:  # accuracy (%) or minus L1: higher is better
        out, y = outputs_and_targets(net, Subset(dataset, list(map(int, indices))))
        if task == "classification":
            return 100.0 * float((out.argmax(1) == y).float().mean())
        return -float((out.reshape(-1) - y.float()).abs().mean())

    cohort = len(split.val_forget) > 0
    scores = {}
    for alpha in grid:
        net = copy.deepcopy(model)
        dampen(net, forget_imp, full_imp, alpha, lam)
        if cohort:
            scores[alpha] = quality(net, np.setdiff1d(split.val, split.val_forget)) - quality(net, split.val_forget)
        else:
            val = quality(net, split.val)
            scores[alpha] = val - abs(quality(net, split.forget) - val)
    best = max(scores.values())
    return max(a for a, s in scores.items() if s == best), scores
