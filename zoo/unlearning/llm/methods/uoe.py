"""UOE, "Unlearning One Expert" (Zhuang et al., ACL 2025): on a sparse MoE LM, unlearn only the expert the forget set
engages most, with a router anchor loss that keeps routing the forget tokens to it.

1. Expert attribution: the mean router probability (softmax of the router logits) of every expert of every MoE layer
   over the forget set's answer tokens; the (layer, expert) with the highest affinity is the target.
2. Unlearning: the base objective (NPO by default, or gradient ascent), updating only the target expert's weights
   and its layer's router, plus ``anchor_weight * mean(-log p_router(target expert))`` over the forget tokens.

Works on transformers MoE models whose layers hold ``mlp.gate`` (router) and ``mlp.experts`` with fused
``gate_up_proj`` / ``down_proj`` tensors of leading size ``num_experts`` (Mixtral, Qwen2-MoE, OLMoE in transformers 5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.progress import progress
from zoo.unlearning.llm.base import decoder_layers, mean_nll, register
from zoo.unlearning.llm.data import paired_batches
from zoo.unlearning.llm.methods.npo import NPO


def router_logits(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Per MoE layer, the router logits of every token of the batch: (B * L, E) each."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_router_logits=True)
    if not getattr(out, "router_logits", None):
        raise ValueError(f"model: expected a sparse MoE LM that returns router_logits (Mixtral, Qwen2-MoE), received {type(model).__name__}")
    return tuple(out.router_logits)


@torch.no_grad()
def expert_affinity(model: nn.Module, dataset, batch_size: int = 32) -> torch.Tensor:
    """Mean router probability of each (layer, expert) over the answer tokens of ``dataset``: (layers, experts)."""
    device = next(model.parameters()).device
    total, count = None, 0
    for fb, _ in progress(paired_batches(dataset, None, batch_size, 1), "expert affinity", total=-(-len(dataset) // batch_size), unit="batch"):
        fb = {k: v.to(device) for k, v in fb.items()}
        mask = (fb["labels"] != -100).flatten()
        probs = torch.stack([F.softmax(r.float(), -1)[mask].sum(0) for r in router_logits(model, fb)])
        total = probs if total is None else total + probs
        count += int(mask.sum())
    return total / max(count, 1)


@torch.no_grad()
def routing_shift(model_a: nn.Module, model_b: nn.Module, dataset, batch_size: int = 32) -> float:
    """Fraction of (answer token, layer) pairs whose top-k expert set differs between two MoE models."""
    device = next(model_a.parameters()).device
    k = model_a.config.num_experts_per_tok
    changed, total = 0, 0
    for fb, _ in paired_batches(dataset, None, batch_size, 1):
        fb = {key: v.to(device) for key, v in fb.items()}
        mask = (fb["labels"] != -100).flatten()
        for ra, rb in zip(router_logits(model_a, fb), router_logits(model_b, fb), strict=True):
            ta = torch.topk(ra[mask], k, -1).indices.sort(-1).values
            tb = torch.topk(rb[mask], k, -1).indices.sort(-1).values
            changed += int((ta != tb).any(-1).sum())
            total += int(mask.sum())
    return changed / max(total, 1)


@register("uoe")
class UOE(NPO):
    """Unlearning one expert.

    Args:
        objective: ``"npo"`` (NPO + retain NLL, as NPO) or ``"grad_ascent"`` (forget term only).
        anchor_weight: weight of the router anchor loss (1.0).
        beta, gamma, alpha: as NPO.
    """

    def __init__(self, objective: str = "npo", anchor_weight: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if objective not in ("npo", "grad_ascent"):
            raise ValueError(f"objective: expected 'npo' or 'grad_ascent', received {objective!r}")
        self.objective, self.anchor_weight = objective, anchor_weight
        self.needs_retain = objective == "npo"
        self.target: tuple[int, int] | None = None

    def prepare(self, model, forget, retain) -> None:
        affinity = expert_affinity(model, forget, self.batch_size)
        layer, expert = divmod(int(affinity.argmax()), affinity.shape[1])
        self.target, self.affinity = (layer, expert), affinity
        prefix = self._layer_prefix(model, layer)
        masks = {}
        for name, p in model.named_parameters():
            mask = torch.zeros_like(p, dtype=torch.bool)
            if name.startswith(prefix + "mlp.experts."):
                mask[expert] = True
            elif name == prefix + "mlp.gate.weight":
                mask[:] = True
            masks[name] = mask
        self.update_masks = masks

    @staticmethod
    def _layer_prefix(model: nn.Module, layer: int) -> str:
        block = decoder_layers(model)[layer]
        return next(n for n, m in model.named_modules() if m is block) + "."

    def loss(self, model, forget, retain):
        layer, expert = self.target
        if self.objective == "npo":
            loss = super().loss(model, forget, retain)
        else:
            loss = -mean_nll(model, forget)
        mask = (forget["labels"] != -100).flatten()
        logp = F.log_softmax(router_logits(model, forget)[layer].float(), -1)[mask, expert]
        return loss + self.anchor_weight * (-logp.mean())
