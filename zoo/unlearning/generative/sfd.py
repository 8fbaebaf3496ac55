"""Score Forgetting Distillation (SFD; Chen, Zhang, Zhou, ICLR 2025): distil a class-conditional diffusion model into
a one-step generator that no longer produces the forget class.

Score identity distillation (SiD) trains three networks, all started from the teacher's UNet:

- the teacher (pretrained score ``p``, frozen);
- the fake-score net ``sg``: denoising score matching on the generator's own samples;
- the one-step generator ``G(z, c) = (x - sqrt(1 - abar_init) eps_G(x, t_init, c)) / sqrt(abar_init)`` with
  ``x = sqrt(1 - abar_init) z``: one UNet evaluation at the fixed step ``t_init``.

Remain term (classes other than the forget class): SiD's generator loss with both scores at the sample's class.
Forget term: the generator's forget-class samples are scored by ``sg`` at the forget label and by the teacher at a
*safe* label (``safe_label``, or a random other class), so the generator's forget class is pulled to the safe class.
The fake-score net is also trained on the generator's forget-class samples at the forget label.

Defaults are the official CIFAR-10 config (``tqch/score-forgetting-distillation: DDPM/configs/cifar10_sfd.yml``):
alpha 1.2, t in [38, 712) and t_init 440 of T = 1000 (kept as fractions of T for other schedules), remain
coefficients 1, forget coefficients 0.01, Adam lr 1e-5 betas (0, 0.999), gradient values clipped to 1, 50k
iterations of batch 128, safe label 1, and the generator evaluated as its EMA (rate 0.9999, started from the
teacher's weights). :data:`TINY` is the CPU setting of the docs page.

Taxonomy: removal-intended (the forget class is trained out of a new network), parameter optimisation.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

import torch
from torch import nn

from zoo.unlearning.generative.base import Diffusion, make_config

PAPER = dict(alpha=1.2, t_min=38 / 1000, t_init=440 / 1000, t_max=712 / 1000, sg_remain_coef=1.0, sg_forget_coef=0.01,
             g_remain_coef=1.0, g_forget_coef=0.01, lr=1e-5, betas=(0.0, 0.999), grad_clip=1.0, iterations=50_000,
             batch_size=128, safe_label=1, ema_rate=0.9999)
"""The official CIFAR-10 SFD config (t fractions of the T = 1000 DDPM schedule)."""

TINY = dict(iterations=150, batch_size=8, lr=1e-4, ema_rate=0.967)
"""The CPU setting of docs/unlearning/generative/sfd: 150 iterations of batch 8 at lr 1e-4 (paper: 50k of 128 at 1e-5); the
EMA's horizon 1 / (1 - rate) kept at a fifth of the run, as the official 10k of 50k. The page may run longer
(``tools/generative_unlearning.py --sfd-iterations N``, the EMA rate rescaled to keep the horizon; the page prints its command)."""


@dataclass
class SFDConfig:
    alpha: float = 1.2
    t_min: float = 38 / 1000
    t_init: float = 440 / 1000
    t_max: float = 712 / 1000
    sg_remain_coef: float = 1.0
    sg_forget_coef: float = 0.01
    g_remain_coef: float = 1.0
    g_forget_coef: float = 0.01
    lr: float = 1e-5
    betas: tuple[float, float] = (0.0, 0.999)
    grad_clip: float = 1.0
    iterations: int = 50_000
    batch_size: int = 128
    safe_label: int | str = 1
    ema_rate: float = 0.9999
    num_classes: int = 10
    seed: int = 0
    progress: bool | None = None  # the bar: None shows it on a terminal (zoo.core.progress), False never


class OneStepGenerator(nn.Module):
    """SFD's one-step generator: one UNet evaluation at ``t_init`` maps noise to an image.

    Args:
        diffusion: the teacher; its UNet is copied as the generator's initialisation.
        t_init: the generator's fixed timestep (an index into the schedule).

    Shape:
        - z: (N, C, H, W) standard normal noise; labels: (N,) int64 classes.
        - output: images (N, C, H, W) in the data range (about [-1, 1]).
    """

    def __init__(self, diffusion: Diffusion, t_init: int) -> None:
        super().__init__()
        self.unet = copy.deepcopy(diffusion.unet)
        self.diffusion = diffusion.copy(self.unet)
        self.diffusion.owner = None  # the generator stands alone: no reference to the teacher's model
        self.t_init = int(t_init)
        self.sample_shape = diffusion.sample_shape

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        t = torch.full((len(z),), self.t_init, device=z.device, dtype=torch.long)
        _, sigma = self.diffusion.alpha_sigma(t, z)
        x = sigma * z  # the official generator input: noise at the scale of x_t with x0 = 0
        return self.diffusion.x0_from_eps(x, t, self.diffusion.eps(self.unet, x, t, labels))

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """One-step images for ``labels`` from noise drawn under ``seed`` (deterministic), clamped to [-1, 1]."""
        device = next(self.parameters()).device
        z = torch.randn(len(labels), *self.sample_shape, generator=torch.Generator().manual_seed(seed)).to(device)
        was = self.training
        self.eval()
        out = self(z, labels.to(device)).clamp(-1, 1)
        self.train(was)
        return out


def fake_score_loss(eps_pred: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Denoising score matching of the fake-score net: sum over pixels of (noise - eps_pred)^2, mean over the batch."""
    return (noise - eps_pred).square().flatten(1).sum(1).mean()


def sid_generator_loss(x_real: torch.Tensor, x_fake: torch.Tensor, x_g: torch.Tensor, alpha: float) -> torch.Tensor:
    """SiD's generator loss from the two x0-predictions at the generator's noised sample.

    ``(x_real - x_fake) . ((x_real - x_g) - alpha (x_real - x_fake)) / omega`` summed over pixels, mean over the batch,
    with ``omega = mean |x_real - x_g|`` per sample (no gradient, at least 1e-5); alpha 1 gives
    ``(x_real - x_fake) . (x_fake - x_g) / omega``.

    Args:
        x_real: the teacher's x0-prediction. Shape: (N, C, H, W).
        x_fake: the fake-score net's x0-prediction, same shape.
        x_g: the generator's sample, same shape.
        alpha: SiD's alpha.
    """
    omega = (x_real - x_g).detach().abs().flatten(1).mean(1).clamp(min=1e-5).view(-1, *([1] * (x_g.ndim - 1)))
    diff = x_real - x_fake
    return (diff * ((x_real - x_g) - alpha * diff) / omega).flatten(1).sum(1).mean()


def _safe_labels(config: SFDConfig, forget: int, n: int, g: torch.Generator) -> torch.Tensor:
    if config.safe_label == "rand":  # the official "rand": uniform over the other classes
        labels = torch.randint(0, config.num_classes - 1, (n,), generator=g)
        return labels + (labels >= forget).long()
    return torch.full((n,), int(config.safe_label), dtype=torch.long)


class SFD:
    """Score Forgetting Distillation of a class-conditional :class:`Diffusion` (see the module docstring).

    Args:
        hparams: any :class:`SFDConfig` field (defaults: the official config).
    """

    def __init__(self, **hparams: Any) -> None:
        self.config = make_config(SFDConfig, "sfd", hparams)
        self.history: list[dict[str, float]] = []

    @staticmethod
    def hyperparameters() -> list[str]:
        return [f.name for f in fields(SFDConfig)]

    def run(self, diffusion: Diffusion, forget: int, callback: Callable[[int, OneStepGenerator], None] | None = None,
            every: int = 0) -> OneStepGenerator:
        """Distil ``diffusion`` without class ``forget``; returns the one-step generator.

        Args:
            diffusion: the class-conditional teacher.
            forget: the class to forget.
            callback: called as ``callback(iteration, generator)`` before the first iteration and after every
                ``every``-th (and the last): a learning curve of the generator (it must not change the generator).
            every: iterations between calls (0: only before the first and after the last).
        """
        from zoo.core.progress import progress

        c = self.config
        if diffusion.is_text:
            raise ValueError("sfd: expected a class-conditional diffusion model (class labels), received a text-conditioned one")
        if not 0 <= forget < c.num_classes:
            raise ValueError(f"forget: expected a class in [0, {c.num_classes}), received {forget}")
        if c.safe_label != "rand" and int(c.safe_label) == forget:
            raise ValueError(f"safe_label: expected a class other than the forget class {forget}, received {c.safe_label}")
        T = diffusion.num_timesteps
        t_min, t_init, t_max = (max(1, int(round(f * T))) for f in (c.t_min, c.t_init, c.t_max))
        teacher = diffusion.unet
        device = next(teacher.parameters()).device
        teacher_state = teacher.training, {n: p.requires_grad for n, p in teacher.named_parameters()}
        teacher.eval().requires_grad_(False)
        fake = copy.deepcopy(teacher).train().requires_grad_(True)
        gen = OneStepGenerator(diffusion, t_init).to(device).train().requires_grad_(True)
        opt_sg = torch.optim.Adam(fake.parameters(), lr=c.lr, betas=c.betas, eps=1e-8)
        opt_g = torch.optim.Adam(gen.parameters(), lr=c.lr, betas=c.betas, eps=1e-8)
        g = torch.Generator().manual_seed(c.seed)
        remain = torch.tensor([k for k in range(c.num_classes) if k != forget])
        shape = (c.batch_size, *diffusion.sample_shape)

        def noise():
            return torch.randn(shape, generator=g).to(device)

        def timesteps():
            return torch.randint(t_min, t_max, (c.batch_size,), generator=g).to(device)

        forget_c = torch.full((c.batch_size,), forget, dtype=torch.long, device=device)
        ema = copy.deepcopy(gen).eval().requires_grad_(False) if c.ema_rate > 0 else gen  # what is evaluated and returned
        if callback is not None:
            callback(0, ema)
        for step in progress(range(c.iterations), "SFD distillation", enabled=c.progress):
            labels = remain[torch.randint(0, len(remain), (c.batch_size,), generator=g)].to(device)
            # fake-score step: score matching on the generator's samples (remain classes, and the forget class)
            fake.train().requires_grad_(True)
            opt_sg.zero_grad(set_to_none=True)
            with torch.no_grad():
                x_g = gen(noise(), labels)
            t, e = timesteps(), noise()
            sg_remain = fake_score_loss(diffusion.eps(fake, diffusion.add_noise(x_g, t, e), t, labels), e)
            (c.sg_remain_coef * sg_remain).backward()
            sg_forget = torch.zeros(())
            if c.sg_forget_coef > 0:
                with torch.no_grad():
                    x_g = gen(noise(), forget_c)
                t, e = timesteps(), noise()
                sg_forget = fake_score_loss(diffusion.eps(fake, diffusion.add_noise(x_g, t, e), t, forget_c), e)
                (c.sg_forget_coef * sg_forget).backward()
            torch.nn.utils.clip_grad_value_(fake.parameters(), c.grad_clip)
            opt_sg.step()
            # generator step: SiD against the teacher (remain: same class; forget: the safe class)
            fake.eval().requires_grad_(False)
            opt_g.zero_grad(set_to_none=True)
            g_remain = self._generator_loss(diffusion, teacher, fake, gen(noise(), labels), labels, labels, timesteps(), noise())
            (c.g_remain_coef * g_remain).backward()
            g_forget = torch.zeros(())
            if c.g_forget_coef > 0:
                safe = _safe_labels(c, forget, c.batch_size, g).to(device)
                g_forget = self._generator_loss(diffusion, teacher, fake, gen(noise(), forget_c), safe, forget_c, timesteps(), noise())
                (c.g_forget_coef * g_forget).backward()
            torch.nn.utils.clip_grad_value_(gen.parameters(), c.grad_clip)
            opt_g.step()
            self.history.append({k: float(v.detach()) for k, v in (("sg_remain", sg_remain), ("sg_forget", sg_forget), ("g_remain", g_remain), ("g_forget", g_forget))})
            if ema is not gen:
                with torch.no_grad():
                    for p_ema, p in zip(ema.parameters(), gen.parameters()):
                        p_ema.lerp_(p, 1 - c.ema_rate)
            if callback is not None and (step + 1 == c.iterations or every and (step + 1) % every == 0):
                callback(step + 1, ema)
                gen.train()
        teacher.train(teacher_state[0])
        for n, p in teacher.named_parameters():
            p.requires_grad_(teacher_state[1][n])
        return ema.eval()

    def _generator_loss(self, diffusion, teacher, fake, x_g, teacher_c, fake_c, t, e) -> torch.Tensor:
        x_t = diffusion.add_noise(x_g, t, e)
        x_real = diffusion.x0_from_eps(x_t, t, diffusion.eps(teacher, x_t, t, teacher_c))
        x_fake = diffusion.x0_from_eps(x_t, t, diffusion.eps(fake, x_t, t, fake_c))
        return sid_generator_loss(x_real, x_fake, x_g, self.config.alpha)

    def describe(self) -> dict[str, Any]:
        return asdict(self.config)
