"""ConceptVectors (Hong et al., 2024): the parametric traces of a concept in the MLP value vectors, found by vocabulary
projection and causal ablation, and how far an unlearning method moves them.

A *value vector* is a column of a decoder layer's ``mlp.down_proj.weight`` (D, F): what the MLP adds to the residual
stream when its hidden unit fires. As in the official code (``yihuaihong/ConceptVectors``, ``forget.py`` /
``evaluate_util.py``), a vector is read through the vocabulary as ``E @ v`` (E: the output embedding, no final norm),
and compared before / after unlearning by cosine, L2 distance and the Jaccard overlap of its top-k projected tokens.

Finding a concept's vectors (:func:`find_concept_vectors`): every value vector is scored by how many of its top-k
projected tokens belong to the concept (here: the tokens of a fictitious author's name and fact values that the other
authors' facts do not use); the best-scoring candidates are then ablated one by one (set to zero) and kept when they
raise the answer NLL of the concept's facts more than that of other facts (the causal validation; the official
notebook adds N(0, 0.1^2) noise and compares generations, a zero ablation is the noise-free version).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo.unlearning.llm.base import decoder_layers

Location = tuple[int, int]
"""(layer, column of down_proj)."""


def down_proj(net: nn.Module, layer: int) -> torch.Tensor:
    """The ``mlp.down_proj.weight`` (D, F) of decoder layer ``layer``: its columns are the value vectors."""
    mlp = getattr(decoder_layers(net)[layer], "mlp", None)
    weight = getattr(getattr(mlp, "down_proj", None), "weight", None)
    if weight is None:
        raise ValueError(f"net: expected Llama-style decoder layers with mlp.down_proj, received {type(mlp).__name__} at layer {layer}")
    return weight


def value_vector(net: nn.Module, location: Location) -> torch.Tensor:
    """The value vector at ``location``: (D,), detached."""
    layer, dim = location
    return down_proj(net, layer)[:, dim].detach()


def projection_topk(net: nn.Module, vector: torch.Tensor, k: int = 20) -> list[int]:
    """Token ids of the ``k`` largest logits of ``E @ vector`` (the official projection)."""
    E = net.get_output_embeddings().weight.detach()
    return torch.topk(E.float() @ vector.float().to(E.device), k).indices.tolist()


def jaccard(a: list[int], b: list[int]) -> float:
    """|a ∩ b| / |a ∪ b| of two token-id lists."""
    sa, sb = set(a), set(b)
    return len(sa & sb) / max(1, len(sa | sb))


def concept_tokens(tokenizer, texts: list[str], background: list[str]) -> set[int]:
    """Token ids that occur in ``texts`` (each encoded with and without a leading space) but not in ``background``."""

    def ids(strings):
        out: set[int] = set()
        for s in strings:
            for variant in (s, " " + s):
                out.update(tokenizer(variant, add_special_tokens=False)["input_ids"])
        return out

    return ids(texts) - ids(background)


@torch.no_grad()
def projection_scores(net: nn.Module, tokens: set[int], k: int = 20) -> dict[Location, int]:
    """For every value vector: how many of its top-``k`` projected tokens are in ``tokens``."""
    E = net.get_output_embeddings().weight.detach().float()
    wanted = torch.zeros(E.shape[0], dtype=torch.bool, device=E.device)
    wanted[list(tokens)] = True
    scores: dict[Location, int] = {}
    for layer in range(len(decoder_layers(net))):
        W = down_proj(net, layer).detach().float()  # (D, F)
        top = torch.topk(E @ W, k, dim=0).indices  # (k, F)
        counts = wanted[top].sum(0)
        for dim, c in enumerate(counts.tolist()):
            scores[(layer, dim)] = c
    return scores


class ablated:
    """Context manager: the value vectors at ``locations`` set to ``vectors`` (default zero), restored on exit."""

    def __init__(self, net: nn.Module, locations: list[Location], vectors: torch.Tensor | None = None) -> None:
        self.net, self.locations, self.vectors = net, list(locations), vectors
        self.saved: list[torch.Tensor] = []

    def __enter__(self) -> nn.Module:
        with torch.no_grad():
            for i, (layer, dim) in enumerate(self.locations):
                W = down_proj(self.net, layer)
                self.saved.append(W[:, dim].clone())
                W[:, dim] = 0 if self.vectors is None else self.vectors[i].to(W)
        return self.net

    def __exit__(self, *exc) -> None:
        with torch.no_grad():  # last in, first out: a location listed twice gets back its value from before the first
            for (layer, dim), old in reversed(list(zip(self.locations, self.saved))):
                down_proj(self.net, layer)[:, dim] = old
        self.saved = []


def ablate(net: nn.Module, locations: list[Location]) -> nn.Module:
    """A copy of ``net`` with the value vectors at ``locations`` zeroed (every other parameter unchanged)."""
    out = copy.deepcopy(net)
    with torch.no_grad():
        for layer, dim in locations:
            down_proj(out, layer)[:, dim] = 0
    return out.eval()


def _mean_nll(net, tokenizer, items) -> float:
    from zoo.unlearning.llm.evaluate import avg_losses

    return float(np.mean(avg_losses(net, tokenizer, items)))


def find_concept_vectors(
    net: nn.Module,
    tokenizer,
    concept_items: list[dict[str, Any]],
    other_items: list[dict[str, Any]],
    concept_texts: list[str],
    background_texts: list[str],
    candidates: int = 48,
    keep: int = 8,
    k: int = 20,
) -> dict[str, Any]:
    """One concept's value vectors: projection screen, then single-vector causal ablation.

    Args:
        net: the causal LM.
        tokenizer: its tokenizer.
        concept_items: QA items of the concept (an author's facts).
        other_items: QA items of other concepts (the unrelated control).
        concept_texts: the concept's surface strings (name, fact values).
        background_texts: other concepts' strings (their tokens are not concept tokens).
        candidates: vectors screened by projection and tested causally.
        keep: vectors kept (highest specificity among those that pass).
        k: top-k of the projection.

    Returns:
        ``locations`` (kept, best first), ``specificity`` (their ΔNLL on the concept minus ΔNLL on the others),
        ``projection_hits`` (their projection score), ``passed`` (how many candidates passed).
    """
    tokens = concept_tokens(tokenizer, concept_texts, background_texts)
    if not tokens:
        raise ValueError("concept_texts: expected strings with tokens that the background does not use, received none")
    scores = projection_scores(net, tokens, k)
    shortlist = sorted(scores, key=lambda loc: (-scores[loc], loc))[:candidates]
    base_c, base_o = _mean_nll(net, tokenizer, concept_items), _mean_nll(net, tokenizer, other_items)
    tested = []
    for loc in shortlist:
        with ablated(net, [loc]):
            dc = _mean_nll(net, tokenizer, concept_items) - base_c
            do = _mean_nll(net, tokenizer, other_items) - base_o
        tested.append((dc - do, dc, loc))
    passed = sorted([t for t in tested if t[1] > 0 and t[0] > 0], reverse=True)
    chosen = passed[:keep]
    return {
        "locations": [t[2] for t in chosen],
        "specificity": [t[0] for t in chosen],
        "projection_hits": [scores[t[2]] for t in chosen],
        "passed": len(passed),
        "tokens": sorted(tokens),
    }


def vector_drift(before: nn.Module, after: nn.Module, locations: list[Location], k: int = 20) -> dict[str, float]:
    """How far the value vectors at ``locations`` moved from ``before`` to ``after`` (means over the locations).

    Returns:
        ``cosine`` (cos(v, v')), ``norm_change`` (‖v'‖ / ‖v‖ - 1), ``l2`` (‖v' - v‖ / ‖v‖) and ``jaccard`` (top-``k``
        projected tokens, each model's own output embedding, as the official code).
    """
    cos, norm, l2, jac = [], [], [], []
    for loc in locations:
        v, w = value_vector(before, loc).float(), value_vector(after, loc).float().to(value_vector(before, loc).device)
        nv = float(v.norm())
        cos.append(min(1.0, float(torch.nn.functional.cosine_similarity(v, w, dim=0))) if float(w.norm()) > 0 else 0.0)  # <= 1, as the official
        norm.append(float(w.norm()) / max(nv, 1e-12) - 1)
        l2.append(float((w - v).norm()) / max(nv, 1e-12))
        jac.append(jaccard(projection_topk(before, v, k), projection_topk(after, w, k)) if float(w.norm()) > 0 else 0.0)
    return {"cosine": float(np.mean(cos)), "norm_change": float(np.mean(norm)), "l2": float(np.mean(l2)), "jaccard": float(np.mean(jac))}


def all_vectors_cosine(before: nn.Module, after: nn.Module) -> float:
    """Mean cosine between every value vector before and after (the baseline a concept vector's drift compares to)."""
    out = []
    for layer in range(len(decoder_layers(before))):
        a, b = down_proj(before, layer).detach().float(), down_proj(after, layer).detach().float().to(down_proj(before, layer).device)
        out.append(torch.nn.functional.cosine_similarity(a, b, dim=0))
    return float(torch.cat(out).mean())


def needle_masks(net: nn.Module, locations: list[Location]) -> dict[str, torch.Tensor]:
    """``LMUnlearner.update_masks`` that let only the value vectors at ``locations`` change (the official ``Needle``
    scope: a gradient mask of ones on the concept's down_proj column)."""
    names = {id(p): n for n, p in net.named_parameters()}
    masks: dict[str, torch.Tensor] = {}
    for layer, dim in locations:
        W = down_proj(net, layer)
        mask = masks.setdefault(names[id(W)], torch.zeros_like(W, dtype=torch.bool))
        mask[:, dim] = True
    return masks


def needle(net: nn.Module, tokenizer, forget: list[dict[str, Any]], locations: list[Location], noise: float = 0.1, seed: int = 0, **hparams: Any) -> nn.Module:
    """The official ``Needle`` unlearning: Gaussian noise (std ``noise``) added to the concept vectors, then gradient
    ascent on ``forget`` that may change only those vectors.

    Args:
        net: the causal LM (untouched; a copy is unlearned).
        forget: the concept's QA items.
        locations: the concept vectors.
        noise: the std of the initial noise (the official 0.1).
        hparams: :class:`~zoo.unlearning.llm.base.LMUnlearner` settings (lr, epochs, batch_size, ...).

    Returns:
        The unlearned copy (eval mode).
    """
    from zoo.data.tofu import QADataset
    from zoo.unlearning.llm.family import build

    out = copy.deepcopy(net)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer, dim in locations:
            W = down_proj(out, layer)
            W[:, dim] += (noise * torch.randn(W.shape[0], generator=gen)).to(W)
    unlearner = build("grad_ascent", **hparams)
    unlearner.update_masks = needle_masks(out, locations)
    return unlearner.run(out, QADataset(forget, tokenizer), None)
