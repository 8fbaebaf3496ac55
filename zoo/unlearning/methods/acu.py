"""Analytic Continual Unlearning (ACU; Tang et al., arXiv 2505.12239). No official code was available; the update
rules are the paper's recursive least squares, written out in /work/shared/research/unlearning/SPEC.md section 5.

The model's backbone (everything before its last ``nn.Linear``) is frozen; its features ``h`` pass through a fixed
random expansion ``phi = relu(h P)`` (``P`` ~ N(0, 1/d), width ``expansion``) and a linear head ``W`` solved by
ridge least squares. The head keeps the autocorrelation memory ``R = (Phi^T Phi + gamma I)^-1``:

- learning a batch ``(X, Y)`` (recursive least squares):
  ``R <- R - R X^T (I + X R X^T)^-1 X R``,  ``W <- W + R X^T (Y - X W)`` (with the new R);
- unlearning a batch ``(X_u, Y_u)`` (Woodbury):
  ``R <- R + R X_u^T (I - X_u R X_u^T)^-1 X_u R``,  ``W <- W - R X_u^T (Y_u - X_u W)`` (with the new R).

After any sequence of both, ``W`` equals the ridge regression ``(Phi^T Phi + gamma I)^-1 Phi^T Y`` on the samples
learnt and not unlearnt: exact unlearning of the head, with no access to the retained data and no gradient.
Targets ``Y`` are one-hot classes (classification) or the values (regression). ``R`` and ``W`` are kept in float64.

Running ``acu`` on a model replaces its last ``nn.Linear`` by an :class:`AnalyticHead` learnt on forget + retain
(the training set the model had), then unlearns the forget set request by request (``request_size`` samples each).
A model that already has an analytic head skips the learning: later requests need only the forget samples.
The backbone still saw the forget set in training; only the head's unlearning is exact.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from zoo.unlearning.base import OneShotUnlearner, register
from zoo.unlearning.data import UnlearningData


class AnalyticHead(nn.Module):
    """Random expansion and a recursive ridge head.

    Args:
        in_features: backbone feature size ``d``.
        out_features: classes, or 1 for regression.
        expansion: width of the random expansion.
        gamma: ridge regularisation.
        seed: seed of the random projection.

    Shape:
        - Input: (N, in_features).
        - Output: (N, out_features), in the input's dtype.
    """

    def __init__(self, in_features: int, out_features: int, expansion: int = 2048, gamma: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        if gamma <= 0:
            raise ValueError(f"gamma: expected a ridge weight > 0, received {gamma!r}")
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("projection", torch.randn(in_features, expansion, generator=gen, dtype=torch.float64) / in_features**0.5)
        self.register_buffer("memory", torch.eye(expansion, dtype=torch.float64) / gamma)  # R: (Phi^T Phi + gamma I)^-1 of nothing
        self.register_buffer("weight", torch.zeros(expansion, out_features, dtype=torch.float64))
        self.gamma = gamma

    def expand(self, features: torch.Tensor) -> torch.Tensor:
        """``relu(h P)`` in float64."""
        return torch.relu(features.to(self.projection) @ self.projection)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (self.expand(features) @ self.weight).to(features.dtype)

    @torch.no_grad()
    def learn(self, features: torch.Tensor, targets: torch.Tensor) -> None:
        """Add samples to the ridge solution (recursive least squares)."""
        x, y = self.expand(features), targets.to(self.weight)
        r = self.memory
        rx = r @ x.T
        self.memory = r - rx @ torch.linalg.solve(torch.eye(len(x), dtype=x.dtype, device=x.device) + x @ rx, rx.T)
        self.weight = self.weight + self.memory @ x.T @ (y - x @ self.weight)

    @torch.no_grad()
    def unlearn(self, features: torch.Tensor, targets: torch.Tensor) -> None:
        """Remove samples from the ridge solution (Woodbury identity); they must have been learnt."""
        x, y = self.expand(features), targets.to(self.weight)
        r = self.memory
        rx = r @ x.T
        self.memory = r + rx @ torch.linalg.solve(torch.eye(len(x), dtype=x.dtype, device=x.device) - x @ rx, rx.T)
        self.weight = self.weight - self.memory @ x.T @ (y - x @ self.weight)


def last_linear(model: nn.Module) -> tuple[nn.Module, str, nn.Module]:
    """The parent module, attribute name and module of the last ``nn.Linear`` or :class:`AnalyticHead` in ``model``."""
    heads = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Linear, AnalyticHead))]
    if not heads:
        raise ValueError(f"model: expected a network with a final nn.Linear head, received {type(model).__name__} without one")
    name, head = heads[-1]
    parent_name, _, attribute = name.rpartition(".")
    return model.get_submodule(parent_name) if parent_name else model, attribute, head


@register("acu")
class AnalyticContinualUnlearning(OneShotUnlearner):
    """Analytic head over the frozen backbone; Woodbury unlearning of the forget set.

    Args:
        expansion: width of the random feature expansion.
        gamma: ridge regularisation.
        request_size: forget samples per unlearning request (the requests run in sequence).
        (others: :class:`OneShotUnlearner`)
    """

    def __init__(self, model: nn.Module, task: str, *, expansion: int = 2048, gamma: float = 1.0, request_size: int = 64, **kwargs) -> None:
        super().__init__(model, task, **kwargs)
        self.expansion, self.gamma, self.request_size = expansion, gamma, request_size

    def _features_and_targets(self, dataset: Dataset, batch_size: int):
        """Yield (backbone features, head targets) batches: the head's input, captured by a forward hook."""
        parent, attribute, head = last_linear(self.model)
        captured = []
        handle = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
        device = next(self.model.parameters()).device
        try:
            for x, y in DataLoader(dataset, batch_size):
                captured.clear()
                self.model(x.to(device))
                yield captured[0], self._targets(y.to(device))
        finally:
            handle.remove()

    def _targets(self, y: torch.Tensor) -> torch.Tensor:
        if self.task == "classification":
            return nn.functional.one_hot(y.long(), self.num_outputs).double()
        return y.double().reshape(len(y), -1)

    @torch.no_grad()
    def run(self, data: UnlearningData) -> nn.Module:
        self.model.eval()
        parent, attribute, head = last_linear(self.model)
        if isinstance(head, nn.Linear):
            self.num_outputs = head.out_features
            analytic = AnalyticHead(head.in_features, head.out_features, self.expansion, self.gamma, self.seed).to(head.weight.device)
            for dataset in (data.forget, data.retain):  # the training set the backbone had, learnt recursively
                for features, targets in self._features_and_targets(dataset, self.batch_size):
                    analytic.learn(features, targets)
            setattr(parent, attribute, analytic)
        else:
            self.num_outputs = head.weight.shape[1]
            analytic = head
        for features, targets in self._features_and_targets(data.forget, self.request_size):
            analytic.unlearn(features, targets)
        return self.model.eval()
