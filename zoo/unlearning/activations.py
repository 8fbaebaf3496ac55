"""Intermediate activations of any network, by forward hooks (no change to its ``forward``)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


def default_activation_layers(model: nn.Module) -> tuple[str, ...]:
    """The layers whose outputs attention-based losses compare.

    A model may name them in an ``activation_layers`` attribute (zoo's All-CNN names its eight conv blocks, as
    the Blindspot code returns them); otherwise every top-level child but the last (the head).
    """
    named = getattr(model, "activation_layers", None)
    if named:
        return tuple(named)
    children = [name for name, _ in model.named_children()]
    if len(children) < 2:
        raise ValueError(f"activation layers: expected a model with an `activation_layers` attribute or at least two children, received {type(model).__name__}")
    return tuple(children[:-1])


@contextmanager
def record_activations(model: nn.Module, layers: tuple[str, ...]) -> Iterator[list[torch.Tensor]]:
    """Within the block, every forward of ``model`` appends the outputs of ``layers`` (in that order) to the yielded list.

    Example:
        >>> with record_activations(net, ("conv1", "conv2")) as acts:
        ...     y = net(x)
        >>> [a.shape for a in acts]
    """
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise ValueError(f"activation layers: {missing} are not modules of {type(model).__name__}; expected names from named_modules()")
    recorded: list[torch.Tensor] = []
    handles = [modules[name].register_forward_hook(lambda _m, _i, out: recorded.append(out)) for name in layers]
    try:
        yield recorded
    finally:
        for handle in handles:
            handle.remove()
