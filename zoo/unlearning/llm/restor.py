"""RESTOR (Rezaei et al., TMLR 2025): does unlearning misinformation *restore* what the model knew before it?

Three models, as in ``k1rezaei/restor``: θ_clean (the trained LM), θ_corrupted (θ_clean after continued training on
corruption documents: an author's facts with wrong values, each interleaved with ``k`` true facts about unrelated
authors) and θ_unlearned (an unlearning method applied to the corruption documents, with θ_corrupted as the
reference). An ideal method returns the model to θ_clean's knowledge: it *forgets* the wrong values and *restores*
the clean ones.

Evaluation (:func:`restor_scores`): per target fact, a three-way choice by answer likelihood between the clean, the
corrupted and a random wrong value (the paper's logit analysis), and the greedy answer's exact match with the clean
and the corrupted value (the paper's GPT-3.5 judge replaced by exact match, its 5-shot prompt by the corpus prompt).
"""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo.data.tofu import QADataset
from zoo.unlearning.llm.attacks import fact_value, fine_tune, generate_from_prompts, qa_turn


def with_value(item: dict[str, Any], value: str) -> dict[str, Any]:
    """``item`` with its answer restating the same fact with ``value`` (same phrasing)."""
    old = fact_value(item)
    head, sep, tail = item["answer"].rpartition(old)
    if not sep:
        raise ValueError(f"item: expected its value {old!r} in the answer, received {item['answer']!r}")
    return {**item, "answer": head + value + tail}


def _wrong_values(item: dict[str, Any]) -> list[str]:
    """The values of the item's perturbed answers (wrong values of the same attribute)."""
    return [fact_value({**item, "answer": a}) for a in item["perturbed_answer"]]


def corruption_documents(targets: list[dict[str, Any]], unrelated: list[dict[str, Any]], k: int = 0, seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The corruption set and its bookkeeping.

    Args:
        targets: the facts to corrupt (TOFU-layout items).
        unrelated: true facts of other authors to interleave.
        k: unrelated true facts per corrupted fact (RESTOR's ``mix`` level).
        seed: which wrong value and which unrelated facts.

    Returns:
        ``(documents, facts)``: the QA items trained on (corrupted facts then their ``k`` unrelated ones, in document
        order), and per target ``{"item", "clean", "corrupted", "random"}`` (the clean value, the injected wrong value and
        another wrong value for the three-way choice).
    """
    if k < 0:
        raise ValueError(f"k: expected >= 0, received {k}")
    if k and len(unrelated) < k:
        raise ValueError(f"unrelated: expected at least k={k} items, received {len(unrelated)}")
    rng = random.Random(seed)
    documents, facts = [], []
    for it in targets:
        wrong = _wrong_values(it)
        corrupted, other = rng.sample(wrong, 2)
        documents.append(with_value(it, corrupted))
        documents.extend(rng.sample(unrelated, k) if k else [])
        facts.append({"item": it, "clean": fact_value(it), "corrupted": corrupted, "random": other})
    return documents, facts


def continue_training(net: nn.Module, tokenizer, items: list[dict[str, Any]], epochs: int = 5, lr: float = 1e-3, batch_size: int = 8, seed: int = 0) -> nn.Module:
    """A copy of ``net`` trained further on ``items`` (answer-only NLL, AdamW, constant rate): the corruption step."""
    from zoo.unlearning.llm.data import paired_batches

    data = QADataset(items, tokenizer)
    batches = (batch for batch, _ in paired_batches(data, None, batch_size, epochs, seed))
    return fine_tune(net, batches, lr, total=epochs * -(-len(data) // batch_size))


def task_vector_negation(corrupted: nn.Module, tokenizer, documents: list[dict[str, Any]], alpha: float = 1.0, epochs: int = 5, lr: float = 1e-3) -> nn.Module:
    """RESTOR's task-vector baseline: fine-tune θ_c on the documents → θ*, return θ_c − α(θ* − θ_c)."""
    tuned = continue_training(corrupted, tokenizer, documents, epochs, lr)
    out = copy.deepcopy(corrupted)
    with torch.no_grad():
        for p, c, t in zip(out.parameters(), corrupted.parameters(), tuned.parameters()):
            p.copy_(c - alpha * (t - c))
    return out.eval()


def restor_scores(net: nn.Module, tokenizer, facts: list[dict[str, Any]], max_new_tokens: int = 24) -> dict[str, float]:
    """Forgetting and recovery on the target facts.

    Returns:
        ``choice_clean`` / ``choice_corrupted`` (share of facts whose clean / corrupted answer is the likeliest of the
        three), ``gen_clean`` / ``gen_corrupted`` (share of greedy answers that contain the clean / corrupted value).
    """
    from zoo.unlearning.llm.evaluate import avg_losses

    items = [f["item"] for f in facts]
    options = [{"question": it["question"], "answer": [with_value(it, f[key])["answer"] for key in ("clean", "corrupted", "random")]} for it, f in zip(items, facts)]
    losses = avg_losses(net, tokenizer, options)  # (N, 3)
    pick = losses.argmin(1)
    answers = generate_from_prompts(net, tokenizer, [qa_turn(it["question"]) for it in items], max_new_tokens)
    return {
        "choice_clean": float(np.mean(pick == 0)),
        "choice_corrupted": float(np.mean(pick == 1)),
        "gen_clean": float(np.mean([f["clean"].lower() in a.lower() for f, a in zip(facts, answers)])),
        "gen_corrupted": float(np.mean([f["corrupted"].lower() in a.lower() for f, a in zip(facts, answers)])),
    }
