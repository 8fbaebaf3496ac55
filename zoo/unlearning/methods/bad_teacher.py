"""Bad Teacher (BadT; Chundawat et al., "Can bad teaching induce forgetting?", AAAI 2023) as the corrective-unlearning
benchmark runs it (drimpossible/corrective-unlearning-bench, ``src/methods.py::BadT``).

Two frozen teachers: the trained model ("competent") and a randomly re-initialised copy ("incompetent"). On shuffled
batches of the whole training set the student, starting from the trained model, minimises

    KL( t(x) || softmax(student(x) / T) ),   t = softmax(incompetent(x) / T) for forget samples, softmax(competent(x) / T) otherwise

with ``F.kl_div(..., reduction="mean")`` (an element-wise mean, as the official code calls it) and T = 1.
Optimiser: the benchmark's (:class:`LastKUnlearner`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from zoo.unlearning.base import register
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.methods.baselines import reinitialise
from zoo.unlearning.methods.last_k import LastKUnlearner


@register("bad_teacher")
class BadTeacher(LastKUnlearner):
    """Distil the competent teacher on retain samples and the incompetent (random) one on forget samples.

    Args:
        temperature: the KL temperature (official ``kltemp`` 1).
        (others: :class:`LastKUnlearner`)
    """

    data_mode = "mixed"

    def __init__(self, model: nn.Module, task: str, *, temperature: float = 1.0, **kwargs) -> None:
        super().__init__(model, task, **kwargs)
        if self.task != "classification":
            raise ValueError(f"bad_teacher: expected a classification task (teachers' class distributions), received {self.task!r}")
        self.temperature = temperature
        self.competent: nn.Module | None = None
        self.incompetent: nn.Module | None = None

    def prepare(self, data: UnlearningData) -> None:
        self.competent = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.incompetent = reinitialise(copy.deepcopy(self.model), self.seed + 1).eval().requires_grad_(False)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self.competent.eval()
        self.incompetent.eval()

    def unlearning_loss(self, batch) -> torch.Tensor:
        x, _, is_forget = batch
        out = self.model(x)
        with torch.no_grad():
            good = F.softmax(self.competent(x) / self.temperature, dim=1)
            bad = F.softmax(self.incompetent(x) / self.temperature, dim=1)
        teacher = torch.where(is_forget[:, None], bad, good)
        return F.kl_div(F.log_softmax(out / self.temperature, dim=1), teacher, reduction="mean")
