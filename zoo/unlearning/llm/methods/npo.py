"""NPO (Zhang et al., 2024; OpenUnlearning ``NPO``): DPO with only a "lose" side against the frozen original model.

``L_f = (2 / beta) * mean softplus(beta * (log pi_theta(y|x) - log pi_ref(y|x)))`` with sequence-summed log-likelihoods
of the answer; ``L = gamma * L_f + alpha * L_ret`` (retain NLL).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.unlearning.llm.base import batch_nll, register
from zoo.unlearning.llm.methods.grad_diff import GradDiff


def npo_loss(nll: torch.Tensor, reference_nll: torch.Tensor, beta: float) -> torch.Tensor:
    """``-(2 / beta) * mean log sigmoid(beta * (nll - reference_nll))`` over sequences (summed NLLs, (B,))."""
    return -2.0 / beta * F.logsigmoid(beta * (nll - reference_nll)).mean()


@register("npo")
class NPO(GradDiff):
    """Negative preference optimisation.

    Args:
        beta: inverse temperature (0.1).
        gamma, alpha, retain_loss_type: as GradDiff.
    """

    def __init__(self, beta: float = 0.1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.beta = beta
        self.needs_reference = True

    def forget_loss(self, model, forget):
        nll, _ = batch_nll(model, forget)
        with torch.no_grad():
            ref, _ = batch_nll(self.reference, forget)
        return npo_loss(nll, ref, self.beta)
