"""The adversarial training loop every GAN of the zoo reuses.

Multi-device training is Lightning's: with DDP use ``strategy="ddp_find_unused_parameters_true"`` (generator and
discriminator steps backpropagate through different parameters); the tests run it on two CPU processes.

Manual optimisation: one generator optimiser and one optimiser per discriminator, each discriminator
updated every ``d_every`` generator steps; optional generator EMA; optional per-term gradient-norm
loss normalisation (each generator term divided by the norm of its own gradient); zero-centred R1/R2
penalties; every loss term logged by name.

A subclass builds ``self.net`` (generator) and ``self.discriminators`` (an ``nn.ModuleDict``) and implements
:meth:`generator_step_terms` and :meth:`discriminator_loss`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from zoo.core.module import ZooModule
from zoo.losses.adversarial import zero_centered_gradient_penalty


@dataclasses.dataclass
class AdversarialConfig:
    """Optimisation settings shared by the adversarial models.

    The defaults are neutral: DCGAN's Adam (2e-4, betas (0.5, 0.999)) for both players, one discriminator update per
    generator step, and nothing else switched on. Each paper's config subclass overrides what its paper sets.

    Args:
        g_lr: generator learning rate (Adam).
        g_betas: generator Adam betas.
        d_lr: discriminator learning rate (Adam).
        d_betas: discriminator Adam betas.
        d_every: update each discriminator once every ``d_every`` generator steps.
        d_grad_clip: max gradient norm for discriminator steps (0 disables).
        ema_decay: generator EMA decay; 0 disables EMA.
        normalize_terms: divide each generator loss term by the norm of its gradient w.r.t. the generator.
        r1_gamma: weight of the zero-centred R1 penalty (real samples).
        r2_gamma: weight of the zero-centred R2 penalty (fake samples).
    """

    g_lr: float = 2e-4
    g_betas: tuple[float, float] = (0.5, 0.999)
    d_lr: float = 2e-4
    d_betas: tuple[float, float] = (0.5, 0.999)
    d_every: int = 1
    d_grad_clip: float = 0.0
    ema_decay: float = 0.0
    normalize_terms: bool = False
    r1_gamma: float = 0.0
    r2_gamma: float = 0.0


class AdversarialModule(ZooModule):
    """Base LightningModule for GANs: see the module docstring for the loop it runs."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.automatic_optimization = False
        self.discriminators = nn.ModuleDict()
        self.net_ema: AveragedModel | None = None
        self.register_buffer("generator_steps", torch.zeros((), dtype=torch.long))

    def setup_ema(self) -> None:
        """Create the EMA copy of ``self.net``; call at the end of the subclass ``__init__``."""
        if self.config.ema_decay > 0:
            self.net_ema = AveragedModel(self.net, multi_avg_fn=get_ema_multi_avg_fn(self.config.ema_decay), use_buffers=True)

    @property
    def inference_net(self) -> nn.Module:
        return self.net_ema.module if self.net_ema is not None else self.net

    # ------------------------------------------------------------ to override
    def generator_step_terms(self, batch: Any) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Run the generator on ``batch`` and return its loss terms.

        Returns:
            ``(terms, weights)``: scalar loss terms by name and the config weight of each. The generated
            batch must be kept on ``self`` (e.g. ``self._fake``) for :meth:`discriminator_loss`.
        """
        raise NotImplementedError

    def discriminator_loss(self, name: str, batch: Any) -> dict[str, torch.Tensor]:
        """Loss of discriminator ``name`` on ``batch`` and the last generated batch.

        Returns:
            Scalar terms by name; they are summed for the update and logged as ``d/<name>/<term>``.
        """
        raise NotImplementedError

    def discriminators_active(self) -> bool:
        """Whether the discriminators train at this step (subclasses may hold them back, e.g. while pretraining)."""
        return True

    def discriminator_should_step(self, name: str, terms: dict[str, torch.Tensor]) -> bool:
        """Whether discriminator ``name`` takes its optimiser step on ``terms`` (computed and logged either way);
        subclasses may skip steps adaptively (TecoGAN updates D only while it is not too strong)."""
        return True

    # ------------------------------------------------------------------- loop
    def configure_optimizers(self):
        cfg = self.config
        opts = [torch.optim.Adam(self.net.parameters(), lr=cfg.g_lr, betas=tuple(cfg.g_betas))]
        for disc in self.discriminators.values():
            opts.append(torch.optim.Adam(disc.parameters(), lr=cfg.d_lr, betas=tuple(cfg.d_betas)))
        return opts

    def _term_weight(self, term: torch.Tensor, params: list[nn.Parameter]) -> torch.Tensor:
        grads = [g for g in torch.autograd.grad(term, params, retain_graph=True, allow_unused=True) if g is not None]
        if not grads:
            raise ValueError("loss term: expected a term that depends on the generator, received one with no gradient path")
        norm = torch.sqrt(sum(g.square().sum() for g in grads))
        return 1.0 / (norm.detach() + 1e-8)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        opt_g, opt_ds = optimizers[0], dict(zip(self.discriminators.keys(), optimizers[1:]))

        for disc in self.discriminators.values():
            disc.requires_grad_(False)
        terms, weights = self.generator_step_terms(batch)
        params = [p for p in self.net.parameters() if p.requires_grad]
        total = torch.zeros((), device=self.device)
        for name, term in terms.items():
            scale = self._term_weight(term, params) if self.config.normalize_terms else 1.0
            total = total + weights.get(name, 1.0) * scale * term
            self.log(f"g/{name}", term.detach(), on_step=True, on_epoch=True, sync_dist=True)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(total)
        opt_g.step()
        self.log("g/total", total.detach(), prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        if self.net_ema is not None:
            self.net_ema.update_parameters(self.net)

        if self.discriminators_active() and int(self.generator_steps) % self.config.d_every == 0:
            for name, disc in self.discriminators.items():
                disc.requires_grad_(True)
                d_terms = self.discriminator_loss(name, batch)
                d_total = sum(d_terms.values())
                if self.discriminator_should_step(name, d_terms):
                    opt_ds[name].zero_grad(set_to_none=True)
                    self.manual_backward(d_total)
                    if self.config.d_grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(disc.parameters(), self.config.d_grad_clip)
                    opt_ds[name].step()
                for term_name, value in d_terms.items():
                    self.log(f"d/{name}/{term_name}", value.detach(), on_step=True, on_epoch=True, sync_dist=True)
        self.generator_steps += 1

    def grouped_step(self, updates: list[tuple[Any, torch.Tensor, list[nn.Parameter]]]) -> None:
        """One TF1-style grouped train op that updates G and D together: the gradient of every ``(optimizer, loss,
        params)`` is taken at the same parameter values (before any update), then the optimisers step in order.

        For models whose official code groups several ``minimize`` ops into one ``session.run`` (MAAG). An optimiser
        may appear more than once (its state then sees each gradient in turn); params absent from one of its updates
        keep ``grad=None`` there and are skipped.

        Args:
            updates: ``(optimizer, scalar loss, params)`` per update, in the order the steps are applied.
        """
        stashed = []
        for _, loss, params in updates:
            for p in params:
                p.grad = None
            self.manual_backward(loss, inputs=list(params), retain_graph=True)
            stashed.append([p.grad for p in params])
        for (optimizer, _, params), grads in zip(updates, stashed):
            optimizer.zero_grad(set_to_none=True)
            for p, g in zip(params, grads):
                p.grad = g
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    def penalized_discriminator_loss(
        self, disc: nn.Module, real: torch.Tensor, fake: torch.Tensor, loss_fn
    ) -> dict[str, torch.Tensor]:
        """Discriminator loss with zero-centred R1 (real) and R2 (fake) penalties.

        Args:
            disc: the discriminator.
            real: real inputs to ``disc`` (detached here and made to require grad).
            fake: generated inputs to ``disc`` (likewise).
            loss_fn: ``loss_fn(real_logits, fake_logits) -> scalar``.

        Returns:
            ``{"adv": ..., "r1": ..., "r2": ...}``, each already weighted by its gamma / 2.
        """
        real = real.detach().requires_grad_(True)
        fake = fake.detach().requires_grad_(True)
        real_logits, fake_logits = disc(real), disc(fake)
        terms = {"adv": loss_fn(real_logits, fake_logits)}
        if self.config.r1_gamma > 0:
            terms["r1"] = self.config.r1_gamma / 2 * zero_centered_gradient_penalty(real, real_logits).mean()
        if self.config.r2_gamma > 0:
            terms["r2"] = self.config.r2_gamma / 2 * zero_centered_gradient_penalty(fake, fake_logits).mean()
        return terms
