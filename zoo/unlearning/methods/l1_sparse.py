"""l1-sparse unlearning (Jia et al., "Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023).

Fine-tune on the retain set with an l1 penalty whose weight decays linearly to zero:
``L = task(D_r) + gamma_t * ||theta||_1``, ``gamma_t = gamma * (1 - t / (T - T0))`` for epoch ``t < T - T0``, else 0.
Defaults: the README's SGD lr 0.01, 10 epochs; ``gamma`` 5e-4; ``no_l1_epochs`` T0 = 0 (the official code reads
``args.no_l1_epochs`` without defining it; 0 is what a run without the flag would need).
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.unlearning.base import register
from zoo.unlearning.methods.baselines import Finetune


@register("l1_sparse")
class L1Sparse(Finetune):
    """Fine-tuning on the retain set with a decaying l1 penalty on all weights."""

    def __init__(self, model: nn.Module, task: str, *, gamma: float = 5e-4, no_l1_epochs: int = 0, **kwargs) -> None:
        super().__init__(model, task, **kwargs)
        self.gamma, self.no_l1_epochs = gamma, no_l1_epochs

    def l1_weight(self, epoch: int) -> float:
        active = self.epochs - self.no_l1_epochs
        return self.gamma * (1 - epoch / active) if epoch < active else 0.0

    def unlearning_loss(self, batch) -> torch.Tensor:
        weight = self.l1_weight(self.current_epoch)
        penalty = sum(p.abs().sum() for p in self.model.parameters() if p.requires_grad)
        self.log("l1_weight", weight)
        return super().unlearning_loss(batch) + weight * penalty
