"""A causal LM served with forward hooks on (inference-time unlearning: LinEAS's steering, O3's gated adapters).

:class:`HookedLM` wraps a transformers causal LM; its ``forward`` and ``generate`` run the inner model with the hooks of
:meth:`HookedLM.hooks` registered, so that :mod:`zoo.unlearning.llm.evaluate` (teacher-forced losses, greedy ROUGE
generations) evaluates the served model and the inner model stays usable without them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class HookedLM(nn.Module):
    """A causal LM whose calls run under :meth:`hooks`.

    Args:
        base: a transformers causal LM (``forward(input_ids=..., attention_mask=...)`` and ``generate``).
    """

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base
        self.config = base.config

    @contextlib.contextmanager
    def hooks(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> Iterator[None]:
        """Register the wrapper's hooks for one call on ``input_ids`` (subclasses); none by default."""
        yield

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        """The inner model's output (``.logits`` (B, L, V)) with the hooks on."""
        with self.hooks(input_ids, attention_mask):
            return self.base(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """The inner model's ``generate`` (greedy by default, as the evaluation asks) with the hooks on."""
        with self.hooks(input_ids, attention_mask):
            return self.base.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
