"""The prompt classifier of inference-time unlearning (ECO, GUARD): does a prompt fall in the forget scope?

ECO (``chrisliu298/llm-unlearn-eco``, ``eco/attack/classifier.py``) fine-tunes a separate encoder (RoBERTa-base) as a
binary text classifier on forget-scope prompts (label 1) against other prompts (label 0) and flags a prompt when
``p(forget | x) > threshold`` (0.5 in the paper's method description). GUARD's step 1 is the same decision (an MLP).

Here the encoder is a tiny transformers ``BertForSequenceClassification`` trained from scratch on the prompts, with the
served LM's tokenizer. It is a separate model, not the LM's hidden states with a head, because that is ECO's design:
the classifier is independent of the LM it guards (one classifier serves any causal LM, and the LM's weights and
forward pass stay untouched); a pretrained encoder cannot be downloaded at run time, so it is trained here.

    >>> clf = train_prompt_classifier(tokenizer, forget_prompts, other_prompts)
    >>> clf.predict(["Question: Where was Kalo Rimar born?\\nAnswer:"])   # tensor([True])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.progress import trange

class PromptClassifier(nn.Module):
    """A tiny BERT-style encoder with a 2-way head over a tokenizer's ids: ``p(forget | prompt)``.

    Args:
        tokenizer: a transformers tokenizer (the LM's own, or any).
        hidden_size: encoder width (64).
        layers: encoder layers (2).
        heads: attention heads (2).
        intermediate_size: MLP width (128).
        max_length: tokens read per prompt (the prompt's end is kept: the question comes last).
        threshold: the default decision threshold on ``p(forget | x)`` (0.5).
    """

    def __init__(self, tokenizer, hidden_size: int = 64, layers: int = 2, heads: int = 2, intermediate_size: int = 128, max_length: int = 64, threshold: float = 0.5) -> None:
        super().__init__()
        from transformers import BertConfig, BertForSequenceClassification

        self.tokenizer, self.max_length, self.threshold = tokenizer, max_length, threshold
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=heads,
                            intermediate_size=intermediate_size, max_position_embeddings=max_length, num_labels=2,
                            pad_token_id=tokenizer.pad_token_id or 0)
        self.encoder = BertForSequenceClassification(config)

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Right-padded ids and mask of ``texts`` (the last ``max_length`` tokens of each)."""
        rows = [self.tokenizer(t, add_special_tokens=False)["input_ids"][-self.max_length :] or [self.tokenizer.pad_token_id or 0] for t in texts]
        length = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor([r + [pad] * (length - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows])
        device = next(self.parameters()).device
        return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits (B, 2); column 1 is "forget"."""
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).logits

    @torch.no_grad()
    def probabilities(self, texts: list[str], batch_size: int = 128) -> torch.Tensor:
        """``p(forget | text)`` for each text: (N,) on the classifier's device."""
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"texts: expected a list of strings, received {type(texts).__name__}")
        was = self.training
        self.eval()
        out = [F.softmax(self(**self.encode(list(texts[i : i + batch_size]))), -1)[:, 1] for i in range(0, len(texts), batch_size)]
        self.train(was)
        return torch.cat(out) if out else torch.zeros(0)

    def predict(self, texts: list[str], threshold: float | None = None) -> torch.Tensor:
        """Bool (N,): ``p(forget | text) > threshold`` (default :attr:`threshold`)."""
        return self.probabilities(texts) > (self.threshold if threshold is None else threshold)


def train_prompt_classifier(
    tokenizer,
    forget_prompts: list[str],
    other_prompts: list[str],
    epochs: int = 30,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    **architecture,
) -> PromptClassifier:
    """Train a :class:`PromptClassifier` from scratch: forget-scope prompts (1) against the others (0).

    The classes are weighted by inverse frequency (a forget01 scope is 20 prompts against hundreds), as the
    official classifiers are trained on a balanced mix.

    Args:
        tokenizer: the tokenizer the classifier reads with.
        forget_prompts: prompts in the forget scope.
        other_prompts: prompts outside it (retain, general knowledge).
        epochs, lr, batch_size, seed: AdamW training (30 epochs at 1e-3).
        architecture: :class:`PromptClassifier` arguments.

    Returns:
        The trained classifier (eval mode, on CPU).
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs: expected a positive integer, received {epochs!r}")
    if not forget_prompts or not other_prompts:
        raise ValueError(f"forget_prompts / other_prompts: expected both non-empty, received {len(forget_prompts)} and {len(other_prompts)} prompts")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        clf = PromptClassifier(tokenizer, **architecture)
    texts = list(forget_prompts) + list(other_prompts)
    labels = torch.tensor([1] * len(forget_prompts) + [0] * len(other_prompts))
    weight = torch.tensor([len(texts) / (2 * len(other_prompts)), len(texts) / (2 * len(forget_prompts))])
    opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=0.01)
    clf.train()
    for _ in trange(epochs, "prompt classifier", unit="epoch"):
        order = torch.randperm(len(texts), generator=gen).tolist()
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            logits = clf(**clf.encode([texts[i] for i in idx]))
            loss = F.cross_entropy(logits, labels[idx].to(logits.device), weight=weight.to(logits.device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return clf.eval()


def example_prompts(dataset, tokenizer=None) -> list[str]:
    """The prompt text of every example of an answer-labelled dataset (the tokens whose label is -100, decoded
    without special tokens): what the served LM receives before the answer.

    Args:
        dataset: a :class:`zoo.data.tofu.QADataset` or any Dataset of ``{"input_ids", "labels"}``.
        tokenizer: decodes the ids (default: ``dataset.tokenizer``).
    """
    tokenizer = tokenizer or getattr(dataset, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("tokenizer: expected the tokenizer of the dataset's ids (dataset.tokenizer or tokenizer=...), received None")
    out = []
    for i in range(len(dataset)):
        ex = dataset[i]
        prompt = ex["input_ids"][ex["labels"] == -100]
        out.append(tokenizer.decode(prompt.tolist(), skip_special_tokens=True))
    return out


def example_answers(dataset, tokenizer=None) -> list[str]:
    """The answer text of every example (the labelled tokens, decoded without special tokens)."""
    tokenizer = tokenizer or getattr(dataset, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("tokenizer: expected the tokenizer of the dataset's ids (dataset.tokenizer or tokenizer=...), received None")
    return [tokenizer.decode(dataset[i]["labels"][dataset[i]["labels"] != -100].tolist(), skip_special_tokens=True).strip() for i in range(len(dataset))]


def scope_classifier(tokenizer, forget, retain, extra_negatives: list[str] = (), **kwargs) -> PromptClassifier:
    """The classifier for one unlearning request: the forget set's prompts against the retain set's (and
    ``extra_negatives``), each read from the datasets with :func:`example_prompts`."""
    negatives = (example_prompts(retain, tokenizer) if retain is not None else []) + list(extra_negatives)
    return train_prompt_classifier(tokenizer, example_prompts(forget, tokenizer), negatives, **kwargs)


def split_prompt(text: str, marker: str | None) -> str:
    """The prompt part of a decoded sequence: up to and including the first ``marker`` (the whole text when the
    marker is None or absent)."""
    if marker and marker in text:
        return text[: text.index(marker) + len(marker)]
    return text


def flag_sequences(classifier, tokenizer, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, threshold: float, marker: str | None) -> torch.Tensor:
    """Bool (B,): the rows of a batch whose prompt (the decoded sequence up to ``marker``) the classifier flags."""
    mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
    texts = [split_prompt(tokenizer.decode(ids[m.bool()].tolist(), skip_special_tokens=True), marker) for ids, m in zip(input_ids, mask)]
    return classifier.predict(texts, threshold).to(input_ids.device)


def dataset_tokenizer(dataset, what: str = "forget"):
    """The tokenizer of an answer-labelled dataset (``zoo.unlearn`` builds them with one)."""
    tokenizer = getattr(dataset, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(f"{what}: expected a dataset with its tokenizer (zoo.unlearn passes one), received a dataset without .tokenizer")
    return tokenizer
