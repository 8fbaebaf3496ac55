"""SCRUB (Kurmanji et al., NeurIPS 2023) as the corrective-unlearning benchmark runs it (drimpossible/
corrective-unlearning-bench, ``src/methods.py::Scrub``).

The student starts from the trained model; the teacher is a frozen copy of it. Each step minimises

    L = CE(student(x), y) + alpha * KD_T(student(x), teacher(x))      (KD: ``distill_kl_loss``, T^2-scaled KL)

on retain batches and *maximises* it (``-L``) on forget batches. While fewer than ``msteps`` steps have run, each
cycle is one epoch over the forget set followed by one over the retain set; afterwards only retain epochs.
Defaults: ``msteps`` 400, T = 4, alpha = 0.001, with the benchmark's optimiser (:class:`LastKUnlearner`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from zoo.unlearning.base import register
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.methods.last_k import LastKUnlearner


def distill_kl_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``sum KL(softmax(t / T) || softmax(s / T)) * T^2 / N``, the benchmark's knowledge-distillation term."""
    log_p = F.log_softmax(student / temperature, dim=1)
    q = F.softmax(teacher / temperature, dim=1)
    return F.kl_div(log_p, q, reduction="sum") * temperature**2 / len(student)


class _Schedule(IterableDataset):
    """SCRUB's batches: (x, y, maximise) in the official order, ``total`` of them."""

    def __init__(self, data: UnlearningData, total: int, msteps: int) -> None:
        self.data, self.total, self.msteps = data, total, msteps

    def __len__(self) -> int:
        return self.total

    def __iter__(self):
        steps, cycle = 0, 0
        while steps < self.total:
            phases = ([(self.data.forget, True)] if steps < self.msteps else []) + [(self.data.retain, False)]
            for dataset, maximise in phases:
                for x, y in self.data.shuffled(dataset, 2 * cycle + maximise):
                    if steps >= self.total:
                        return
                    yield x, y, torch.tensor(maximise)
                    steps += 1
            cycle += 1


class _ScheduleData(UnlearningData):
    def __init__(self, data: UnlearningData, total: int, msteps: int, batch_size: int, seed: int) -> None:
        super().__init__(data.forget, data.retain, "retain", batch_size, seed)
        self.forget_classes, self.total, self.msteps = data.forget_classes, total, msteps

    def with_mode(self, mode: str, batch_size: int, seed: int) -> "UnlearningData":
        return self

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_Schedule(self, self.total, self.msteps), batch_size=None)


@register("scrub")
class Scrub(LastKUnlearner):
    """Alternate ascent on the forget set and descent on the retain set, each with a distillation term to the original.

    Args:
        msteps: steps during which forget epochs are interleaved (official 400).
        kd_temperature: distillation temperature (official ``kd_T`` 4).
        alpha: weight of the distillation term (official 0.001).
        (others: :class:`LastKUnlearner`)
    """

    def __init__(self, model: nn.Module, task: str, *, msteps: int = 400, kd_temperature: float = 4.0, alpha: float = 0.001, **kwargs) -> None:
        super().__init__(model, task, **kwargs)
        if self.task != "classification":
            raise ValueError(f"scrub: expected a classification task (distillation over classes), received {self.task!r}")
        self.msteps, self.kd_temperature, self.alpha = msteps, kd_temperature, alpha
        self.teacher: nn.Module | None = None

    def prepare(self, data: UnlearningData) -> None:
        self.teacher = copy.deepcopy(self.model).eval().requires_grad_(False)

    def unlearning_loss(self, batch) -> torch.Tensor:
        x, y, maximise = batch
        out = self.model(x)
        with torch.no_grad():
            teacher = self.teacher(x)
        loss = self.loss(out, y) + self.alpha * distill_kl_loss(out, teacher, self.kd_temperature)
        return -loss if bool(maximise) else loss

    def run(self, data: UnlearningData) -> nn.Module:
        if self.by_epochs:  # epochs count retain epochs: the schedule's length in steps
            self.iters, self.by_epochs = max(1, round(self.epochs * -(-len(data.retain) // self.batch_size))), False
        return super().run(_ScheduleData(data, max(1, self.iters), self.msteps, self.batch_size, self.seed))
