"""Class unlearning via concepts and data poisoning (Chang, Zhu, Xu, Liu, Zhou, "Class Machine Unlearning for Complex
Data via Concepts Inference and Data Poisoning", arXiv 2405.15662). No code was released; the pipeline follows the
paper, the concept bank and the defaults are ours.

1. Post-hoc concept bottleneck (PCBM, Yuksekgonul et al. 2023) on the frozen embeddings e(x) (the head's inputs):
   one concept activation vector per concept of a bank (a linear SVM separating embeddings of images with and without
   the concept, normalised), concept scores ``s = e . c``, and a sparse linear predictor of the class from the scores
   (cross-entropy + elastic net, lambda 2e-4, l1 share 0.99: PCBM's defaults), fitted on the retain and forget samples.
2. Integrated Gradients (captum) of the forgotten class's PCBM logit with respect to the concept scores of the forget
   samples, from the mean training score: the ``concepts`` concepts with the largest mean attribution are the ones
   linked to the class.
3. Concept-selected forget samples: those whose linked concepts' summed attribution is positive (the concepts push
   them towards the class). Their labels are poisoned: ``"random"``, a uniformly drawn other class; ``"targeted"``,
   the class the PCBM predicts once the linked concepts' scores are reset to the mean (the forgotten class excluded).
4. Fine-tune the model on the retain samples and the poisoned selected samples, shuffled together (ours: SGD 0.01,
   5 epochs, batch 256).

The concept bank is named by ``concept_bank``: ``"digits"`` (:mod:`zoo.data.digit_concepts`, stroke and shape
concepts of handwritten digits, labelled from the images).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients
from sklearn.svm import LinearSVC
from torch import nn
from torch.utils.data import TensorDataset

from zoo.core.progress import trange
from zoo.data.digit_concepts import CONCEPTS, digit_concepts
from zoo.unlearning.base import Unlearner, register
from zoo.unlearning.data import UnlearningData, stack_dataset
from zoo.unlearning.methods.dmm import head_inputs

CONCEPT_BANKS = {"digits": (CONCEPTS, digit_concepts)}
POISONS = ("random", "targeted")


def concept_vectors(embeddings: np.ndarray, labels: np.ndarray, c: float = 0.1, seed: int = 0) -> np.ndarray:
    """Unit concept activation vectors: a linear SVM per concept column of ``labels``. Shape: (N, D), (N, K) -> (K, D).

    A concept that every sample (or none) has gets a zero vector.
    """
    vectors = np.zeros((labels.shape[1], embeddings.shape[1]))
    for k in range(labels.shape[1]):
        if labels[:, k].all() or not labels[:, k].any():
            continue
        svm = LinearSVC(C=c, max_iter=5000, random_state=seed).fit(embeddings, labels[:, k])
        vectors[k] = svm.coef_[0] / max(np.linalg.norm(svm.coef_[0]), 1e-12)
    return vectors


def fit_bottleneck(scores: torch.Tensor, labels: torch.Tensor, classes: int, lam: float = 2e-4, l1_share: float = 0.99, steps: int = 500, lr: float = 0.05) -> nn.Linear:
    """PCBM's interpretable predictor: a linear layer on concept scores, cross-entropy + elastic net, full-batch Adam."""
    linear = nn.Linear(scores.shape[1], classes)
    optimizer = torch.optim.Adam(linear.parameters(), lr=lr)
    for _ in trange(steps, "concept bottleneck", unit="step"):
        w = linear.weight
        loss = F.cross_entropy(linear(scores), labels.long()) + lam * (l1_share * w.abs().sum() + (1 - l1_share) * w.square().sum())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return linear.eval().requires_grad_(False)


@register("concept_poison")
class ConceptPoisoning(Unlearner):
    """Find the class's concepts with a post-hoc concept bottleneck and Integrated Gradients, then fine-tune on
    concept-selected forget samples with poisoned labels.

    Args:
        concept_bank: a name of :data:`CONCEPT_BANKS`.
        concepts: how many linked concepts to use.
        poison: ``"random"`` or ``"targeted"`` labels.
        svm_c: the concept SVMs' C.
        ig_steps: Integrated Gradients steps.
        (others: :class:`Unlearner`; ours SGD 0.01, 5 epochs)
    """

    data_mode = "mixed"

    def __init__(
        self,
        model: nn.Module,
        task: str,
        *,
        concept_bank: str = "digits",
        concepts: int = 3,
        poison: str = "random",
        svm_c: float = 0.1,
        ig_steps: int = 50,
        epochs: float = 5,
        **kwargs,
    ) -> None:
        super().__init__(model, task, epochs=epochs, **kwargs)
        if self.task != "classification":
            raise ValueError(f"concept_poison: expected a classification task (class unlearning), received {self.task!r}")
        if concept_bank not in CONCEPT_BANKS:
            raise ValueError(f"concept_bank: expected one of {sorted(CONCEPT_BANKS)}, received {concept_bank!r}")
        if poison not in POISONS:
            raise ValueError(f"poison: expected one of {POISONS}, received {poison!r}")
        self.concept_bank, self.n_concepts, self.poison, self.svm_c, self.ig_steps = concept_bank, concepts, poison, svm_c, ig_steps
        self.linked: list[str] = []
        self.attributions: dict[str, float] = {}
        self.selected, self.bottleneck_accuracy = 0, 0.0

    def poisoned_forget(self, data: UnlearningData) -> TensorDataset:
        """Steps 1-3: the concept-selected forget samples with poisoned labels (also sets the diagnostics)."""
        names, labeller = CONCEPT_BANKS[self.concept_bank]
        xf, yf = stack_dataset(data.forget)
        xr, yr = stack_dataset(data.retain)
        forgotten = int(torch.mode(yf).values)
        x, y = torch.cat([xf, xr]), torch.cat([yf, yr])
        embeddings = head_inputs(self.model, x).cpu()
        vectors = torch.from_numpy(concept_vectors(embeddings.numpy(), labeller(x.numpy()), self.svm_c, self.seed)).float()
        scores = embeddings @ vectors.T
        classes = int(self.model(x[:1].to(next(self.model.parameters()).device)).shape[1])
        torch.manual_seed(self.seed)
        bottleneck = fit_bottleneck(scores, y, classes)
        self.bottleneck_accuracy = 100.0 * float((bottleneck(scores).argmax(1) == y).float().mean())
        baseline = scores.mean(0, keepdim=True)
        forget_scores = scores[: len(xf)]
        attributions = IntegratedGradients(bottleneck).attribute(forget_scores, baselines=baseline, target=forgotten, n_steps=self.ig_steps)
        mean = attributions.mean(0)
        linked = mean.argsort(descending=True)[: self.n_concepts]
        self.linked = [names[i] for i in linked.tolist()]
        self.attributions = {names[i]: float(mean[i]) for i in range(len(names))}
        chosen = attributions[:, linked].sum(1) > 0
        self.selected = int(chosen.sum())
        gen = torch.Generator().manual_seed(self.seed)
        if self.poison == "random":
            labels = (forgotten + torch.randint(1, classes, (self.selected,), generator=gen)) % classes
        else:
            reset = forget_scores[chosen].clone()
            reset[:, linked] = baseline[:, linked]
            logits = bottleneck(reset)
            logits[:, forgotten] = float("-inf")
            labels = logits.argmax(1)
        return TensorDataset(xf[chosen], labels)

    def run(self, data: UnlearningData) -> nn.Module:
        poisoned = self.poisoned_forget(data)
        if len(poisoned) == 0:
            raise ValueError("concept_poison: no forget sample carries the linked concepts; expected some (try more concepts)")
        self.model.train()
        return super().run(UnlearningData(poisoned, data.retain, batch_size=self.batch_size, seed=self.seed))

    def unlearning_loss(self, batch) -> torch.Tensor:
        x, y, _ = batch
        return self.loss(self.model(x), y)
