"""Fisher forgetting (Golatkar, Achille & Soatto, "Eternal Sunshine of the Spotless Net", CVPR 2020), as the
Unlearn-Sparse code runs it (``fisher_new``): add Gaussian noise shaped by the inverse Fisher of the retain set, so
weights the retain data does not pin down are scrambled.

Per parameter: ``var = alpha * clamp(1 / (F + 1e-8), max=1e3)`` (head rows: max 1e2), averaged over the input
dimension for weight matrices, x10 for the head and 1-D parameters (batch norm); for whole-class forgetting the
head rows of the forgotten classes are set to 0 with variance 1e-4; ``theta <- mu + sqrt(var) * N(0, 1)``.
The head is the last ``nn.Linear`` (the official code finds it by ``shape[0] == num_classes``).
F is the class-expected Fisher for classifiers and the empirical Fisher (squared gradient of the loss) for
regressors.

``alpha``: the default here is 3e-6, the value of Golatkar et al.'s own notebook (AdityaGolatkar/SelectiveForgetting,
``Forgetting.ipynb``: ``get_mean_var(..., alpha=3e-6)``), which later unlearning code copies along with the
function. Unlearn-Sparse leaves it user-set: its ``--alpha`` flag, shared with the
l1 weight and other methods, defaults to 0.2, which draws noise of standard deviation up to
``sqrt(0.2 * 1e3 * 10) ~ 45`` on the 1-D and head parameters and destroys a small model; 3e-6 is the value a
source chose for Fisher forgetting itself.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from zoo.unlearning.base import OneShotUnlearner, register
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.importance import expected_fisher, expected_fisher_loop, squared_gradients


def head_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters of the last ``nn.Linear`` in ``model``."""
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        return set()
    return {f"{linears[-1]}.{p}" for p, _ in dict(model.named_modules())[linears[-1]].named_parameters()}


@register("fisher")
class FisherForgetting(OneShotUnlearner):
    """Inverse-Fisher-shaped noise on every weight.

    Args:
        alpha: noise scale (Golatkar et al.'s 3e-6; see the module docstring).
        forget_classes: classes forgotten as a whole (their head rows are zeroed), taken from the data when empty.
        vectorized: batch the classes' backward passes (:func:`expected_fisher`); on this CPU the per-class loop is as
            fast (``tools/bench.py allcnn_mnist_classifier``), so it is the default.
        (others: :class:`OneShotUnlearner`)
    """

    def __init__(self, model: nn.Module, task: str, *, alpha: float = 3e-6, forget_classes: tuple[int, ...] = (), vectorized: bool = False, **kwargs) -> None:
        super().__init__(model, task, **kwargs)
        self.alpha, self.forget_classes, self.vectorized = alpha, tuple(forget_classes), vectorized

    def fisher(self, data: UnlearningData) -> dict[str, torch.Tensor]:
        loader = DataLoader(data.retain, batch_size=32)
        if self.task == "classification":
            num_classes = int(self.model(data.retain[0][0][None].to(next(self.model.parameters()).device)).shape[1])
            return (expected_fisher if self.vectorized else expected_fisher_loop)(self.model, loader, num_classes)
        return squared_gradients(self.model, loader, self.loss)

    @torch.no_grad()
    def run(self, data: UnlearningData) -> nn.Module:
        forget_classes = self.forget_classes or tuple(getattr(data, "forget_classes", ()))
        with torch.enable_grad():
            fisher = self.fisher(data)
        head = head_parameter_names(self.model)
        gen = torch.Generator(device=next(self.model.parameters()).device).manual_seed(self.seed)
        for name, p in self.model.named_parameters():
            if name not in fisher:
                continue
            var = (1.0 / (fisher[name] + 1e-8)).clamp(max=1e2 if name in head else 1e3) * self.alpha
            if p.ndim > 1:
                var = var.mean(dim=1, keepdim=True).expand_as(p).clone()
            mu = p.detach().clone()
            if name in head and forget_classes and self.task == "classification":
                rows = list(forget_classes)
                mu[rows], var[rows] = 0.0, 1e-4
            if name in head or p.ndim == 1:
                var = var * 10
            p.copy_(mu + var.sqrt() * torch.randn(p.shape, generator=gen, device=p.device, dtype=p.dtype))
        return self.model.eval()
