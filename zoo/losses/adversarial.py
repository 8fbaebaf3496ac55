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


def least_squares_loss(logits: torch.Tensor, target: float) -> torch.Tensor:
    """LSGAN (Mao et al. 2017): ``mean((D(x) - target)^2)``; target 1 for real, 0 for fake.

    Args:
        logits: discriminator outputs. Shape: (N, ...).
        target: the label the outputs are pulled to.

    Returns:
        Scalar loss.
    """
    return (logits - target).square().mean()


def interpolated_gradient_penalty(
    disc, real: torch.Tensor, fake: torch.Tensor, alpha: float, center: float = 0.0, extra_real=None, extra_fake=None,
    logit_reduction: str = "mean", norm: str = "l2",
) -> torch.Tensor:
    """``mean((||dD/dx|| - center)^2)`` at ``x = alpha * real + (1 - alpha) * fake`` (one ``alpha`` per batch, drawn
    from U(0, 1) by the caller, so that a seeded draw keeps resumed training exact).

    With ``center=0`` this is the zero-centred penalty of UVCGAN v2 / Rawformer (real-fake mixing); ``center=1``
    gives WGAN-GP. ``extra_real`` / ``extra_fake`` are keyword inputs of ``disc`` (e.g. queued features), mixed
    with the same ``a``. ``disc`` returns the logits, or a tuple whose first item they are; logits are averaged
    per sample before the gradient, as the official code does.

    ``alpha`` may also be a tensor that broadcasts against ``real`` (one draw per sample, as StarGAN's). SSGMap's
    variant (StarGAN-derived) differentiates the sum of all logits (``logit_reduction="sum"``) and takes the root
    mean square of the gradient instead of its norm (``norm="rms"``), centred at 0.01.

    Returns:
        Scalar penalty (unweighted), with the graph kept for backward.
    """
    if logit_reduction not in ("mean", "sum") or norm not in ("l2", "rms"):
        raise ValueError(f"logit_reduction, norm: expected 'mean'/'sum' and 'l2'/'rms', received {logit_reduction!r}, {norm!r}")
    x = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    extra = None if extra_real is None or extra_fake is None else alpha * extra_real + (1 - alpha) * extra_fake
    out = disc(x, extra) if extra is not None else disc(x)
    logits = out[0] if isinstance(out, tuple) else out
    per_sample = logits.flatten(1).mean(1) if logit_reduction == "mean" else logits.flatten(1).sum(1)
    (grad,) = torch.autograd.grad(per_sample.sum(), x, create_graph=True)
    grad = grad.flatten(1)
    size = grad.norm(dim=1) if norm == "l2" else grad.square().mean(1).sqrt()
    return (size - center).square().mean()


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge GAN loss of the discriminator (SPADE, HR-VITON's image generator): ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``.

    Args:
        real_logits: D's logits on real samples. Shape: (N, ...).
        fake_logits: D's logits on generated samples. Shape: (N, ...).

    Returns:
        Scalar loss.
    """
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge GAN loss of the generator: ``-mean(D(fake))``. Shape: (N, ...) -> scalar."""
    return -fake_logits.mean()


def multiscale_feature_matching(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> torch.Tensor:
    """pix2pixHD / SPADE discriminator feature matching: the L1 distance of every intermediate feature map (the last
    entry of each scale, the logits, excluded), averaged over the scales.

    Args:
        fake: per discriminator scale, its feature maps on generated samples (logits last).
        real: the same on real samples (detached here).

    Returns:
        Scalar loss.
    """
    total = sum(F.l1_loss(f, r.detach()) for fs, rs in zip(fake, real) for f, r in zip(fs[:-1], rs[:-1]))
    return total / max(len(fake), 1)


def wasserstein_critic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss: ``-mean(D(real)) + mean(D(fake))`` (the generator's is ``-mean(D(fake))``,
    :func:`hinge_generator_loss`).

    Args:
        real_logits: D's outputs on real samples. Shape: (N, ...).
        fake_logits: D's outputs on generated samples. Shape: (N, ...).

    Returns:
        Scalar loss.
    """
    return fake_logits.mean() - real_logits.mean()


def logistic_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's logistic discriminator loss: ``mean(softplus(-D(real))) + mean(softplus(D(fake)))``.

    Args:
        real_logits: D's logits on real samples. Shape: (N, ...).
        fake_logits: D's logits on generated samples. Shape: (N, ...).

    Returns:
        Scalar loss.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def nonsaturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss of StyleGAN2 / DCGAN: ``mean(softplus(-D(fake)))``. Shape: (N, ...) -> scalar."""
    return F.softplus(-fake_logits).mean()
