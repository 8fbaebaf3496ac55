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

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader

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
