"""Sample-wise error-minimising noise (Huang, Ma, Erfani, Bailey, Wang, "Unlearnable Examples: Making Personal Data
Unexploitable", ICLR 2021; official code ``HanxunH/Unlearnable-Examples``).

The bi-level min-min problem ``min_theta E[min_{|delta|<=eps} CE(f_theta(x + delta), y)]`` is solved by alternation:
train the surrogate ``train_steps`` batches on the perturbed data, then lower every sample's loss with ``pgd_steps``
signed-gradient steps of ``step_size``, until the surrogate's error on the perturbed training data falls under
``tolerance``. Official defaults: eps 8/255, step size 0.8/255, 20 steps, 10 training steps, tolerance 0.01, noise
initialised uniform in the ball, SGD (lr 0.1, momentum 0.9, weight decay 5e-4) for its ResNet-18.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.core.progress import trange
from zoo.unlearning.unlearnable.nets import SimpleCNN
from zoo.unlearning.unlearnable.projection import project_linf
from zoo.unlearning.unlearnable.training import accuracy, progress_enabled


def min_min_step(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, delta: torch.Tensor, eps: float, step_size: float, steps: int) -> torch.Tensor:
    """The inner minimisation for one batch: ``steps`` signed-gradient *descent* steps on the cross-entropy.

    Returns:
        The new perturbation of the batch (projected).
    """
    for _ in range(steps):
        x = (images + delta).requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x), labels), x)
        delta = project_linf(delta - step_size * grad.sign(), images, eps).detach()
    return delta


def error_minimizing_noise(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    eps: float = 8 / 255,
    steps: int = 20,
    step_size: float | None = None,
    train_steps: int = 10,
    tolerance: float = 0.01,
    max_rounds: int = 20,
    batch_size: int = 128,
    lr: float = 0.1,
    optimizer: str = "sgd",
    num_classes: int = 10,
    seed: int = 0,
    progress: bool | None = None,
    history: list | None = None,
) -> torch.Tensor:
    """Sample-wise error-minimising perturbations by the min-min alternation.

    Args:
        images: clean images in [0, 1].
        labels: int64 labels.
        eps: the L-infinity radius.
        steps: signed-gradient steps of the inner minimisation per batch and round (official 20).
        step_size: their size (default ``eps / 10``, the official 0.8/255 for 8/255).
        train_steps: surrogate training batches per round (official 10).
        tolerance: stop when the surrogate's error on the perturbed training set is below this (official 0.01).
        max_rounds: stop after this many rounds in any case.
        batch_size: images per batch.
        lr: the surrogate's learning rate (official: SGD 0.1).
        optimizer: ``"sgd"`` (official: momentum 0.9, weight decay 5e-4) or ``"adam"`` (for small nets without batch
            norm, which SGD barely moves in the few steps of a round).
        num_classes: the number of classes.
        seed: seed of the surrogate, the noise initialisation and the batches.
        progress: show a tqdm bar (default: when stderr is a terminal).
        history: when a list, receives the surrogate's training error on the perturbed data after each round.

    Returns:
        The perturbation ``delta``.

    Shape:
        - images: (N, C, H, W); labels: (N,); output: (N, C, H, W).
    """
    step_size = eps / 10 if step_size is None else step_size
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = SimpleCNN(images.shape[1], num_classes, images.shape[-1]).to(images.device)
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer: expected 'sgd' or 'adam', received {optimizer!r}")
    if optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    delta = project_linf((torch.rand(images.shape, generator=generator) * 2 - 1).to(images) * eps, images, eps)
    # fixed random batches: the data may be sorted by class (MNIST-5k is), and a batch of one class trains nothing
    order = torch.randperm(len(images), generator=generator).to(images.device)
    batches = [order[i : i + batch_size] for i in range(0, len(images), batch_size)]
    cursor = 0
    for _ in trange(max_rounds, "error-min", unit="round", enabled=progress_enabled(progress), leave=True):
        model.train()
        for _ in range(train_steps):
            b = batches[cursor % len(batches)]
            cursor += 1
            loss = F.cross_entropy(model(images[b] + delta[b]), labels[b])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        for b in batches:
            delta[b] = min_min_step(model, images[b], labels[b], delta[b], eps, step_size, steps)
        error = 1.0 - accuracy(model, images + delta, labels)
        if history is not None:
            history.append(error)
        if error < tolerance:
            break
    return delta
