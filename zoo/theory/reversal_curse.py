"""A synthetic reversal-curse probe (Wang & Sun, "Is the Reversal Curse a Binding Problem?", ICLR 2026).

Facts "A is B's X" (X one of :data:`RELATIONS`) about pairs of fictitious people whose names are ``name_tokens``
syllable tokens. The pairs of E_A are trained in both directions ("A is B's X" and "B's X is A"), those of E_B only
forward; the curse is a model that completes E_B's forward facts but not their reverse.

- :func:`make_reversal_data`: the data (word-level token ids, deterministic in the seed);
- :func:`train_lm`: a tiny transformers ``LlamaForCausalLM`` trained on the sentences (next-token loss);
- :class:`ConceptJEPA`: the paper's JEPA-style remedy, as in ``OSU-NLP-Group/reversal-curse-binding`` (its patched
  GPT-2 ``wernicke_broca`` mode), at tiny scale: a *recognition* block encodes each concept's token patch (a name, or
  a relation phrase) into one concept vector; a causal *semantic* transformer runs over the concept vectors; its output
  is scored against every entity's concept vector from the same encoder (a contrastive cross-entropy over all
  negatives), so a concept has one representation as input and as target (the paper's "consistency"). Not built:
  the token-decoding (broca) loss (only needed to verbalise concepts) and the memory-layer variant;
- :func:`rank_metrics`: accuracy and MRR of the true entity among all entities.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

RELATIONS = ("mentor", "editor", "rival", "neighbour", "agent", "translator")
SPECIAL = ("<pad>", "<bos>", "is", "'s", ".")


@dataclass
class ReversalData:
    """The probe's data. ``pairs[i] = (a, b, x)`` (entity ids, relation index); ``both`` = pairs trained both ways."""

    vocab: list[str]
    names: list[tuple[int, ...]]
    pairs: list[tuple[int, int, int]]
    both: int

    def token(self, word: str) -> int:
        return self.vocab.index(word)

    def forward(self, pair: tuple[int, int, int]) -> tuple[list[int], list[int]]:
        """``(prompt, target)`` token ids of "A is | B 's X ."."""
        a, b, x = pair
        t = self.token
        return [t("<bos>"), *self.names[a], t("is")], [*self.names[b], t("'s"), t(RELATIONS[x]), t(".")]

    def reverse(self, pair: tuple[int, int, int]) -> tuple[list[int], list[int]]:
        """``(prompt, target)`` token ids of "B 's X is | A ."."""
        a, b, x = pair
        t = self.token
        return [t("<bos>"), *self.names[b], t("'s"), t(RELATIONS[x]), t("is")], [*self.names[a], t(".")]

    def train_sequences(self) -> list[list[int]]:
        """Every trained sentence: both directions for E_A, forward for E_B."""
        out = []
        for i, pair in enumerate(self.pairs):
            out.append(sum(self.forward(pair), []))
            if i < self.both:
                out.append(sum(self.reverse(pair), []))
        return out


def make_reversal_data(n_pairs: int = 200, both_fraction: float = 0.8, name_tokens: int = 2, syllables: int = 48, relations: int = len(RELATIONS), seed: int = 0) -> ReversalData:
    """The probe's people, names and facts.

    Args:
        n_pairs: (A, B) pairs; 2 * n_pairs distinct people.
        both_fraction: share of pairs in E_A (both directions trained).
        name_tokens: tokens per name (1: the paper's concept-level setting, one token per person).
        syllables: the name-token vocabulary (with ``name_tokens=1`` it is 2 * n_pairs, one token each).
        relations: how many of :data:`RELATIONS` the facts use.
        seed: the generator's seed.
    """
    if not 0 < both_fraction < 1:
        raise ValueError(f"both_fraction: expected a number in (0, 1), received {both_fraction}")
    if not 1 <= relations <= len(RELATIONS):
        raise ValueError(f"relations: expected 1..{len(RELATIONS)}, received {relations}")
    if name_tokens < 1:
        raise ValueError(f"name_tokens: expected >= 1, received {name_tokens}")
    people = 2 * n_pairs
    if name_tokens == 1:
        syllables = people
    if syllables**name_tokens < people:
        raise ValueError(f"syllables: expected syllables**name_tokens >= {people} people, received {syllables}**{name_tokens}")
    rng = random.Random(seed)
    vocab = [*SPECIAL, *RELATIONS, *(f"n{i}" for i in range(syllables))]
    offset = len(SPECIAL) + len(RELATIONS)
    if name_tokens == 1:
        names = [(offset + i,) for i in rng.sample(range(syllables), people)]
    else:
        seen: set[tuple[int, ...]] = set()
        names = []
        while len(names) < people:
            name = tuple(offset + rng.randrange(syllables) for _ in range(name_tokens))
            if name not in seen:
                seen.add(name)
                names.append(name)
    order = list(range(people))
    rng.shuffle(order)
    pairs = [(order[2 * i], order[2 * i + 1], rng.randrange(relations)) for i in range(n_pairs)]
    return ReversalData(vocab, names, pairs, round(n_pairs * both_fraction))


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def train_lm(data: ReversalData, hidden: int = 128, layers: int = 2, steps: int = 1500, lr: float = 1e-3, batch_size: int = 64, seed: int = 0, progress: bool = False) -> nn.Module:
    """A tiny ``LlamaForCausalLM`` trained on :meth:`ReversalData.train_sequences` (every token predicted)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(data.vocab), hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=32, pad_token_id=0, bos_token_id=1, eos_token_id=4, tie_word_embeddings=False)
    net = LlamaForCausalLM(cfg)
    seqs = data.train_sequences()
    width = max(map(len, seqs))
    ids = torch.tensor([s + [0] * (width - len(s)) for s in seqs])
    labels = ids.masked_fill(ids == 0, -100)
    labels[:, 0] = -100
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in _steps(steps, progress, "reversal LM"):
        pick = torch.randint(len(ids), (batch_size,), generator=gen)
        loss = net(input_ids=ids[pick], attention_mask=(ids[pick] != 0).long(), labels=labels[pick]).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return net.eval()


def _steps(n: int, progress: bool, desc: str):
    from zoo.core.progress import trange

    return trange(n, desc, unit="step", enabled=None if progress else False)


@torch.no_grad()
def lm_candidate_scores(net: nn.Module, data: ReversalData, prompts: list[list[int]], suffix: list[int]) -> torch.Tensor:
    """Log-likelihood of every person's name (followed by ``suffix``) after each prompt: (P, people)."""
    cands = [list(name) + suffix for name in data.names]
    out = torch.empty(len(prompts), len(cands))
    dev = _device(net)
    for i, prompt in enumerate(prompts):
        seq = torch.tensor([prompt + c for c in cands], device=dev)
        logp = F.log_softmax(net(input_ids=seq).logits[:, len(prompt) - 1 : -1].float(), -1)
        target = seq[:, len(prompt) :]
        out[i] = logp.gather(-1, target[..., None])[..., 0].sum(-1).cpu()
    return out


def rank_metrics(scores: torch.Tensor, truth: list[int]) -> dict[str, float]:
    """``accuracy`` (the true entity scores highest) and ``mrr`` over candidates: scores (P, C), truth (P,)."""
    t = torch.tensor(truth)
    true = scores[torch.arange(len(t)), t][:, None]
    ranks = (scores > true).sum(1) + 1
    return {"accuracy": float((ranks == 1).float().mean()), "mrr": float((1.0 / ranks.float()).mean())}


def evaluate_lm(net: nn.Module, data: ReversalData) -> dict[str, float]:
    """Forward and reverse ranking accuracy / MRR of the LM on E_B (and reverse on E_A, which was trained).

    The forward test ranks the people B after "A is" (scoring "B 's X ."); the reverse ranks A after "B 's X is".
    """
    t = data.token
    out = {}
    for split, pairs in (("E_B", data.pairs[data.both :]), ("E_A", data.pairs[: data.both][:40])):
        fwd = lm_forward_scores(net, data, pairs)
        rev = lm_candidate_scores(net, data, [data.reverse(p)[0] for p in pairs], [t(".")])
        for name, scores, truth in (("forward", fwd, [p[1] for p in pairs]), ("reverse", rev, [p[0] for p in pairs])):
            for key, value in rank_metrics(scores, truth).items():
                out[f"{split}_{name}_{key}"] = value
    return out


@torch.no_grad()
def lm_forward_scores(net: nn.Module, data: ReversalData, pairs: list[tuple[int, int, int]]) -> torch.Tensor:
    """Forward-direction scores: every person as B in "A is B 's X ." (each pair's own X)."""
    t = data.token
    rows = [lm_candidate_scores(net, data, [data.forward(p)[0]], [t("'s"), t(RELATIONS[p[2]]), t(".")])[0] for p in pairs]
    return torch.stack(rows)


# --------------------------------------------------------------------------------------------- the JEPA remedy
class ConceptJEPA(nn.Module):
    """Recognition block (token patch -> concept vector) + causal semantic transformer over concept vectors.

    Args:
        vocab_size: tokens.
        patch: the longest token patch (a name's tokens; relation phrases are 3-token patches "'s X is" / "is _ 's X").
        hidden: width.
        semantic_layers: causal layers over the concept sequence.
    """

    def __init__(self, vocab_size: int, patch: int, hidden: int = 128, semantic_layers: int = 2) -> None:
        super().__init__()
        self.patch = patch
        self.embed = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.position = nn.Parameter(torch.zeros(patch, hidden))
        self.recognition = nn.TransformerEncoderLayer(hidden, 4, 4 * hidden, dropout=0.0, batch_first=True, norm_first=True)
        self.semantic = nn.TransformerEncoder(nn.TransformerEncoderLayer(hidden, 4, 4 * hidden, dropout=0.0, batch_first=True, norm_first=True), semantic_layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(hidden)

    @staticmethod
    def concept_ln(x: torch.Tensor) -> torch.Tensor:
        """The official ``variance_only`` concept norm: divide by the RMS, no centring or weights."""
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)

    def encode(self, patches: torch.Tensor) -> torch.Tensor:
        """Concept vectors of token patches (right-padded with 0): (N, patch) -> (N, D), the last real token's state."""
        mask = patches == 0
        h = self.recognition(self.embed(patches) + self.position[: patches.shape[1]], src_key_padding_mask=mask)
        last = (~mask).sum(1).clamp_min(1) - 1
        return self.concept_ln(h[torch.arange(len(h)), last])

    def predict(self, concepts: torch.Tensor) -> torch.Tensor:
        """The next concept after a sequence of concept vectors: (B, T, D) -> (B, D), concept-normed."""
        causal = nn.Transformer.generate_square_subsequent_mask(concepts.shape[1], device=concepts.device)
        h = self.semantic(concepts, mask=causal, is_causal=True)
        return self.concept_ln(self.out_norm(h[:, -1]))


def _patches(data: ReversalData, patch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token patches of every person and of the two relation phrases of every relation (forward, reverse)."""
    t = data.token
    people = torch.tensor([list(n) + [0] * (patch - len(n)) for n in data.names])
    rel = [[t("is"), t(x), t("'s")] for x in RELATIONS] + [[t("'s"), t(x), t("is")] for x in RELATIONS]
    return people, torch.tensor([r + [0] * (patch - len(r)) for r in rel])


def jepa_examples(data: ReversalData) -> list[tuple[int, int, int]]:
    """Trained ``(subject, relation patch index, object)``: relation ``x`` forward, ``len(RELATIONS) + x`` reverse."""
    out = []
    for i, (a, b, x) in enumerate(data.pairs):
        out.append((a, x, b))
        if i < data.both:
            out.append((b, len(RELATIONS) + x, a))
    return out


def train_jepa(data: ReversalData, hidden: int = 128, semantic_layers: int = 2, steps: int = 1500, lr: float = 1e-3, batch_size: int = 64, seed: int = 0, progress: bool = False) -> ConceptJEPA:
    """:class:`ConceptJEPA` trained on the facts: predict the object's concept vector from [subject, relation],
    cross-entropy over the dot products with every person's concept vector (all negatives, as ``--eval_full_negatives``)."""
    torch.manual_seed(seed)
    patch = max(3, max(map(len, data.names)))
    model = ConceptJEPA(len(data.vocab), patch, hidden, semantic_layers)
    people, relations = _patches(data, patch)
    examples = torch.tensor(jepa_examples(data))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in _steps(steps, progress, "reversal JEPA"):
        batch = examples[torch.randint(len(examples), (batch_size,), generator=gen)]
        loss = F.cross_entropy(jepa_scores(model, people, relations, batch[:, 0], batch[:, 1]), batch[:, 2])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def jepa_scores(model: ConceptJEPA, people: torch.Tensor, relations: torch.Tensor, subjects: torch.Tensor, rels: torch.Tensor) -> torch.Tensor:
    """Scores of every person as the object of (subject, relation): (B, people)."""
    concepts = model.encode(people)
    seq = torch.stack([concepts[subjects], model.encode(relations)[rels]], 1)
    return model.predict(seq) @ concepts.T


@torch.no_grad()
def evaluate_jepa(model: ConceptJEPA, data: ReversalData) -> dict[str, float]:
    """Forward / reverse accuracy and MRR of the JEPA on E_B and E_A (as :func:`evaluate_lm`)."""
    people, relations = _patches(data, model.patch)
    out = {}
    for split, pairs in (("E_B", data.pairs[data.both :]), ("E_A", data.pairs[: data.both][:40])):
        p = torch.tensor(pairs)
        fwd = jepa_scores(model, people, relations, p[:, 0], p[:, 2])
        rev = jepa_scores(model, people, relations, p[:, 1], p[:, 2] + len(RELATIONS))
        for name, scores, truth in (("forward", fwd, p[:, 1].tolist()), ("reverse", rev, p[:, 0].tolist())):
            for key, value in rank_metrics(scores, truth).items():
                out[f"{split}_{name}_{key}"] = value
    return out
