"""Parameter importances over a dataset: the hot loop of SSD and Fisher forgetting.

- :func:`squared_gradients`: the mean over minibatches of the squared (or absolute) gradient of the batch loss,
  one backward pass per batch (SSD's ``calc_importance``; LFSSD uses absolute values of the gradient of the squared
  output norm).
- :func:`expected_fisher`: Fisher forgetting's diagonal, ``sum_y mean_b(p(y|x)) * grad CE_b(y)^2`` per batch of
  32, averaged over batches (the Unlearn-Sparse ``hessian``). The straightforward formulation
  (:func:`expected_fisher_loop`) runs one backward pass per class; :func:`expected_fisher` computes the gradients of
  all classes in one vectorised pass with ``torch.func.vmap`` (``tools/bench.py allcnn_mnist_classifier``).

All run the model in eval mode (batch-norm statistics frozen) and return one tensor per parameter, in
``model.named_parameters()`` order.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.utils.data import DataLoader


def _batches(loader: DataLoader, device: torch.device):
    for batch in loader:
        yield batch[0].to(device), batch[1].to(device)


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
    model.eval()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    device = next(iter(params.values())).device
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    batches = 0
    for x, y in _batches(loader, device):
        grads = torch.autograd.grad(loss_fn(model(x), y), list(params.values()), allow_unused=True)
        for (n, _), g in zip(params.items(), grads):
            if g is not None:
                total[n] += g.abs() if absolute else g.square()
        batches += 1
    return {n: t / max(batches, 1) for n, t in total.items()}


def expected_fisher_loop(model: nn.Module, loader: DataLoader, num_classes: int) -> dict[str, torch.Tensor]:
    """The reference formulation: per batch, one backward pass per class ``y`` of ``CE(model(x), y)``, squared,
    weighted by the batch-mean probability of ``y``."""
    model.eval()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    device = next(iter(params.values())).device
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    batches = 0
    for x, _ in _batches(loader, device):
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
    """Same value as :func:`expected_fisher_loop`, with the per-class gradients in one ``vmap`` over classes."""
    model.eval()
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p for n, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())
    device = next(iter(params.values())).device
    total = {n: torch.zeros_like(p) for n, p in params.items()}

    def class_loss(p: dict[str, torch.Tensor], x: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, {**p, **frozen, **buffers}, (x,))
        return -(logits.log_softmax(1) * one_hot).sum(1).mean()  # CE of every sample against class `one_hot`

    per_class_grads = vmap(grad(class_loss), in_dims=(None, None, 0))
    classes = torch.eye(num_classes, device=device)
    batches = 0
    for x, _ in _batches(loader, device):
        with torch.no_grad():
            probs = model(x).softmax(1).mean(0)
        grads = per_class_grads(params, x, classes)
        for n, g in grads.items():
            total[n] += torch.einsum("c,c...->...", probs, g.square())
        batches += 1
    return {n: t / max(batches, 1) for n, t in total.items()}
