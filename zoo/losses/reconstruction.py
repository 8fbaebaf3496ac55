"""Reconstruction losses of the translation models."""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F
from torch import nn

from zoo.losses.perceptual import feature_mse
from zoo.nets.frozen import vgg19_features


class PixelWiseLoss(nn.Module):
    """Rawformer's cycle loss ``L1 + w_vgg * VGG + w_ssim * (1 - SSIM)`` (official ``PixelWiseLoss``).

    The official class is named MS-SSIM but computes single-scale SSIM (11x11 Gaussian window, sigma 1.5), and its
    VGG term (MSE of VGG-19 ``conv2_2`` features of the raw [0, 1] images) runs under ``torch.no_grad``: it is
    reported but never trains. ``vgg_grad=False`` keeps that behaviour; ``vgg_grad=True`` lets it train.

    Args:
        w_vgg: weight of the VGG term; 0 skips the VGG network entirely.
        w_ssim: weight of ``1 - SSIM`` (0.15).
        vgg_layer: VGG-19 cut (``"conv2_2"``).
        vgg_weights: local torchvision VGG-19 weights; None: frozen seeded random init.
        vgg_grad: backpropagate through the VGG term.

    Shape:
        - pred, target: (N, C, H, W) in [0, 1]; C = 3 for the VGG term.
        - output: scalar.
    """

    def __init__(self, w_vgg: float = 1.0, w_ssim: float = 0.15, vgg_layer: str = "conv2_2", vgg_weights: str | None = None, vgg_grad: bool = False) -> None:
        super().__init__()
        self.w_vgg, self.w_ssim, self.vgg_grad = w_vgg, w_ssim, vgg_grad
        self.vgg = vgg19_features(vgg_layer, vgg_weights) if w_vgg > 0 else None

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = F.l1_loss(pred, target)
        if self.vgg is not None:
            with torch.set_grad_enabled(self.vgg_grad and torch.is_grad_enabled()):
                loss = loss + self.w_vgg * feature_mse(self.vgg, pred, target)
        if self.w_ssim > 0:
            loss = loss + self.w_ssim * (1.0 - kornia.metrics.ssim(pred, target, 11).mean())
        return loss
