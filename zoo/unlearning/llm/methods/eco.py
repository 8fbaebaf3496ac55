"""ECO, embedding-corrupted prompts (Liu et al., NeurIPS 2024): the LM's weights stay untouched; a prompt classifier
flags forget-scope prompts and the flagged prompts' token embeddings are corrupted before the LM reads them.

As the official code (``chrisliu298/llm-unlearn-eco``) does it:

- **Classifier** (``eco/attack/classifier.py``): an encoder fine-tuned on forget-scope vs other prompts; a prompt is
  flagged when ``p(forget | x) > threshold`` (:mod:`zoo.unlearning.llm.prompt_classifier`; 0.5, the paper's rule; the
  official TOFU script's default is 0.99).
- **Corruption** (``eco/attack/corrupt.py``): a forward hook on the input-embedding module rewrites the embeddings of
  the selected positions, only when the hooked call has more than one position (the prompt's pre-fill; cached
  decoding steps pass through). Without a token classifier every position but the last is selected
  (``predict_token_attack_label``); when answers are scored, the answer's positions too. The functions of
  :data:`CORRUPTIONS` are the official ones; ``rand_noise_first_n`` (add N(0, σ²) to the first ``dims`` dimensions) is
  the TOFU default. Official ``reverse_order`` / ``shuffle`` permute every row; here only the flagged rows (the
  classifier's decision must gate every corruption).
- **σ tuned offline** (``eco/optimizer/zoo.py::ZerothOrderOptimizerScalar``, ``scripts/zeroth_order_optim.py``): the
  two-point estimate ``g = (s(σ + ε) - s(max(σ - ε, 1e-8))) / 2ε``, then ``σ ← max(σ - lr g, σ_min)``, ten steps, lr 1e2,
  ε = 0.999 σ₀, σ_min = σ₀, stopping early when the score falls below a threshold. The score here is
  :func:`forget_gap`: ``|P_forget(σ) - target|`` with ``P`` the mean answer probability on the forget set and the target
  the original model's on never-trained (holdout) data: corrupt until the forget set looks unseen. The noise is drawn
  from a seeded generator on every call, so ``s`` is a deterministic function of σ (common random numbers).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from zoo.core.progress import trange
from zoo.unlearning.llm.base import LMUnlearner, register
from zoo.unlearning.llm.prompt_classifier import PromptClassifier, dataset_tokenizer, example_prompts, flag_sequences, scope_classifier


# ---------------------------------------------------------------------------------- the corruption functions
def _noise(shape, strength: float, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    return (torch.randn(shape, generator=generator) * strength).to(device=like.device, dtype=like.dtype)


def _top_k(values: torch.Tensor, dims: int, largest: bool = True, absolute: bool = True) -> torch.Tensor:
    """Bool mask (N, D) of the ``dims`` largest (absolute) entries of each row."""
    idx = (values.abs() if absolute else values).topk(dims, dim=-1, largest=largest).indices
    return torch.zeros_like(values, dtype=torch.bool).scatter_(-1, idx, True)


def rand_noise_first_n(e, mask, dims, strength, generator=None):
    """Add N(0, strength²) to the first ``dims`` dimensions of the selected positions."""
    out = e.clone()
    sel = out[mask]
    sel[:, :dims] += _noise((sel.shape[0], dims), strength, generator, sel)
    out[mask] = sel
    return out


def rand_noise_rand_n(e, mask, dims, strength, generator=None):
    """Add N(0, strength²) to ``dims`` random dimensions (one draw for the batch) of the selected positions."""
    out = e.clone()
    cols = torch.randperm(e.shape[-1], generator=generator)[:dims].to(e.device)
    sel = out[mask]
    sel[:, cols] += _noise((sel.shape[0], dims), strength, generator, sel)
    out[mask] = sel
    return out


def rand_noise_top_k(e, mask, dims, strength, generator=None):
    """Add N(0, strength²) to the ``dims`` largest-magnitude dimensions of each selected position."""
    out = e.clone()
    sel = out[mask]
    sel = sel + _top_k(sel, dims) * _noise(sel.shape, strength, generator, sel)
    out[mask] = sel
    return out


def zero_out_top_k(e, mask, dims, strength=None, generator=None):
    """Zero the ``dims`` largest-magnitude dimensions of each selected position."""
    out = e.clone()
    sel = out[mask]
    out[mask] = sel.masked_fill(_top_k(sel, dims), 0.0)
    return out


def flip_sign_first_n(e, mask, dims, strength=None, generator=None):
    """Negate the first ``dims`` dimensions of the selected positions."""
    out = e.clone()
    sel = out[mask]
    sel[:, :dims] = -sel[:, :dims]
    out[mask] = sel
    return out


def flip_sign_top_k(e, mask, dims, strength=None, generator=None):
    """Negate the ``dims`` largest-magnitude dimensions of each selected position."""
    out = e.clone()
    sel = out[mask]
    out[mask] = torch.where(_top_k(sel, dims), -sel, sel)
    return out


def sub_value_top_k(e, mask, dims, strength, generator=None):
    """Subtract ``strength`` from the ``dims`` largest (signed) dimensions of each selected position."""
    out = e.clone()
    sel = out[mask]
    out[mask] = sel - strength * _top_k(sel, dims, absolute=False)
    return out


def add_value_least_k(e, mask, dims, strength, generator=None):
    """Add ``strength`` to the ``dims`` smallest (signed) dimensions of each selected position."""
    out = e.clone()
    sel = out[mask]
    out[mask] = sel + strength * _top_k(sel, dims, largest=False, absolute=False)
    return out


def sub_value_first_n(e, mask, dims, strength, generator=None):
    """Subtract ``strength`` from the first ``dims`` dimensions of the selected positions."""
    out = e.clone()
    sel = out[mask]
    sel[:, :dims] -= strength
    out[mask] = sel
    return out


def add_value_first_n(e, mask, dims, strength, generator=None):
    """Add ``strength`` to the first ``dims`` dimensions of the selected positions."""
    return sub_value_first_n(e, mask, dims, -strength, generator)


def set_rand_noise_first_n(e, mask, dims, strength, generator=None):
    """Replace the first ``dims`` dimensions of the selected positions by N(0, strength²). (The official function
    also overwrites the unselected positions' first dimensions with zeros; here they are left alone.)"""
    out = e.clone()
    sel = out[mask]
    sel[:, :dims] = _noise((sel.shape[0], dims), strength, generator, sel)
    out[mask] = sel
    return out


def zero_out_first_n(e, mask, dims, strength=None, generator=None):
    """Zero the first ``dims`` dimensions of the selected positions."""
    out = e.clone()
    sel = out[mask]
    sel[:, :dims] = 0.0
    out[mask] = sel
    return out


def _permute_rows(e, mask, order_fn):
    out = e.clone()
    for b in range(e.shape[0]):
        pos = mask[b].nonzero().flatten()
        if len(pos) > 1:
            out[b, pos] = e[b, pos[order_fn(len(pos))]]
    return out


def reverse_order(e, mask, dims=None, strength=None, generator=None):
    """Reverse the order of the selected positions (flagged rows only)."""
    return _permute_rows(e, mask, lambda n: torch.arange(n - 1, -1, -1))


def shuffle(e, mask, dims=None, strength=None, generator=None):
    """Shuffle the selected positions (flagged rows only)."""
    return _permute_rows(e, mask, lambda n: torch.randperm(n, generator=generator))


CORRUPTIONS: dict[str, Callable[..., torch.Tensor]] = {
    f.__name__: f
    for f in (rand_noise_first_n, rand_noise_rand_n, rand_noise_top_k, zero_out_top_k, flip_sign_first_n, flip_sign_top_k, sub_value_top_k,
              add_value_least_k, sub_value_first_n, add_value_first_n, set_rand_noise_first_n, zero_out_first_n, reverse_order, shuffle)
}
"""Name -> ``f(embeddings (B, L, D), positions (B, L) bool, dims, strength, generator) -> (B, L, D)`` (a new tensor;
positions outside the mask are returned unchanged)."""


def corrupt(embeddings: torch.Tensor, positions: torch.Tensor, method: str, dims: int, strength: float | None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the corruption ``method`` to ``embeddings`` at ``positions``.

    Shape:
        embeddings: (B, L, D). positions: (B, L) bool. Output: (B, L, D).
    """
    if method not in CORRUPTIONS:
        raise ValueError(f"corrupt_method: expected one of {sorted(CORRUPTIONS)}, received {method!r}")
    if positions.shape != embeddings.shape[:2]:
        raise ValueError(f"positions: expected a (B, L) = {tuple(embeddings.shape[:2])} mask, received {tuple(positions.shape)}")
    if not bool(positions.any()):
        return embeddings
    return CORRUPTIONS[method](embeddings, positions.bool(), min(dims, embeddings.shape[-1]), strength, generator)


# ---------------------------------------------------------------------------------- the served model
def selected_positions(attention_mask: torch.Tensor, flagged: torch.Tensor) -> torch.Tensor:
    """ECO's corruption pattern without a token classifier: every real position of a flagged row but its last.

    Shape:
        attention_mask: (B, L) (left or right padded). flagged: (B,) bool. Output: (B, L) bool.
    """
    mask = attention_mask.bool()
    last = mask.shape[1] - 1 - mask.flip(1).int().argmax(1)  # the last real position of each row
    keep = mask.clone()
    keep[torch.arange(mask.shape[0], device=mask.device), last] = False
    return keep & flagged[:, None].to(mask.device)


class ECOModel(nn.Module):
    """A causal LM whose flagged prompts are read with corrupted embeddings.

    Args:
        base: any transformers causal LM (its weights are not changed).
        tokenizer: decodes the ids the classifier reads.
        classifier: a :class:`~zoo.unlearning.llm.prompt_classifier.PromptClassifier`.
        corrupt_method: one of :data:`CORRUPTIONS` (``"rand_noise_first_n"``).
        dims: dimensions corrupted (1, the TOFU grid's smallest).
        strength: σ.
        threshold: the classifier threshold (0.5).
        prompt_marker: the classifier reads each sequence up to this marker (the zoo's prompt ends ``"\\nAnswer:"``);
            None: the whole sequence.
        seed: the noise generator's seed (re-seeded on every call).
    """

    def __init__(self, base: nn.Module, tokenizer, classifier: PromptClassifier, corrupt_method: str = "rand_noise_first_n", dims: int = 1, strength: float = 1.0,
                 threshold: float = 0.5, prompt_marker: str | None = "\nAnswer:", seed: int = 0) -> None:
        super().__init__()
        if corrupt_method not in CORRUPTIONS:
            raise ValueError(f"corrupt_method: expected one of {sorted(CORRUPTIONS)}, received {corrupt_method!r}")
        self.base, self.classifier, self.tokenizer = base, classifier, tokenizer
        self.corrupt_method, self.dims, self.strength, self.threshold = corrupt_method, dims, strength, threshold
        self.prompt_marker, self.seed = prompt_marker, seed
        self.config = base.config
        self.last_flags: torch.Tensor | None = None

    def flags(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Bool (B,): which rows' prompts the classifier puts in the forget scope."""
        return flag_sequences(self.classifier, self.tokenizer, input_ids, attention_mask, self.threshold, self.prompt_marker)

    @contextlib.contextmanager
    def corrupted(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None):
        """A forward hook on the input embeddings that corrupts the flagged rows' pre-fill (calls with L > 1)."""
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        flagged = self.flags(input_ids, mask)
        self.last_flags = flagged
        positions = selected_positions(mask, flagged)
        generator = torch.Generator().manual_seed(self.seed)

        def hook(module, args, output):
            if output.shape[1] != positions.shape[1] or output.shape[1] < 2 or output.shape[0] % positions.shape[0]:
                return output  # a cached decoding step
            pos = positions.repeat_interleave(output.shape[0] // positions.shape[0], 0)  # beams / returned sequences
            return corrupt(output, pos, self.corrupt_method, self.dims, self.strength, generator)

        handle = self.base.get_input_embeddings().register_forward_hook(hook)
        try:
            yield flagged
        finally:
            handle.remove()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        """The base model's output on the (corrupted where flagged) sequences."""
        with self.corrupted(input_ids, attention_mask):
            return self.base(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """The base model's ``generate`` with the flagged prompts corrupted (the prompt ids are returned first, as
        transformers does)."""
        with self.corrupted(input_ids, attention_mask):
            return self.base.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


# ---------------------------------------------------------------------------------- offline tuning of σ
class ZerothOrderScalar:
    """ECO's ``ZerothOrderOptimizerScalar``: a two-point zeroth-order step on a scalar σ.

    Args:
        lr: step size (1e2 in the official script).
        eps: the finite-difference half-width (0.999 σ₀ there).
        value: σ₀.
        minimum: the lower clamp σ_min (σ₀ there).
    """

    def __init__(self, lr: float, eps: float, value: float, minimum: float) -> None:
        self.lr, self.eps, self.value, self.minimum = lr, eps, value, minimum

    def step(self, score: Callable[[float], float]) -> dict[str, float]:
        """One update; returns ``{"value", "forward", "backward", "grad"}`` (σ after the step, the two scores, ĝ)."""
        forward, backward = score(self.value + self.eps), score(max(self.value - self.eps, 1e-8))
        grad = (forward - backward) / (2 * self.eps)
        self.value = max(self.value - self.lr * grad, self.minimum)
        return {"value": self.value, "forward": forward, "backward": backward, "grad": grad}


def forget_gap(model: nn.Module, forget, target: float) -> float:
    """``|mean_i exp(-avg answer NLL_i) - target|`` of ``model`` on ``forget`` (ECO's tuning score)."""
    from zoo.unlearning.llm.evaluate import answer_statistics

    probs = np.exp(-np.array([r["avg_loss"] for r in answer_statistics(model, forget)]))
    return float(abs(probs.mean() - target))


@register("eco")
class ECO(LMUnlearner):
    """Embedding-corrupted prompts; :meth:`run` returns an :class:`ECOModel` (the LM's weights are untouched).

    Args:
        corrupt_method: one of :data:`CORRUPTIONS` (``"rand_noise_first_n"``).
        dims: corrupted dimensions (1).
        strength: σ₀, where the zeroth-order search starts and its lower clamp (0.1, the official script's).
        zo_steps: zeroth-order steps (10; 0 keeps σ₀).
        zo_lr: their step size (1e2).
        zo_eps: the finite-difference half-width (None: 0.999 σ₀).
        stop_below: stop when the score is below this (0.0: never early).
        target_prob: the forget set's target mean answer probability; None: the original model's on ``holdout``, else 0.
        holdout: items (or a dataset) never trained on, whose probability is the target (TOFU's holdout authors).
        threshold: the classifier threshold (0.5).
        classifier_epochs, classifier_lr: training of the prompt classifier (30, 1e-3).
        classifier: a trained :class:`PromptClassifier` to use instead of training one (GUARD shares it).
        prompt_marker: where the prompt ends in a decoded sequence (``"\\nAnswer:"``).
        seed: the noise and classifier seed.
    """

    needs_retain = True

    def __init__(self, corrupt_method: str = "rand_noise_first_n", dims: int = 1, strength: float = 0.1, zo_steps: int = 10, zo_lr: float = 1e2, zo_eps: float | None = None,
                 stop_below: float = 0.0, target_prob: float | None = None, holdout: Any = None, threshold: float = 0.5, classifier_epochs: int = 30, classifier_lr: float = 1e-3,
                 classifier: PromptClassifier | None = None, prompt_marker: str | None = "\nAnswer:", seed: int = 0, **kwargs) -> None:
        super().__init__(seed=seed, **kwargs)
        if corrupt_method not in CORRUPTIONS:
            raise ValueError(f"corrupt_method: expected one of {sorted(CORRUPTIONS)}, received {corrupt_method!r}")
        if not strength > 0:
            raise ValueError(f"strength: expected σ₀ > 0, received {strength!r}")
        self.corrupt_method, self.dims, self.strength = corrupt_method, dims, strength
        self.zo_steps, self.zo_lr, self.zo_eps, self.stop_below = zo_steps, zo_lr, zo_eps, stop_below
        self.target_prob, self.holdout, self.threshold = target_prob, holdout, threshold
        self.classifier_epochs, self.classifier_lr, self.classifier = classifier_epochs, classifier_lr, classifier
        self.prompt_marker = prompt_marker
        self.history: list[dict[str, float]] = []

    def target(self, model: nn.Module, tokenizer) -> float:
        """The tuning target: :attr:`target_prob`, else the original model's mean answer probability on the holdout."""
        if self.target_prob is not None:
            return float(self.target_prob)
        if self.holdout is None:
            return 0.0
        from zoo.unlearning.llm.data import as_qa_dataset
        from zoo.unlearning.llm.evaluate import answer_statistics

        rows = answer_statistics(model, as_qa_dataset(self.holdout, tokenizer, "holdout"))
        return float(np.mean(np.exp(-np.array([r["avg_loss"] for r in rows]))))

    def run(self, model: nn.Module, forget, retain) -> ECOModel:
        tokenizer = dataset_tokenizer(forget)
        model = model.eval().requires_grad_(False)
        classifier = self.classifier or scope_classifier(tokenizer, forget, retain, epochs=self.classifier_epochs, lr=self.classifier_lr, seed=self.seed)
        served = ECOModel(model, tokenizer, classifier, self.corrupt_method, self.dims, self.strength, self.threshold, self.prompt_marker, self.seed)
        target = self.target(model, tokenizer)
        served.tuning_target = target

        def score(sigma: float) -> float:
            served.strength = sigma
            return forget_gap(served, forget, target)

        opt = ZerothOrderScalar(self.zo_lr, self.zo_eps if self.zo_eps is not None else 0.999 * self.strength, self.strength, self.strength)
        self.history = []
        for step in trange(self.zo_steps, "eco strength", unit="step"):
            out = opt.step(score)
            self.history.append({"step": step, **out})
            if out["forward"] < self.stop_below:
                break
        served.strength = opt.value
        served.tuning_history = list(self.history)
        served.flagged_forget = float(classifier.predict(example_prompts(forget, tokenizer), self.threshold).float().mean())
        return served
