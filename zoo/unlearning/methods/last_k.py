"""EU-k and CF-k, the corrective-unlearning baselines (Goel, Prabhu et al., "Corrective Machine Unlearning", TMLR 2024;
official code drimpossible/corrective-unlearning-bench, ``src/methods.py::ApplyK``, ``src/utils.py::unlearn_func``).

Every layer but the last ``k`` is frozen (weights and batch-norm statistics); ``k = -1`` trains them all.

- ``eu_k`` (exact unlearning of the last k layers): re-initialise the last k layers, then train them on the retain set;
  ``eu_k`` with ``k = -1`` is retraining from scratch.
- ``cf_k`` (catastrophic forgetting of the last k layers): fine-tune the last k layers on the retain set.

The "layers" are the network's top-level children that hold parameters, in registration order (for zoo's All-CNN:
``conv1`` .. ``conv8``, ``classifier``). Optimiser as in the official code: SGD (momentum 0.9, weight decay 5e-4),
lr 0.025, batch 512, ``iters`` = 1000 steps, a linear warm-up over the first 1% of the steps and a linear decay
``lr (1 - t / (1.25 T))`` (``utils.LinearLR`` with ``T = 1.25 * iters``).
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.unlearning.base import Unlearner, register
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.methods.baselines import Finetune, reinitialise


def parametrised_layers(model: nn.Module) -> list[str]:
    """Names of the top-level children of ``model`` that hold parameters, in order."""
    return [name for name, child in model.named_children() if any(True for _ in child.parameters())]


def last_layers(model: nn.Module, k: int) -> list[str]:
    """The last ``k`` parametrised top-level children of ``model`` (all of them for ``k = -1``)."""
    layers = parametrised_layers(model)
    if k == -1:
        return layers
    if not 1 <= k <= len(layers):
        raise ValueError(f"k: expected -1 (all layers) or 1..{len(layers)} (the parametrised layers {layers}), received {k}")
    return layers[-k:]


def linear_lr(step: int, total: int) -> float:
    """The official ``LinearLR`` factor: warm-up over ``total // 100`` steps, then ``1 - step / (1.25 total)``."""
    warm = total // 100
    if step < warm:
        return (step + 1) / warm
    return max(0.0, 1.0 - step / (1.25 * total))


class LastKUnlearner(Unlearner):
    """Base of the corrective baselines: only the last ``k`` layers train; SGD with the official linear schedule.

    Args:
        k: how many of the last parametrised layers train (-1: all).
        iters: optimiser steps (official ``unlearn_iters`` 1000), unless ``epochs`` is given.
        epochs: passes over the method's stream instead of ``iters`` steps.
        (others: :class:`Unlearner`; official lr 0.025, batch 512, weight decay 5e-4)
    """

    def __init__(
        self, model: nn.Module, task: str, *, k: int = -1, iters: int = 1000, epochs: float | None = None, lr: float = 0.025, batch_size: int = 512, **kwargs
    ) -> None:
        super().__init__(model, task, epochs=1.0 if epochs is None else epochs, lr=lr, batch_size=batch_size, **kwargs)
        self.k, self.iters, self.by_epochs = k, iters, epochs is not None
        self.trained_layers = last_layers(model, k)

    def frozen_layers(self) -> list[nn.Module]:
        return [child for name, child in self.model.named_children() if name not in self.trained_layers]

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        for child in self.frozen_layers():
            child.eval()  # the official prenet runs in eval mode: its batch-norm statistics stay as trained

    def configure_optimizers(self):
        optimizer = super().configure_optimizers()
        total = self.trainer.max_steps
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: linear_lr(step, total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def run(self, data: UnlearningData) -> nn.Module:
        if not self.by_epochs:
            batches = len(data.with_mode(self.data_mode, self.batch_size, self.seed).train_dataloader())
            self.epochs = self.iters / max(batches, 1)
        flags = {name: p.requires_grad for name, p in self.model.named_parameters()}
        for child in self.frozen_layers():
            child.requires_grad_(False)
        try:
            return super().run(data)
        finally:
            for name, p in self.model.named_parameters():
                p.requires_grad_(flags[name])


@register("cf_k")
class CatastrophicForgettingK(LastKUnlearner, Finetune):
    """CF-k: fine-tune the last ``k`` layers on the retain set."""

    data_mode = "retain"


@register("eu_k")
class ExactUnlearningK(CatastrophicForgettingK):
    """EU-k: re-initialise the last ``k`` layers, then train them on the retain set."""

    def prepare(self, data: UnlearningData) -> None:
        children = dict(self.model.named_children())
        for i, name in enumerate(self.trained_layers):
            reinitialise(children[name], self.seed + i)
