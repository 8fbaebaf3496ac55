"""LinEAS, linear end-to-end activation steering (Rodriguez et al., NeurIPS 2025), used here for concept suppression.

From ``n_samples`` unpaired source examples (forget QA: the concept to suppress) and as many target examples (retain
QA), learn one diagonal affine map per layer (:class:`~zoo.unlearning.llm.steering.Steering`) so that the *steered*
source activations match the target activations at every layer at once: the loss is the sum over layers of the
sliced-Wasserstein distance between the steered source activations (each layer's map sees the earlier layers' maps:
end to end) and the unsteered target activations, each example's activations mean-pooled over its tokens. After each
gradient step the proximal operator of the sparse group lasso (``l1`` on the entries, ``group`` on each layer) zeroes
the neurons and layers that do not need steering (Algorithm 1 of the paper). The model's weights are untouched; the
result is a :class:`LinEASModel` that applies the maps at inference.

No official code was stored (apple/ml-lineas); the paper gives the method, not every default. Ours: 32 + 32 samples
(the paper's), the coordinate-wise 1-D Wasserstein loss (the paper's per-neuron loss; ``n_projections`` > 0 adds random
directions), 300 full-batch steps of Adam at 1e-2 followed by the prox (``optimizer="sgd"`` is Algorithm 1's plain
gradient step), ``l1`` 1e-3 and ``group`` 1e-3.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from zoo.core.progress import trange
from zoo.unlearning.llm.base import LMUnlearner, register
from zoo.unlearning.llm.data import collate
from zoo.unlearning.llm.hooked import HookedLM
from zoo.unlearning.llm.steering import Steering, pooled_activations, sliced_wasserstein, steered, steering_sites

TINY: dict = {}
"""The tiny LM's settings: the defaults (the loop's lr / epochs / batch_size do not apply to LinEAS)."""


class LinEASModel(HookedLM):
    """The served model: ``base`` with the steering maps applied at every site.

    Args:
        base: the causal LM (frozen, unchanged).
        steering: the learned maps.
        site: ``"residual"`` (decoder block outputs) or ``"mlp"`` (MLP outputs).
    """

    def __init__(self, base: nn.Module, steering: Steering, site: str = "residual") -> None:
        super().__init__(base)
        self.steering, self.site = steering, site

    @contextlib.contextmanager
    def hooks(self, input_ids, attention_mask):
        with steered(self.base, self.steering, self.site):
            yield


def steering_loss(model: nn.Module, steering: Steering, source: dict[str, torch.Tensor], targets: list[torch.Tensor], site: str, directions: list[torch.Tensor | None]) -> torch.Tensor:
    """Sum over sites of the sliced-Wasserstein distance of the steered source activations to the target ones."""
    sources = pooled_activations(model, source, steering, site)
    return sum(sliced_wasserstein(s, t, d) for s, t, d in zip(sources, targets, directions, strict=True))


@register("lineas")
class LinEAS(LMUnlearner):
    """Linear end-to-end activation steering from forget (source) to retain (target) activations.

    Args:
        n_samples: source and target examples (32 each).
        steps: full-batch optimisation steps (300).
        steering_lr: the maps' learning rate (1e-2); the loop's ``lr`` / ``epochs`` / ``batch_size`` are not used.
        l1: the entries' l1 weight (1e-3).
        group: the per-layer group-lasso weight (1e-3).
        site: ``"residual"`` or ``"mlp"``.
        n_projections: random directions added to the coordinate axes in the sliced-Wasserstein loss (0).
        optimizer: ``"adam"`` or ``"sgd"`` (Algorithm 1's plain proximal gradient).
    """

    needs_retain = True

    def __init__(self, n_samples: int = 32, steps: int = 300, steering_lr: float = 1e-2, l1: float = 1e-3, group: float = 1e-3, site: str = "residual", n_projections: int = 0, optimizer: str = "adam", **kwargs) -> None:
        super().__init__(**kwargs)
        if optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer: expected 'adam' or 'sgd', received {optimizer!r}")
        self.n_samples, self.steps, self.steering_lr, self.l1, self.group = n_samples, steps, steering_lr, l1, group
        self.site, self.n_projections, self.optimizer = site, n_projections, optimizer
        self.history: list[float] = []

    def _sample(self, dataset, gen: torch.Generator) -> dict[str, torch.Tensor]:
        picks = torch.randperm(len(dataset), generator=gen)[: self.n_samples].tolist()
        return collate(dataset, [dataset[i] for i in picks])

    def run(self, model: nn.Module, forget, retain) -> LinEASModel:
        if retain is None or not len(retain):
            raise ValueError("retain: lineas needs a retain set (the target activations), received None")
        device = next(model.parameters()).device
        model.eval().requires_grad_(False)
        gen = torch.Generator().manual_seed(self.seed)
        source = {k: v.to(device) for k, v in self._sample(forget, gen).items()}
        target = {k: v.to(device) for k, v in self._sample(retain, gen).items()}
        with torch.no_grad():
            targets = pooled_activations(model, target, None, self.site)
        width = targets[0].shape[1]
        steering = Steering(len(steering_sites(model, self.site)), width).to(device)
        directions: list[torch.Tensor | None] = [None] * len(targets)
        if self.n_projections:
            eye = torch.eye(width, device=device)
            directions = [torch.cat([eye, nn.functional.normalize(torch.randn(width, self.n_projections, generator=gen).to(device), dim=0)], 1) for _ in targets]
        opt_cls = torch.optim.Adam if self.optimizer == "adam" else torch.optim.SGD
        optimizer = opt_cls(steering.parameters(), lr=self.steering_lr)
        self.history = []
        for _ in trange(self.steps, "lineas", unit="step"):
            loss = steering_loss(model, steering, source, targets, self.site, directions)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steering.prox(self.steering_lr, self.l1, self.group)
            self.history.append(float(loss.detach()))
        with torch.no_grad():
            self.history.append(float(steering_loss(model, steering, source, targets, self.site, directions)))
        return LinEASModel(model, steering.requires_grad_(False), self.site).eval()
