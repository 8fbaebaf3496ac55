"""The two kinds of unlearning method, and their registry.

- :class:`Unlearner`: a LightningModule that trains a model on forget and/or retain batches (fine-tune, gradient
  ascent, random labels, l1-sparse, Blindspot, ...). ``data_mode`` names the stream it reads
  (:mod:`zoo.unlearning.data`); ``prepare`` runs once before training (e.g. Blindspot's proxy model).
- :class:`OneShotUnlearner`: no optimiser loop (SSD, Fisher forgetting): ``run`` edits the weights directly.

Both are built as ``Method(model, task, **hparams)`` and run with ``.run(data) -> model``; unknown
hyper-parameters are refused by name.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, ClassVar

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch import nn

from zoo.core.progress import lightning_bar
from zoo.data.samplers import ResumesMidEpoch
from zoo.losses.supervised import check_task, task_loss
from zoo.unlearning.data import UnlearningData

METHODS: dict[str, type] = {}
OPTIMIZERS = ("sgd", "adam")


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make the method available as ``zoo.unlearn(model, name, ...)`` and ``zoo unlearn name``."""

    def add(cls: type) -> type:
        cls.method_name = name
        METHODS[name] = cls
        return cls

    return add


def hyperparameters(cls: type) -> dict[str, Any]:
    """The method's hyper-parameters and their defaults (its constructor's keyword arguments)."""
    names: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if "__init__" in vars(klass) and klass not in (object, nn.Module, L.LightningModule):
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.kind is p.KEYWORD_ONLY:
                    names[p.name] = p.default
    return names


class OneShotUnlearner:
    """Base of methods without an optimiser loop.

    Args:
        model: the trained network (edited in place).
        task: ``"classification"`` or ``"regression"``.
        batch_size: batch size of the passes over the data.
        regression_loss: ``"l1"`` or ``"mse"``.
        seed: seed of any random draw.
    """

    method_name: ClassVar[str] = ""

    def __init__(self, model: nn.Module, task: str, *, batch_size: int = 256, regression_loss: str = "l1", seed: int = 0) -> None:
        self.model, self.task = model, check_task(task)
        self.batch_size, self.regression_loss, self.seed = batch_size, regression_loss, seed

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return task_loss(self.task, outputs, targets, self.regression_loss)

    def run(self, data: UnlearningData) -> nn.Module:
        raise NotImplementedError


class Unlearner(ResumesMidEpoch, L.LightningModule):
    """Base of training-loop methods: optimiser, epochs, the task loss, and ``run``.

    Args:
        model: the trained network (trained further in place).
        task: ``"classification"`` or ``"regression"``.
        epochs: passes over the method's data stream.
        lr: learning rate.
        optimizer: ``"sgd"`` (momentum, weight decay) or ``"adam"``.
        momentum: SGD momentum.
        weight_decay: weight decay.
        batch_size: samples per batch.
        regression_loss: ``"l1"`` or ``"mse"``.
        seed: seed of shuffling and of any random draw.
        progress: show Lightning's progress bar (on a terminal only, and never with ``ZOO_QUIET=1``:
            :func:`zoo.core.progress.lightning_bar`).
    """

    method_name: ClassVar[str] = ""
    data_mode: ClassVar[str] = "retain"

    def __init__(
        self,
        model: nn.Module,
        task: str,
        *,
        epochs: float = 10,
        lr: float = 0.01,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        batch_size: int = 256,
        regression_loss: str = "l1",
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, received {optimizer!r}")
        self.model, self.task = model, check_task(task)
        self.epochs, self.lr, self.optimizer_name, self.momentum, self.weight_decay = epochs, lr, optimizer, momentum, weight_decay
        self.batch_size, self.regression_loss, self.seed, self.progress = batch_size, regression_loss, seed, progress

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return task_loss(self.task, outputs, targets, self.regression_loss, reduction)

    def prepare(self, data: UnlearningData) -> None:
        """Runs once before training, with the data (override: proxy models, label statistics)."""

    def unlearning_loss(self, batch: Any) -> torch.Tensor:
        raise NotImplementedError

    def on_train_epoch_start(self) -> None:
        self.model.train()  # Lightning keeps the mode a module arrives in; a model fresh from evaluation is in eval mode

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self.unlearning_loss(batch)
        self.log(f"{self.method_name}_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.optimizer_name == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)

    def run(self, data: UnlearningData) -> nn.Module:
        data = data.with_mode(self.data_mode, self.batch_size, self.seed)
        torch.manual_seed(self.seed)
        self.prepare(data)
        loader = data.train_dataloader()
        if isinstance(loader, CombinedLoader):
            iter(loader)  # a CombinedLoader knows its length only once iterated
        batches = len(loader)
        steps = max(1, int(round(self.epochs * batches)))
        trainer = L.Trainer(
            max_steps=steps,
            max_epochs=-1,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=lightning_bar(self.progress),
            accelerator="auto",
            devices=1,
        )
        self.model.train()
        trainer.fit(self, loader)
        return self.model.eval()
