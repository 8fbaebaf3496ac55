"""ULD, unlearning from logit difference (Ji et al., 2024): train a small assistant to *remember* the forget set and
forget everything else, then serve ``base - weight * assistant``.

- Assistant: the first ``assistant_layers`` decoder layers of the target (its embeddings and head kept), with LoRA
  adapters through peft (r 16, alpha 32, dropout 0.05 in the official config); only the adapters train.
- Reversed objectives: NLL on D_f ("remember") + ``retain_weight`` x ``KL(p_assistant || uniform)`` on D_r (5.0).
- Inference logits: ``base - weight * assistant`` (weight 1.0) on the base model's relative-top set (top_p 0.1: the
  tokens within a factor 0.1 of its most likely one, and at least 10% of the vocabulary, as the official
  ``relative_top_filter``), every other token at -1e3, so the difference never promotes tokens the base model finds
  implausible.

The result is a :class:`ULDModel` (the base model is untouched).
"""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from zoo.unlearning.llm.base import LMUnlearner, decoder_layers, mean_nll, register


FILTERED_LOGIT = -1e3
"""The combined logit of the tokens outside the base model's relative-top set (the official value)."""


def combine_logits(base: torch.Tensor, assistant: torch.Tensor, weight: float = 1.0, top_p: float = 0.1) -> torch.Tensor:
    """The official ``ContrastLLM`` step: ``base - weight * assistant`` on the base model's relative-top set, and
    :data:`FILTERED_LOGIT` outside it.

    The set holds the tokens whose base log-probability reaches ``min(max + log top_p, the k-th largest)`` with
    ``k = int(top_p * V)``: at least a ``top_p`` share of the vocabulary, so that an assistant that is uniform on retain
    data shifts every plausible token alike (with the argmax alone in the set, even a uniform assistant would move
    it). ``top_p <= 0``: no filter, the log-probabilities combine (``log p_base - weight * log p_assistant``).

    Shape:
        base, assistant: (..., V). Output: (..., V).
    """
    if top_p <= 0:
        return base.float().log_softmax(-1) - weight * assistant.float().log_softmax(-1)
    logp = base.float().log_softmax(-1)
    kth = logp.topk(max(1, int(top_p * base.shape[-1])), dim=-1).values[..., -1:]
    keep = logp >= torch.minimum(logp.max(-1, keepdim=True).values + math.log(top_p), kth)
    return torch.where(keep, base - weight * assistant, torch.full_like(base, FILTERED_LOGIT))


def uniform_kl(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over masked positions of ``KL(softmax(logits) || uniform) = sum p log p + log V``."""
    logp = F.log_softmax(logits.float(), -1)
    kl = (logp.exp() * logp).sum(-1) + math.log(logits.shape[-1])
    m = mask.float()
    return (kl * m).sum() / m.sum().clamp_min(1)


class ULDModel(nn.Module):
    """The served model: logits of ``base`` minus the assistant's (:func:`combine_logits`), and greedy generation.

    Args:
        base: the original causal LM (frozen).
        assistant: the trained assistant LM (same vocabulary).
        weight: the assistant's weight (1.0).
        top_p: the relative top-p filter (0.1).
    """

    def __init__(self, base: nn.Module, assistant: nn.Module, weight: float = 1.0, top_p: float = 0.1) -> None:
        super().__init__()
        self.base, self.assistant, self.weight, self.top_p = base, assistant, weight, top_p
        self.config = base.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> SimpleNamespace:
        base = self.base(input_ids=input_ids, attention_mask=attention_mask).logits
        assistant = self.assistant(input_ids=input_ids, attention_mask=attention_mask).logits
        return SimpleNamespace(logits=combine_logits(base, assistant, self.weight, self.top_p))

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, max_new_tokens: int = 32, eos_token_id: int | None = None, **_) -> torch.Tensor:
        """Greedy decoding on the combined logits (left-padded prompts); stops when every row has emitted ``eos``."""
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        ids, done = input_ids, torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for _ in range(max_new_tokens):
            nxt = self(input_ids=ids, attention_mask=mask).logits[:, -1].argmax(-1)
            if eos_token_id is not None:
                nxt = torch.where(done, torch.full_like(nxt, eos_token_id), nxt)
                done |= nxt == eos_token_id
            ids, mask = torch.cat([ids, nxt[:, None]], 1), torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            if bool(done.all()):
                break
        return ids


def make_assistant(model: nn.Module, layers: int, rank: int = 16, alpha: int = 32, dropout: float = 0.05) -> nn.Module:
    """A copy of ``model`` keeping its first ``layers`` decoder layers, with peft LoRA on every linear layer of them."""
    from peft import LoraConfig, get_peft_model

    assistant = copy.deepcopy(model)
    blocks = decoder_layers(assistant)
    if not 1 <= layers <= len(blocks):
        raise ValueError(f"assistant_layers: expected 1..{len(blocks)}, received {layers}")
    del blocks[layers:]
    assistant.config.num_hidden_layers = layers
    targets = sorted({n.rsplit(".", 1)[-1] for n, m in assistant.named_modules() if isinstance(m, nn.Linear) and ".layers." in n})
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none")
    return get_peft_model(assistant, config)


@register("uld")
class ULD(LMUnlearner):
    """Unlearning from logit difference.

    Args:
        assistant_layers: decoder layers of the assistant (None: half the target's; the official 7B run keeps 8 of 32).
        lora_rank, lora_alpha, lora_dropout: the adapters (16, 32, 0.05).
        retain_weight: weight of the uniform term on D_r (5.0).
        weight: the assistant's weight at inference (1.0).
        top_p: the relative top-p filter (0.1).
    """

    def __init__(self, assistant_layers: int | None = None, lora_rank: int = 16, lora_alpha: int = 32, lora_dropout: float = 0.05, retain_weight: float = 5.0, weight: float = 1.0, top_p: float = 0.1, lr: float = 2e-5, **kwargs) -> None:
        super().__init__(lr=lr, **kwargs)
        self.assistant_layers, self.lora_rank, self.lora_alpha, self.lora_dropout = assistant_layers, lora_rank, lora_alpha, lora_dropout
        self.retain_weight, self.weight, self.top_p = retain_weight, weight, top_p

    def loss(self, model, forget, retain):
        loss = mean_nll(model, forget)
        if retain is not None:
            logits = model(input_ids=retain["input_ids"], attention_mask=retain["attention_mask"]).logits
            loss = loss + self.retain_weight * uniform_kl(logits, retain["attention_mask"].bool())
        return loss

    def run(self, model, forget, retain) -> ULDModel:
        layers = self.assistant_layers or max(1, len(decoder_layers(model)) // 2)
        assistant = make_assistant(model, layers, self.lora_rank, self.lora_alpha, self.lora_dropout)
        super().run(assistant, forget, retain)
        return ULDModel(model.eval().requires_grad_(False), assistant.eval(), self.weight, self.top_p)
