"""The supervised loss of a classifier or regressor, in one place (training, retraining, unlearning, evaluation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

TASKS = ("classification", "regression")
REGRESSION_LOSSES = ("l1", "mse")


def check_task(task: str) -> str:
    """Return ``task`` if it is ``"classification"`` or ``"regression"``, else raise a ValueError naming both."""
    if task not in TASKS:
        raise ValueError(f"task: expected one of {TASKS}, received {task!r}")
    return task


def task_loss(task: str, outputs: torch.Tensor, targets: torch.Tensor, regression_loss: str = "l1", reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy for classification; L1 (the Blindspot paper's vision models) or MSE for regression.

    Shape:
        - outputs: (N, C) logits, or (N,) / (N, 1) predictions.
        - targets: (N,) int64 classes, or (N,) / (N, 1) float values.
        - Output: scalar, or (N,) with ``reduction="none"``.
    """
    if check_task(task) == "classification":
        return F.cross_entropy(outputs, targets.long(), reduction=reduction)
    if regression_loss not in REGRESSION_LOSSES:
        raise ValueError(f"regression_loss: expected one of {REGRESSION_LOSSES}, received {regression_loss!r}")
    outputs, targets = outputs.reshape(len(outputs)), targets.reshape(len(targets)).to(outputs.dtype)
    loss = F.l1_loss if regression_loss == "l1" else F.mse_loss
    return loss(outputs, targets, reduction=reduction)
