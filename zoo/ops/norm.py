"""Residual + normalisation chains: the element-wise glue between transformer sub-layers."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.ops.compile import lazy_compile


def rezero_residual_layer_norm(
    x: torch.Tensor,
    update: torch.Tensor,
    alpha: torch.Tensor | float,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ReZero residual ``y = x + alpha * update`` and the LayerNorm of ``y`` over the last dimension.

    The pre-LN transformer block computes both: ``y`` is the stream, ``LN(y)`` the next sub-layer's input.

    Args:
        x: the residual stream. Shape: (..., D).
        update: the sub-layer output. Shape: (..., D).
        alpha: the ReZero gain (a 1-element tensor, or 1.0 without ReZero).
        weight: LayerNorm scale, or None (no normalisation: the second output is ``y``).
        bias: LayerNorm shift, or None.
        eps: LayerNorm epsilon.

    Returns:
        ``(y, LN(y))``, both of shape (..., D).
    """
    y = x + alpha * update
    if weight is None:
        return y, y
    return y, F.layer_norm(y, y.shape[-1:], weight, bias, eps)


rezero_residual_layer_norm_fused = lazy_compile(rezero_residual_layer_norm, dynamic=False)
