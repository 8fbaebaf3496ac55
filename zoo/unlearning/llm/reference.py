"""The retrained reference of LM unlearning (the model trained without the forget set), computed once and cached.

Like the classifier protocol's (:func:`zoo.unlearning.api.retrained_reference`), an entry lives in
``$ZOO_CACHE/unlearning/llm/<key>`` (``model.safetensors`` + ``meta.json``), keyed by the split, the architecture and
the training settings, written atomically under a file lock, and rebuilt when corrupt.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from zoo.unlearning.cache import cache_dir, cached_network, entry_key


def retrained_reference(net: nn.Module, fingerprint: str, train: Callable[[], nn.Module], settings: dict[str, Any], cache: Path | None = None) -> tuple[nn.Module, float]:
    """The network ``train()`` returns, trained once per (``fingerprint``, architecture, ``settings``) and cached.

    Args:
        net: a network of the reference's architecture (its weights are not used; the cached ones load into a copy).
        fingerprint: what identifies the retain data (e.g. ``"tofu-synthetic:40:0:forget10"``).
        train: trains the reference from scratch on the retain data and returns its network, or ``(network,
            seconds)`` when it measures its own training time (a resumed or restored run knows the time it trained).
        settings: the training settings (recipe, steps, seed): part of the key.
        cache: the cache folder (default ``zoo.unlearning.cache.cache_dir() / "llm"``).

    Returns:
        The retrained network (eval mode) and the seconds its training took.
    """
    key = entry_key(fingerprint, net, sorted(settings.items()))
    return cached_network(cache or cache_dir() / "llm", key, fingerprint, net, train, settings)
