"""SimNPO (Fan et al., 2024; OpenUnlearning ``SimNPO``): reference-free, length-normalised NPO.

``L_f = -(2 / beta) * mean log sigmoid(beta * (NLL(y) / |y| - delta))``; ``L = gamma * L_f + alpha * L_ret``, with
OpenUnlearning's defaults beta 4.5, delta 0, gamma 0.125, alpha 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.unlearning.llm.base import batch_nll, register
from zoo.unlearning.llm.methods.grad_diff import GradDiff


def simnpo_loss(nll: torch.Tensor, tokens: torch.Tensor, beta: float, delta: float) -> torch.Tensor:
    """``-(2 / beta) * mean log sigmoid(beta * (nll / tokens - delta))`` (summed NLLs and token counts, (B,))."""
    return -2.0 / beta * F.logsigmoid(beta * (nll / tokens.clamp_min(1) - delta)).mean()


@register("simnpo")
class SimNPO(GradDiff):
    """Simple NPO.

    Args:
        beta: inverse temperature (4.5).
        delta: margin (0).
        gamma: forget weight (0.125).
        alpha, retain_loss_type: as GradDiff.
    """

    def __init__(self, beta: float = 4.5, delta: float = 0.0, gamma: float = 0.125, **kwargs) -> None:
        super().__init__(gamma=gamma, **kwargs)
        self.beta, self.delta = beta, delta

    def forget_loss(self, model, forget):
        nll, tokens = batch_nll(model, forget)
        return simnpo_loss(nll, tokens, self.beta, self.delta)
