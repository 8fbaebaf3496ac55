"""ALU, agentic unlearning (Sanyal & Mandal, COLM 2025): :meth:`ALU.run` returns an :class:`ALUModel`, the served LM
with its answers passed through :class:`~zoo.unlearning.llm.agents.UnlearningAgents` (weights untouched).

The agents are played by ``agent_model`` (any local chat LM, e.g. ``AutoModelForCausalLM.from_pretrained(dir)``
with ``agent_tokenizer``), by default the served LM itself. ALU changes text only: ``forward`` returns the served
model's logits unchanged, so likelihood metrics (truth ratio, probability, MIAs) are the original model's; only
generation-based ones (ROUGE) see the agents.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo.unlearning.llm.agents import NUM_CRITIC, NUM_RESPONSES, THRESHOLD, LMChat, UnlearningAgents
from zoo.unlearning.llm.base import LMUnlearner, register
from zoo.unlearning.llm.prompt_classifier import dataset_tokenizer


class ALUModel(nn.Module):
    """A causal LM whose generations are rewritten by ALU's agents.

    Args:
        base: the served causal LM (untouched).
        tokenizer: its tokenizer.
        agents: the pipeline (its :meth:`~UnlearningAgents.add_targets` takes new requests at any time).
    """

    def __init__(self, base: nn.Module, tokenizer, agents: UnlearningAgents) -> None:
        super().__init__()
        self.base, self.tokenizer, self.agents = base, tokenizer, agents
        self.config = base.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        """The served model's output, unchanged (the agents act on text)."""
        return self.base(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    def answer(self, queries: list[str]) -> list[str]:
        """The pipeline's answers to plain-text queries (the agent LM also plays the vanilla agent)."""
        return self.agents.respond(list(queries))

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """The served model's answers to the prompts (the vanilla agent), through the agents; returned as
        transformers does: the prompt ids, then the final answer's ids and ``eos``, right-padded."""
        width = input_ids.shape[1]
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        vanilla = self.base.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
        answers = [s.strip() for s in self.tokenizer.batch_decode(vanilla[:, width:], skip_special_tokens=True)]
        queries = [self.tokenizer.decode(ids[m.bool()].tolist(), skip_special_tokens=True) for ids, m in zip(input_ids, mask)]
        final = self.agents.respond(queries, answers)
        eos = [self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else []
        rows = [self.tokenizer(" " + f, add_special_tokens=False)["input_ids"] + eos for f in final]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        length = max(len(r) for r in rows)
        new = torch.tensor([r + [pad] * (length - len(r)) for r in rows], device=input_ids.device)
        return torch.cat([input_ids, new], 1)


@register("alu")
class ALU(LMUnlearner):
    """Agentic unlearning.

    Args:
        targets: the subjects to forget; None: the ``author`` names of the forget items.
        num_responses, num_critic, threshold: the pipeline's constants (5, 3, 4.0, the official ones).
        audit: ``"llm"`` (the AuditErase agent) or ``"names"`` (name matching instead; see :class:`UnlearningAgents`).
        agent_model, agent_tokenizer: the LM that plays the agents (default: the served LM and the data's tokenizer).
        agent_max_new_tokens: each agent reply's budget (64).
    """

    needs_retain = False

    def __init__(self, targets: list[str] | None = None, num_responses: int = NUM_RESPONSES, num_critic: int = NUM_CRITIC, threshold: float = THRESHOLD, audit: str = "llm",
                 agent_model: nn.Module | None = None, agent_tokenizer: Any = None, agent_max_new_tokens: int = 64, **kwargs) -> None:
        super().__init__(**kwargs)
        self.targets, self.num_responses, self.num_critic, self.threshold, self.audit = targets, num_responses, num_critic, threshold, audit
        self.agent_model, self.agent_tokenizer, self.agent_max_new_tokens = agent_model, agent_tokenizer, agent_max_new_tokens

    def run(self, model: nn.Module, forget, retain) -> ALUModel:
        tokenizer = dataset_tokenizer(forget)
        targets = self.targets
        if targets is None:
            targets = list(dict.fromkeys(it.get("author", "") for it in getattr(forget, "items", []) if it.get("author")))
        if not targets:
            raise ValueError("targets: expected the names to forget (targets=[...]) or forget items with an 'author' field, received neither")
        model = model.eval().requires_grad_(False)
        chat = LMChat(self.agent_model or model, self.agent_tokenizer or tokenizer, self.agent_max_new_tokens)
        agents = UnlearningAgents(chat, targets, self.num_responses, self.num_critic, self.threshold, self.audit)
        return ALUModel(model, tokenizer, agents)
