"""Prune first, then unlearn (Jia et al., "Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023; official
code OPTML-Group/Unlearn-Sparse, ``main_imp.py`` and ``pruner/pruner.py``).

Pruning: global unstructured L1 (magnitude) pruning of every ``nn.Conv2d`` weight (the official ``pruning_model``
prunes conv layers only; linear heads, biases and batch norm stay dense). Each round removes a fraction ``rate`` of
the weights still alive (``torch.nn.utils.prune.global_unstructured`` on an already-pruned model does the same),
then rewinds the surviving weights and retrains on the training set with the mask kept:

- ``schedule="omp"`` (one-shot magnitude pruning): one round at ``rate = sparsity`` (official ``--rate 0.95``);
- ``schedule="imp"`` (iterative magnitude pruning): rounds of ``imp_rate`` (official 0.2) until ``sparsity``.

Rewinding: the official default (``--prune_type rewind_lt --rewind_epoch 8``) rewinds to the dense run's epoch-8
weights. A trained checkpoint does not carry its training trajectory, so ``rewind_epochs = k > 0`` rewinds to the
weights of a fresh run from the seed's initialisation after ``k`` epochs on the training set (a rewind point of *a*
dense run, not of the one that made the checkpoint); ``rewind_epochs = 0`` keeps the trained weights (the official
``--prune_type pt``, "lottery tickets from best dense weight"), the default here.

Unlearning: any registered method (``then``, with ``then_hparams``) runs on the sparse model with the mask kept:
the gradients of pruned weights are zeroed during its training, and the mask is applied again after it (one-shot
methods such as Fisher forgetting would otherwise refill them).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn
from torch.utils.data import ConcatDataset

from zoo.unlearning.base import METHODS, OneShotUnlearner, register
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.methods.baselines import Finetune, reinitialise

SCHEDULES = ("omp", "imp")


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights the official pruner prunes: those of every ``nn.Conv2d``, by parameter name."""
    return {f"{name}.weight": m.weight for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def magnitude_masks(model: nn.Module, rate: float, masks: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Global L1 pruning: remove the fraction ``rate`` of the still-alive conv weights with the smallest magnitude.

    Args:
        model: the network.
        rate: share of the alive weights to remove, in [0, 1).
        masks: the current masks (1 alive, 0 pruned); None = all alive.

    Returns:
        Parameter name -> new mask (same dtype as the weight).
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate: expected a share in [0, 1), received {rate!r}")
    weights = prunable_weights(model)
    if not weights:
        raise ValueError(f"model: expected nn.Conv2d layers to prune, received {type(model).__name__} without any")
    masks = masks or {n: torch.ones_like(w) for n, w in weights.items()}
    scores = {n: torch.where(masks[n] > 0, w.detach().abs(), torch.full_like(w, -1.0)) for n, w in weights.items()}
    flat = torch.cat([s.flatten() for s in scores.values()])  # pruned weights score -1: they sort first
    n_dead = int((flat < 0).sum())
    n_remove = int(round(rate * (flat.numel() - n_dead)))
    keep = torch.ones_like(flat)
    keep[torch.argsort(flat, stable=True)[: n_dead + n_remove]] = 0.0  # exactly n_remove more, ties broken by position
    out, start = {}, 0
    for n, w in weights.items():
        out[n] = keep[start : start + w.numel()].reshape(w.shape).to(w.dtype)
        start += w.numel()
    return out


def mask_sparsity(masks: dict[str, torch.Tensor]) -> float:
    """Share of pruned weights under ``masks``."""
    total = sum(m.numel() for m in masks.values())
    return float(sum((m == 0).sum() for m in masks.values())) / max(total, 1)


@torch.no_grad()
def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Zero the pruned weights of ``model`` in place."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask.to(params[name].device))


@contextmanager
def masks_kept(model: nn.Module, masks: dict[str, torch.Tensor]) -> Iterator[None]:
    """Within the block, gradients of pruned weights are zero (SGD momentum and weight decay, and Adam, then leave a
    zero weight at zero); on exit the mask is applied again."""
    params = dict(model.named_parameters())
    apply_masks(model, masks)
    handles = [params[n].register_hook(lambda g, m=m.to(params[n].device): g * m) for n, m in masks.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        apply_masks(model, masks)


def pruning_rounds(target: float, schedule: str, imp_rate: float) -> list[float]:
    """The per-round rates that reach the ``target`` sparsity: one round for OMP, rounds of ``imp_rate`` for IMP
    (the last one smaller, so that the product lands on the target)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: expected one of {SCHEDULES}, received {schedule!r}")
    if not 0.0 < target < 1.0:
        raise ValueError(f"sparsity: expected a share strictly between 0 and 1, received {target!r}")
    if schedule == "omp":
        return [target]
    if not 0.0 < imp_rate < 1.0:
        raise ValueError(f"imp_rate: expected a share strictly between 0 and 1, received {imp_rate!r}")
    rates, alive = [], 1.0
    while alive * (1 - imp_rate) > 1 - target + 1e-12:
        rates.append(imp_rate)
        alive *= 1 - imp_rate
    rates.append(1 - (1 - target) / alive)
    return [r for r in rates if r > 0]


@register("prune_first")
class PruneFirst(OneShotUnlearner):
    """Magnitude-prune the model to ``sparsity`` (OMP or IMP with rewinding and retraining on the training set),
    then run the method ``then`` on the sparse model with the mask kept.

    Args:
        sparsity: target share of pruned conv weights (official 0.95).
        schedule: ``"omp"`` (one shot) or ``"imp"`` (iterative).
        imp_rate: the IMP share pruned per round (official 0.2).
        rewind_epochs: 0 keeps the trained weights (official ``pt``); k > 0 rewinds to epoch k of a fresh run.
        train_epochs: epochs of retraining the sparse model after each pruning round (on forget + retain: pruning
            precedes the unlearning request).
        train_lr: the retraining learning rate.
        train_optimizer: ``"sgd"`` (the official) or ``"adam"`` (the zoo All-CNN recipe).
        then: the unlearning method run on the sparse model.
        then_hparams: its hyper-parameters.
        progress: show the progress bars of the training loops.
        (others: :class:`OneShotUnlearner`)
    """

    def __init__(
        self,
        model: nn.Module,
        task: str,
        *,
        sparsity: float = 0.95,
        schedule: str = "omp",
        imp_rate: float = 0.2,
        rewind_epochs: int = 0,
        train_epochs: float = 10,
        train_lr: float = 0.01,
        train_optimizer: str = "adam",
        then: str = "finetune",
        then_hparams: dict | None = None,
        progress: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(model, task, **kwargs)
        self.rates = pruning_rounds(sparsity, schedule, imp_rate)
        if then not in METHODS or then == "prune_first":
            raise ValueError(f"then: expected a registered method other than prune_first, received {then!r}")
        self.rewind_epochs, self.train_epochs, self.train_lr, self.train_optimizer = rewind_epochs, train_epochs, train_lr, train_optimizer
        self.then, self.then_hparams, self.progress = then, dict(then_hparams or {}), progress
        self.masks: dict[str, torch.Tensor] = {}

    def _train(self, data: UnlearningData, epochs: float, seed_offset: int = 0) -> None:
        everything = UnlearningData(data.forget, ConcatDataset([data.forget, data.retain]))
        Finetune(self.model, self.task, epochs=epochs, lr=self.train_lr, optimizer=self.train_optimizer,
                 weight_decay=0.0 if self.train_optimizer == "adam" else 5e-4, batch_size=self.batch_size,
                 regression_loss=self.regression_loss, seed=self.seed + seed_offset, progress=self.progress).run(everything)

    def rewind_state(self, data: UnlearningData) -> dict[str, Any]:
        """The weights the survivors rewind to (see the module docstring)."""
        if self.rewind_epochs == 0:
            return copy.deepcopy(self.model.state_dict())
        trained = copy.deepcopy(self.model.state_dict())
        reinitialise(self.model, self.seed)
        self._train(data, self.rewind_epochs, seed_offset=100)
        rewind = copy.deepcopy(self.model.state_dict())
        self.model.load_state_dict(trained)
        return rewind

    def prune(self, data: UnlearningData) -> dict[str, torch.Tensor]:
        """Prune and retrain in place; returns the masks."""
        rewind = self.rewind_state(data)
        masks = None
        for round_index, rate in enumerate(self.rates):
            masks = magnitude_masks(self.model, rate, masks)
            self.model.load_state_dict(rewind)
            with masks_kept(self.model, masks):
                self._train(data, self.train_epochs, seed_offset=round_index + 1)
        return masks

    def run(self, data: UnlearningData) -> nn.Module:
        self.masks = self.prune(data)
        method = METHODS[self.then](self.model, self.task, **self.then_hparams)
        with masks_kept(self.model, self.masks):
            method.run(data)
        return self.model.eval()
