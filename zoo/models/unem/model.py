"""UNEM: generalized EM unrolled into layers with learned per-layer hyper-parameters (transductive few-shot).

Parameter names follow the official learned-parameter files (values stored before softplus):
Gaussian ``t1``, ``gamma.<l>``, ``t2.<l>``; Dirichlet ``emb_t``, ``gamma.<l>``, ``t.<l>``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.ops.em import gaussian_e_step


def _scalars(n: int, value: float) -> nn.ParameterList:
    return nn.ParameterList(nn.Parameter(torch.tensor(float(value))) for _ in range(n))


def _centres(onehot_s: torch.Tensor, z_s: torch.Tensor, u: torch.Tensor | None = None, z_q: torch.Tensor | None = None) -> torch.Tensor:
    """Class means of support (hard labels) plus, if given, queries weighted by soft assignments.

    Shapes: onehot_s (B, S, K), z_s (B, S, D), u (B, Q, K), z_q (B, Q, D) -> (B, K, D).
    """
    total = onehot_s.transpose(1, 2) @ z_s
    count = onehot_s.sum(1).unsqueeze(-1)
    if u is not None:
        total = total + u.transpose(1, 2) @ z_q
        count = count + u.sum(1).unsqueeze(-1)
    return total / count


def _one_hot_present(labels: torch.Tensor) -> torch.Tensor:
    """One-hot support labels over the classes ``0..max(labels)``, with the class count read as a traceable scalar:
    under ``torch.export`` it is a symbolic size, so the exported graph takes tasks of any number of classes.

    Args:
        labels: Shape: (B, S) int64, values 0..K-1.

    Returns:
        Shape: (B, S, K) bool, K = max(labels) + 1.
    """
    k = labels.max().item() + 1
    torch._check(k >= 1)
    return labels.unsqueeze(-1) == torch.arange(k, device=labels.device)


class UnrolledGaussianEM(nn.Module):
    """UNEM-Gaussian: ``n_layers`` E/M iterations with Gaussian class likelihoods.

    Each layer: ``U = softmax((-|z - w_k|^2 / 2 + softplus(gamma_l) * V_k) / (1 + softplus(t2_l)))``,
    ``V_k = log(mean_q U_qk + 1e-6) + 1``, centres re-estimated from support labels and soft query assignments.
    Features are first scaled by ``softplus(t1)``.

    Args:
        n_layers: unrolled iterations (10 in the paper).
        gamma: initial raw class-balance parameter of every layer.
        t1: initial raw feature-scale parameter.
        t2: initial raw temperature parameter of every layer.
        fused: use the torch.compile'd E-step.

    Shape:
        - support: (B, S, D), support_labels: (B, S) with values 0..K-1, query: (B, Q, D).
        - Output: soft assignments (B, Q, K), K = number of distinct support labels.
    """

    def __init__(self, n_layers: int = 10, gamma: float = 1.0, t1: float = 1.0, t2: float = 1.0, fused: bool = False) -> None:
        super().__init__()
        self.t1 = nn.Parameter(torch.tensor(float(t1)))
        self.gamma = _scalars(n_layers, gamma)
        self.t2 = _scalars(n_layers, t2)
        self.fused = fused

    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor, return_all: bool = False):
        from zoo.ops.em import gaussian_e_step_fused

        e_step = gaussian_e_step_fused if self.fused else gaussian_e_step
        onehot = _one_hot_present(support_labels).to(support.dtype)
        scale = F.softplus(self.t1)
        z_s, z_q = scale * support, scale * query
        w = _centres(onehot, z_s)
        v = torch.ones(w.shape[:2], dtype=w.dtype, device=w.device)
        per_layer = []
        for gamma, t2 in zip(self.gamma, self.t2):
            u = e_step(z_q, w, v, F.softplus(gamma), 1.0 + F.softplus(t2))
            v = torch.log(u.mean(1) + 1e-6) + 1.0
            w = _centres(onehot, z_s, u, z_q)
            per_layer.append(u)
        return per_layer if return_all else per_layer[-1]


def _fit_dirichlet(alpha: torch.Tensor, ybar: torch.Tensor, max_steps: int, check_every: int = 50, tol: float = 1e-11) -> torch.Tensor:
    """Majorise-minimise fixed point for Dirichlet parameters matching mean log-probabilities ``ybar``.

    Warm-started from ``alpha``; at the zero-based steps ``check_every, 2 * check_every, ...`` it stops when the
    squared relative change over the whole tensor falls below ``tol`` (the official schedule: the first check
    comes after ``check_every + 1`` updates). Shapes: alpha, ybar (B, K, K).
    """
    for step in range(max_steps):
        psi = torch.digamma(alpha + 1.0)
        curvature = torch.where(
            alpha > 1e-11,
            torch.abs(2.0 * (math.lgamma(1.0) - torch.lgamma(alpha + 1.0) + psi * alpha)) / alpha.square(),
            torch.full_like(alpha, math.pi**2 / 6.0),
        )
        b = psi - torch.digamma(alpha.sum(-1, keepdim=True)) - curvature * alpha - ybar
        new = (-b + torch.sqrt(b.square() + 4.0 * curvature)) / (2.0 * curvature)
        if step > 0 and step % check_every == 0 and (new - alpha).square().sum() / alpha.square().sum() < tol:
            return new
        alpha = new
    return alpha


class UnrolledDirichletEM(nn.Module):
    """UNEM-Dirichlet for vision-language probability features (e.g. CLIP class similarities).

    ``P = softmax(emb_t * x)``; each layer re-estimates per-class Dirichlet parameters (inner MM fit, warm-started)
    from support labels and soft query assignments, then
    ``U = softmax((log Dir(P_q | alpha_k) + softplus(gamma_l) * V_k) / (1 + softplus(t_l)))``.

    Args:
        n_layers: unrolled iterations (10 in the paper).
        num_classes: K; feature column k belongs to class k.
        mm_steps: maximum inner steps of the Dirichlet fit (1000 officially).
        gamma, emb_t, t: initial raw parameters (``emb_t`` is used as is, without softplus).

    Shape:
        - support: (B, S, K), support_labels: (B, S), query: (B, Q, K). Output: (B, Q, K).
    """

    def __init__(self, n_layers: int = 10, num_classes: int = 20, mm_steps: int = 1000, gamma: float = 20.0, emb_t: float = 30.0, t: float = 1.0) -> None:
        super().__init__()
        self.emb_t = nn.Parameter(torch.tensor(float(emb_t)))
        self.gamma = _scalars(n_layers, gamma)
        self.t = _scalars(n_layers, t)
        self.num_classes, self.mm_steps = num_classes, mm_steps

    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor, return_all: bool = False):
        k = self.num_classes
        onehot = F.one_hot(support_labels, k).to(support.dtype)
        g_s = torch.log(torch.softmax(self.emb_t * support, -1) + 1e-15)
        p_q = torch.softmax(self.emb_t * query, -1)
        g_q = torch.log(p_q + 1e-15)
        u = p_q
        alpha = torch.ones(support.shape[0], k, k, dtype=support.dtype, device=support.device)
        trace = {"U": [], "alpha": [], "ybar": []}
        for gamma, t in zip(self.gamma, self.t):
            ybar = _centres(onehot, g_s, u, g_q)
            alpha = _fit_dirichlet(alpha, ybar, self.mm_steps)
            v = torch.log(u.mean(1) + 1e-15) + 1.0
            log_density = (
                torch.lgamma(alpha.sum(-1)) - torch.lgamma(alpha).sum(-1)
            ).unsqueeze(1) + g_q @ (alpha - 1.0).transpose(1, 2)
            u = torch.softmax((log_density + F.softplus(gamma) * v.unsqueeze(1)) / (1.0 + F.softplus(t)), dim=-1)
            for key, value in (("U", u), ("alpha", alpha), ("ybar", ybar)):
                trace[key].append(value)
        return trace if return_all else u
