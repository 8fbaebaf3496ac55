"""Datamodel Matching (DMM; Georgiev, Rinberg, Park, Garg, Ilyas, Madry, Neel, "Attribute-to-Delete: Machine
Unlearning via Datamodel Matching", ICLR 2025) and the KLoM metric. The paper's code was not available to us; the
update rules follow the paper, the defaults are ours (stated below).

1. Attribution. Models are trained on random subsets S (each training sample kept with probability
   ``subset_fraction``; ours 0.9: a linear datamodel fitted near the full set extrapolates least to D without D_f,
   ``tools/unlearning_protocols.py`` measures 0.5 against 0.9 on a least-squares toy) and their outputs recorded on the target inputs. A linear datamodel per (target x, output
   k) regresses the output on the subset's indicator vector: ``f_xk(S) ~ b_xk + sum_i beta_ixk 1[i in S]`` (ridge).
2. Predicted oracle outputs: ``f^(x) = f(x; D) - sum_{i in D_f} beta_i(x)``, on the inputs of D_r and D_f.
3. Matching: fine-tune the trained model to regress its outputs (logits) onto ``f^`` with a squared loss.
   *Oracle matching* uses the outputs of the model actually retrained without D_f: DMM's upper bound.

Training many full networks is out of reach here, so the subset models are the network's *head* (its last
``nn.Linear``) refitted from scratch on the frozen embeddings (the head's inputs) of each subset, all subset models
at once: softmax regression by full-batch Adam for classifiers, closed-form least squares for regressors. For a network that is only a head over frozen features this is
exactly the paper's attribution; for a deep network it attributes only through the last layer. The regressors are
the forget samples' indicators (the coefficients step 2 needs; with independent Bernoulli subsets leaving the
other indicators out does not bias them).

KLoM: for every example, the KL divergence between the distribution over seeds of its margin
``z_y - logsumexp_{k != y} z_k`` under the unlearned models and under the retrained models, estimated on a shared
20-bin histogram over the pooled range (margins clipped to [-100, 100], 1e-5 added to every bin).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import ConcatDataset, TensorDataset

from zoo.core.progress import trange
from zoo.unlearning.base import Unlearner, register
from zoo.unlearning.data import UnlearningData, stack_dataset
from zoo.unlearning.methods.baselines import Retrain


def margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``z_y - logsumexp_{k != y} z_k`` per row. Shape: (..., N, C), (N,) -> (..., N)."""
    correct = logits.gather(-1, labels.expand(*logits.shape[:-1])[..., None].long())[..., 0]
    others = logits.scatter(-1, labels.expand(*logits.shape[:-1])[..., None].long(), float("-inf"))
    return correct - others.logsumexp(-1)


def klom(unlearned: np.ndarray, retrained: np.ndarray, bins: int = 20, eps: float = 1e-5, clip: float = 100.0) -> np.ndarray:
    """Per-example KL(unlearned margins || retrained margins) across seeds.

    Args:
        unlearned: (seeds, examples) margins of independently unlearned models.
        retrained: (seeds', examples) margins of independently retrained models.

    Returns:
        (examples,) KLoM values (0 when the two distributions fill the same bins alike).
    """
    unlearned, retrained = np.asarray(unlearned, dtype=np.float64), np.asarray(retrained, dtype=np.float64)
    if unlearned.ndim != 2 or retrained.ndim != 2 or unlearned.shape[1] != retrained.shape[1]:
        raise ValueError(f"klom: expected (seeds, examples) arrays with equal examples, received {unlearned.shape} and {retrained.shape}")
    unlearned, retrained = np.clip(unlearned, -clip, clip), np.clip(retrained, -clip, clip)
    out = np.empty(unlearned.shape[1])
    for j in range(unlearned.shape[1]):
        low, high = min(unlearned[:, j].min(), retrained[:, j].min()), max(unlearned[:, j].max(), retrained[:, j].max())
        edges = np.linspace(low, high if high > low else low + 1e-6, bins + 1)
        p = np.histogram(unlearned[:, j], edges)[0] + eps
        q = np.histogram(retrained[:, j], edges)[0] + eps
        p, q = p / p.sum(), q / q.sum()
        out[j] = float(np.sum(p * np.log(p / q)))
    return out


def last_linear(model: nn.Module) -> nn.Linear:
    """The last ``nn.Linear`` of ``model`` (its head)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"model: expected a network with an nn.Linear head, received {type(model).__name__} without one")
    return linears[-1]


@torch.no_grad()
def head_inputs(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The inputs of ``model``'s head (its embeddings) for ``x``, in eval mode. Shape: (N, ...) -> (N, D)."""
    head, grabbed = last_linear(model), []
    handle = head.register_forward_hook(lambda _m, inputs, _out: grabbed.append(inputs[0].detach()))
    model.eval()
    device = next(model.parameters()).device
    try:
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size].to(device))
    finally:
        handle.remove()
    return torch.cat(grabbed).flatten(1)


def fit_subset_heads(
    features: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor, task: str, classes: int = 1, steps: int = 300, lr: float = 0.05, weight_decay: float = 1e-4
) -> torch.Tensor:
    """Heads refitted from scratch on each subset, all at once, and their outputs on every sample.

    Classification: softmax regression by full-batch Adam from zero (``steps``, ``lr``, l2 ``weight_decay``).
    Regression: least squares in closed form (ridge ``weight_decay``), one solve per subset.

    Shape: features (N, D), targets (N,), masks (M, N) bool -> outputs (M, N, C) (C = 1 for regression).
    """
    ones = torch.ones(len(features), 1, dtype=features.dtype)
    design = torch.cat([features, ones], 1)  # (N, D + 1): the bias as a last feature
    weights = masks.to(features.dtype)
    if task == "regression":
        gram = torch.einsum("mn,nd,ne->mde", weights, design, design) + weight_decay * torch.eye(design.shape[1])
        rhs = torch.einsum("mn,nd,n->md", weights, design, targets.to(features.dtype).reshape(-1))
        theta = torch.linalg.solve(gram, rhs)  # (M, D + 1)
        return torch.einsum("nd,md->mn", design, theta)[..., None]
    theta = torch.zeros(len(masks), design.shape[1], classes, requires_grad=True)
    optimizer = torch.optim.Adam([theta], lr=lr)
    counts = weights.sum(1).clamp_min(1)
    onehot = F.one_hot(targets.long(), classes).to(features.dtype)
    for _ in trange(steps, "DMM heads", unit="step"):
        nll = -(onehot[None] * torch.einsum("nd,mdc->mnc", design, theta).log_softmax(-1)).sum(-1)  # (M, N)
        loss = ((nll * weights).sum(1) / counts).sum() + weight_decay * theta[:, :-1].square().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return torch.einsum("nd,mdc->mnc", design, theta)


def ridge_datamodels(indicators: torch.Tensor, outputs: torch.Tensor, ridge: float) -> torch.Tensor:
    """Linear datamodels: ridge regression (with an intercept) of every output on the subset indicators.

    Shape: indicators (M, P) (1 = the regressor sample was in the subset), outputs (M, T) -> coefficients (P, T).
    """
    x = indicators.double() - indicators.double().mean(0)
    y = outputs.double() - outputs.double().mean(0)
    gram = x.T @ x + ridge * len(x) * torch.eye(x.shape[1], dtype=x.dtype)
    return torch.linalg.solve(gram, x.T @ y).float()


@register("dmm")
class DatamodelMatching(Unlearner):
    """Fine-tune the model's outputs onto datamodel-predicted oracle outputs on D_r and D_f.

    Args:
        models: subset models for the datamodels.
        subset_fraction: probability that a training sample is in a subset.
        ridge: ridge strength of the datamodel regression (times the number of models).
        head_steps, head_lr: the subset heads' full-batch Adam.
        removal: precomputed removal effects (:meth:`removal_effect`), datamodels being amortised over requests.
        (others: :class:`Unlearner`; defaults ours: Adam 1e-3, 10 epochs, batch 256, no weight decay)
    """

    data_mode = "retain"

    def __init__(
        self,
        model: nn.Module,
        task: str,
        *,
        models: int = 256,
        subset_fraction: float = 0.9,
        ridge: float = 1e-3,
        head_steps: int = 300,
        head_lr: float = 0.05,
        removal: torch.Tensor | None = None,
        epochs: float = 10,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(model, task, epochs=epochs, lr=lr, optimizer=optimizer, weight_decay=weight_decay, **kwargs)
        if not 0.0 < subset_fraction < 1.0:
            raise ValueError(f"subset_fraction: expected a share strictly between 0 and 1, received {subset_fraction}")
        self.models, self.subset_fraction, self.ridge, self.head_steps, self.head_lr = models, subset_fraction, ridge, head_steps, head_lr
        self.removal = removal

    @torch.no_grad()
    def outputs(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        model.eval()
        device = next(model.parameters()).device
        return torch.cat([model(x[i : i + 512].to(device)).float().cpu() for i in range(0, len(x), 512)])

    def removal_effect(self, x: torch.Tensor, y: torch.Tensor, n_forget: int) -> torch.Tensor:
        """``sum_{i in D_f} beta_i(x)`` for the stacked samples ``x`` (forget samples first). Shape: (N, C)."""
        features = head_inputs(self.model, x).cpu()
        classes = self.outputs(self.model, x[:1]).shape[1]
        gen = torch.Generator().manual_seed(self.seed)
        masks = torch.rand(self.models, len(x), generator=gen) < self.subset_fraction
        subset_outputs = fit_subset_heads(features, y, masks, self.task, classes, self.head_steps, self.head_lr)  # (M, N, C)
        beta = ridge_datamodels(masks[:, :n_forget], subset_outputs.flatten(1), self.ridge)  # (F, N * C)
        return beta.sum(0).view(len(x), classes)

    def matching_targets(self, data: UnlearningData, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The predicted oracle outputs ``f(x; D) - sum_{i in D_f} beta_i(x)``."""
        removal = self.removal if self.removal is not None else self.removal_effect(x, y, len(data.forget))
        if removal.shape != (len(x), removal.shape[-1]):
            raise ValueError(f"removal: expected ({len(x)}, C) removal effects (forget then retain samples), received {tuple(removal.shape)}")
        return self.outputs(self.model, x) - removal

    def run(self, data: UnlearningData) -> nn.Module:
        x, y = stack_dataset(ConcatDataset([data.forget, data.retain]))
        targets = self.matching_targets(data, x, y)
        self.model.train()
        matching = UnlearningData(data.forget, TensorDataset(x, targets), batch_size=self.batch_size, seed=self.seed)
        return super().run(matching)

    def unlearning_loss(self, batch) -> torch.Tensor:
        x, target = batch
        return F.mse_loss(self.model(x).view(len(x), -1), target.view(len(x), -1))


@register("oracle_matching")
class OracleMatching(DatamodelMatching):
    """DMM's upper bound: match the outputs of the model retrained without the forget set.

    Args:
        oracle: the retrained model; when None it is trained here with ``retrain`` (Adam 0.01, ``oracle_epochs``).
        oracle_epochs: epochs of that retraining.
        (others: :class:`DatamodelMatching`)
    """

    def __init__(self, model: nn.Module, task: str, *, oracle: nn.Module | None = None, oracle_epochs: float = 20, **kwargs) -> None:
        super().__init__(model, task, **kwargs)
        self.oracle, self.oracle_epochs = oracle, oracle_epochs

    def matching_targets(self, data: UnlearningData, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        oracle = self.oracle
        if oracle is None:
            oracle = copy.deepcopy(self.model)
            Retrain(oracle, self.task, epochs=self.oracle_epochs, batch_size=self.batch_size, seed=self.seed, progress=self.progress).run(data)
        return self.outputs(oracle, x)
