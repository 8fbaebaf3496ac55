"""Evaluation of an unlearned model against the model retrained without the forget set.

Every metric is named so that its direction is unambiguous:

Classification (Unlearn-Sparse / SalUn protocol), in %:
- ``forget_accuracy``, ``retain_accuracy``: accuracy on the forget and retain training samples;
- ``test_accuracy``: accuracy on the test samples outside the forgotten cohort (all of them for random forgetting);
  ``test_forget_accuracy``: on the test samples of the forgotten classes;
- ``mia_efficacy``: share of forget samples that an RBF-SVC membership attack on the confidence p_y judges
  *non-members* (Unlearn-Sparse ``SVC_MIA_forget_efficacy["confidence"]``; higher = more forgotten); the attack's
  shadow members are retain samples and its non-members test samples outside the forgotten classes (Unlearn-Sparse
  removes the forgotten class from the test set in class-wise forgetting);
  ``mia_efficacy_entropy``: the same attack on the entropy of the prediction;
- ``loss_mia_member_rate``: share of forget samples that an RBF-SVC on the per-sample loss judges *members*
  (balanced training and test samples; lower = more forgotten).
Regression (Blindspot protocol), in target units and %:
- ``forget_l1``, ``retain_l1``: mean absolute error on the forget and retain training samples;
  ``test_forget_l1``, ``test_retain_l1``: on the test samples inside and outside the forgotten label range;
- ``loss_mia_member_rate``: share of forget samples that an RBF-SVC attack on the per-sample loss judges *members*
  (the Blindspot code's attack; lower = more forgotten);
- ``w_distance_to_retrain``: Wasserstein distance between the model's and the retrained model's predictions on
  the forget samples (lower = nearer retrain);
- ``ain``: anamnesis index, steps to relearn the forget cohort / the retrained model's steps (nearer 1 = better;
  near 0 = the forgotten information comes straight back).
Both: ``seconds`` (wall time of the method) and, against the retrained reference, ``gap_<metric>`` = |m - m_retrain|
and ``average_gap`` over the task's headline metrics (:data:`GAP_METRICS`: SalUn's Avg. Gap for classification; the
four L1 errors for regression, so that the average does not mix units).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from scipy.stats import wasserstein_distance
from sklearn.svm import SVC
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from zoo.losses.supervised import task_loss
from zoo.unlearning.splits import Split

GAP_METRICS = {
    "classification": ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy"),
    "regression": ("forget_l1", "retain_l1", "test_forget_l1", "test_retain_l1"),  # one unit: the target's
}
MIA_SAMPLES = 2000


@torch.no_grad()
def outputs_and_targets(model: nn.Module, dataset: Dataset, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's outputs (eval mode) and the targets over a dataset, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    outs, targets = [], []
    for batch in DataLoader(dataset, batch_size):
        outs.append(model(batch[0].to(device)).float().cpu())
        targets.append(batch[1])
    return torch.cat(outs), torch.cat(targets)


def svc_attack(members: np.ndarray, non_members: np.ndarray, targets: np.ndarray) -> float:
    """Train ``SVC(C=3, gamma="auto", kernel="rbf")`` on member (1) vs non-member (0) features and return the
    share of ``targets`` it judges members. Features: (N,) or (N, F)."""
    as2d = lambda a: np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    x = np.concatenate([as2d(members), as2d(non_members)])
    y = np.concatenate([np.ones(len(members)), np.zeros(len(non_members))])
    attack = SVC(C=3, gamma="auto", kernel="rbf").fit(x, y)
    return float(attack.predict(as2d(targets)).mean())


def _subset(dataset: Dataset, indices: np.ndarray) -> Subset:
    return Subset(dataset, np.asarray(indices).tolist())


def _sample(indices: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(indices) <= n:
        return indices
    return np.sort(np.random.default_rng(seed).choice(indices, n, replace=False))


def _attack_sets(split: Split, members: np.ndarray, non_members: np.ndarray) -> dict[str, np.ndarray]:
    """Shadow non-members (drawn from ``non_members``, at most :data:`MIA_SAMPLES`) and as many shadow members drawn
    from ``members``."""
    non_members = _sample(non_members, MIA_SAMPLES, split.seed + 1)
    return {"members": _sample(members, len(non_members), split.seed), "non_members": non_members}


def classification_metrics(model: nn.Module, dataset: Dataset, split: Split) -> dict[str, float]:
    """Accuracies (%) on forget / retain / test cohorts, MIA-efficacy (%) on confidence and entropy, loss-MIA member rate (%)."""
    results, features = {}, {}
    parts = {"forget": split.forget, "retain": split.retain, "test": split.test_retain, "test_forget": split.test_forget}
    # Unlearn-Sparse: retain members, and test non-members without the forgotten classes (its class-wise test set)
    for name, indices in {**parts, **_attack_sets(split, split.retain, split.test_retain)}.items():
        if len(indices) == 0:
            continue
        logits, y = outputs_and_targets(model, _subset(dataset, indices))
        probs = logits.softmax(1)
        features[name] = {
            "confidence": probs.gather(1, y.long()[:, None])[:, 0].numpy(),
            "entropy": -(probs * probs.clamp_min(1e-12).log()).sum(1).numpy(),
            "loss": task_loss("classification", logits, y, reduction="none").numpy(),
        }
        if name in parts:
            results[f"{name}_accuracy"] = 100.0 * float((logits.argmax(1) == y).float().mean())
    attack = lambda kind: svc_attack(features["members"][kind], features["non_members"][kind], features["forget"][kind])
    results["mia_efficacy"] = 100.0 * (1.0 - attack("confidence"))
    results["mia_efficacy_entropy"] = 100.0 * (1.0 - attack("entropy"))
    results["loss_mia_member_rate"] = 100.0 * attack("loss")
    return results


def regression_metrics(model: nn.Module, dataset: Dataset, split: Split, regression_loss: str = "l1") -> tuple[dict[str, float], np.ndarray]:
    """L1 on forget / retain / test cohorts and the loss-based membership rate (%) of forget samples.

    Returns:
        The metrics and the predictions on the forget samples (for the Wasserstein distance to retrain).
    """
    results, losses = {}, {}
    parts = {"forget": split.forget, "retain": split.retain, "test_retain": split.test_retain, "test_forget": split.test_forget}
    forget_predictions = np.empty(0)
    for name, indices in {**parts, **_attack_sets(split, split.train, split.test)}.items():  # Blindspot: any training sample
        if len(indices) == 0:
            continue
        out, y = outputs_and_targets(model, _subset(dataset, indices))
        losses[name] = task_loss("regression", out, y, regression_loss, reduction="none").numpy()
        if name in parts:
            results[f"{name}_l1"] = float((out.reshape(-1) - y.float()).abs().mean())
        if name == "forget":
            forget_predictions = out.reshape(-1).numpy()
    results["loss_mia_member_rate"] = 100.0 * svc_attack(losses["members"], losses["non_members"], losses["forget"][:MIA_SAMPLES])
    return results, forget_predictions


def relearn_steps(
    model: nn.Module,
    dataset: Dataset,
    split: Split,
    threshold: float,
    lr: float = 0.01,
    batch_size: int = 256,
    max_epochs: int = 10,
    regression_loss: str = "l1",
    seed: int = 0,
) -> int:
    """Adam steps on the whole training set (forget and retain) until the L1 error on the forget cohort of the
    validation samples falls to ``threshold``, checked after each step (so at least one); ``max_epochs`` epochs of steps if it never does (the Blindspot AIN loop).
    The model is copied, not changed."""
    if len(split.val_forget) == 0:
        raise ValueError("relearn_steps: expected a split whose validation set holds forget-cohort samples (class, subclass or range forgetting)")
    model = copy.deepcopy(model)
    device = next(model.parameters()).device
    forget_val = _subset(dataset, split.val_forget)

    def current_error() -> float:
        out, y = outputs_and_targets(model, forget_val)
        return float((out.reshape(-1) - y.float()).abs().mean())

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    train = _subset(dataset, split.train)
    gen = torch.Generator().manual_seed(seed)
    steps = 0
    for _ in range(max_epochs):
        for x, y in DataLoader(train, batch_size, shuffle=True, generator=gen):
            model.train()
            loss = task_loss("regression", model(x.to(device)), y.to(device), regression_loss)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            if current_error() <= threshold:  # the official loop steps first, then checks: at least one step
                return steps
    return steps


def forget_val_l1(model: nn.Module, dataset: Dataset, split: Split) -> float:
    """L1 error on the forget cohort of the validation samples (AIN's reference level uses the original model's)."""
    out, y = outputs_and_targets(model, _subset(dataset, split.val_forget))
    return float((out.reshape(-1) - y.float()).abs().mean())


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    split: Split,
    task: str,
    reference: dict | None = None,
    regression_loss: str = "l1",
) -> dict[str, float]:
    """All metrics of ``model`` on ``split``; with ``reference`` (the retrained model's :func:`evaluate` output, which
    carries its forget predictions under ``"_forget_predictions"``) also the gaps and the Wasserstein distance.

    Metrics whose name starts with an underscore are kept for other computations, not for reporting.
    """
    if task == "classification":
        metrics = classification_metrics(model, dataset, split)
    else:
        metrics, predictions = regression_metrics(model, dataset, split, regression_loss)
        metrics["_forget_predictions"] = predictions
        if reference is not None:
            metrics["w_distance_to_retrain"] = float(wasserstein_distance(predictions, reference["_forget_predictions"]))
    if reference is not None:
        gaps = {f"gap_{k}": abs(metrics[k] - reference[k]) for k in GAP_METRICS[task] if k in metrics and k in reference}
        metrics.update(gaps)
        metrics["average_gap"] = float(np.mean(list(gaps.values())))
    return metrics
