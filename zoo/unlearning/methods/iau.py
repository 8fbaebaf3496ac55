"""Influence Approximation Unlearning (IAU; Liu et al., official code Lolo1222/IAU: ``train_model.py``,
``IAU_unlearn.py``, ``utility/parser.py``).

Training (the model must be trained this way for the one step to suffice): gradient restriction,
``L_GR = task(f(x), y) + alpha * sum_tensors ||grad_theta task||_2`` with ``alpha`` 0.005, by double backprop
(``create_graph=True``), Adam, batch 64.

Unlearning: **one** Adam step (lr 1e-3) on ``grad mean task(D_r) - grad mean task(D_f)`` (the official code
backpropagates ``CE(D_r)`` and ``-CE(D_f)``, each one full batch, into the same gradients, then steps once).

Deviations: the full-batch means are accumulated over minibatches (the same value, in less memory), in eval mode
(the official CNN has no batch norm; a network with batch norm here uses its running statistics, as a full batch
would need its whole activations in memory). ``gr_epochs > 0`` first fine-tunes the given model with the gradient
restriction on the training set (forget + retain) for that many epochs: a stand-in for GR training from scratch
when the checkpoint was trained without it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from zoo.unlearning.base import OneShotUnlearner, Unlearner, register
from zoo.unlearning.data import UnlearningData


def gradient_restriction_loss(model: nn.Module, loss: torch.Tensor, alpha: float) -> torch.Tensor:
    """``loss + alpha * sum ||grad_theta loss||_2`` over the trainable tensors, differentiable (double backprop)."""
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
    return loss + alpha * sum(g.norm() for g in grads if g is not None)


class GradientRestrictionTraining(Unlearner):
    """Training on the retain stream with the gradient-restriction loss (used by :class:`IAU` with ``gr_epochs``).

    Args:
        alpha: weight of the gradient norms (official 0.005).
        (others: :class:`Unlearner`; defaults Adam 1e-3, batch 64, as the official ``parser.py``)
    """

    data_mode = "retain"

    def __init__(self, model: nn.Module, task: str, *, alpha: float = 0.005, lr: float = 1e-3, optimizer: str = "adam",
                 weight_decay: float = 0.0, batch_size: int = 64, **kwargs) -> None:
        super().__init__(model, task, lr=lr, optimizer=optimizer, weight_decay=weight_decay, batch_size=batch_size, **kwargs)
        self.alpha = alpha

    def unlearning_loss(self, batch) -> torch.Tensor:
        x, y = batch
        return gradient_restriction_loss(self.model, self.loss(self.model(x), y), self.alpha)


@register("iau")
class IAU(OneShotUnlearner):
    """One optimiser step on ``grad task(D_r) - grad task(D_f)``.

    Args:
        lr: Adam learning rate of the step (official 1e-3).
        gr_alpha: gradient-restriction weight of the optional fine-tuning (official 0.005).
        gr_epochs: epochs of gradient-restriction fine-tuning on forget + retain before the step (0: the model was
            trained with it).
        progress: show the progress bar of that fine-tuning.
        (others: :class:`OneShotUnlearner`)
    """

    def __init__(self, model: nn.Module, task: str, *, lr: float = 1e-3, gr_alpha: float = 0.005, gr_epochs: float = 0, progress: bool = True, **kwargs) -> None:
        super().__init__(model, task, **kwargs)
        self.lr, self.gr_alpha, self.gr_epochs, self.progress = lr, gr_alpha, gr_epochs, progress

    def mean_gradient(self, dataset: Dataset) -> list[torch.Tensor]:
        """The gradient of the mean task loss over ``dataset`` (eval mode), accumulated over minibatches."""
        self.model.eval()
        params = [p for p in self.model.parameters() if p.requires_grad]
        device = params[0].device
        total = [torch.zeros_like(p) for p in params]
        for x, y in DataLoader(dataset, self.batch_size):
            x, y = x.to(device), y.to(device)
            loss = self.loss(self.model(x), y) * (len(x) / len(dataset))
            for t, g in zip(total, torch.autograd.grad(loss, params, allow_unused=True)):
                if g is not None:
                    t += g
        return total

    def run(self, data: UnlearningData) -> nn.Module:
        if self.gr_epochs > 0:
            everything = UnlearningData(data.forget, ConcatDataset([data.forget, data.retain]))
            GradientRestrictionTraining(self.model, self.task, alpha=self.gr_alpha, epochs=self.gr_epochs, seed=self.seed,
                                        regression_loss=self.regression_loss, progress=self.progress).run(everything)
        params = [p for p in self.model.parameters() if p.requires_grad]
        step = [r - f for r, f in zip(self.mean_gradient(data.retain), self.mean_gradient(data.forget))]
        optimizer = torch.optim.Adam(params, lr=self.lr)
        for p, g in zip(params, step):
            p.grad = g
        optimizer.step()
        for p in params:
            p.grad = None
        return self.model.eval()
