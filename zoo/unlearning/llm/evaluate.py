"""TOFU's evaluation, as OpenUnlearning (``locuslab/open-unlearning``) computes it, for any transformers causal LM.

Per QA item, ``avg_loss`` is the mean answer-token NLL given the question and ``P = exp(-avg_loss)``.

- **Truth ratio**: ``R = P_wrong / P_correct`` with ``P_correct`` the paraphrased answer's and ``P_wrong =
  exp(-mean_j avg_loss(perturbed_j))``. Forget set: ``mean(min(R, 1/R))``; retain / real-author / world-fact sets:
  ``mean(max(0, 1 - R))``.
- **Forget quality**: ``scipy.stats.ks_2samp`` p-value of the forget set's ``R`` against the retrained model's.
- **Model utility**: the harmonic mean of {probability, ROUGE-L recall, truth ratio} on the retain, real-author and
  world-fact sets; probability on the last two is ``P(a) / (P(a) + sum_j P(wrong_j))``.
- **ROUGE**: ROUGE-L recall (``rouge_score``, stemmed) of the greedy answer against the answer.
- **MIAs** (forget = members, holdout = non-members), AUC with forget labelled 0 and holdout 1, each score higher for
  "non-member": LOSS (avg NLL), ZLIB (avg NLL / zlib-compressed bytes of the answer), Min-K% (``-mean`` of the lowest
  k-fraction token log-probs, k = 0.4), Min-K%++ (the same on ``(log p(x_t) - mu_t) / sigma_t``, with ``mu_t, sigma_t``
  the mean and standard deviation of ``log p`` under ``p`` at position t). An AUC near 1 means the forget set still
  looks memorised; 0.5, that it looks like unseen data.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from zoo.core.progress import progress
from zoo.data.tofu import QADataset, pad_batch, prompt_ids

MIN_K = 0.4
"""The k of Min-K% and Min-K%++ in OpenUnlearning's TOFU configs."""
UTILITY_SETS = ("retain", "real_authors", "world_facts")


# ------------------------------------------------------------------ the formulas (plain numbers in, numbers out)
def truth_ratio(correct_avg_loss: np.ndarray, wrong_avg_losses: np.ndarray) -> np.ndarray:
    """``R = exp(-mean_j wrong_j) / exp(-correct)`` per item.

    Shape:
        - correct_avg_loss: (N,); wrong_avg_losses: (N, J).
        - Output: (N,).
    """
    correct = np.asarray(correct_avg_loss, dtype=np.float64)
    wrong = np.asarray(wrong_avg_losses, dtype=np.float64).mean(axis=-1)
    return np.exp(correct - wrong)


def truth_ratio_forget(ratios: np.ndarray) -> float:
    """OpenUnlearning's ``closer_to_1_better`` aggregate: ``mean(min(R, 1/R))``."""
    r = np.asarray(ratios, dtype=np.float64)
    return float(np.mean(np.minimum(r, 1 / r)))


def truth_ratio_utility(ratios: np.ndarray) -> float:
    """OpenUnlearning's ``true_better`` aggregate: ``mean(max(0, 1 - R))``."""
    return float(np.mean(np.maximum(0.0, 1 - np.asarray(ratios, dtype=np.float64))))


def forget_quality(ratios: np.ndarray, reference_ratios: np.ndarray) -> float:
    """KS-test p-value of the forget set's truth ratios against the retrained model's (1.0 for identical ones)."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(np.asarray(ratios), np.asarray(reference_ratios)).pvalue)


def probability(avg_losses: np.ndarray) -> float:
    """``mean(exp(-avg_loss))``."""
    return float(np.mean(np.exp(-np.asarray(avg_losses, dtype=np.float64))))


def probability_with_options(correct_avg_loss: np.ndarray, wrong_avg_losses: np.ndarray) -> float:
    """``mean(P(a) / (P(a) + sum_j P(wrong_j)))`` (the real-author and world-fact probability)."""
    pc = np.exp(-np.asarray(correct_avg_loss, dtype=np.float64))
    pw = np.exp(-np.asarray(wrong_avg_losses, dtype=np.float64)).sum(axis=-1)
    return float(np.mean(pc / (pc + pw)))


def rouge_l_recall(predictions: list[str], references: list[str]) -> np.ndarray:
    """ROUGE-L recall of each prediction against its reference (``rouge_score``, Porter stemmer)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return np.array([scorer.score(ref, pred)["rougeL"].recall for pred, ref in zip(predictions, references, strict=True)])


def model_utility(values: dict[str, float]) -> float:
    """Harmonic mean of the utility values (0 if any is 0)."""
    from scipy.stats import hmean

    v = np.asarray(list(values.values()), dtype=np.float64)
    return 0.0 if (v <= 0).any() else float(hmean(v))


def min_k_score(token_logprobs: torch.Tensor, k: float = MIN_K) -> float:
    """Min-K%: ``-mean`` of the ``ceil``-free ``int(k * T)`` (at least 1) lowest token log-probs of one answer."""
    n = max(1, int(len(token_logprobs) * k))
    return float(-torch.sort(token_logprobs.double()).values[:n].mean())


def min_k_plus_plus_score(token_logprobs: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, k: float = MIN_K) -> float:
    """Min-K%++: Min-K% of ``(log p(x_t) - mu_t) / sigma_t``."""
    return min_k_score((token_logprobs.double() - mu.double()) / sigma.double(), k)


def zlib_score(avg_loss: float, text: str) -> float:
    """ZLIB: ``avg_loss / len(zlib.compress(text))``."""
    return float(avg_loss) / len(zlib.compress(text.encode("utf-8")))


def mia_auc(forget_scores: np.ndarray, holdout_scores: np.ndarray) -> float:
    """ROC AUC of the attack score with forget labelled 0 and holdout 1."""
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.zeros(len(forget_scores)), np.ones(len(holdout_scores))]
    return float(roc_auc_score(labels, np.r_[forget_scores, holdout_scores]))


# ------------------------------------------------------------------ model passes
def logits_of(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Next-token logits of a transformers causal LM, or of any callable model that returns logits (ULD's
    combination, O3's gated adapters, LinEAS's steering)."""
    out = model(input_ids=input_ids, attention_mask=attention_mask)
    return out.logits if hasattr(out, "logits") else out


@torch.no_grad()
def answer_statistics(model, dataset: QADataset, batch_size: int = 64) -> list[dict[str, Any]]:
    """Per example: ``avg_loss`` (mean answer-token NLL), ``logprobs`` (T,), and ``mu``, ``sigma`` (T,) of log p under p.

    Args:
        model: a causal LM (``model(input_ids=..., attention_mask=...)`` gives logits or ``.logits``).
        dataset: answer-labelled examples (:class:`zoo.data.tofu.QADataset`).
    """
    device = next(model.parameters()).device
    rows = []
    for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=dataset.collate):
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = logits_of(model, batch["input_ids"], batch["attention_mask"])[:, :-1].float()
        labels = batch["labels"][:, 1:]
        logp = F.log_softmax(logits, -1)
        p = logp.exp()
        mu = (p * logp).sum(-1)
        sigma = ((p * logp.square()).sum(-1) - mu.square()).clamp_min(1e-6).sqrt()
        token = logp.gather(-1, labels.clamp_min(0)[..., None])[..., 0]
        for i in range(labels.shape[0]):
            mask = labels[i] != -100
            lp = token[i][mask].cpu()
            rows.append({"avg_loss": float(-lp.mean()), "logprobs": lp, "mu": mu[i][mask].cpu(), "sigma": sigma[i][mask].cpu()})
    return rows


def avg_losses(model, tokenizer, items: list[dict[str, Any]], answer_key: str = "answer", max_length: int = 64) -> np.ndarray:
    """Mean answer-token NLL of every item's ``answer_key`` (a string or a list of strings: then (N, J))."""
    first = items[0][answer_key]
    if isinstance(first, str):
        return np.array([r["avg_loss"] for r in answer_statistics(model, QADataset(items, tokenizer, max_length, answer_key))])
    width = min(len(it[answer_key]) for it in items)
    flat = [{"question": it["question"], "answer": a} for it in items for a in it[answer_key][:width]]
    return np.array([r["avg_loss"] for r in answer_statistics(model, QADataset(flat, tokenizer, max_length))]).reshape(len(items), width)


def item_truth_ratios(model, tokenizer, items: list[dict[str, Any]]) -> np.ndarray:
    """Per-item truth ratio (paraphrased answer vs the perturbed answers)."""
    return truth_ratio(avg_losses(model, tokenizer, items, "paraphrased_answer"), avg_losses(model, tokenizer, items, "perturbed_answer"))


@torch.no_grad()
def generate_answers(model, tokenizer, items: list[dict[str, Any]], max_new_tokens: int = 32, batch_size: int = 64) -> list[str]:
    """Greedy answers (left-padded batches) to the items' questions; ``model`` is a transformers LM or an object with
    ``generate(input_ids=..., attention_mask=..., ...)``."""
    device = next(model.parameters()).device
    answers = []
    for start in progress(range(0, len(items), batch_size), "generate", unit="batch"):
        chunk = items[start : start + batch_size]
        prompts = [torch.tensor(prompt_ids(tokenizer, it["question"])) for it in chunk]
        batch = pad_batch([{"input_ids": p, "attention_mask": torch.ones_like(p), "labels": p} for p in prompts], tokenizer.pad_token_id or 0, side="left")
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        answers.extend(s.strip() for s in tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True))
    return answers


def mia_scores(model, tokenizer, items: list[dict[str, Any]], k: float = MIN_K) -> dict[str, np.ndarray]:
    """The four attack scores of every item's answer: ``loss``, ``zlib``, ``min_k``, ``min_k_plus_plus``."""
    rows = answer_statistics(model, QADataset(items, tokenizer))
    return {
        "loss": np.array([r["avg_loss"] for r in rows]),
        "zlib": np.array([zlib_score(r["avg_loss"], it["answer"]) for r, it in zip(rows, items)]),
        "min_k": np.array([min_k_score(r["logprobs"], k) for r in rows]),
        "min_k_plus_plus": np.array([min_k_plus_plus_score(r["logprobs"], r["mu"], r["sigma"], k) for r in rows]),
    }


def evaluate_lm(
    model,
    tokenizer,
    corpus: dict[str, list[dict[str, Any]]],
    forget: str = "forget10",
    reference_ratios: np.ndarray | None = None,
    retain_items: int = 80,
    max_new_tokens: int = 32,
) -> dict[str, Any]:
    """Every TOFU metric of ``model`` on one forget split of a corpus (synthetic or real, same layout).

    Args:
        model: a causal LM (or a wrapper with ``parameters``, ``__call__`` and ``generate``).
        tokenizer: its tokenizer.
        corpus: splits in TOFU's layout (:func:`zoo.data.tofu.make_corpus` or :func:`zoo.data.tofu.load_tofu`).
        forget: ``"forget01"``, ``"forget05"`` or ``"forget10"``.
        reference_ratios: the retrained model's forget truth ratios (``"forget_truth_ratios"`` of its evaluation);
            None leaves forget quality out (NaN).
        retain_items: retain items evaluated (TOFU evaluates a 400-item subset of retain90).
        max_new_tokens: the generation budget of ROUGE.

    Returns:
        ``forget_quality``, ``model_utility``, ``forget_rouge``, ``forget_truth_ratio``, ``forget_prob``, the nine
        utility values (``{retain,real_authors,world_facts}_{prob,rouge,truth_ratio}``), ``mia_{loss,zlib,min_k,
        min_k_plus_plus}`` (AUC) and ``forget_truth_ratios`` (the per-item values, for later forget-quality tests).
    """
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    pct = forget[len("forget") :]
    sets = {"forget": corpus[forget], "retain": corpus[f"retain{100 - int(pct)}"][:retain_items], "real_authors": corpus["real_authors"], "world_facts": corpus["world_facts"]}
    out: dict[str, Any] = {}
    ratios = item_truth_ratios(model, tokenizer, sets["forget"])
    out["forget_truth_ratios"] = ratios.tolist()
    out["forget_truth_ratio"] = truth_ratio_forget(ratios)
    out["forget_quality"] = forget_quality(ratios, reference_ratios) if reference_ratios is not None else float("nan")
    out["forget_prob"] = probability(avg_losses(model, tokenizer, sets["forget"]))
    out["forget_rouge"] = float(rouge_l_recall(generate_answers(model, tokenizer, sets["forget"], max_new_tokens), [it["answer"] for it in sets["forget"]]).mean())
    utility = {}
    for name in UTILITY_SETS:
        items = sets[name]
        correct = avg_losses(model, tokenizer, items)
        if name == "retain":
            utility[f"{name}_prob"] = probability(correct)
        else:
            utility[f"{name}_prob"] = probability_with_options(correct, avg_losses(model, tokenizer, items, "perturbed_answer"))
        utility[f"{name}_rouge"] = float(rouge_l_recall(generate_answers(model, tokenizer, items, max_new_tokens), [it["answer"] for it in items]).mean())
        utility[f"{name}_truth_ratio"] = truth_ratio_utility(item_truth_ratios(model, tokenizer, items))
    out.update(utility)
    out["model_utility"] = model_utility(utility)
    holdout = corpus.get(f"holdout{pct}")
    if holdout:
        members, others = mia_scores(model, tokenizer, sets["forget"]), mia_scores(model, tokenizer, holdout)
        for key in members:
            out[f"mia_{key}"] = mia_auc(members[key], others[key])
    if was_training and hasattr(model, "train"):
        model.train()
    return out
