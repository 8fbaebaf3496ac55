"""Adapt-then-Unlearn (Tiwary, Guha et al., TMLR): unlearn a class from a pretrained GAN without its training data.

Stage 1, negative adaptation: generate samples, keep those the classifier flags as the unwanted class, and fine-tune
a copy of the generator as a GAN on them (non-saturating loss against a discriminator that takes the flagged samples
as real), with EWC ``(lambda / 2) sum F (theta - theta_0)^2`` (F: the mean squared gradient of the discriminator's
logit on generated samples with respect to the generator's parameters) -> theta_N.

Stage 2, unlearning: train the *original* generator on positive samples (generated, classifier-filtered) with the
non-saturating loss plus a repulsion from theta_N. With ``d`` the official parameter distance
(:func:`parameter_distance`), the three variants (:func:`repulsion`) are ``l2``: ``-gamma d``, ``exp``:
``100 exp(-gamma d)``, ``reci``: ``1 / (gamma d)``.

Defaults from the official code (``atriguha/Adapt_Unlearn``: README, ``stylegan2_ewc.py``,
``train_different_losses.py``): gamma 1.2, EWC lambda 5e8, Fisher from 32 samples, Adam lr 0.002 betas (0, 0.99)
(StyleGAN2's), batch 16, adaptation 2000 iterations, unlearning 3000, 5000 positive samples. :data:`TINY` is the CPU
setting of the docs page. StyleGAN2's R1 and path-length regularisers and the ADA augmentation are not used (the zoo's
GAN is a DCGAN); the official ``repulsion`` with several adapted models is kept (``adapted=k``).

``repel=False`` gives the adaptation-free baseline: the same stage 2 on positive samples without repulsion.

Taxonomy: removal-intended (parameters move away from the unwanted class's direction), parameter optimisation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any, Callable, Sequence

import torch
from torch import nn

from zoo.core.progress import progress
from zoo.losses.adversarial import logistic_discriminator_loss, nonsaturating_generator_loss
from zoo.unlearning.generative.base import Gan, make_config, predict_labels

TINY = dict(adapt_iterations=150, unlearn_iterations=300, batch_size=32, samples=1000, lr=2e-4, fisher_samples=32)
"""The CPU run of the docs page: 150 + 300 iterations of batch 32, 1000 generated positives (paper: 2000 + 3000 of 16, 5000)."""

REPULSIONS = ("l2", "exp", "reci")


def parameter_distance(model: nn.Module, adapted: Sequence[dict[str, torch.Tensor]]) -> torch.Tensor:
    """The official repulsion distance between ``model`` and the adapted parameter sets.

    Per parameter tensor, the MSE to each adapted copy is summed over the copies and divided by the number of
    tensors; each is then multiplied by ``k / 2`` (the official ``value / 2 * len(models)``, k adapted models) and
    the tensors summed: ``d = (k / 2) (1 / P) sum_p sum_j mse(theta_p, theta_N_j,p)``.

    Args:
        model: the generator being unlearned (its ``named_parameters``).
        adapted: the adapted generators' parameters by name.

    Returns:
        Scalar ``d`` with gradient to ``model``.
    """
    if not adapted:
        raise ValueError("adapted: expected at least one negatively adapted parameter set, received none")
    params = list(model.named_parameters())
    total = sum(sum(torch.nn.functional.mse_loss(p, state[n].to(p)) for state in adapted) for n, p in params)
    return total / len(params) * len(adapted) / 2


def repulsion(d: torch.Tensor, kind: str, gamma: float = 1.2) -> torch.Tensor:
    """The repulsion term added to the generator loss: ``l2`` ``-gamma d``, ``exp`` ``100 exp(-gamma d)``, ``reci`` ``1 / (gamma d)``."""
    if kind == "l2":
        return -gamma * d
    if kind == "exp":
        return 100 * torch.exp(-gamma * d)
    if kind == "reci":
        return 1 / (gamma * d)
    raise ValueError(f"repulsion: expected one of {REPULSIONS}, received {kind!r}")


def fisher_diagonal(gan: Gan, generator: nn.Module, samples: int, seed: int) -> dict[str, torch.Tensor]:
    """EWC's Fisher diagonal: the mean over ``samples`` latents of the squared gradient of D's logit w.r.t. the generator."""
    device = next(generator.parameters()).device
    z = torch.randn(samples, gan.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    params = dict(generator.named_parameters())
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    logits = gan.discriminator(generator(z)).reshape(samples, -1).mean(1)
    for i in progress(range(samples), "EWC Fisher", unit="sample"):
        grads = torch.autograd.grad(logits[i], list(params.values()), retain_graph=i < samples - 1, allow_unused=True)
        for n, gr in zip(params, grads):
            if gr is not None:
                total[n] += gr.square()
    return {n: t / samples for n, t in total.items()}


def ewc_penalty(model: nn.Module, fisher: dict[str, torch.Tensor], anchor: dict[str, torch.Tensor], lam: float) -> torch.Tensor:
    """``(lam / 2) sum_p F_p (theta_p - theta0_p)^2``."""
    return lam / 2 * sum((fisher[n] * (p - anchor[n]).square()).sum() for n, p in model.named_parameters() if n in fisher)


@dataclass
class AdaptThenUnlearnConfig:
    forget_class: int = 0
    gamma: float = 1.2
    repulsion: str = "l2"
    repel: bool = True
    adapted: int = 1
    ewc_lambda: float = 5e8
    fisher_samples: int = 32
    lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    batch_size: int = 16
    adapt_iterations: int = 2000
    unlearn_iterations: int = 3000
    samples: int = 5000
    seed: int = 0
    progress: bool | None = None  # the bar: None shows it on a terminal (zoo.core.progress), False never


class AdaptThenUnlearn:
    """Adapt-then-Unlearn over a :class:`Gan` and a classifier (see the module docstring).

    Args:
        hparams: any :class:`AdaptThenUnlearnConfig` field.
    """

    def __init__(self, **hparams: Any) -> None:
        self.config = make_config(AdaptThenUnlearnConfig, "adapt_then_unlearn", hparams)
        if self.config.repulsion not in REPULSIONS:
            raise ValueError(f"repulsion: expected one of {REPULSIONS}, received {self.config.repulsion!r}")
        self.history: list[dict[str, float]] = []

    @staticmethod
    def hyperparameters() -> list[str]:
        return [f.name for f in fields(AdaptThenUnlearnConfig)]

    def split_samples(self, gan: Gan, classifier: Callable[[torch.Tensor], torch.Tensor], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Generated samples the classifier flags as the forget class (negatives) and the others (positives)."""
        images = gan.sample(self.config.samples, seed=seed)
        labels = predict_labels(images, classifier)
        flagged = labels == self.config.forget_class
        return images[flagged], images[~flagged]

    def adapt(self, gan: Gan, negatives: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
        """Stage 1: a copy of the generator adapted to the negatives with EWC; returns its parameters."""
        if len(negatives) < 2:
            raise ValueError(f"negatives: the generator produced {len(negatives)} samples of class {self.config.forget_class}; expected at least 2 to adapt to")
        c = self.config
        generator = copy.deepcopy(gan.generator).train()
        disc = copy.deepcopy(gan.discriminator).train()
        fisher = fisher_diagonal(Gan(generator, disc, gan.latent_dim), generator, c.fisher_samples, seed)
        anchor = {n: p.detach().clone() for n, p in generator.named_parameters()}
        self._train(generator, disc, negatives, gan.latent_dim, c.adapt_iterations, seed, lambda g: ewc_penalty(g, fisher, anchor, c.ewc_lambda), "adapt")
        return {n: p.detach().clone() for n, p in generator.named_parameters()}

    def run(self, gan: Gan, classifier: Callable[[torch.Tensor], torch.Tensor]) -> nn.Module:
        """Both stages; returns the unlearned generator (the input GAN is untouched)."""
        c = self.config
        negatives, positives = self.split_samples(gan, classifier, c.seed)
        if len(positives) < 2:
            raise ValueError(f"positives: the classifier flags {len(negatives)} of {c.samples} samples as class {c.forget_class}; expected at least 2 others to train on")
        adapted = [self.adapt(gan, negatives, c.seed + 1 + k) for k in range(c.adapted)] if c.repel else []
        self.adapted = adapted  # theta_N, kept for inspection
        generator = copy.deepcopy(gan.generator).train()
        disc = copy.deepcopy(gan.discriminator).train()
        extra = (lambda g: repulsion(parameter_distance(g, adapted), c.repulsion, c.gamma)) if c.repel else None
        self._train(generator, disc, positives, gan.latent_dim, c.unlearn_iterations, c.seed + 100, extra, "unlearn")
        return generator.eval()

    def _train(self, generator: nn.Module, disc: nn.Module, real: torch.Tensor, dim: int, iterations: int, seed: int, extra, stage: str) -> None:
        c = self.config
        device = next(generator.parameters()).device
        opt_g = torch.optim.Adam(generator.parameters(), lr=c.lr, betas=c.betas)
        opt_d = torch.optim.Adam(disc.parameters(), lr=c.lr, betas=c.betas)
        g = torch.Generator().manual_seed(seed)
        for _ in progress(range(iterations), f"Adapt-then-Unlearn {stage}", enabled=c.progress):
            x = real[torch.randint(0, len(real), (c.batch_size,), generator=g)].to(device)
            z = torch.randn(c.batch_size, dim, generator=g).to(device)
            fake = generator(z)
            loss_d = logistic_discriminator_loss(disc(x), disc(fake.detach()))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_adv = nonsaturating_generator_loss(disc(fake))
            loss_extra = extra(generator) if extra is not None else torch.zeros((), device=device)
            opt_g.zero_grad(set_to_none=True)
            (loss_adv + loss_extra).backward()
            opt_g.step()
            self.history.append({"stage": stage, "d": float(loss_d.detach()), "g": float(loss_adv.detach()), "extra": float(loss_extra.detach())})
