"""StyleGAN2 weight demodulation, applied to activations (Karras et al. 2020, used by UVCGAN2 and Rawformer)."""

from __future__ import annotations

import torch

from zoo.ops.compile import lazy_compile


def demodulate(out: torch.Tensor, style: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Scale each output channel of a layer fed with style-modulated input back to unit expected norm.

    With input channels scaled by ``style`` and a layer ``weight`` (C_out, C_in, ...), output channel ``o`` is
    multiplied by ``1 / sqrt(sum_i style[i]^2 * sum(weight[o, i]^2) + eps)``.

    Args:
        out: the layer output. Shape: (N, C_out, H, W).
        style: the per-sample input-channel scales. Shape: (N, C_in).
        weight: the layer weight. Shape: (C_out, C_in, ...).
        eps: keeps the scale finite.

    Returns:
        Shape: (N, C_out, H, W).
    """
    energy = weight.square().flatten(2).sum(-1)  # (C_out, C_in)
    sigma_sq = style.square() @ energy.t()  # (N, C_out)
    return out * torch.rsqrt(sigma_sq + eps)[:, :, None, None]


demodulate_fused = lazy_compile(demodulate, dynamic=False)
