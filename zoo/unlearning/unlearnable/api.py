"""``protect``: one entry point for the per-sample unlearnable-example methods."""

from __future__ import annotations

from typing import Any

import torch

from zoo.core import checks

METHODS = ("bayes_error", "error_min")


def check_images_labels(images: Any, labels: Any) -> None:
    """Validate a batch of images in [0, 1] and its int64 labels (a ValueError naming what was expected)."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images: expected a float tensor (N, C, H, W) in [0, 1], received {checks.describe(images)}")
    checks.check_floating(images, "images")
    checks.check_not_empty(images, "images")
    checks.check_finite(images, "images")
    checks.check_range(images, 0.0, 1.0, "images", hint="divide 0..255 values by 255")
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.long or labels.shape != images.shape[:1]:
        raise ValueError(f"labels: expected an int64 tensor of shape ({images.shape[0]},), received {checks.describe(labels)}")
    if int(labels.min()) < 0:
        raise ValueError(f"labels: expected class indices >= 0, received a minimum of {int(labels.min())}")


def protect(images: torch.Tensor, labels: torch.Tensor, method: str = "bayes_error", eps: float = 8 / 255, steps: int | None = None, **hparams: Any) -> torch.Tensor:
    """Protect a labelled image set with sample-wise unlearnable noise.

    Args:
        images: the clean images in [0, 1].
        labels: their int64 class labels.
        method: ``"bayes_error"`` (:func:`~zoo.unlearning.unlearnable.bayes_error.bayes_error_noise`) or
            ``"error_min"`` (:func:`~zoo.unlearning.unlearnable.error_min.error_minimizing_noise`).
        eps: the L-infinity budget, in [0, 1] pixel units.
        steps: the method's gradient steps (its default when None: 20 ascent steps in all for ``bayes_error``; 20
            inner steps per round for ``error_min``).
        hparams: the method's other keyword arguments (``rounds``, ``sigma``, ``tolerance``, ``progress`` ...).

    Returns:
        The protected images ``images + delta``, with ``|delta|_inf <= eps``, in [0, 1].

    Shape:
        - images: (N, C, H, W); labels: (N,); output: (N, C, H, W).

    Example:
        >>> protected = protect(images, labels, method="bayes_error", eps=8 / 255, steps=20)  # doctest: +SKIP
    """
    check_images_labels(images, labels)
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, received {method!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps <= 1:
        raise ValueError(f"eps: expected a budget in (0, 1] (pixel units, e.g. 8/255), received {eps!r}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps: expected a positive int, received {steps!r}")
    if steps is not None:
        hparams["steps"] = steps
    images = images.float()
    if method == "bayes_error":
        from zoo.unlearning.unlearnable.bayes_error import bayes_error_noise

        delta = bayes_error_noise(images, labels, eps=float(eps), **hparams)
    else:
        from zoo.unlearning.unlearnable.error_min import error_minimizing_noise

        delta = error_minimizing_noise(images, labels, eps=float(eps), **hparams)
    return (images + delta).clamp(0.0, 1.0)
