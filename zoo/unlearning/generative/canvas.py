"""UnlearnCanvas in small: style and object unlearning on the stylised digits, with the benchmark's metrics.

UnlearnCanvas (Zhang et al., NeurIPS 2024 D&B; ``OPTML-Group/UnlearnCanvas``) fine-tunes a text-to-image model on
styles x objects, erases one style or one object with a method, and scores the *answer set*: every
(style, object) prompt under fixed seeds (188, 288, 588, 688, 888), judged by a style classifier and an object
classifier. Its seven metrics, as they apply here:

- **UA** (unlearning accuracy): 1 - accuracy of the target's own classifier on the images of the target's prompts;
- **IRA** (in-domain retainability): mean accuracy of that classifier over the other classes of the same domain;
- **CRA** (cross-domain retainability): mean accuracy of the other domain's classifier over all its classes (all
  images, as the official ``accuracy.py`` averages them);
- **FID** (here also KID) of the answer set without the target's prompts against the real stylised test digits of
  the same classes, with the feature network trained here (the digit/style classifier's pooled features: not
  Inception, not comparable with published FID);
- **run time**, **memory** (peak CUDA memory, or the peak resident-set growth on CPU, above the start) and **storage** (the
  bytes of the parameters the method changed) of the unlearning.

:func:`run_canvas` runs any concept-erasure method of the family (``doco``, ``concept_ablation``) on a
text-conditioned model whose prompts are :func:`zoo.data.stylized_digits.caption`; :func:`accuracy_metrics` is the
metric arithmetic. The real dataset is read by :func:`zoo.data.stylized_digits.read_unlearncanvas`.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any, Callable, Iterable, Sequence

import torch

from zoo.unlearning.generative.base import Diffusion, as_diffusion, ddim_sample, sample_images, to_unit

SEEDS = (188, 288, 588, 688, 888)
"""The official answer-set seeds."""


def accuracy_metrics(records: Sequence[dict[str, int]], kind: str, target: int) -> dict[str, float]:
    """UA, IRA and CRA from per-image prompts and predictions.

    Args:
        records: per image ``{"style", "object", "pred_style", "pred_object"}`` (prompted and predicted classes).
        kind: ``"style"`` or ``"object"``: the target's domain.
        target: the erased class of that domain.

    Returns:
        ``{"UA", "IRA", "CRA"}`` in [0, 1].
    """
    if kind not in ("style", "object"):
        raise ValueError(f"kind: expected 'style' or 'object', received {kind!r}")
    other = "object" if kind == "style" else "style"

    def per_class(domain: str) -> dict[int, float]:
        classes = sorted({r[domain] for r in records})
        return {c: sum(r[f"pred_{domain}"] == c for r in records if r[domain] == c) / sum(r[domain] == c for r in records) for c in classes}

    own, cross = per_class(kind), per_class(other)
    if target not in own:
        raise ValueError(f"target: expected a {kind} among the prompted ones {sorted(own)}, received {target}")
    rest = [v for c, v in own.items() if c != target]
    return {"UA": 1.0 - own[target], "IRA": sum(rest) / len(rest) if rest else float("nan"), "CRA": sum(cross.values()) / len(cross)}


def prompts_for(styles: Sequence[str], digits: Sequence[int], variant: int = 0) -> list[tuple[str, int, int]]:
    """``(caption, style index into STYLES, digit)`` for every (style, digit) pair."""
    from zoo.data.stylized_digits import STYLES, caption

    return [(caption(d, s, variant), STYLES.index(s), d) for s in styles for d in digits]


def answer_set(
    diffusion: Diffusion, styles: Sequence[str], digits: Sequence[int], seeds: Sequence[int] = SEEDS, per_prompt: int = 1,
    steps: int = 20, guidance_scale: float | None = None, unet=None, variant: int = 0, sampler: str = "ddim",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images of every (style, digit) prompt under each seed: ``(images [-1, 1], style ids, digit ids)``; ``sampler``
    as :func:`~zoo.unlearning.generative.base.sample_images` (``"model"``: the zoo model's own; not with ``unet``)."""
    table = prompts_for(styles, digits, variant)
    prompts = [p for p, _, _ in table for _ in range(per_prompt)]
    if unet is not None and sampler != "ddim":
        raise ValueError(f"sampler: expected 'ddim' with an explicit unet, received {sampler!r}")
    images = [ddim_sample(diffusion, prompts, steps=steps, seed=seed, guidance_scale=guidance_scale, unet=unet) if unet is not None
              else sample_images(diffusion, prompts, steps=steps, seed=seed, guidance_scale=guidance_scale, sampler=sampler) for seed in seeds]
    style_ids = torch.tensor([s for _, s, _ in table for _ in range(per_prompt)]).repeat(len(seeds))
    digit_ids = torch.tensor([d for _, _, d in table for _ in range(per_prompt)]).repeat(len(seeds))
    return torch.cat(images), style_ids, digit_ids


@torch.no_grad()
def classify(images: torch.Tensor, classifier: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted digits, predicted styles) of [-1, 1] images by a two-head classifier ``x -> (digit logits, style logits)``."""
    digits, styles = [], []
    for chunk in images.split(batch_size):
        d, s = classifier(to_unit(chunk))
        digits.append(d.argmax(-1).cpu())
        styles.append(s.argmax(-1).cpu())
    return torch.cat(digits), torch.cat(styles)


def changed_bytes(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> int:
    """Storage of an unlearned model: the bytes of the tensors that differ from the original's."""
    return sum(v.numel() * v.element_size() for k, v in after.items() if k in before and not torch.equal(before[k].to(v.device), v))


class _PeakMemory:
    """Peak memory above the start while the block runs: CUDA's peak allocation, or on CPU the process's resident set
    sampled every 20 ms (``/proc/self/statm``; ``ru_maxrss`` growth where there is no ``/proc``)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak_mb = device, 0.0

    @staticmethod
    def _rss_mb() -> float:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * resource.getpagesize() / 2**20
        except OSError:
            scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20

    def __enter__(self) -> "_PeakMemory":
        import threading

        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device) / 2**20
            return self
        self.start, self.top, self.done = self._rss_mb(), 0.0, threading.Event()

        def watch() -> None:
            while not self.done.wait(0.02):
                self.top = max(self.top, self._rss_mb())

        self.thread = threading.Thread(target=watch, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.device.type == "cuda":
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20 - self.start
            return
        self.done.set()
        self.thread.join()
        self.peak_mb = max(self.top, self._rss_mb()) - self.start


def erase(model: Any, method: str, kind: str, target: int, anchor: int, styles: Sequence[str], digits: Sequence[int],
          forget_variants: Iterable[int] = (0,), **hparams: Any) -> tuple[Any, dict[str, float]]:
    """Erase a style (``kind="style"``, ``target``/``anchor``: indices into STYLES) or a digit with ``method``.

    The forget prompts are the captions (template variants ``forget_variants``) with the target; each is paired with
    the same caption with the anchor in its place; the retain prompts are the other captions of template 0.

    Returns:
        (the unlearned model, ``{"time_s", "memory_mb", "storage_mb"}``).
    """
    from zoo.data.stylized_digits import STYLES, caption
    from zoo.unlearning.generative import family

    if kind not in ("style", "object"):
        raise ValueError(f"kind: expected 'style' or 'object', received {kind!r}")
    pairs = []
    for v in forget_variants:
        for s in styles:
            for d in digits:
                if kind == "style" and STYLES.index(s) == target:
                    pairs.append((caption(d, s, v), caption(d, STYLES[anchor], v)))
                if kind == "object" and d == target:
                    pairs.append((caption(d, s, v), caption(anchor, s, v)))
    if not pairs:
        raise ValueError(f"target: expected a {kind} among the selected ones, received {target}")
    keep = [p for p, s, d in prompts_for(styles, digits) if (s if kind == "style" else d) != target]
    diffusion = as_diffusion(model)
    before = {k: v.detach().clone() for k, v in diffusion.unet.state_dict().items()}
    with _PeakMemory(next(diffusion.unet.parameters()).device) as memory:
        start = time.perf_counter()
        unlearned = family.unlearn(model, method, forget=[f for f, _ in pairs], retain=keep, anchor=[a for _, a in pairs], **hparams)
        elapsed = time.perf_counter() - start
    after = as_diffusion(unlearned).unet.state_dict()
    return unlearned, {"time_s": elapsed, "memory_mb": memory.peak_mb, "storage_mb": changed_bytes(before, after) / 2**20}


def evaluate(
    model: Any, classifier: Callable, features, kind: str, target: int, styles: Sequence[str], digits: Sequence[int],
    seeds: Sequence[int] = SEEDS, per_prompt: int = 1, steps: int = 20, guidance_scale: float | None = None, real: tuple | None = None,
    sampler: str = "ddim",
) -> dict[str, float]:
    """UA, IRA, CRA and FID / KID (without the target's prompts) of ``model``'s answer set.

    Args:
        model: the (unlearned) text-conditioned diffusion model.
        classifier: ``[0, 1] images -> (digit logits, style logits)``.
        features: a :class:`zoo.metrics.fid.FeatureNetwork`.
        real: ``(images [0, 1], digits, styles)`` of the real stylised digits (default: the test split).
        sampler: ``"ddim"`` or ``"model"`` (the model's own sampler), as :func:`answer_set`.
    """
    from zoo.metrics.fid import fid_kid

    diffusion = as_diffusion(model)
    images, style_ids, digit_ids = answer_set(diffusion, styles, digits, seeds, per_prompt, steps, guidance_scale, sampler=sampler)
    pred_digit, pred_style = classify(images, classifier)
    records = [{"style": int(s), "object": int(d), "pred_style": int(ps), "pred_object": int(pd)} for s, d, ps, pd in zip(style_ids, digit_ids, pred_style, pred_digit)]
    out = accuracy_metrics(records, kind, target)
    if real is None:
        from zoo.data.stylized_digits import StylizedDigits

        real = StylizedDigits("test", styles, digits).tensors()
    real_x, real_d, real_s = real
    keep_fake = (style_ids if kind == "style" else digit_ids) != target
    keep_real = (real_s if kind == "style" else real_d) != target
    fake = to_unit(images[keep_fake])
    fake = fake.expand(-1, 3, -1, -1) if fake.shape[1] == 1 else fake
    out.update(fid_kid(real_x[keep_real][: 4 * len(fake)], fake, features))
    return out
