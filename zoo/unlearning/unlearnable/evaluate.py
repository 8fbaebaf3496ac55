"""Does protection work? Train a victim on protected data, or on a mix of protected and clean data, and measure it on
clean held-out data (what ``tools/unlearnable_examples.py`` tabulates).

- :func:`mix_protected`: replace a share of the training set by its protected version (the paper's mixed setting).
- :func:`classifier_row`: test accuracy of a fresh classifier trained on a mix, and the Bayes-error estimate in its
  features.
- :func:`train_dual_encoder` / :func:`retrieval_row`: the same for a CLIP-style dual encoder (T2UE), recall@k on a
  clean gallery.
"""

from __future__ import annotations

import time

import torch

from zoo.unlearning.unlearnable.bayes_error import feature_bayes_error
from zoo.unlearning.unlearnable.training import accuracy, progress_enabled, train_classifier


def mix_protected(clean: torch.Tensor, protected: torch.Tensor, ratio: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A training set in which a random ``ratio`` share of the items is protected and the rest clean.

    Args:
        clean: the clean items.
        protected: the same items protected (same order).
        ratio: the protected share in [0, 1].
        seed: seed of which items are protected.

    Returns:
        ``(mixed items, bool mask of the protected ones)``.

    Shape:
        - clean, protected: (N, ...); outputs: (N, ...) and (N,).
    """
    if clean.shape != protected.shape:
        raise ValueError(f"clean, protected: expected one shape, received {tuple(clean.shape)} and {tuple(protected.shape)}")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio: expected a share in [0, 1], received {ratio}")
    mask = torch.zeros(len(clean), dtype=torch.bool)
    mask[torch.randperm(len(clean), generator=torch.Generator().manual_seed(seed))[: round(ratio * len(clean))]] = True
    mask = mask.to(clean.device)
    return torch.where(mask.view(-1, *[1] * (clean.ndim - 1)), protected, clean), mask


def classifier_row(clean: torch.Tensor, protected: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor, test_labels: torch.Tensor,
                   ratio: float, *, epochs: int = 8, seed: int = 0) -> dict[str, float]:
    """Train a fresh victim on a mix and measure it.

    Returns:
        ``{"test_accuracy", "train_accuracy"`` (on its own training mix)``, "bayes_error"`` (the estimate of
        :func:`~zoo.unlearning.unlearnable.bayes_error.feature_bayes_error` on its training mix, in its own features)``,
        "seconds"}``.
    """
    mixed, _ = mix_protected(clean, protected, ratio, seed)
    start = time.perf_counter()
    victim = train_classifier(mixed, labels, epochs=epochs, seed=seed, progress=False)
    with torch.no_grad():
        estimate = float(feature_bayes_error(victim.features, mixed, labels))
    return {"test_accuracy": accuracy(victim, test_images, test_labels), "train_accuracy": accuracy(victim, mixed, labels),
            "bayes_error": estimate, "seconds": time.perf_counter() - start}


def train_dual_encoder(images: torch.Tensor, texts: list[str], *, config: dict | None = None, steps: int = 150, batch_size: int = 128,
                       lr: float = 1e-3, warmup_steps: int = 20, seed: int = 0, progress: bool | None = None):
    """Train a fresh ``digit_clip`` dual encoder (symmetric InfoNCE, AdamW, warm-up + cosine) on image-text pairs.

    Args:
        images: the pairs' images in [0, 1].
        texts: their captions.
        config: ``DigitCLIPConfig`` fields (default: the shipped tiny architecture).
        steps, batch_size, lr, warmup_steps: the schedule.
        seed: seed of the initialisation and the batches.
        progress: show a tqdm bar (default: when stderr is a terminal).

    Returns:
        The trained ``DigitCLIP`` module (eval mode).
    """
    import zoo
    from zoo.core.progress import trange
    from zoo.models.digit_clip.specs import TINY

    torch.manual_seed(seed)
    model = zoo.create("digit_clip_tiny", **{**TINY, **(config or {}), "lr": lr, "warmup_steps": warmup_steps, "max_steps": steps}).train()
    optimizer = model.configure_optimizers()
    optimizer, schedule = optimizer["optimizer"], optimizer["lr_scheduler"]["scheduler"]
    gen = torch.Generator().manual_seed(seed)
    order, cursor = torch.randperm(len(images), generator=gen), 0
    for _ in trange(steps, "dual encoder", unit="step", enabled=progress_enabled(progress)):
        if cursor + batch_size > len(images):
            order, cursor = torch.randperm(len(images), generator=gen), 0
        index = order[cursor : cursor + batch_size]
        cursor += batch_size
        loss = model.loss(images[index], [texts[i] for i in index.tolist()])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


def retrieval_row(clean: torch.Tensor, protected: torch.Tensor, texts: list[str], gallery: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                  ratio: float, *, steps: int = 150, seed: int = 0) -> dict[str, float]:
    """Train a fresh dual encoder on a mix of protected and clean pairs; recall@1/5 both ways on a clean gallery.

    Args:
        clean, protected: the pairs' images, clean and protected.
        texts: their captions.
        gallery: ``(images, token ids, concepts)`` of the held-out pairs.
        ratio: the protected share.
        steps: the victim's training steps.
        seed: seed of the mix and the victim.

    Returns:
        ``{"i2t_recall@1", "i2t_recall@5", "t2i_recall@1", "t2i_recall@5", "seconds"}``.
    """
    from zoo.models.digit_clip.module import retrieval_recall

    mixed, _ = mix_protected(clean, protected, ratio, seed)
    start = time.perf_counter()
    victim = train_dual_encoder(mixed, texts, steps=steps, seed=seed, progress=False)
    return {**retrieval_recall(victim.net, *gallery), "seconds": time.perf_counter() - start}
