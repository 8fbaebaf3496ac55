"""The LM unlearning loop and the losses OpenUnlearning's trainers share.

A method subclasses :class:`LMUnlearner`, implements :meth:`LMUnlearner.loss` on a ``(forget, retain)`` batch pair
and registers itself with :func:`register`. The loop is OpenUnlearning's ``UnlearnTrainer``: AdamW, a linear warm-up
over the first epoch then constant (``warmup_epochs``), ``epochs`` passes over the forget set, each step paired with a
random retain batch. The defaults are OpenUnlearning's TOFU ones (lr 1e-5, effective batch 32, 10 epochs, weight decay
0.01); a tiny model trained from scratch needs a larger learning rate (the recipes say which).
"""

from __future__ import annotations

import copy
import inspect
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.progress import progress
from zoo.unlearning.llm.data import paired_batches

METHODS: dict[str, type[LMUnlearner]] = {}


def register(name: str):
    """Class decorator: make an :class:`LMUnlearner` available as ``zoo.unlearn(model, name, ...)``."""

    def wrap(cls):
        cls.name = name
        METHODS[name] = cls
        return cls

    return wrap


# ---------------------------------------------------------------------------------- shared losses
def batch_nll(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence summed answer NLL and answer-token counts (OpenUnlearning's ``compute_batch_nll``).

    Returns:
        ``(nll, tokens)``, each (B,).
    """
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    token_nll = F.cross_entropy(logits.transpose(1, 2).float(), labels, ignore_index=-100, reduction="none")
    return token_nll.sum(-1), (labels != -100).sum(-1)


def mean_nll(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean answer-token NLL over the batch (transformers' ``outputs.loss``)."""
    nll, tokens = batch_nll(model, batch)
    return nll.sum() / tokens.sum().clamp_min(1)


def kl_to_reference(model: nn.Module, reference: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """``KL(p_ref || p_model)`` over every position, batch-mean (OpenUnlearning's ``compute_kl_divergence``)."""
    with torch.no_grad():
        ref = F.log_softmax(reference(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, -1)
    cur = F.log_softmax(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, -1)
    return F.kl_div(cur.flatten(0, 1), ref.flatten(0, 1), reduction="batchmean", log_target=True)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of a transformers causal LM (``model.model.layers`` for Llama, Mistral, Mixtral, Qwen, Phi)."""
    for path in ("model.layers", "model.decoder.layers", "transformer.h", "gpt_neox.layers"):
        module = model
        for part in path.split("."):
            module = getattr(module, part, None)
            if module is None:
                break
        if isinstance(module, nn.ModuleList):
            return module
    raise ValueError(f"model: expected a transformers causal LM with decoder layers (model.layers, transformer.h, ...), received {type(model).__name__}")


def layer_output(model: nn.Module, layer: int, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The hidden states the decoder block ``layer`` outputs on ``batch``: (B, L, D)."""
    captured: list[torch.Tensor] = []

    def hook(module, args, output):
        captured.append(output[0] if isinstance(output, tuple) else output)

    handle = decoder_layers(model)[layer].register_forward_hook(hook)
    try:
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    finally:
        handle.remove()
    return captured[0]


def retain_loss(model: nn.Module, reference: nn.Module | None, batch: dict[str, torch.Tensor] | None, kind: str) -> torch.Tensor:
    """GradDiff-style retain term: ``"NLL"`` (mean answer NLL) or ``"KL"`` (to the frozen reference)."""
    if batch is None:
        return torch.zeros((), device=next(model.parameters()).device)
    if kind == "NLL":
        return mean_nll(model, batch)
    if kind == "KL":
        return kl_to_reference(model, reference, batch)
    raise ValueError(f"retain_loss_type: expected 'NLL' or 'KL', received {kind!r}")


# ---------------------------------------------------------------------------------- the loop
class LMUnlearner:
    """Base class of the LM unlearning methods.

    Args:
        lr: AdamW learning rate (OpenUnlearning: 1e-5).
        epochs: passes over the forget set (10).
        batch_size: forget (and retain) examples per step (8 x 4 accumulation = 32).
        weight_decay: AdamW weight decay (0.01).
        warmup_epochs: linear warm-up length in epochs (1), then a constant rate.
        max_grad_norm: gradient clipping (1.0, transformers' default).
        seed: the batches' seed.
    """

    name: ClassVar[str] = ""
    needs_reference: ClassVar[bool] = False
    needs_retain: ClassVar[bool] = True

    def __init__(self, lr: float = 1e-5, epochs: int = 10, batch_size: int = 32, weight_decay: float = 0.01, warmup_epochs: float = 1.0, max_grad_norm: float = 1.0, seed: int = 0) -> None:
        self.lr, self.epochs, self.batch_size, self.weight_decay = lr, epochs, batch_size, weight_decay
        self.warmup_epochs, self.max_grad_norm, self.seed = warmup_epochs, max_grad_norm, seed
        self.reference: nn.Module | None = None
        self.update_masks: dict[str, torch.Tensor] | None = None

    @classmethod
    def hyperparameters(cls) -> dict[str, Any]:
        """Hyper-parameter -> default, over the class and its bases."""
        out: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            init = vars(klass).get("__init__")
            if init is None or klass is object:
                continue
            for name, p in inspect.signature(init).parameters.items():
                if name != "self" and p.default is not p.empty:
                    out[name] = p.default
        return out

    # -- what a method defines
    def loss(self, model: nn.Module, forget: dict[str, torch.Tensor], retain: dict[str, torch.Tensor] | None) -> torch.Tensor:
        raise NotImplementedError

    def prepare(self, model: nn.Module, forget, retain) -> None:
        """Before the loop (masks, attribution, fixed random vectors)."""

    def trainable(self, model: nn.Module) -> list[nn.Parameter]:
        """The parameters the optimiser updates: every parameter that requires grad, or with :attr:`update_masks`
        (parameter name -> bool mask of the entries that may change) the masked ones."""
        if self.update_masks is None:
            return [p for p in model.parameters() if p.requires_grad]
        return [p for n, p in model.named_parameters() if n in self.update_masks and bool(self.update_masks[n].any())]

    def after_backward(self, model: nn.Module) -> None:
        """After each backward, before clipping: zero the gradients outside :attr:`update_masks`."""
        if self.update_masks is not None:
            for n, p in model.named_parameters():
                if p.grad is not None and n in self.update_masks:
                    p.grad.mul_(self.update_masks[n])

    def _snapshot(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in model.named_parameters() if self.update_masks is not None and n in self.update_masks}

    def after_step(self, model: nn.Module, snapshot: dict[str, torch.Tensor]) -> None:
        """After each optimiser step: put the entries outside :attr:`update_masks` back (AdamW's weight decay moves
        every entry of a tensor it updates)."""
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n in snapshot:
                    p.copy_(torch.where(self.update_masks[n], p, snapshot[n]))

    # -- the loop
    def run(self, model: nn.Module, forget, retain) -> nn.Module:
        """Unlearn in place and return ``model`` (in eval mode)."""
        if self.needs_retain and retain is None:
            raise ValueError(f"retain: {self.name} needs a retain set, received None")
        if self.needs_reference:
            self.reference = copy.deepcopy(model).eval().requires_grad_(False)
        self.prepare(model, forget, retain)
        params = self.trainable(model)
        snapshot = self._snapshot(model)
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        steps_per_epoch = math.ceil(len(forget) / self.batch_size)
        warmup = max(1, round(self.warmup_epochs * steps_per_epoch))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
        device = next(model.parameters()).device
        model.train()
        batches = paired_batches(forget, retain if self.needs_retain else None, self.batch_size, self.epochs, self.seed)
        for fb, rb in progress(batches, self.name or type(self).__name__, total=steps_per_epoch * self.epochs, unit="step"):
            fb = {k: v.to(device) for k, v in fb.items()}
            rb = None if rb is None else {k: v.to(device) for k, v in rb.items()}
            loss = self.loss(model, fb, rb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.after_backward(model)
            if self.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
            optimizer.step()
            self.after_step(model, snapshot)
            schedule.step()
        self.reference = None
        return model.eval()
