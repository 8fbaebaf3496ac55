"""Forget / retain data for LM unlearning: TOFU-layout items (or ready examples) -> answer-labelled batches.

OpenUnlearning pairs each forget batch with a retain batch (the forget set is the anchor: it defines the epoch; retain
batches are drawn at random); :func:`paired_batches` does the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset

from zoo.data.tofu import QADataset, pad_batch


def as_qa_dataset(data: Any, tokenizer, what: str, max_length: int = 64) -> Dataset | None:
    """``data`` as answer-labelled examples.

    Args:
        data: a :class:`~zoo.data.tofu.QADataset`, a Dataset of ``{"input_ids", "attention_mask", "labels"}``, a list of
            TOFU items (``{"question", "answer", ...}``), a list of ``(question, answer)`` pairs, or None.
        tokenizer: turns items into tokens (needed unless ``data`` is already tokenised).
        what: the argument's name, for errors.

    Raises:
        ValueError: anything else, or items without a tokenizer.
    """
    if data is None or isinstance(data, Dataset):
        return data
    if isinstance(data, (list, tuple)) and data:
        items = data
        if all(isinstance(it, (tuple, list)) and len(it) == 2 and all(isinstance(s, str) for s in it) for it in items):
            items = [{"question": q, "answer": a} for q, a in items]
        if all(isinstance(it, dict) and isinstance(it.get("question"), str) and isinstance(it.get("answer"), str) for it in items):
            if tokenizer is None:
                raise ValueError(f"tokenizer: expected a transformers tokenizer to encode the {what} items, received None")
            return QADataset(list(items), tokenizer, max_length)
    raise ValueError(f"{what}: expected a list of {{'question', 'answer'}} items or (question, answer) pairs, or a Dataset of tokenised examples, received {type(data).__name__}")


def collate(dataset: Dataset, examples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Pad examples (the dataset's own ``collate`` when it has one)."""
    own = getattr(dataset, "collate", None)
    return own(examples) if own is not None else pad_batch(examples)


def paired_batches(forget: Dataset, retain: Dataset | None, batch_size: int, epochs: int, seed: int = 0) -> Iterator[tuple[dict, dict | None]]:
    """``(forget_batch, retain_batch)`` for ``epochs`` passes over ``forget`` (shuffled each epoch, seeded); the retain
    batch is drawn at random from ``retain`` (None when there is no retain set).

    Yields:
        Padded batches ``{"input_ids", "attention_mask", "labels"}``.
    """
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(forget), generator=gen).tolist()
        for start in range(0, len(order), batch_size):
            fb = collate(forget, [forget[i] for i in order[start : start + batch_size]])
            rb = None
            if retain is not None and len(retain):
                picks = torch.randint(len(retain), (min(batch_size, len(retain)),), generator=gen).tolist()
                rb = collate(retain, [retain[i] for i in picks])
            yield fb, rb
