"""EM updates of the unrolled transductive few-shot models (UNEM)."""

from __future__ import annotations

import torch

from zoo.ops.compile import lazy_compile


def gaussian_e_step(
    z: torch.Tensor, w: torch.Tensor, v: torch.Tensor, balance: torch.Tensor, temperature: torch.Tensor
) -> torch.Tensor:
    """Soft assignments of a Gaussian E-step with a class-balance term.

    ``U = softmax_k((<z, w_k> - |w_k|^2 / 2 - |z|^2 / 2 + balance * v_k) / temperature)``; the distance is
    expanded as the official code does, which matters at float32 precision.

    Args:
        z: query features. Shape: (B, Q, D).
        w: class centres. Shape: (B, K, D).
        v: per-class marginal term. Shape: (B, K).
        balance: class-balance weight (scalar tensor).
        temperature: softmax temperature (scalar tensor).

    Returns:
        Soft assignments. Shape: (B, Q, K).
    """
    logits = z @ w.transpose(1, 2) - 0.5 * w.square().sum(-1).unsqueeze(1) - 0.5 * z.square().sum(-1, keepdim=True)
    return torch.softmax((logits + balance * v.unsqueeze(1)) / temperature, dim=-1)


gaussian_e_step_fused = lazy_compile(gaussian_e_step, dynamic=False)
