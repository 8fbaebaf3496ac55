"""Rawformer's first stage: masked-autoencoder pre-training of one generator on both cameras' images.

    zoo train recipes/rawformer/pretrain_tiny.yaml

As the official ``autoencoder`` model with ``joint=True``: random 32x32 patches of the input are zeroed (40%),
the generator reconstructs the whole image under the pixel-wise loss (L1 + VGG + 0.15 (1 - SSIM)); AdamW
(lr ``batch * 5e-3 / 512``, betas (0.9, 0.99), weight decay 0.05) with cosine annealing warm restarts. The
pre-trained weights initialise both generators of :class:`~zoo.models.rawformer.module.Rawformer`
(``config.pretrained``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from zoo.core.module import ZooModule
from zoo.models.rawformer.module import RawformerConfig, build_generator


@dataclasses.dataclass
class RawformerAutoencoderConfig(RawformerConfig):
    """:class:`RawformerConfig` (the generator part) plus the pre-training settings.

    Args:
        mask_patch: side of the masked square patches.
        mask_fraction: probability that a patch is masked.
        lr: AdamW learning rate (official: ``batch_size * 5e-3 / 512``).
        betas: AdamW betas.
        weight_decay: AdamW weight decay.
        restart_steps: steps of the first cosine cycle (``T_0``).
        min_lr: floor of the cosine schedule (official: ``batch_size * 5e-8 / 512``).
    """

    mask_patch: int = 32
    mask_fraction: float = 0.4
    lr: float = 32 * 5e-3 / 512
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.05
    restart_steps: int = 500
    min_lr: float = 32 * 5e-8 / 512


def mask_patches(x: torch.Tensor, patch: int, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero random ``patch x patch`` squares of ``x``, each with probability ``fraction``.

    Args:
        x: Shape: (N, C, H, W), H and W divisible by ``patch``.

    Returns:
        Shape: (N, C, H, W).
    """
    n, _, h, w = x.shape
    if h % patch or w % patch:
        raise ValueError(f"masking: expected sides divisible by the patch size {patch}, received {h}x{w}")
    keep = torch.rand(n, 1, h // patch, w // patch, generator=generator, device=generator.device if generator else None) > fraction
    keep = keep.repeat_interleave(patch, 2).repeat_interleave(patch, 3)
    return x * keep.to(device=x.device, dtype=x.dtype)


class RawformerAutoencoder(ZooModule):
    """One Rawformer generator learning to reconstruct masked raw images of both cameras.

    Shape:
        - ``forward`` input / output: (N, C, H, W), sides multiples of 64.
    """

    config_class = RawformerAutoencoderConfig

    def __init__(self, config: RawformerAutoencoderConfig | dict | None = None) -> None:
        super().__init__(config)
        self.net = build_generator(self.config)
        self.criterion = None

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        return torch.rand(batch_size, self.config.channels, 64, 64, generator=torch.Generator().manual_seed(0)).to(self.device)

    def setup(self, stage: str) -> None:
        from zoo.losses.reconstruction import PixelWiseLoss

        cfg = self.config
        if self.criterion is None:
            self.criterion = PixelWiseLoss(cfg.w_cycle_vgg, cfg.w_cycle_ssim, vgg_weights=cfg.vgg_weights, vgg_grad=cfg.cycle_vgg_grad).to(self.device)

    def configure_optimizers(self):
        cfg = self.config
        opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=cfg.restart_steps, eta_min=cfg.min_lr)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        cfg = self.config
        total = torch.zeros((), device=self.device)
        # Masks drawn from the step count, so a resumed run masks exactly as an uninterrupted one.
        gen = torch.Generator(device=self.device).manual_seed(self.global_step)
        for domain in ("a", "b"):
            real = batch[domain]
            loss = self.criterion(self.net(mask_patches(real, cfg.mask_patch, cfg.mask_fraction, gen)), real)
            self.log(f"train/loss_{domain}", loss.detach(), on_step=True, on_epoch=True)
            total = total + loss
        self.log("train/loss", total.detach(), prog_bar=True, on_step=True, on_epoch=True)
        return total

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        cfg = self.config
        gen = torch.Generator(device=self.device).manual_seed(batch_idx)
        for domain in ("a", "b"):
            real = batch[domain]
            loss = torch.nn.functional.l1_loss(self.net(mask_patches(real, cfg.mask_patch, cfg.mask_fraction, gen)), real)
            self.log(f"val/l1_{domain}", loss, batch_size=real.shape[0])

    def prepare_input(self, x: Any):  # pre-training only: no user-level inference
        raise NotImplementedError("RawformerAutoencoder is a pre-training stage; load its weights into Rawformer (config.pretrained)")
