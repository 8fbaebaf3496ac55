"""UNEM: unrolled generalized EM for transductive few-shot learning (Zhou et al.).

The "model" is the per-layer hyper-parameters of an EM unrolled into layers (21 scalars for 10 layers); the
features come from a frozen backbone. Training learns them on tasks drawn from validation classes (Adam,
lr 0.1, full batch of tasks), as the official code does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.core import checks
from zoo.core.module import ZooModule
from zoo.models.unem.model import UnrolledDirichletEM, UnrolledGaussianEM


@dataclasses.dataclass
class UNEMConfig:
    """Configuration of :class:`UNEM` (defaults: the official code).

    Args:
        variant: ``"gaussian"`` (features from any backbone) or ``"dirichlet"`` (vision-language class probabilities).
        n_layers: unrolled EM iterations.
        num_classes: K of the Dirichlet variant (feature column k belongs to class k).
        mm_steps: maximum inner steps of the Dirichlet parameter fit.
        loss: ``"official"``: cross-entropy applied to the probabilities U as if they were logits (the official
            code's quirk); ``"nll"``: negative log-likelihood of U (the clean alternative).
        lr: Adam learning rate of the hyper-parameters.
        lr_step: StepLR period in optimisation steps (official Gaussian: 50).
        lr_decay: StepLR factor (official: 0.5).
        fused: use the torch.compile'd Gaussian E-step.
    """

    variant: str = "gaussian"
    n_layers: int = 10
    num_classes: int = 20
    mm_steps: int = 1000
    loss: str = "official"
    lr: float = 0.1
    lr_step: int = 50
    lr_decay: float = 0.5
    fused: bool = False


MAX_TASK_VALUES = 2**24
"""The most feature values (support and query together) of one ``predict`` call."""


def _tensor(x: Any, what: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            raise ValueError(f"{what}: expected a numeric array, received {checks.describe(x)}")
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{what}: expected a tensor or numpy array, received {checks.describe(x)}")
    return x


class UNEM(ZooModule):
    """Soft class assignments of query samples, given labelled support samples of the same task.

    Args:
        config: a :class:`UNEMConfig` (or a dict of its fields).

    Shape:
        - ``forward(support, support_labels, query)``: (B, S, D), (B, S) int64 in 0..K-1, (B, Q, D).
        - Output: (B, Q, K) soft assignments.

    Example:
        >>> model = zoo.create("unem_gaussian")
        >>> out = model.predict((support, support_labels, query))  # unbatched (S, D), (S,), (Q, D) also accepted
        >>> out["labels"]
    """

    progress_metrics = ("accuracy",)
    config_class = UNEMConfig

    def __init__(self, config: UNEMConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.variant == "gaussian":
            self.net = UnrolledGaussianEM(cfg.n_layers, fused=cfg.fused)
        elif cfg.variant == "dirichlet":
            self.net = UnrolledDirichletEM(cfg.n_layers, cfg.num_classes, cfg.mm_steps)
        else:
            raise ValueError(f"variant: expected 'gaussian' or 'dirichlet', received {cfg.variant!r}")
        if cfg.loss not in ("official", "nll"):
            raise ValueError(f"loss: expected 'official' or 'nll', received {cfg.loss!r}")

    def example_input(self, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A small task: 2 shots of every class, 6 queries.

        Gaussian: a 5-class mixture in 8 dimensions. Dirichlet: CLIP-like class similarities
        (0.2 + 0.02 N(0, 1), plus 0.05 in the true class's column) over ``num_classes`` classes.
        """
        gen = torch.Generator().manual_seed(0)
        gaussian = self.config.variant == "gaussian"
        k = 5 if gaussian else self.config.num_classes
        labels_s = torch.arange(k).repeat(2).expand(batch_size, -1).contiguous()
        labels_q = torch.randint(0, k, (batch_size, 6), generator=gen)
        if gaussian:
            means = 3.0 * torch.randn(batch_size, k, 8, generator=gen)

            def sample(labels: torch.Tensor) -> torch.Tensor:
                centre = torch.gather(means, 1, labels[..., None].expand(-1, -1, 8))
                return centre + torch.randn(centre.shape, generator=gen)
        else:

            def sample(labels: torch.Tensor) -> torch.Tensor:
                noise = 0.02 * torch.randn(*labels.shape, k, generator=gen)
                return 0.2 + noise + 0.05 * F.one_hot(labels, k)

        return sample(labels_s).to(self.device), labels_s.to(self.device), sample(labels_q).to(self.device)

    def prepare_input(self, x: Any) -> tuple[tuple[torch.Tensor, ...], dict[str, Any]]:
        """Validate a task and batch it.

        Args:
            x: ``(support, support_labels, query)`` or a dict with those keys, batched over tasks or not: float features
                (B, S, D) / (S, D) and (B, Q, D) / (Q, D), finite, of magnitude at most ``checks.FEATURE_MAGNITUDE``
                (squared distances of larger ones overflow float32), at most :data:`MAX_TASK_VALUES` values together;
                integer labels (B, S) / (S,) naming every class 0..K-1.

        Returns:
            ``(support, support_labels, query)`` batched, and ``{"batched": bool}``.

        Raises:
            ValueError: naming what was expected and what was received.
        """
        if isinstance(x, dict):
            missing = {"support", "support_labels", "query"} - set(x)
            if missing:
                raise ValueError(f"task: expected keys support, support_labels, query, received {sorted(x)}")
            x = (x["support"], x["support_labels"], x["query"])
        if not isinstance(x, (tuple, list)) or len(x) != 3:
            raise ValueError(f"task: expected (support, support_labels, query), received {checks.describe(x)}")
        support, labels, query = (_tensor(v, n) for v, n in zip(x, ("support", "support_labels", "query")))
        batched = support.ndim == 3
        if support.ndim == 2:
            support, labels, query = support[None], labels[None], query[None]
        checks.check_shape(support, ["B", "S", "D"], "support")
        checks.check_shape(query, ["B", "Q", "D"], "query")
        checks.check_shape(labels, ["B", "S"], "support_labels")
        if support.numel() + query.numel() > MAX_TASK_VALUES:
            raise ValueError(
                f"task: expected at most {MAX_TASK_VALUES:,} feature values in support and query together, "
                f"received {checks.describe(support)} and {checks.describe(query)}"
            )
        for t, name in ((support, "support"), (query, "query")):
            checks.check_not_empty(t, name)
            checks.check_floating(t, name)
            checks.check_finite(t, name)
            checks.check_range(t, -checks.FEATURE_MAGNITUDE, checks.FEATURE_MAGNITUDE, name, hint="rescale or normalise the features")
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise ValueError(f"support_labels: expected an integer tensor, received {checks.describe(labels)}")
        if support.shape[:2] != labels.shape or support.shape[0] != query.shape[0] or support.shape[2] != query.shape[2]:
            raise ValueError(
                f"task: expected support (B, S, D), support_labels (B, S), query (B, Q, D) with matching B, S and D, "
                f"received {tuple(support.shape)}, {tuple(labels.shape)}, {tuple(query.shape)}"
            )
        k = self.config.num_classes if self.config.variant == "dirichlet" else int(labels.max()) + 1
        present = torch.unique(labels)
        if int(labels.min()) < 0 or int(labels.max()) >= k or (self.config.variant == "gaussian" and len(present) != k):
            raise ValueError(f"support_labels: expected every class 0..{k - 1} present and nothing else, received labels {present.tolist()}")
        if self.config.variant == "dirichlet" and support.shape[2] != k:
            raise ValueError(f"features: expected one column per class (D = num_classes = {k}), received D = {support.shape[2]}")
        return (support, labels.long(), query), {"batched": batched}

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> dict[str, torch.Tensor]:
        """``{"labels": (B, Q) predicted classes, "probabilities": (B, Q, K)}`` (without B for unbatched input)."""
        out = {"labels": y.argmax(-1).cpu(), "probabilities": y.float().cpu()}
        return out if context["batched"] else {k: v[0] for k, v in out.items()}

    def inference_path(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor):
        """The faster of the network eager and compiled with freezing, timed on tasks of these shapes
        (:func:`zoo.ops.compile.inference_path`): at one task or a few, the compiled graph's fixed cost can exceed
        what it saves, and then the eager network is returned.

        Returns:
            ``(callable taking (support, support_labels, query), "frozen" or "eager", per-round ratio eager / frozen)``.
        """
        from zoo.ops.compile import inference_path

        return inference_path(self.inference_net, (support, support_labels, query))

    def bench_cases(self, batch_size: int | None, size: int | None) -> list:
        """Op rows of ``zoo bench`` (the paths rows are in ``reference.py``): the Gaussian E-step, eager vs its
        compiled twin, at the shapes of 20-way tasks with 75 queries and ``size``-d features (default 640), one task
        (default: what ``predict`` serves) or ``batch_size``."""
        from zoo.bench import BenchCase
        from zoo.ops.em import gaussian_e_step, gaussian_e_step_fused

        if self.config.variant != "gaussian":
            return []
        n, k, dim = batch_size or 1, 20, size or 640
        g = torch.Generator().manual_seed(0)
        z, w = torch.randn(n, 75, dim, generator=g).to(self.device), torch.randn(n, k, dim, generator=g).to(self.device)
        v, lam, temp = torch.randn(n, k, generator=g).to(self.device), torch.tensor(0.5), torch.tensor(1.5)
        return [
            BenchCase(f"Gaussian E-step (op), {n} task(s) x 75 x {k}, d={dim}", "eager", "compiled twin", lambda: gaussian_e_step(z, w, v, lam, temp), lambda: gaussian_e_step_fused(z, w, v, lam, temp), items=n)
        ]

    # ---------------------------------------------------------------- training
    def task_loss(self, probabilities: torch.Tensor, query_labels: torch.Tensor) -> torch.Tensor:
        """The training criterion over a batch of tasks (see ``UNEMConfig.loss``)."""
        flat, target = probabilities.reshape(-1, probabilities.shape[-1]), query_labels.reshape(-1)
        if self.config.loss == "official":
            return F.cross_entropy(flat, target)
        return F.nll_loss(torch.log(flat.clamp_min(1e-12)), target)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        u = self(batch["support"], batch["support_labels"], batch["query"])
        loss = self.task_loss(u, batch["query_labels"])
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/accuracy", (u.argmax(-1) == batch["query_labels"]).float().mean())
        return loss

    def evaluate_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Query accuracy of a batch of tasks."""
        u = self(batch["support"], batch["support_labels"], batch["query"])
        return {"accuracy": (u.argmax(-1) == batch["query_labels"]).float().mean()}

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.config.lr)
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, self.config.lr_step, self.config.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
