"""Bayes-error optimisation (BEO; Zhang, Sun, Lim, Zhang, "Towards Provably Unlearnable Examples via Bayes Error
Optimisation", AAAI 2026, arXiv 2511.08191).

The Bayes error of the perturbed data is estimated by local averaging of the posterior (the authors' ``bayeslap``
package, ``cat-claws/bayes-error-local-averaging``): in a surrogate's feature space, normalised by the largest absolute
feature, each sample's class posterior is the Gaussian-kernel-weighted share of the *other* samples of each class,

    p(c | x_i) = sum_{j != i, y_j = c} k_ij / sum_{j != i} k_ij,   k_ij = exp(-|f_i - f_j|^2 / (2 sigma^2)),

and the estimate is the mean of ``1 - max_c p(c | x_i)`` (sigma 0.3 in the official scripts). The perturbation is
found by projected gradient ascent on that estimate inside the L-infinity ball; the official script
(``cat-claws/unlearnable: cifar10-retrain.py``) retrains the surrogate on the current perturbed data before every
ascent step (2,000 steps, AdamW, maximise); here the surrogate is retrained every ``steps // rounds`` sign-gradient
steps, as the paper writes the update (``delta <- Proj(delta + eta * sign(grad))``).
"""

from __future__ import annotations

import torch

from zoo.core.progress import bar as progress_bar
from zoo.unlearning.unlearnable.projection import project_linf
from zoo.unlearning.unlearnable.training import progress_enabled, train_classifier

SIGMA = 0.3
"""The kernel width of the official scripts (``bayeslap.BayesErrorRBF.apply(x, y, 0.3, 10, ...)``)."""


def bayes_error_estimate(features: torch.Tensor, labels: torch.Tensor, sigma: float = SIGMA, num_classes: int | None = None) -> torch.Tensor:
    """Per-sample Bayes-error estimates by Gaussian-kernel local averaging of the posterior (leave-one-out).

    Args:
        features: the samples' features (the caller normalises them; see :func:`feature_bayes_error`).
        labels: int64 class labels in ``0..num_classes-1``.
        sigma: the kernel width.
        num_classes: the number of classes (default: ``labels.max() + 1``).

    Returns:
        ``1 - max_c p(c | x_i)`` per sample; differentiable in ``features``. Its mean is the dataset's estimate.

    Shape:
        - features: (N, D); labels: (N,); output: (N,).

    Example:
        >>> bayes_error_estimate(torch.tensor([[0.0], [0.1], [5.0]]), torch.tensor([0, 1, 1]))  # doctest: +SKIP
    """
    if features.ndim != 2 or labels.shape != features.shape[:1]:
        raise ValueError(f"features, labels: expected (N, D) and (N,), received {tuple(features.shape)} and {tuple(labels.shape)}")
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive kernel width, received {sigma}")
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    kernel = torch.exp(-torch.cdist(features, features).square() / (2 * sigma**2))
    kernel = kernel * (1 - torch.eye(len(features), device=features.device, dtype=features.dtype))
    onehot = torch.nn.functional.one_hot(labels, num_classes).to(features.dtype)
    posterior = (kernel @ onehot) / (kernel.sum(1, keepdim=True) + 1e-8)
    return (1.0 - posterior.max(1).values).clamp_min(0.0)  # float rounding can put a posterior a hair above 1


def feature_bayes_error(trunk: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, sigma: float = SIGMA, num_classes: int | None = None) -> torch.Tensor:
    """The dataset's Bayes-error estimate in a network's feature space, differentiable in the images.

    Features are divided by their largest absolute value (as the official ``BayesErrorImageFeature`` does), so that
    one ``sigma`` fits any network.

    Args:
        trunk: the feature extractor (a classifier without its head).
        images: the images.
        labels: their labels.
        sigma: the kernel width.
        num_classes: the number of classes.

    Returns:
        The mean of :func:`bayes_error_estimate` over the set (a scalar).
    """
    features = trunk(images).flatten(1)
    return bayes_error_estimate(features / (features.abs().max() + 1e-8), labels, sigma, num_classes).mean()


def bayes_error_noise(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps: float = 8 / 255,
    steps: int = 20,
    step_size: float | None = None,
    rounds: int = 4,
    surrogate_epochs: int = 3,
    sigma: float = SIGMA,
    num_classes: int = 10,
    seed: int = 0,
    progress: bool | None = None,
    history: list | None = None,
) -> torch.Tensor:
    """Perturbations that maximise the estimated Bayes error of the data (projected sign-gradient ascent).

    Args:
        images: clean images in [0, 1].
        labels: int64 labels.
        eps: the L-infinity radius.
        steps: ascent steps in all.
        step_size: each step's size (default ``eps / 4``).
        rounds: how many times a fresh surrogate (:class:`~zoo.unlearning.unlearnable.nets.SimpleCNN`) is trained on the
            current perturbed data (``surrogate_epochs`` epochs); the steps are spread evenly over the rounds.
        surrogate_epochs: epochs of each surrogate.
        sigma: the kernel width of the estimate.
        num_classes: the number of classes.
        seed: seed of the surrogates.
        progress: show a tqdm bar (default: when stderr is a terminal).
        history: when a list, receives the estimate before each step (floats).

    Returns:
        The perturbation ``delta`` (``images + delta`` is the protected set), inside the ball and the pixel range.

    Shape:
        - images: (N, C, H, W); labels: (N,); output: (N, C, H, W).
    """
    step_size = eps / 4 if step_size is None else step_size
    delta = torch.zeros_like(images)
    per_round = [steps // rounds + (r < steps % rounds) for r in range(rounds)]
    bar = progress_bar(steps, "bayes-error PGA", unit="step", enabled=progress_enabled(progress), leave=True)
    for r, count in enumerate(per_round):
        if not count:
            continue
        surrogate = train_classifier(images + delta, labels, epochs=surrogate_epochs, seed=seed + r, num_classes=num_classes, progress=False)
        surrogate.requires_grad_(False)
        for _ in range(count):
            x = (images + delta).requires_grad_(True)
            estimate = feature_bayes_error(surrogate.features, x, labels, sigma, num_classes)
            (grad,) = torch.autograd.grad(estimate, x)
            if history is not None:
                history.append(float(estimate.detach()))
            delta = project_linf(delta + step_size * grad.sign(), images, eps).detach()
            bar.update()
    bar.close()
    return delta
