"""Adversarial losses shared by every GAN of the zoo."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def relativistic_pairing_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, *, for_generator: bool) -> torch.Tensor:
    """Relativistic pairing GAN loss (RpGAN, as in R3GAN): ``softplus(-(D(a) - D(b)))``, averaged.

    The discriminator wants real above fake (``a = real, b = fake``); the generator the reverse.

    Args:
        real_logits: D's logits on real samples. Shape: (N, ...).
        fake_logits: D's logits on generated samples, paired one-to-one with ``real_logits``.
        for_generator: swap the roles of real and fake.

    Returns:
        Scalar loss.
    """
    diff = fake_logits - real_logits if for_generator else real_logits - fake_logits
    return F.softplus(-diff).mean()


def zero_centered_gradient_penalty(inputs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Squared norm of dD/dx per sample (R1 on real inputs, R2 on fake ones), graph kept for backward.

    Args:
        inputs: the tensor D was applied to; must require grad. Shape: (N, ...).
        logits: D(inputs). Shape: (N, ...).

    Returns:
        Per-sample penalty. Shape: (N,).
    """
    (grad,) = torch.autograd.grad(outputs=logits.sum(), inputs=inputs, create_graph=True)
    return grad.square().flatten(1).sum(1)
