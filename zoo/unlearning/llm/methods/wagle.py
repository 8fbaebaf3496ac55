"""WAGLE (Jia et al., NeurIPS 2024): weight attribution, then GradDiff / NPO on the attributed weights only.

The score of weight i is ``S_i = |(theta_i - grad_i l_r(theta) / mu) * grad_i l_f(theta)|`` (one gradient pass over the
forget set and one over the retain set, mean answer NLL; mu = 1e-6 in the official code); the mask keeps the top
``1 - sparsity`` fraction of all weights; the base method then updates only those.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.core.progress import progress
from zoo.unlearning.llm.base import mean_nll, register
from zoo.unlearning.llm.data import paired_batches
from zoo.unlearning.llm.methods.grad_diff import GradDiff
from zoo.unlearning.llm.methods.npo import NPO


def mean_gradients(model: nn.Module, dataset, batch_size: int = 32) -> dict[str, torch.Tensor]:
    """Gradient of the dataset's mean answer NLL (batch losses averaged), by parameter name."""
    model.zero_grad(set_to_none=True)
    device = next(model.parameters()).device
    batches = list(paired_batches(dataset, None, batch_size, 1))
    for fb, _ in progress(batches, "wagle gradients", unit="batch"):
        (mean_nll(model, {k: v.to(device) for k, v in fb.items()}) / len(batches)).backward()
    grads = {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)) for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return grads


def wagle_scores(model: nn.Module, forget_grads: dict[str, torch.Tensor], retain_grads: dict[str, torch.Tensor], mu: float = 1e-6) -> dict[str, torch.Tensor]:
    """``|(theta - g_r / mu) * g_f|`` per weight, by parameter name."""
    return {n: ((p.detach() - retain_grads[n] / mu) * forget_grads[n]).abs() for n, p in model.named_parameters()}


def top_fraction_mask(scores: dict[str, torch.Tensor], keep: float) -> dict[str, torch.Tensor]:
    """Bool masks of the ``keep`` fraction of largest scores over all tensors together (ties at the threshold kept)."""
    flat = torch.cat([s.flatten().float() for s in scores.values()])
    k = max(1, int(round(keep * flat.numel())))
    threshold = torch.topk(flat, k).values.min()
    return {n: s.float() >= threshold for n, s in scores.items()}


class _WAGLE:
    """The attribution step shared by the WAGLE variants."""

    def _wagle_prepare(self, model, forget, retain) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"sparsity: expected a fraction in [0, 1), received {self.sparsity}")
        g_f = mean_gradients(model, forget, self.batch_size)
        g_r = mean_gradients(model, retain, self.batch_size)
        self.scores = wagle_scores(model, g_f, g_r, self.mu)
        self.update_masks = top_fraction_mask(self.scores, 1.0 - self.sparsity)


@register("wagle_grad_diff")
class WAGLEGradDiff(_WAGLE, GradDiff):
    """GradDiff restricted to WAGLE's attributed weights.

    Args:
        sparsity: the fraction of weights left untouched (0.8: 20% are updated).
        mu: the retain-gradient scale of the score (1e-6).
        gamma, alpha, retain_loss_type: as GradDiff.
    """

    def __init__(self, sparsity: float = 0.8, mu: float = 1e-6, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sparsity, self.mu = sparsity, mu

    def prepare(self, model, forget, retain) -> None:
        self._wagle_prepare(model, forget, retain)


@register("wagle_npo")
class WAGLENPO(_WAGLE, NPO):
    """NPO restricted to WAGLE's attributed weights (the official TOFU config: NPO + WAGLE).

    Args:
        sparsity: the fraction of weights left untouched (0.8).
        mu: the retain-gradient scale of the score (1e-6).
        beta, gamma, alpha, retain_loss_type: as NPO.
    """

    def __init__(self, sparsity: float = 0.8, mu: float = 1e-6, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sparsity, self.mu = sparsity, mu

    def prepare(self, model, forget, retain) -> None:
        self._wagle_prepare(model, forget, retain)
