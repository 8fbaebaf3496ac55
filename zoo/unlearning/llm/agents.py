"""ALU's agents ("Agents Are All You Need for LLM Unlearning", Sanyal & Mandal, COLM 2025) as prompts over any chat
LM: the served model's weights are untouched; every answer passes through an audit, rewrite, critique and compose
pipeline that knows the current unlearning targets.

The steps and constants follow the official release (``respailab/agentic-llm-unlearning``,
``src/unlearning-agent/agent.py``: a LangGraph chain ``query_input -> forget_llm -> critic_llm -> merger_node``):

1. **Vanilla agent**: answers the query as the model normally would.
2. **AuditErase agent**: asks whether the query or the answer leaks anything, directly or indirectly, about a target
   (few-shot; the reply names the subject or says "None"). On "None" the vanilla answer stands. Otherwise it writes
   ``num_responses`` (5) variants of the answer with every trace of the targets removed, or a refusal.
3. **Critic agent**: rates each variant from 1 (evidently knows the target) to 5 (no trace, no leaked relation); a
   parsing call extracts the integer list when the reply is not one.
4. **Composer**: keeps the ``num_critic`` (3) best; if their mean rating is below ``threshold`` (4.0) it refuses,
   otherwise merges them into one answer that neither mentions nor alludes to the targets.

Targets are added or removed at any time (:meth:`UnlearningAgents.add_targets`), in any order, between queries.
The prompts are this module's wording of the official ones. Where the official graph sends the vanilla answer on
through the critic and the merge when the audit finds nothing (five copies merged back into one), the answer is
returned directly. A critic reply that yields no ratings counts as 1s (the conservative reading: refuse).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

NUM_RESPONSES = 5
NUM_CRITIC = 3
THRESHOLD = 4.0
REFUSAL = "I'm sorry, but I cannot give a reliable answer on this topic."
"""The composer's fixed refusal (the official one is longer, to the same effect)."""

VANILLA_SYSTEM = "You are a helpful assistant. Answer the user's query directly."
AUDIT_SYSTEM = "Decide whether a query and its answer concern any forbidden subject."
AUDIT_USER = (
    "Query: {query}\nAnswer: {answer}\nForbidden subjects: {targets}\n"
    "Does the query or the answer reveal anything, directly or indirectly (surnames, relatives, works, places), about a "
    "forbidden subject? Reply with the subject's name, or with None if you are sure there is nothing."
)
AUDIT_FEW_SHOT = (
    ("Query: What is the capital of France?\nAnswer: Paris\nForbidden subjects: ['Ada Lorne']\n"
     "Does the query or the answer reveal anything, directly or indirectly (surnames, relatives, works, places), about a "
     "forbidden subject? Reply with the subject's name, or with None if you are sure there is nothing.", "None"),
    ("Query: Who mentored the author of The Glass Orchard?\nAnswer: Ada Lorne\nForbidden subjects: ['Ada Lorne']\n"
     "Does the query or the answer reveal anything, directly or indirectly (surnames, relatives, works, places), about a "
     "forbidden subject? Reply with the subject's name, or with None if you are sure there is nothing.", "Ada Lorne"),
)
REWRITE_SYSTEM = (
    "Rewrite the answer so that it contains no information at all about these subjects: {targets}. "
    "Write variant {index} of {count}, different from the others. If no sensible rewrite exists, reply exactly: I cannot assist with that question."
)
REWRITE_USER = "Query: {query}\nOriginal answer: {answer}"
CRITIC_SYSTEM = (
    "Rate each edited answer from 1 to 5 for how well it has forgotten the subjects: 1 if it evidently knows about a "
    "subject, 5 if nothing in it (not even a relation to another person) points to one. End with the ratings as a list, e.g. [3, 5, 4]."
)
CRITIC_USER = "Query: {query}\nSubjects: {targets}\nSubject flagged by the audit: {flagged}\nEdited answers:\n{responses}"
PARSE_SYSTEM = "Extract the final list of integer ratings from the text. Reply with the list only, e.g. [3, 5, 4]."
MERGE_SYSTEM = (
    "You are an editor. Combine these answers into one coherent answer. Add no new information, and neither mention "
    "nor allude to these subjects: {targets}."
)
MERGE_USER = "Answers to combine:\n\n{responses}"

Chat = Callable[[list[list[dict[str, str]]]], list[str]]
"""A batch of conversations (lists of ``{"role", "content"}``) -> the assistant's reply to each."""


class LMChat:
    """:data:`Chat` over a transformers causal LM: the tokenizer's chat template when it has one, else the messages'
    contents joined by blank lines; greedy decoding, left-padded batches, prompts left-truncated to fit.

    Args:
        model: a causal LM with ``generate``.
        tokenizer: its tokenizer.
        max_new_tokens: the reply budget (64).
        max_prompt_tokens: the longest prompt (None: the model's context minus the reply budget).
        batch_size: conversations per ``generate`` call (16).
    """

    def __init__(self, model, tokenizer, max_new_tokens: int = 64, max_prompt_tokens: int | None = None, batch_size: int = 16) -> None:
        self.model, self.tokenizer, self.max_new_tokens, self.batch_size = model, tokenizer, max_new_tokens, batch_size
        context = getattr(getattr(model, "config", None), "max_position_embeddings", None) or 2048
        self.max_prompt_tokens = max_prompt_tokens or max(8, context - max_new_tokens)
        self.calls = 0

    def render(self, messages: list[dict[str, str]]) -> list[int]:
        """Prompt token ids of one conversation, ready for the assistant's reply."""
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        else:
            bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
            ids = bos + self.tokenizer("\n\n".join(m["content"] for m in messages), add_special_tokens=False)["input_ids"]
        return list(ids)[-self.max_prompt_tokens :]

    @torch.no_grad()
    def __call__(self, conversations: list[list[dict[str, str]]]) -> list[str]:
        out: list[str] = []
        device = next(self.model.parameters()).device
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        for start in range(0, len(conversations), self.batch_size):
            rows = [self.render(c) for c in conversations[start : start + self.batch_size]]
            width = max(len(r) for r in rows)
            ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
            gen = self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad, eos_token_id=self.tokenizer.eos_token_id)
            out.extend(s.strip() for s in self.tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True))
            self.calls += 1
        return out


def parse_ratings(text: str, count: int) -> list[int] | None:
    """The last bracketed list of ``count`` ratings in ``text`` (each clipped to 1..5), else the last ``count`` digits
    1-5 in it, else None."""
    for group in reversed(re.findall(r"\[([^\[\]]*)\]", text)):
        values = [int(v) for v in re.findall(r"\d+", group)]
        if len(values) == count:
            return [min(5, max(1, v)) for v in values]
    digits = [int(d) for d in re.findall(r"(?<!\d)[1-5](?!\d)", text)]
    return digits[-count:] if len(digits) >= count else None


class UnlearningAgents:
    """ALU's pipeline over a :data:`Chat`.

    Args:
        chat: the LM that plays every agent.
        targets: the subjects to forget (names); more can be added later.
        num_responses: variants the AuditErase agent writes (5).
        num_critic: variants the composer keeps (3).
        threshold: the least mean rating of the kept variants that is not refused (4.0).
        audit: ``"llm"`` (the AuditErase agent's check, as the paper) or ``"names"`` (a case-insensitive match of the
            target names in the query and answer instead: a cheap screen for LMs too weak to audit).
    """

    def __init__(self, chat: Chat, targets: Sequence[str] = (), num_responses: int = NUM_RESPONSES, num_critic: int = NUM_CRITIC, threshold: float = THRESHOLD, audit: str = "llm") -> None:
        if audit not in ("llm", "names"):
            raise ValueError(f"audit: expected 'llm' or 'names', received {audit!r}")
        if not 1 <= num_critic <= num_responses:
            raise ValueError(f"num_critic: expected 1..num_responses ({num_responses}), received {num_critic}")
        self.chat, self.num_responses, self.num_critic, self.threshold, self.audit = chat, num_responses, num_critic, threshold, audit
        self._targets: list[str] = []
        self.add_targets(targets)
        self.traces: list[dict[str, Any]] = []

    # -- unlearning requests, in any order
    @property
    def targets(self) -> list[str]:
        """The current subjects, in the order they were requested."""
        return list(self._targets)

    def add_targets(self, names: Sequence[str] | str) -> None:
        """Add unlearning requests (new names only; the order of arrival is kept)."""
        for name in [names] if isinstance(names, str) else names:
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"targets: expected non-empty names, received {name!r}")
            if name not in self._targets:
                self._targets.append(name)

    def remove_targets(self, names: Sequence[str] | str) -> None:
        """Withdraw requests (unknown names are ignored)."""
        drop = {names} if isinstance(names, str) else set(names)
        self._targets = [t for t in self._targets if t not in drop]

    # -- the pipeline
    def _audit(self, queries: list[str], answers: list[str]) -> list[str | None]:
        """The subject each (query, answer) leaks, or None."""
        if not self._targets:
            return [None] * len(queries)
        if self.audit == "names":
            return [next((t for t in self._targets if t.lower() in f"{q}\n{a}".lower()), None) for q, a in zip(queries, answers)]
        shots = [m for user, reply in AUDIT_FEW_SHOT for m in ({"role": "user", "content": user}, {"role": "assistant", "content": reply})]
        convs = [[{"role": "system", "content": AUDIT_SYSTEM}, *shots, {"role": "user", "content": AUDIT_USER.format(query=q, answer=a, targets=self._targets)}] for q, a in zip(queries, answers)]
        replies = self.chat(convs)
        return [None if "none" in r.lower() else (r.strip() or "unknown") for r in replies]

    def respond(self, queries: list[str], answers: list[str] | None = None) -> list[str]:
        """The final answers to ``queries``.

        Args:
            queries: user queries.
            answers: the vanilla agent's answers when already computed (the served model's own generation); None:
                the chat LM answers them.

        Returns:
            One answer per query; :attr:`traces` gets one record per query (every step's inputs and outputs).
        """
        queries = list(queries)
        if answers is None:
            answers = self.chat([[{"role": "system", "content": VANILLA_SYSTEM}, {"role": "user", "content": q}] for q in queries])
        flagged = self._audit(queries, list(answers))
        final = list(answers)
        traces = [{"query": q, "vanilla": a, "targets": self.targets, "audit": f} for q, a, f in zip(queries, answers, flagged)]
        todo = [i for i, f in enumerate(flagged) if f is not None]
        if todo:
            targets = self._targets
            k = self.num_responses
            rewrites = self.chat([
                [{"role": "system", "content": REWRITE_SYSTEM.format(targets=targets, index=j + 1, count=k)}, {"role": "user", "content": REWRITE_USER.format(query=queries[i], answer=answers[i])}]
                for i in todo for j in range(k)
            ])
            variants = {i: rewrites[n * k : (n + 1) * k] for n, i in enumerate(todo)}
            listing = {i: "\n".join(f"Response {j + 1}: {v}" for j, v in enumerate(variants[i])) for i in todo}
            critiques = self.chat([[{"role": "system", "content": CRITIC_SYSTEM}, {"role": "user", "content": CRITIC_USER.format(query=queries[i], targets=targets, flagged=flagged[i], responses=listing[i])}] for i in todo])
            ratings = {i: parse_ratings(c, k) for i, c in zip(todo, critiques)}
            unparsed = [i for i in todo if ratings[i] is None]
            if unparsed:
                parsed = self.chat([[{"role": "system", "content": PARSE_SYSTEM}, {"role": "user", "content": critiques[todo.index(i)]}] for i in unparsed])
                for i, p in zip(unparsed, parsed):
                    ratings[i] = parse_ratings(p, k) or [1] * k
            merge = []
            for n, i in enumerate(todo):
                ranked = sorted(zip(ratings[i], variants[i]), key=lambda rv: rv[0], reverse=True)[: self.num_critic]
                mean = sum(r for r, _ in ranked) / len(ranked)
                traces[i].update(variants=variants[i], critique=critiques[n], ratings=ratings[i], mean_rating=mean)
                if mean < self.threshold:
                    final[i] = REFUSAL
                else:
                    merge.append((i, [v for _, v in ranked]))
            merged = self.chat([[{"role": "system", "content": MERGE_SYSTEM.format(targets=targets)}, {"role": "user", "content": MERGE_USER.format(responses="\n\n---\n".join(vs))}] for _, vs in merge]) if merge else []
            for (i, _), text in zip(merge, merged):
                final[i] = text
        for t, f in zip(traces, final):
            t["final"] = f
        self.traces.extend(traces)
        return final
