"""Affine activation steering of a causal LM (LinEAS, Rodriguez et al., NeurIPS 2025): the maps, their loss, their prox.

At every steered site ``l`` (a decoder block's output, the residual stream, or its MLP's output) the activations become
``h' = (1 + delta_l) * h + beta_l``, elementwise, so ``delta = beta = 0`` is the identity and a neuron (a layer) whose
entries are all 0 is left alone: the sparsity penalties act on ``(delta, beta)``.

- :func:`sliced_wasserstein`: the distributional loss, ``mean_theta W_2^2`` of the 1-D projections (sorting); with the
  coordinate directions (the default) it is LinEAS's per-neuron 1-D Wasserstein loss.
- :func:`soft_threshold` / :func:`group_soft_threshold`: the proximal operators of ``l1`` and of the per-layer group
  norm (sparse group lasso: soft-threshold the entries, then shrink each layer's group).
- :class:`Steering` holds the maps; :func:`steered` registers them on a model (and captures the steered activations).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from zoo.unlearning.llm.base import decoder_layers

SITES = ("residual", "mlp")


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, directions: torch.Tensor | None = None) -> torch.Tensor:
    """Squared sliced 2-Wasserstein distance between two empirical distributions (equal weights).

    ``mean_theta mean_i (sort(x theta)_i - sort(y theta)_i)^2``; when the sample counts differ, ``y``'s projections are
    read at ``x``'s quantile levels.

    Args:
        x: (N, D) samples (the steered source).
        y: (M, D) samples (the target).
        directions: (D, K) projection directions (columns; None: the D coordinate axes).

    Returns:
        A scalar (0 for identical samples in any order).
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x, y: expected (N, D) and (M, D) samples, received {tuple(x.shape)} and {tuple(y.shape)}")
    px, py = (x, y) if directions is None else (x @ directions, y @ directions)
    sx, sy = torch.sort(px, dim=0).values, torch.sort(py, dim=0).values
    if sx.shape[0] != sy.shape[0]:
        levels = (torch.arange(sx.shape[0], device=x.device, dtype=sy.dtype) + 0.5) / sx.shape[0]
        sy = torch.quantile(sy, levels, dim=0)
    return (sx - sy).square().mean()


def soft_threshold(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """The prox of ``threshold * ||x||_1``: ``sign(x) * max(|x| - threshold, 0)``."""
    return torch.sign(x) * (x.abs() - threshold).clamp_min(0)


def group_soft_threshold(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """The prox of ``threshold * sum_g ||x_g||_2`` with one group per row of ``x``: ``x_g * max(1 - t / ||x_g||, 0)``."""
    norm = x.norm(dim=-1, keepdim=True)
    return x * (1 - threshold / norm.clamp_min(1e-12)).clamp_min(0)


def steering_sites(model: nn.Module, site: str = "residual") -> list[nn.Module]:
    """The modules whose outputs are steered: every decoder block (``"residual"``) or every block's MLP (``"mlp"``)."""
    if site not in SITES:
        raise ValueError(f"site: expected one of {SITES}, received {site!r}")
    layers = list(decoder_layers(model))
    if site == "residual":
        return layers
    missing = [i for i, layer in enumerate(layers) if not isinstance(getattr(layer, "mlp", None), nn.Module)]
    if missing:
        raise ValueError(f"site: 'mlp' expects decoder layers with an .mlp module, received layers {missing} without one")
    return [layer.mlp for layer in layers]


class Steering(nn.Module):
    """Per-site diagonal affine maps ``h' = (1 + delta_l) * h + beta_l``.

    Args:
        n_sites: steered sites (layers).
        width: activation width (the model's hidden size).
    """

    def __init__(self, n_sites: int, width: int) -> None:
        super().__init__()
        self.delta = nn.Parameter(torch.zeros(n_sites, width))
        self.beta = nn.Parameter(torch.zeros(n_sites, width))

    def apply_map(self, site: int, h: torch.Tensor) -> torch.Tensor:
        """Steer activations ``h`` (..., D) of site ``site``."""
        return h * (1 + self.delta[site]).to(h.dtype) + self.beta[site].to(h.dtype)

    @torch.no_grad()
    def prox(self, step: float, l1: float = 0.0, group: float = 0.0) -> None:
        """The proximal step of ``l1 * ||(delta, beta)||_1 + group * sum_l ||(delta_l, beta_l)||_2`` at step size ``step``."""
        both = torch.cat([self.delta, self.beta], dim=1)
        if l1:
            both = soft_threshold(both, step * l1)
        if group:
            both = group_soft_threshold(both, step * group)
        width = self.delta.shape[1]
        self.delta.copy_(both[:, :width])
        self.beta.copy_(both[:, width:])

    @torch.no_grad()
    def active(self) -> torch.Tensor:
        """(sites, D) bool: the neurons whose map is not the identity."""
        return (self.delta != 0) | (self.beta != 0)


def _output_tensor(output):
    return output[0] if isinstance(output, tuple) else output


@contextlib.contextmanager
def steered(model: nn.Module, steering: Steering | None, site: str = "residual", capture: list | None = None) -> Iterator[None]:
    """Run ``model`` with ``steering`` applied at every site (None: unsteered); ``capture`` (a list) receives the
    (steered) output of each site, (B, L, D), in order."""
    handles = []

    def make_hook(index: int):
        def hook(module, args, output):
            h = _output_tensor(output)
            if steering is not None:
                h = steering.apply_map(index, h)
            if capture is not None:
                capture.append(h)
            if steering is None:
                return None
            return (h, *output[1:]) if isinstance(output, tuple) else h

        return hook

    for index, module in enumerate(steering_sites(model, site)):
        handles.append(module.register_forward_hook(make_hook(index)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def pooled_activations(model: nn.Module, batch: dict[str, torch.Tensor], steering: Steering | None, site: str = "residual") -> list[torch.Tensor]:
    """Per site, the mean over each sequence's tokens of its (steered) activations: a list of (B, D)."""
    captured: list[torch.Tensor] = []
    with steered(model, steering, site, captured):
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    mask = batch["attention_mask"].unsqueeze(-1).to(captured[0].dtype)
    return [(h * mask).sum(1) / mask.sum(1).clamp_min(1) for h in captured]
