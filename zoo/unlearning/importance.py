"""Parameter importances over a dataset: the hot loop of SSD and Fisher forgetting.

- :func:`squared_gradients`: the mean over minibatches of the squared (or absolute) gradient of the batch loss,
  one backward pass per batch (SSD's ``calc_importance``; LFSSD uses absolute values of the gradient of the squared
  output norm).
- :func:`expected_fisher`: Fisher forgetting's diagonal, ``sum_y mean_b(p(y|x)) * grad CE_b(y)^2`` per batch of
  32, averaged over batches (the Unlearn-Sparse ``hessian``). The straightforward formulation
  (:func:`expected_fisher_loop`) runs one backward pass per class; :func:`expected_fisher` shares one forward pass and
  batches the backward passes of all classes (``is_grads_batched``, a ``vmap``); ``tools/bench.py allcnn_mnist_classifier``
  compares them.

All run the model in eval mode (batch-norm statistics frozen) and return one tensor per parameter, in
``model.named_parameters()`` order.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from zoo.core.progress import progress


def _batches(loader: DataLoader, device: torch.device, desc: str = "importances"):
    for batch in progress(loader, desc, unit="batch"):
        yield batch[0].to(device), batch[1].to(device)


def _accumulators(model: nn.Module) -> tuple[dict[str, torch.Tensor], torch.device, dict[str, torch.Tensor]]:
    """Eval mode; the trainable parameters by name, their device, and zeroed accumulators shaped like them."""
    model.eval()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    return params, next(iter(params.values())).device, {n: torch.zeros_like(p) for n, p in params.items()}


def squared_gradients(
    model: nn.Module, loader: DataLoader, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], absolute: bool = False
) -> dict[str, torch.Tensor]:
    """Mean over batches of ``grad(loss_fn(model(x), y))**2`` (``abs`` with ``absolute=True``).

    Args:
        model: the network (put in eval mode).
        loader: batches of ``(x, y, ...)``.
        loss_fn: ``(outputs, targets) -> scalar``.
        absolute: accumulate ``|grad|`` instead of ``grad**2``.

    Returns:
        Parameter name -> importance, shaped like the parameter.
    """
    params, device, total = _accumulators(model)
    batches = 0
    for x, y in _batches(loader, device, "squared gradients"):
        grads = torch.autograd.grad(loss_fn(model(x), y), list(params.values()), allow_unused=True)
        for (n, _), g in zip(params.items(), grads):
            if g is not None:
                total[n] += g.abs() if absolute else g.square()
        batches += 1
    return {n: t / max(batches, 1) for n, t in total.items()}


def expected_fisher_loop(model: nn.Module, loader: DataLoader, num_classes: int) -> dict[str, torch.Tensor]:
    """The reference formulation: per batch, one backward pass per class ``y`` of ``CE(model(x), y)``, squared,
    weighted by the batch-mean probability of ``y``."""
    params, device, total = _accumulators(model)
    batches = 0
    for x, _ in _batches(loader, device, "Fisher diagonal"):
        logits = model(x)
        probs = logits.detach().softmax(1).mean(0)
        for c in range(num_classes):
            target = torch.full((len(x),), c, device=device)
            grads = torch.autograd.grad(nn.functional.cross_entropy(logits, target), list(params.values()), retain_graph=True)
            for n, g in zip(params, grads):
                total[n] += probs[c] * g.square()
        batches += 1
    return {n: t / max(batches, 1) for n, t in total.items()}


def expected_fisher(model: nn.Module, loader: DataLoader, num_classes: int) -> dict[str, torch.Tensor]:
    """Same value as :func:`expected_fisher_loop` with one forward pass per batch and the backward passes of all
    classes batched (``is_grads_batched``: a ``vmap`` over the gradient of ``CE(., y)`` w.r.t. the logits,
    ``(softmax - onehot(y)) / N``)."""
    params, device, total = _accumulators(model)
    eye = torch.eye(num_classes, device=device)
    batches = 0
    for x, _ in _batches(loader, device, "Fisher diagonal"):
        logits = model(x)
        probs = logits.detach().softmax(1)
        grad_logits = (probs[None] - eye[:, None, :]) / len(x)  # (C, N, C): d CE(logits, c) / d logits
        grads = torch.autograd.grad(logits, list(params.values()), grad_outputs=grad_logits, is_grads_batched=True)
        weights = probs.mean(0)
        for n, g in zip(params, grads):
            total[n] += torch.einsum("c,c...->...", weights, g.square())
        batches += 1
    return {n: t / max(batches, 1) for n, t in total.items()}
