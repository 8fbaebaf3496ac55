"""The baselines every unlearning paper compares with (defaults: the Unlearn-Sparse / SalUn code and READMEs).

- ``retrain``: a fresh initialisation trained on the retain set only: the gold standard (defaults: the recipe of
  zoo's All-CNN models, Adam 0.01; pass the original model's recipe).
- ``finetune`` (FT): SGD on the retain set, lr 0.01, 10 epochs.
- ``gradient_ascent`` (GA, NegGrad): SGD ascending the loss of the forget set, lr 1e-4, 5 epochs.
- ``random_labels`` (RL): SalUn's / Unlearn-Sparse's RL without the saliency mask, as their CIFAR-10 branch runs
  it: each epoch one pass over the forget set with labels drawn uniformly from all classes (the true class
  allowed), then one pass over the retain set with the true labels, lr 0.01, 10 epochs; for regression a random
  target drawn uniformly from the retain set's target range.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.unlearning.base import Unlearner, register
from zoo.unlearning.data import UnlearningData, stack_dataset


def reinitialise(model: nn.Module, seed: int) -> nn.Module:
    """Draw fresh weights for every layer that can (``reset_parameters``), from ``seed``."""
    torch.manual_seed(seed)
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
    return model


@register("finetune")
class Finetune(Unlearner):
    """Fine-tune on the retain set: forgetting by catastrophic forgetting."""

    data_mode = "retain"

    def unlearning_loss(self, batch) -> torch.Tensor:
        x, y = batch
        return self.loss(self.model(x), y)


@register("retrain")
class Retrain(Finetune):
    """Train from scratch on the retain set (the reference every metric is compared with)."""

    def __init__(self, model: nn.Module, task: str, *, epochs: float = 20, lr: float = 0.01, optimizer: str = "adam", weight_decay: float = 0.0, **kwargs) -> None:
        super().__init__(model, task, epochs=epochs, lr=lr, optimizer=optimizer, weight_decay=weight_decay, **kwargs)

    def prepare(self, data: UnlearningData) -> None:
        reinitialise(self.model, self.seed)


@register("gradient_ascent")
class GradientAscent(Unlearner):
    """Ascend the loss of the forget set."""

    data_mode = "forget"

    def __init__(self, model: nn.Module, task: str, *, epochs: float = 5, lr: float = 1e-4, **kwargs) -> None:
        super().__init__(model, task, epochs=epochs, lr=lr, **kwargs)

    def unlearning_loss(self, batch) -> torch.Tensor:
        x, y = batch
        return -self.loss(self.model(x), y)


@register("random_labels")
class RandomLabels(Unlearner):
    """A pass over the forget samples relabelled uniformly at random (any class, their own included), then a pass
    over the retain samples with their labels (``"sequential"`` stream: every batch is one or the other)."""

    data_mode = "sequential"

    def __init__(self, model: nn.Module, task: str, *, num_classes: int = 0, **kwargs) -> None:
        super().__init__(model, task, **kwargs)
        self.num_classes = num_classes
        self.target_range = (0.0, 1.0)

    def prepare(self, data: UnlearningData) -> None:
        _, targets = stack_dataset(data.retain)
        if self.task == "regression":
            self.target_range = (float(targets.min()), float(targets.max()))
        elif not self.num_classes:
            with torch.no_grad():
                self.num_classes = int(self.model(data.retain[0][0][None].to(self.device)).shape[1])

    def random_targets(self, y: torch.Tensor) -> torch.Tensor:
        if self.task == "regression":
            low, high = self.target_range
            return torch.empty(y.shape, device=y.device).uniform_(low, high)
        return torch.randint(0, self.num_classes, y.shape, device=y.device)

    def unlearning_loss(self, batch) -> torch.Tensor:
        x, y, is_forget = batch
        forget_batch = bool(is_forget[0])  # the stream never mixes forget and retain samples in a batch
        return self.loss(self.model(x), self.random_targets(y) if forget_batch else y)
