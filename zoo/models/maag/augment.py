"""The official MAAG augmentation (``acdc_*_interface._data_augmentation_ops``), on batches, from a seeded generator.

Rotation U(-pi/2, pi/2) and translation U(-10 %, 10 %) of the side, bilinear for images and nearest for masks and
scribbles, zero fill (``tf.contrib.image.rotate`` / ``translate``); then, for images only, brightness U(-0.025, 0.025),
contrast U(0.95, 1.05) about the image mean (``tf.image.random_brightness`` / ``random_contrast``) and Gaussian noise
of std 0.02. The official pipeline draws one transform per patient volume; here each slice draws its own.
"""

from __future__ import annotations

import math

import torch
from kornia.geometry.transform import get_rotation_matrix2d, warp_affine


def random_affine(n: int, size: int, generator: torch.Generator, max_angle: float = math.pi / 2, max_shift: float = 0.1) -> torch.Tensor:
    """Per-sample rotation about the centre followed by a translation, as (n, 2, 3) pixel matrices."""
    angles = (torch.rand(n, generator=generator) * 2 - 1) * max_angle
    shifts = (torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift * size
    centre = torch.full((n, 2), (size - 1) / 2)
    matrix = get_rotation_matrix2d(centre, torch.rad2deg(angles), torch.ones(n, 2))
    matrix[:, :, 2] += shifts
    return matrix


def warp(x: torch.Tensor, matrix: torch.Tensor, mode: str) -> torch.Tensor:
    """``x`` (N, C, H, W) warped by ``matrix`` (N, 2, 3), zero fill; ``mode`` ``"bilinear"`` or ``"nearest"``."""
    return warp_affine(x, matrix.to(x), tuple(x.shape[-2:]), mode=mode, padding_mode="zeros", align_corners=True)


def intensity(x: torch.Tensor, generator: torch.Generator, brightness: float = 0.025, contrast: tuple[float, float] = (0.95, 1.05), noise_std: float = 0.02) -> torch.Tensor:
    """Brightness, contrast about each image's mean, and additive Gaussian noise (standardised images)."""
    n = x.shape[0]
    delta = ((torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * brightness).to(x)
    factor = (contrast[0] + torch.rand(n, 1, 1, 1, generator=generator) * (contrast[1] - contrast[0])).to(x)
    x = x + delta
    mean = x.mean(dim=(-2, -1), keepdim=True)
    x = (x - mean) * factor + mean
    return x + noise_std * torch.randn(x.shape, generator=generator).to(x)


def augment_pair(image: torch.Tensor, labels: list[torch.Tensor], generator: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One geometric draw per sample applied to an image batch and its label maps, then the intensity changes.

    Args:
        image: (N, C, H, W) standardised images.
        labels: one-hot maps (N, K, H, W) that move with the images (scribbles, masks).
        generator: the CPU generator every draw comes from.

    Returns:
        The augmented image and label maps.
    """
    matrix = random_affine(image.shape[0], image.shape[-1], generator)
    return intensity(warp(image, matrix, "bilinear"), generator), [warp(y, matrix, "nearest") for y in labels]


def augment_masks(masks: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rotation and translation of one-hot masks (the discriminator's real masks), nearest."""
    return warp(masks, random_affine(masks.shape[0], masks.shape[-1], generator), "nearest")
