"""GUARD, generation-time unlearning by adaptive restriction and detection (Deng et al., arXiv 2505.13312): the LM's
weights stay untouched; forget-scope prompts are decoded under token restrictions.

The paper's three steps (no official code was found; the formulas below are this implementation's, see the card):

1. **Detection**: a prompt classifier decides whether the prompt concerns a forget target (shared with ECO:
   :mod:`zoo.unlearning.llm.prompt_classifier`, threshold 0.5).
2. **Forbidden tokens** (:func:`forbidden_tokens`): the tokens of the forget targets' answers that carry their
   content: an answer token is forbidden unless it is in the answer's own question (the target's name, the asked
   attribute) or common to the retain data (its document frequency over retain groups, authors when the items name
   them, exceeds ``max_df``, 0.4: template words, which half the authors or more use).
3. **Restriction at decoding**, as transformers ``LogitsProcessor``\\ s on the flagged rows only:
   - :class:`TokenMatchProcessor`: token matching, forbidden ids filtered (``-inf``) or penalised;
   - :class:`SemanticMatchProcessor`: semantic matching: for each of the ``top_k`` candidate tokens, the mean input
     embedding of the candidate continuation (the last ``window - 1`` tokens and the candidate) is compared by cosine
     with the forbidden phrases' (each answer's runs of forbidden tokens); a similarity ``s > tau`` costs
     ``penalty * (s - tau) / (1 - tau)``.

   With ``num_beams > 1`` this is beam search with penalised candidates (the paper decodes by beam search): the
   processors act on every beam's next-token log-probabilities, so a beam's cumulative score carries its penalties
   and a filtered token never enters a beam. **Beam rescoring** (:meth:`GUARDModel.rescore`) then ranks the finished
   beams of a flagged prompt by their length-normalised penalised log-probability minus ``rescore_penalty`` times
   the phrase-level semantic match of the whole continuation (:meth:`GUARDModel.phrase_similarity`: every window of a
   forbidden phrase's length against that phrase, what the 2-token window of step 3 cannot see), and returns the best.

``forward`` applies the same processors at every position (teacher forcing), with the filter replaced by the finite
``score_penalty``, so likelihood metrics see what decoding would allow. Fluency: :func:`output_perplexity`.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.unlearning.llm.base import LMUnlearner, register
from zoo.unlearning.llm.prompt_classifier import PromptClassifier, dataset_tokenizer, example_answers, example_prompts, flag_sequences, scope_classifier


# ---------------------------------------------------------------------------------- step 2: forbidden tokens
def forbidden_tokens(tokenizer, answers: list[str], questions: list[str], retain_answers: list[str], retain_groups: list[str] | None = None, max_df: float = 0.4) -> tuple[list[int], list[list[int]]]:
    """The forget targets' forbidden token ids and phrases.

    Args:
        tokenizer: the served LM's tokenizer.
        answers: the forget targets' answers; questions: their questions (same order).
        retain_answers: answers that must stay expressible (the retain set's).
        retain_groups: a group name per retain answer (the author); None: each answer is its own group.
        max_df: a token in more than this fraction of retain groups is common, never forbidden.

    Returns:
        ``(ids, phrases)``: the sorted forbidden ids, and each answer's maximal runs of forbidden ids.
    """
    if len(answers) != len(questions):
        raise ValueError(f"questions: expected one per answer ({len(answers)}), received {len(questions)}")
    groups = retain_groups if retain_groups is not None else [str(i) for i in range(len(retain_answers))]
    seen: dict[str, set[int]] = {}
    for g, a in zip(groups, retain_answers):
        seen.setdefault(g, set()).update(_ids(tokenizer, a))
    df = Counter(t for ids in seen.values() for t in ids)
    common = {t for t, c in df.items() if c > max_df * max(1, len(seen))}
    forbidden: set[int] = set()
    phrases: list[list[int]] = []
    for q, a in zip(questions, answers):
        asked = set(_ids(tokenizer, q)) | set(_ids(tokenizer, " " + q))
        run: list[int] = []
        for t in _ids(tokenizer, " " + a):
            if t not in asked and t not in common and t not in tokenizer.all_special_ids:
                forbidden.add(t)
                run.append(t)
            elif run:
                phrases.append(run)
                run = []
        if run:
            phrases.append(run)
    return sorted(forbidden), phrases


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


# ---------------------------------------------------------------------------------- step 3: the processors
class TokenMatchProcessor:
    """Token matching: the forbidden ids of the flagged rows get ``-penalty`` (``inf``: filtered out).

    Args:
        forbidden: token ids. rows: (B,) bool, the flagged rows. penalty: subtracted from their logits.
    """

    def __init__(self, forbidden: torch.Tensor, rows: torch.Tensor, penalty: float = float("inf")) -> None:
        self.forbidden, self.rows, self.penalty = forbidden, rows, penalty

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.forbidden.numel() == 0 or not bool(self.rows.any()):
            return scores
        rows = _expand_rows(self.rows, scores.shape[0]).to(scores.device)
        ban = torch.zeros(scores.shape[-1], dtype=torch.bool, device=scores.device)
        ban[self.forbidden.to(scores.device)] = True
        hit = rows[:, None] & ban[None, :]
        return scores.masked_fill(hit, float("-inf")) if self.penalty == float("inf") else scores - self.penalty * hit


class SemanticMatchProcessor:
    """Semantic matching: the ``top_k`` candidates whose continuation embedding is close to a forbidden phrase's pay
    ``penalty * (cos - tau) / (1 - tau)`` (flagged rows only).

    Args:
        embeddings: (V, D) token embeddings (the LM's input embeddings).
        phrases: forbidden id runs (:func:`forbidden_tokens`).
        rows: (B,) bool, the flagged rows.
        tau: the similarity threshold (0.5). penalty: the largest penalty (10). top_k: candidates scored (20).
        window: tokens in a continuation, the candidate included (2).
    """

    def __init__(self, embeddings: torch.Tensor, phrases: list[list[int]], rows: torch.Tensor, tau: float = 0.5, penalty: float = 10.0, top_k: int = 20, window: int = 2) -> None:
        self.embeddings = embeddings.detach()
        self.rows, self.tau, self.penalty, self.top_k, self.window = rows, tau, penalty, top_k, max(1, window)
        self.targets = F.normalize(torch.stack([self.embeddings[p].mean(0) for p in phrases]), dim=-1) if phrases else None

    def penalties(self, context: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Penalties (N, K) of ``candidates`` (N, K) ids after ``context`` (N, window - 1) ids."""
        emb = self.embeddings.to(candidates.device)
        cont = emb[candidates]
        if context.shape[1]:
            cont = (cont + emb[context].sum(1, keepdim=True)) / (context.shape[1] + 1)
        sim = (F.normalize(cont, dim=-1) @ self.targets.to(cont.device).T).max(-1).values
        return self.penalty * ((sim - self.tau) / (1 - self.tau)).clamp_min(0)

    def apply(self, scores: torch.Tensor, context: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """``scores`` (N, V) with the flagged rows' top-k candidates penalised."""
        if self.targets is None or not bool(rows.any()):
            return scores
        k = min(self.top_k, scores.shape[-1])
        finite = torch.where(torch.isfinite(scores), scores, torch.full_like(scores, -1e9))
        cand = finite.topk(k, dim=-1).indices
        pen = self.penalties(context, cand) * rows[:, None].to(scores.dtype)
        return scores.scatter_add(-1, cand, -pen.to(scores.dtype))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        context = input_ids[:, input_ids.shape[1] - (self.window - 1) :] if self.window > 1 else input_ids[:, :0]
        return self.apply(scores, context, _expand_rows(self.rows, scores.shape[0]).to(scores.device))


def _expand_rows(rows: torch.Tensor, batch: int) -> torch.Tensor:
    """Row flags repeated for beam search (``num_beams`` rows per prompt)."""
    return rows if rows.shape[0] == batch else rows.repeat_interleave(batch // rows.shape[0])


# ---------------------------------------------------------------------------------- the served model
class GUARDModel(nn.Module):
    """A causal LM decoded under GUARD's restrictions on flagged prompts.

    Args:
        base: any transformers causal LM (untouched).
        tokenizer: its tokenizer.
        classifier: the prompt classifier.
        forbidden: forbidden ids; phrases: forbidden id runs (:func:`forbidden_tokens`).
        threshold: classifier threshold (0.5).
        filter_tokens: token matching filters (``-inf``) rather than penalises by ``token_penalty``.
        token_penalty: the penalty when not filtering (and at scoring, ``score_penalty``).
        tau, semantic_penalty, top_k, window: :class:`SemanticMatchProcessor`.
        num_beams: beam width of ``generate`` (1: greedy, as the evaluation decodes; > 1: penalised beam search and
            beam rescoring).
        prompt_marker: where the prompt ends in a decoded sequence.
        rescore_penalty: the weight of the phrase-level match in beam rescoring (10, as ``semantic_penalty``; 0: the
            beam search's own best beam).
    """

    def __init__(self, base: nn.Module, tokenizer, classifier: PromptClassifier, forbidden: list[int], phrases: list[list[int]], threshold: float = 0.5, filter_tokens: bool = True,
                 token_penalty: float = 10.0, score_penalty: float = 10.0, tau: float = 0.5, semantic_penalty: float = 10.0, top_k: int = 20, window: int = 2, num_beams: int = 1,
                 prompt_marker: str | None = "\nAnswer:", rescore_penalty: float = 10.0) -> None:
        super().__init__()
        self.base, self.tokenizer, self.classifier, self.threshold = base, tokenizer, classifier, threshold
        self.register_buffer("forbidden", torch.tensor(forbidden, dtype=torch.long), persistent=False)
        self.phrases = phrases
        self.filter_tokens, self.token_penalty, self.score_penalty = filter_tokens, token_penalty, score_penalty
        self.tau, self.semantic_penalty, self.top_k, self.window, self.num_beams = tau, semantic_penalty, top_k, window, num_beams
        self.prompt_marker, self.rescore_penalty = prompt_marker, rescore_penalty
        self.config = base.config
        self.last_flags: torch.Tensor | None = None

    def flags(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Bool (B,): the rows whose prompt the classifier puts in the forget scope."""
        self.last_flags = flag_sequences(self.classifier, self.tokenizer, input_ids, attention_mask, self.threshold, self.prompt_marker)
        return self.last_flags

    def processors(self, rows: torch.Tensor, scoring: bool = False) -> tuple[TokenMatchProcessor, SemanticMatchProcessor]:
        penalty = self.score_penalty if scoring else (float("inf") if self.filter_tokens else self.token_penalty)
        semantic = SemanticMatchProcessor(self.base.get_input_embeddings().weight, self.phrases, rows, self.tau, self.semantic_penalty, self.top_k, self.window)
        return TokenMatchProcessor(self.forbidden, rows, penalty), semantic

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> SimpleNamespace:
        """Logits of the base model with the restrictions applied at every position of the flagged rows."""
        logits = self.base(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        rows = self.flags(input_ids, attention_mask)
        if not bool(rows.any()):
            return SimpleNamespace(logits=logits)
        _, semantic = self.processors(rows, scoring=True)
        b, length, v = logits.shape
        flat_rows = rows[:, None].expand(b, length).reshape(-1)
        out = TokenMatchProcessor(self.forbidden, flat_rows, self.score_penalty)(None, logits.reshape(-1, v))
        w = max(1, self.window) - 1  # position t's context: tokens t - w + 1 .. t
        if w:
            context = F.pad(input_ids, (w - 1, 0), value=self.tokenizer.pad_token_id or 0).unfold(1, w, 1).reshape(-1, w)
        else:
            context = input_ids.reshape(-1, 1)[:, :0]
        out = semantic.apply(out, context, flat_rows)
        return SimpleNamespace(logits=out.reshape(b, length, v))

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """The base model's ``generate`` with GUARD's logits processors on the flagged rows; under beam search (one
        sequence per prompt, no sampling) the flagged prompts' beams are rescored (:meth:`rescore`)."""
        from transformers import LogitsProcessorList

        rows = self.flags(input_ids, attention_mask)
        procs = LogitsProcessorList(self.processors(rows)) if bool(rows.any()) else LogitsProcessorList()
        extra = kwargs.pop("logits_processor", None) or []
        kwargs.setdefault("num_beams", self.num_beams)
        processors = LogitsProcessorList([*procs, *extra])
        beams = kwargs["num_beams"]
        plain = kwargs.get("num_return_sequences", 1) != 1 or kwargs.get("do_sample") or kwargs.get("return_dict_in_generate")
        if beams == 1 or plain or not bool(rows.any()) or not self.phrases:
            return self.base.generate(input_ids=input_ids, attention_mask=attention_mask, logits_processor=processors, **kwargs)
        out = self.base.generate(input_ids=input_ids, attention_mask=attention_mask, logits_processor=processors, num_return_sequences=beams,
                                 output_scores=True, return_dict_in_generate=True, **kwargs)
        b = input_ids.shape[0]
        sequences = out.sequences.view(b, beams, -1)
        best = self.rescore(sequences[:, :, input_ids.shape[1] :], out.sequences_scores.view(b, beams), rows)
        return sequences[torch.arange(b, device=sequences.device), best]

    def rescore(self, continuations: torch.Tensor, scores: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The beam to keep per prompt: the flagged rows' highest ``score - rescore_penalty * match``, with ``match``
        the phrase-level semantic match above ``tau`` (:meth:`phrase_similarity`, rescaled to [0, 1] as in step 3);
        the other rows' beam-search best (beam 0).

        Shape:
            continuations: (B, K, T) generated ids of K beams. scores: (B, K) beam scores. rows: (B,) bool. Output: (B,).
        """
        b, k, _ = continuations.shape
        targets = self.phrase_targets()  # once per call: the embeddings may be trained between calls (a relearning attack)
        sim = torch.zeros(b, k)
        for i in torch.nonzero(rows.cpu()).flatten().tolist():  # an unflagged prompt keeps beam 0: no need to score it
            sim[i] = torch.tensor([self.phrase_similarity(continuations[i, j], targets) for j in range(k)])
        sim = sim.to(scores.device)
        match = ((sim - self.tau) / (1 - self.tau)).clamp_min(0)
        total = scores - self.rescore_penalty * match
        best = total.argmax(1)
        return torch.where(rows.to(best.device), best, torch.zeros_like(best))

    def phrase_targets(self) -> dict[int, torch.Tensor]:
        """Phrase length -> the normalised mean input embeddings of the forbidden phrases of that length.

        Shape:
            each value: (phrases of that length, D).
        """
        emb = self.base.get_input_embeddings().weight.detach()
        return {n: F.normalize(torch.stack([emb[p].mean(0) for p in self.phrases if len(p) == n]), dim=-1) for n in sorted({len(p) for p in self.phrases})}

    def phrase_similarity(self, ids: torch.Tensor, targets: dict[int, torch.Tensor] | None = None) -> float:
        """The largest cosine between a forbidden phrase's mean input embedding and that of any window of the same
        length in ``ids`` (a generated continuation, read up to its first ``eos``; special tokens skipped).
        ``targets``: :meth:`phrase_targets`, when the caller scores many continuations with the same embeddings."""
        tokens = ids.tolist()
        eos = self.tokenizer.eos_token_id
        if eos is not None and eos in tokens:
            tokens = tokens[: tokens.index(eos)]
        special = set(self.tokenizer.all_special_ids)
        tokens = [t for t in tokens if t not in special]
        if not tokens or not self.phrases:
            return 0.0
        emb = self.base.get_input_embeddings().weight.detach()
        seq = emb[torch.tensor(tokens, device=emb.device)]
        best = -1.0
        for length, phrase_targets in (targets if targets is not None else self.phrase_targets()).items():
            n = min(length, len(tokens))
            windows = F.normalize(seq.unfold(0, n, 1).mean(-1), dim=-1)  # (W, D): every window of n tokens
            best = max(best, float((windows @ phrase_targets.T).max()))
        return best


@torch.no_grad()
def output_perplexity(model: nn.Module, tokenizer, questions: list[str], outputs: list[str]) -> float:
    """Fluency: ``exp`` of the mean per-answer NLL of ``outputs`` (given their questions) under ``model`` (the
    original LM). Empty outputs are skipped; NaN when every one is empty."""
    from zoo.data.tofu import QADataset
    from zoo.unlearning.llm.evaluate import answer_statistics

    items = [{"question": q, "answer": o} for q, o in zip(questions, outputs, strict=True) if o.strip()]
    if not items:
        return float("nan")
    return float(np.exp(np.mean([r["avg_loss"] for r in answer_statistics(model, QADataset(items, tokenizer))])))


@register("guard")
class GUARD(LMUnlearner):
    """Generation-time restriction; :meth:`run` returns a :class:`GUARDModel` (the LM's weights are untouched).

    Args:
        max_df: document-frequency cut of :func:`forbidden_tokens` (0.4).
        filter_tokens, token_penalty, score_penalty, tau, semantic_penalty, top_k, window, num_beams, rescore_penalty:
            :class:`GUARDModel`.
        threshold, classifier_epochs, classifier_lr, classifier, prompt_marker: the prompt classifier (ECO's).
    """

    def __init__(self, max_df: float = 0.4, filter_tokens: bool = True, token_penalty: float = 10.0, score_penalty: float = 10.0, tau: float = 0.5, semantic_penalty: float = 10.0,
                 top_k: int = 20, window: int = 2, num_beams: int = 1, threshold: float = 0.5, classifier_epochs: int = 30, classifier_lr: float = 1e-3,
                 classifier: PromptClassifier | None = None, prompt_marker: str | None = "\nAnswer:", rescore_penalty: float = 10.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 <= tau < 1:
            raise ValueError(f"tau: expected a cosine threshold in [0, 1), received {tau!r}")
        self.max_df, self.filter_tokens, self.token_penalty, self.score_penalty = max_df, filter_tokens, token_penalty, score_penalty
        self.tau, self.semantic_penalty, self.top_k, self.window, self.num_beams = tau, semantic_penalty, top_k, window, num_beams
        self.threshold, self.classifier_epochs, self.classifier_lr, self.classifier = threshold, classifier_epochs, classifier_lr, classifier
        if not (isinstance(num_beams, int) and num_beams >= 1):
            raise ValueError(f"num_beams: expected an integer >= 1, received {num_beams!r}")
        self.prompt_marker, self.rescore_penalty = prompt_marker, rescore_penalty

    def run(self, model: nn.Module, forget, retain) -> GUARDModel:
        tokenizer = dataset_tokenizer(forget)
        model = model.eval().requires_grad_(False)
        classifier = self.classifier or scope_classifier(tokenizer, forget, retain, epochs=self.classifier_epochs, lr=self.classifier_lr, seed=self.seed)
        questions = [it["question"] for it in forget.items] if hasattr(forget, "items") else example_prompts(forget, tokenizer)
        retain_answers = example_answers(retain, tokenizer) if retain is not None else []
        groups = [it.get("author") or str(i) for i, it in enumerate(retain.items)] if retain is not None and hasattr(retain, "items") else None
        ids, phrases = forbidden_tokens(tokenizer, example_answers(forget, tokenizer), questions, retain_answers, groups, self.max_df)
        return GUARDModel(model, tokenizer, classifier, ids, phrases, self.threshold, self.filter_tokens, self.token_penalty, self.score_penalty, self.tau,
                          self.semantic_penalty, self.top_k, self.window, self.num_beams, self.prompt_marker, self.rescore_penalty)


def describe_forbidden(tokenizer, ids: list[int], limit: int = 30) -> list[str]:
    """The first ``limit`` forbidden tokens as text (for reports)."""
    return [tokenizer.decode([i]) for i in ids[:limit]]

