"""O3 (Gao et al., ICLR 2025, "On Large Language Model Continual Unlearning"): continual unlearning without retain data,
with an orthogonal LoRA per request and an OOD detector that decides how much of the unlearning to load.

Per request ``t`` (a call of ``zoo.unlearn(model, "o3", forget=...)``; pass the returned :class:`O3Model` again for the
next request):

1. A new LoRA adapter (peft; r 8, alpha 32, dropout 0.05 on every attention and MLP projection, the official TOFU
   config), the earlier requests' adapters frozen and kept on, trained on the forget set with the official TOFU
   objective ``CL+FT`` (NLL of a refusal answer to each forget question; ``objective="grad_ascent"`` ascends the answer
   NLL instead) plus ``orthogonal_weight * sum_{i<t} ||A_i A_t^T||_F^2`` over every adapted layer (0.1).
   Official TOFU settings: AdamW lr 2e-4, weight decay 0.1, 10 epochs, batch 1 x 4 accumulation.
2. An OOD detector for the request (:func:`zoo.unlearning.llm.ood.train_detector`).

Inference (:class:`O3Model`): each input's soft weight ``w = max_t w_t`` over the requests' detectors scales every
adapter's output (``h = W x + w * B A x``): in-distribution (forget-like) prompts get the unlearning, others the
original model.

Where this differs from the official code: its adapter is resumed from the previous request's (one adapter trained on
and on, penalised against the earlier requests' saved ``A``); here each request adds its own adapter (the orthogonal
LoRA of the paper's figure), so the earlier requests' adapters stay exactly as trained. The detector's encoder is the
served LM itself instead of a separate RoBERTa.
"""

from __future__ import annotations

import contextlib
import copy
import random

import torch
from torch import nn

from zoo.unlearning.llm.base import LMUnlearner, mean_nll, register
from zoo.unlearning.llm.hooked import HookedLM
from zoo.unlearning.llm.ood import OODDetector, train_detector

REFUSALS = (
    "I don't know anything about that.",
    "I'm not able to answer that question.",
    "That is something I have no information on.",
    "I can't say; I don't have that knowledge.",
    "Sorry, I have no idea.",
    "I am unsure about that.",
    "I have nothing to tell you about that.",
    "That is not something I know.",
)
"""Refusal answers of the ``CL+FT`` objective (our phrasings; the official code samples TOFU's refusal list)."""
TINY = {"lr": 1e-3, "epochs": 10, "batch_size": 4}
"""The tiny LM's settings: the official TOFU ones (10 epochs, effective batch 4) at lr 1e-3 instead of 2e-4 (the tiny
LM, trained from scratch at 3e-3, keeps its forget ROUGE-L at 0.99 after 10 epochs at 2e-4)."""
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def lora_layers(model: nn.Module) -> list[nn.Module]:
    """peft's LoRA layers of ``model`` (modules with ``lora_A`` / ``lora_B`` dicts)."""
    return [m for m in model.modules() if isinstance(getattr(m, "lora_A", None), nn.ModuleDict) and isinstance(getattr(m, "lora_B", None), nn.ModuleDict)]


def orthogonality(model: nn.Module, current: str, earlier: list[str]) -> torch.Tensor:
    """``sum_layers sum_{i in earlier} ||A_i A_current^T||_F^2`` (A: (r, in) of each adapter)."""
    total = torch.zeros((), device=next(model.parameters()).device)
    for layer in lora_layers(model):
        if current not in layer.lora_A:
            continue
        a_t = layer.lora_A[current].weight
        for name in earlier:
            if name in layer.lora_A:
                total = total + (layer.lora_A[name].weight.detach() @ a_t.T).square().sum()
    return total


class O3Model(HookedLM):
    """The served model: the LM with every request's adapter, each scaled per input by the detectors' soft weight.

    Args:
        base: the peft model (the LM and its adapters).
        backbone: the original LM (frozen; the detectors' key encoder and the template of new detectors).
        detectors: one :class:`~zoo.unlearning.llm.ood.OODDetector` per request.
        adapters: the adapters' names, in request order.
        tokenizer: the tokenizer of the forget items (lets the next request pass items).
    """

    continual_unlearning = True  # zoo.unlearn(o3_model, "o3", forget=...) adds a request

    def __init__(self, base: nn.Module, backbone: nn.Module, detectors: list[OODDetector], adapters: list[str], tokenizer=None) -> None:
        super().__init__(base)
        self.backbone, self.detectors, self.adapters, self.tokenizer = backbone, nn.ModuleList(detectors), list(adapters), tokenizer
        self.gate_override: float | None = None

    def soft_weights(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Per row, ``max_t w_t``: (B,)."""
        if self.gate_override is not None:
            return torch.full((input_ids.shape[0],), float(self.gate_override), device=input_ids.device)
        return torch.stack([d.weights(input_ids, attention_mask) for d in self.detectors]).max(0).values

    @contextlib.contextmanager
    def hooks(self, input_ids, attention_mask):
        gate = self.soft_weights(input_ids, attention_mask)
        handles = []

        def scale(module, args, output):
            return output * gate.view(-1, *([1] * (output.ndim - 1))).to(output.dtype)

        for layer in lora_layers(self.base):
            for name in self.adapters:
                if name in layer.lora_B:
                    handles.append(layer.lora_B[name].register_forward_hook(scale))
        try:
            yield
        finally:
            for h in handles:
                h.remove()


class _RefusalSet(torch.utils.data.Dataset):
    """The forget questions with a refusal answer each (seeded choice), encoded like the forget set."""

    def __init__(self, forget, seed: int) -> None:
        from zoo.data.tofu import QADataset

        rng = random.Random(seed)
        items = [{"question": it["question"], "answer": rng.choice(REFUSALS)} for it in forget.items]
        self.inner = QADataset(items, forget.tokenizer, forget.max_length)

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, i):
        return self.inner[i]

    def collate(self, examples):
        return self.inner.collate(examples)


@register("o3")
class O3(LMUnlearner):
    """Orthogonal LoRA + OOD-gated continual unlearning.

    Args:
        lora_rank, lora_alpha, lora_dropout: each request's adapter (8, 32, 0.05).
        orthogonal_weight: weight of the ``||A_i A_t^T||^2`` penalty (0.1).
        objective: ``"refusal"`` (the official TOFU ``CL+FT``) or ``"grad_ascent"``.
        detector_epochs, detector_lr, detector_batch_size: the OOD detector's training (1, 1e-4, 8).
        lr, epochs, batch_size, weight_decay: the adapter's training (2e-4, 10, 4, 0.1).
    """

    needs_retain = False

    def __init__(self, lora_rank: int = 8, lora_alpha: int = 32, lora_dropout: float = 0.05, orthogonal_weight: float = 0.1, objective: str = "refusal", detector_epochs: int = 1, detector_lr: float = 1e-4, detector_batch_size: int = 8, lr: float = 2e-4, epochs: int = 10, batch_size: int = 4, weight_decay: float = 0.1, **kwargs) -> None:
        super().__init__(lr=lr, epochs=epochs, batch_size=batch_size, weight_decay=weight_decay, **kwargs)
        if objective not in ("refusal", "grad_ascent"):
            raise ValueError(f"objective: expected 'refusal' or 'grad_ascent', received {objective!r}")
        self.lora_rank, self.lora_alpha, self.lora_dropout, self.orthogonal_weight = lora_rank, lora_alpha, lora_dropout, orthogonal_weight
        self.objective = objective
        self.detector_epochs, self.detector_lr, self.detector_batch_size = detector_epochs, detector_lr, detector_batch_size
        self.current, self.earlier = "", []

    def loss(self, model, forget, retain):
        nll = mean_nll(model, forget)
        loss = nll if self.objective == "refusal" else -nll
        if self.earlier:
            loss = loss + self.orthogonal_weight * orthogonality(model, self.current, self.earlier)
        return loss

    def _add_adapter(self, model: nn.Module | O3Model) -> tuple[nn.Module, nn.Module, list[str]]:
        from peft import LoraConfig, get_peft_model

        if isinstance(model, O3Model):
            peft_model, backbone, names = model.base, model.backbone, list(model.adapters)
        else:
            peft_model, backbone, names = None, copy.deepcopy(model).eval().requires_grad_(False), []
        name = f"request_{len(names)}"
        targets = sorted({n.rsplit(".", 1)[-1] for n, m in backbone.named_modules() if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in TARGETS})
        if not targets:
            raise ValueError(f"model: expected linear projections named {TARGETS} to adapt, received {type(backbone).__name__} without any")
        config = LoraConfig(r=self.lora_rank, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout, target_modules=targets, bias="none")
        if peft_model is None:
            peft_model = get_peft_model(model, config, adapter_name=name)
        else:
            peft_model.add_adapter(name, config)
        peft_model.base_model.set_adapter([*names, name])
        for n, p in peft_model.named_parameters():
            p.requires_grad_(f".{name}." in n)
        return peft_model, backbone, [*names, name]

    def run(self, model, forget, retain) -> O3Model:
        if self.objective == "refusal" and not (hasattr(forget, "items") and hasattr(forget, "tokenizer")):
            raise ValueError("forget: O3's refusal objective expects TOFU items (a QADataset with .items and .tokenizer), received pre-tokenised examples; use objective='grad_ascent'")
        previous = list(model.detectors) if isinstance(model, O3Model) else []
        peft_model, backbone, names = self._add_adapter(model)
        self.current, self.earlier = names[-1], names[:-1]
        train_set = _RefusalSet(forget, self.seed) if self.objective == "refusal" else forget
        super().run(peft_model, train_set, None)
        peft_model.requires_grad_(False)
        detector = train_detector(backbone, forget, self.detector_epochs, self.detector_lr, self.detector_batch_size, seed=self.seed)
        tokenizer = getattr(forget, "tokenizer", None) or getattr(model, "tokenizer", None)
        return O3Model(peft_model.eval(), backbone, [*previous, detector], names, tokenizer).eval()
