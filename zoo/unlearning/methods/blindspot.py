"""Blindspot unlearning and Gaussian fine-tuning (Tarun, Chundawat, Mandal & Kankanhalli, "Deep Regression
Unlearning", ICML 2023; official code ayu987/deep-regression-unlearning, ``unlearn.py``).

Blindspot: a proxy of the same architecture, randomly initialised and trained briefly on the retain set
(official: 2 epochs of the original recipe, Adam 0.01), is frozen; the model then trains from its original weights
on shuffled batches of the whole training set (official: 1 epoch, Adam 1e-3, batch 256) with

    L = c * [ L1(M(x_f), B(x_f)) + beta * sum_l mean((att(A^M_l(x_f)) - att(A^B_l(x_f)))^2) ] + (1 - c) * task(M(x_r), y_r)

c the forget share of the batch, att the attention-transfer map of each intermediate activation, beta = 50.
Each term is 0 when its part of the batch is empty, as in the official code.

Gaussian fine-tuning ("Gaussian amnesiac"): forget samples get targets drawn from N(mean, std) of the whole
training set's targets; the model fine-tunes on the relabelled training set (official: 1 epoch, Adam 1e-3).
Regression only.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from zoo.losses.attention_transfer import attention_transfer_loss
from zoo.unlearning.activations import default_activation_layers, record_activations
from zoo.unlearning.base import Unlearner, register
from zoo.unlearning.data import UnlearningData, stack_dataset
from zoo.unlearning.methods.baselines import Retrain


@register("blindspot")
class Blindspot(Unlearner):
    """Pull forget samples toward a proxy that never saw them, in outputs and attention maps.

    Args:
        beta: weight of the attention-transfer term (official ``AT_beta`` 50).
        proxy_epochs: epochs of the proxy's training on the retain set (official 2 for images, 10 for STS-B).
        proxy_lr: the proxy's Adam learning rate (official 0.01, the original recipe).
        layers: module names whose activations are compared (default: the model's ``activation_layers``).
        (others: :class:`Unlearner`; defaults Adam 1e-3, 1 epoch)
    """

    data_mode = "mixed"

    def __init__(
        self,
        model: nn.Module,
        task: str,
        *,
        beta: float = 50.0,
        proxy_epochs: float = 2,
        proxy_lr: float = 0.01,
        layers: tuple[str, ...] = (),
        epochs: float = 1,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(model, task, epochs=epochs, lr=lr, optimizer=optimizer, weight_decay=weight_decay, **kwargs)
        self.beta, self.proxy_epochs, self.proxy_lr = beta, proxy_epochs, proxy_lr
        self.layers = tuple(layers) or default_activation_layers(model)
        self.proxy: nn.Module | None = None

    def prepare(self, data: UnlearningData) -> None:
        proxy = copy.deepcopy(self.model)
        Retrain(proxy, self.task, epochs=self.proxy_epochs, lr=self.proxy_lr, batch_size=self.batch_size,
                regression_loss=self.regression_loss, seed=self.seed + 1, progress=self.progress).run(data)
        self.proxy = proxy.eval().requires_grad_(False)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.proxy.eval()

    def unlearning_loss(self, batch) -> torch.Tensor:
        x, y, is_forget = batch
        with record_activations(self.model, self.layers) as model_acts:
            out = self.model(x)
        zero = out.sum() * 0.0
        forget_share = is_forget.float().mean()
        retain_loss = self.loss(out[~is_forget], y[~is_forget]) if bool((~is_forget).any()) else zero
        forget_loss = zero
        if bool(is_forget.any()):
            with torch.no_grad(), record_activations(self.proxy, self.layers) as proxy_acts:
                proxy_out = self.proxy(x[is_forget])
            forget_loss = F.l1_loss(out[is_forget], proxy_out)
            for a_model, a_proxy in zip(model_acts, proxy_acts):
                forget_loss = forget_loss + self.beta * attention_transfer_loss(a_model[is_forget], a_proxy)
        self.log("forget_share", forget_share)
        return forget_share * forget_loss + (1 - forget_share) * retain_loss


@register("gaussian_finetune")
class GaussianFinetune(Unlearner):
    """Fine-tune with the forget samples' targets replaced by Gaussian noise of the training targets' statistics.

    (hyper-parameters: :class:`Unlearner`; defaults Adam 1e-3, 1 epoch)
    """

    data_mode = "mixed"

    def __init__(self, model: nn.Module, task: str, *, epochs: float = 1, lr: float = 1e-3, optimizer: str = "adam", weight_decay: float = 0.0, **kwargs) -> None:
        super().__init__(model, task, epochs=epochs, lr=lr, optimizer=optimizer, weight_decay=weight_decay, **kwargs)
        if self.task != "regression":
            raise ValueError("gaussian_finetune: expected a regression task (Gaussian targets); for classifiers use random_labels")
        self.mean, self.std = 0.0, 1.0

    def prepare(self, data: UnlearningData) -> None:
        targets = torch.cat([stack_dataset(data.forget)[1], stack_dataset(data.retain)[1]]).float()
        self.mean, self.std = float(targets.mean()), float(targets.std())

    def unlearning_loss(self, batch) -> torch.Tensor:
        x, y, is_forget = batch
        noise = torch.randn(y.shape, device=y.device) * self.std + self.mean
        return self.loss(self.model(x), torch.where(is_forget, noise, y.float()))
