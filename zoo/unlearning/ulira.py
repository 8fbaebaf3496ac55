"""U-LiRA: the per-example likelihood-ratio membership attack on unlearning (Hayes et al., "Inexact Unlearning Needs
More Careful Evaluations to Avoid a False Sense of Privacy", 2024), after LiRA (Carlini et al., S&P 2022).

The attacker tells, for a training example x, an *unlearned* model (trained with x, then x unlearned) from a
*retrained* one (never trained on x). Shadow runs estimate both distributions per example:

- a run draws a random half ``D`` of the pool, forgets ``F = D ∩ candidates``, trains the original on ``D`` and the
  retrained model on ``D \\ F``, and unlearns ``F`` from the original with each method;
- the score of a model on x is the logit-scaled confidence ``log p_y / (1 - p_y)`` (:func:`logit_confidence`);
- "in" samples of x: the unlearned models of the runs that forgot x; "out" samples: every run's retrained model (none
  of them trained on x);
- a Gaussian per example and hypothesis (per-example means; with few shadows one variance pooled over the examples,
  LiRA's fixed-variance variant), and the log-likelihood ratio of a target model's score.

Target runs, drawn like the shadows, give each forgotten example twice: its unlearned model (label 1) and its
retrained model (label 0). The attack's AUC and its accuracy at the natural threshold (log-ratio 0) are 0.5 for an
unlearning method indistinguishable from retraining.

    >>> results, runs = ulira(pool, candidates, train, {"FT": finetune}, score, shadows=16, targets=8)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from zoo.core.progress import progress
from zoo.unlearning.methods.dmm import margins

MIN_STD = 1e-3
"""Floor of the fitted standard deviations (a constant score would give an infinite ratio)."""


def logit_confidence(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """LiRA's score: ``log(p_y / (1 - p_y))`` computed stably as ``z_y - logsumexp_{j != y} z_j``.

    Shape: logits (N, C), targets (N,) -> (N,).
    """
    if logits.ndim != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(f"logits, targets: expected (N, C) and (N,), received {tuple(logits.shape)} and {tuple(targets.shape)}")
    return margins(logits.float(), targets)


@dataclass
class Run:
    """One shadow or target run.

    Args:
        forgotten: (C,) bool over the candidates: forgotten (trained on, then unlearned) in this run.
        retrained: (C,) scores of the model retrained without the forgotten candidates, on every candidate.
        unlearned: method -> (C,) scores of the unlearned model on every candidate.
    """

    forgotten: np.ndarray
    retrained: np.ndarray
    unlearned: dict[str, np.ndarray]


def simulate_run(
    pool: np.ndarray,
    candidates: np.ndarray,
    train: Callable[[np.ndarray, int], object],
    unlearners: dict[str, Callable[[object, np.ndarray, np.ndarray, int], object]],
    score: Callable[[object, np.ndarray], np.ndarray],
    seed: int,
) -> Run:
    """One run: a random half of ``pool``, its candidates forgotten (see the module docstring).

    Args:
        pool: (P,) indices of the samples the runs draw their training halves from.
        candidates: (C,) indices (within ``pool``) of the examples that are forgotten when drawn.
        train: ``(indices, seed) -> model`` trained on those samples.
        unlearners: method -> ``(original, forget indices, retain indices, seed) -> unlearned model``.
        score: ``(model, indices) -> (len(indices),)`` scores (:func:`logit_confidence` of the model's logits).
        seed: the run's seed (the half, the models' seeds).
    """
    half = np.random.default_rng(seed).permutation(pool)[: len(pool) // 2]
    forget = np.intersect1d(half, candidates)
    retain = np.setdiff1d(half, forget)
    original = train(half, seed)
    retrained = train(retain, seed + 7919)  # another initialisation than the original's
    unlearned = {name: np.asarray(score(fn(original, forget, retain, seed), candidates), dtype=np.float64) for name, fn in unlearners.items()}
    return Run(np.isin(candidates, forget), np.asarray(score(retrained, candidates), dtype=np.float64), unlearned)


def fit_gaussians(shadows: list[Run], method: str, global_variance: bool = True) -> dict[str, np.ndarray]:
    """Per-candidate Gaussians of the "in" (unlearned by ``method``) and "out" (retrained) scores of the shadows.

    Args:
        shadows: the shadow runs.
        method: one of the runs' ``unlearned`` methods.
        global_variance: one standard deviation per hypothesis pooled over the candidates (LiRA's choice with few
            shadow models); False: per candidate (candidates with fewer than 2 "in" samples get the pooled one).

    Returns:
        ``{"mu_in", "sd_in", "mu_out", "sd_out"}``, each (C,); ``mu_in`` is NaN for a candidate no shadow forgot.
    """
    if not shadows:
        raise ValueError("shadows: expected at least one shadow run, received none")
    if method not in shadows[0].unlearned:
        raise ValueError(f"method: expected one of {sorted(shadows[0].unlearned)}, received {method!r}")
    forgotten = np.stack([run.forgotten for run in shadows])
    ins = np.where(forgotten, np.stack([run.unlearned[method] for run in shadows]), np.nan)
    outs = np.stack([run.retrained for run in shadows])
    counts = forgotten.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_in = np.where(counts > 0, np.nansum(ins, 0) / np.maximum(counts, 1), np.nan)
        pooled_in = np.sqrt(np.nansum((ins - mu_in) ** 2) / max(int(counts.sum()) - int((counts > 0).sum()), 1))
    mu_out = outs.mean(0)
    pooled_out = np.sqrt(((outs - mu_out) ** 2).sum() / max(outs.size - outs.shape[1], 1))
    if global_variance:
        sd_in, sd_out = np.full_like(mu_out, pooled_in), np.full_like(mu_out, pooled_out)
    else:
        with np.errstate(invalid="ignore"):
            sd_in = np.where(counts > 1, np.sqrt(np.nansum((ins - mu_in) ** 2, 0) / np.maximum(counts - 1, 1)), pooled_in)
        sd_out = outs.std(0, ddof=1) if len(shadows) > 1 else np.full_like(mu_out, pooled_out)
    return {"mu_in": mu_in, "sd_in": np.maximum(sd_in, MIN_STD), "mu_out": mu_out, "sd_out": np.maximum(sd_out, MIN_STD)}


def log_likelihood_ratio(scores: np.ndarray, gaussians: dict[str, np.ndarray], index: np.ndarray) -> np.ndarray:
    """``log N(s; mu_in, sd_in) - log N(s; mu_out, sd_out)`` of ``scores`` of the candidates ``index``."""
    g = {k: v[index] for k, v in gaussians.items()}
    log_normal = lambda s, mu, sd: -0.5 * ((s - mu) / sd) ** 2 - np.log(sd)
    return log_normal(scores, g["mu_in"], g["sd_in"]) - log_normal(scores, g["mu_out"], g["sd_out"])


def attack(shadows: list[Run], targets: list[Run], method: str, global_variance: bool = True) -> dict[str, float]:
    """U-LiRA against ``method``: every forgotten candidate of every target run, once unlearned (1), once retrained (0).

    Returns:
        ``auc``, ``accuracy`` (log-ratio > 0 judged "unlearned"; balanced by construction), both in [0, 1], and
        ``pairs`` (forgotten candidates attacked, count). Candidates that no shadow forgot are left out.
    """
    gaussians = fit_gaussians(shadows, method, global_variance)
    ratios, labels = [], []
    for run in targets:
        index = np.flatnonzero(run.forgotten & ~np.isnan(gaussians["mu_in"]))
        for scores, label in ((run.unlearned[method][index], 1), (run.retrained[index], 0)):
            ratios.append(log_likelihood_ratio(scores, gaussians, index))
            labels.append(np.full(len(index), label))
    ratios, labels = np.concatenate(ratios), np.concatenate(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("targets: expected target runs that forget at least one candidate some shadow forgot, received none")
    return {"auc": float(roc_auc_score(labels, ratios)), "accuracy": float(((ratios > 0) == labels.astype(bool)).mean()), "pairs": len(labels) // 2}


def ulira(
    pool: np.ndarray,
    candidates: np.ndarray,
    train: Callable[[np.ndarray, int], object],
    unlearners: dict[str, Callable[[object, np.ndarray, np.ndarray, int], object]],
    score: Callable[[object, np.ndarray], np.ndarray],
    shadows: int = 16,
    targets: int = 8,
    seed: int = 0,
    global_variance: bool = True,
    show_progress: bool | None = None,
) -> tuple[dict[str, dict[str, float]], list[Run]]:
    """Simulate ``shadows + targets`` runs and attack every method (see :func:`simulate_run` for the arguments).

    Returns:
        method -> :func:`attack` result, and the runs (shadows first).

    Raises:
        ValueError: candidates outside the pool, or too few runs.
    """
    pool, candidates = np.asarray(pool), np.asarray(candidates)
    if not np.isin(candidates, pool).all():
        raise ValueError(f"candidates: expected indices within the pool, received {int((~np.isin(candidates, pool)).sum())} outside it")
    if shadows < 2 or targets < 1:
        raise ValueError(f"shadows, targets: expected >= 2 and >= 1 runs, received {shadows} and {targets}")
    runs = [simulate_run(pool, candidates, train, unlearners, score, seed + 1000 * i)
            for i in progress(range(shadows + targets), "U-LiRA runs", enabled=show_progress)]
    results = {name: attack(runs[:shadows], runs[shadows:], name, global_variance) for name in unlearners}
    return results, runs
