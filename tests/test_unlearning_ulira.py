"""U-LiRA (zoo.unlearning.ulira): the score, the Gaussian fits and the attack on toys whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.unlearning.ulira import Run, attack, fit_gaussians, logit_confidence, ulira


def test_logit_confidence_is_the_log_odds_of_the_true_class():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    targets = torch.tensor([0, 1])
    p = logits.softmax(1)[torch.arange(2), targets]
    assert torch.allclose(logit_confidence(logits, targets), (p / (1 - p)).log(), atol=1e-6)
    with pytest.raises(ValueError, match="expected \\(N, C\\) and \\(N,\\)"):
        logit_confidence(logits, targets[:1])


def _runs(count: int, shift: float, seed: int, candidates: int = 200) -> list[Run]:
    """Runs where each candidate has its own level; unlearned scores sit ``shift`` above the retrained ones."""
    rng = np.random.default_rng(seed)
    level = np.random.default_rng(99).normal(0, 3, candidates)  # per-example difficulty, shared by all runs
    runs = []
    for _ in range(count):
        forgotten = rng.random(candidates) < 0.5
        runs.append(Run(forgotten, level + rng.normal(0, 0.5, candidates), {"m": level + shift + rng.normal(0, 0.5, candidates)}))
    return runs


def test_attack_separates_distinguishable_scores_and_not_identical_ones():
    assert attack(_runs(16, 2.0, 0), _runs(8, 2.0, 1), "m")["auc"] > 0.9
    same = attack(_runs(16, 0.0, 0), _runs(8, 0.0, 1), "m")
    assert abs(same["auc"] - 0.5) < 0.06 and abs(same["accuracy"] - 0.5) < 0.06
    # the per-example means matter: a shift of 1 is hidden by levels of spread 3, not by noise of 0.5
    assert attack(_runs(16, 1.0, 0), _runs(8, 1.0, 1), "m")["auc"] > 0.8


def test_fit_gaussians_by_hand():
    runs = [Run(np.array([True, False]), np.array([0.0, 1.0]), {"m": np.array([2.0, 9.0])}),
            Run(np.array([True, True]), np.array([2.0, 3.0]), {"m": np.array([4.0, 5.0])})]
    g = fit_gaussians(runs, "m", global_variance=False)
    assert np.allclose(g["mu_in"], [3.0, 5.0]) and np.allclose(g["mu_out"], [1.0, 2.0])
    assert np.allclose(g["sd_out"], [np.sqrt(2), np.sqrt(2)]) and np.isclose(g["sd_in"][0], np.sqrt(2))
    pooled = fit_gaussians(runs, "m")  # in: deviations (-1, 1) of candidate 0 only (candidate 1 has one sample)
    assert np.allclose(pooled["sd_in"], 1.0 * np.sqrt(2)) and np.allclose(pooled["sd_out"], 1.0 * np.sqrt(2))
    with pytest.raises(ValueError, match="method: expected one of"):
        fit_gaussians(runs, "other")


class _Memoriser:
    """A 'model' that scores 4 on the samples it was trained on and 0 elsewhere (plus noise)."""

    def __init__(self, indices: np.ndarray, seed: int):
        self.seen, self.rng = set(indices.tolist()), np.random.default_rng(seed)

    def score(self, indices: np.ndarray) -> np.ndarray:
        return np.array([4.0 * (i in self.seen) for i in indices]) + self.rng.normal(0, 1, len(indices))


def test_ulira_pipeline_catches_no_unlearning_and_not_exact_retraining():
    pool = np.arange(400)
    candidates = pool[::4]
    results, runs = ulira(
        pool, candidates, train=_Memoriser, score=lambda model, idx: model.score(idx), shadows=12, targets=6, show_progress=False,
        unlearners={"none": lambda original, forget, retain, seed: original,
                    "exact": lambda original, forget, retain, seed: _Memoriser(retain, seed + 1)},
    )
    assert results["none"]["auc"] > 0.95 and results["none"]["accuracy"] > 0.9
    assert abs(results["exact"]["auc"] - 0.5) < 0.1
    assert all(run.forgotten.sum() > 0 for run in runs)
    with pytest.raises(ValueError, match="candidates: expected indices within the pool"):
        ulira(pool, np.array([999]), _Memoriser, {}, lambda m, i: m.score(i))
