"""The cache of retrained references: one network per key, trained once, shared by every unlearning family.

An entry is a folder ``<root>/<key>`` holding ``model.safetensors`` and ``meta.json`` (the split's fingerprint, the
seconds its training took, the settings). It is written atomically under a file lock, so that concurrent runs wait for
each other instead of all retraining, and an entry that fails to read is removed and rebuilt.

    >>> net, seconds = cached_network(cache_dir() / "llm", entry_key(fingerprint, net, settings), fingerprint, net, train)
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn


def cache_dir() -> Path:
    """Where retrained references are cached: ``$ZOO_CACHE/unlearning`` (default ``~/.cache/zoo/unlearning``)."""
    return Path(os.environ.get("ZOO_CACHE", Path.home() / ".cache" / "zoo")) / "unlearning"


def architecture_key(net: nn.Module) -> str:
    """The class and every tensor's name and shape: two networks with the same key load each other's weights."""
    shapes = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
    return f"{type(net).__qualname__}:{shapes}"


def entry_key(fingerprint: str, net: nn.Module, *settings: Any) -> str:
    """The entry name of the reference for the data ``fingerprint``, ``net``'s architecture and ``settings``."""
    return hashlib.sha256(json.dumps([fingerprint, architecture_key(net), *settings], default=str).encode()).hexdigest()[:20]


def read_entry(folder: Path, net: nn.Module, fingerprint: str) -> tuple[nn.Module, float] | None:
    """The cached reference in ``folder`` loaded into a copy of ``net``, or None when there is no usable entry.

    An entry that fails to read (truncated safetensors, bad JSON, a missing file, other weights or another split)
    is removed, so that the caller rebuilds it.

    Returns:
        The retrained network (eval mode) and the seconds its training took, or None.
    """
    if not folder.exists():
        return None
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("split") != fingerprint:
            raise ValueError(f"meta.json names split {meta.get('split')!r}, expected {fingerprint!r}")
        retrained = copy.deepcopy(net)
        retrained.load_state_dict(load_file(str(folder / "model.safetensors")))
        return retrained.eval(), float(meta["seconds"])
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
        warnings.warn(f"{folder}: corrupt retrain cache entry ({type(error).__name__}: {error}); retraining", stacklevel=3)
        shutil.rmtree(folder, ignore_errors=True)
        return None


def write_entry(folder: Path, net: nn.Module, meta: dict[str, Any]) -> None:
    """Write ``net``'s weights and ``meta`` as the cache entry ``folder``, all at once.

    Both files go to a temporary directory next to ``folder`` that is then renamed onto it: a run killed on the
    way leaves only a ``.<key>.*`` directory, which the next writer removes (the caller holds the entry's lock).
    """
    for stale in folder.parent.glob(f".{folder.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, str(staging / "model.safetensors"))
    (staging / "meta.json").write_text(json.dumps(meta, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)


def cached_network(root: Path, key: str, fingerprint: str, net: nn.Module, train: Callable[[], Any], settings: Any = None) -> tuple[nn.Module, float]:
    """The network ``train()`` returns, computed once per ``key`` under ``root`` and read back afterwards.

    Args:
        root: the cache folder of the family.
        key: the entry's name (:func:`entry_key`).
        fingerprint: what identifies the retain data; an entry of another fingerprint is rebuilt.
        net: a network of the reference's architecture (its weights are not used; cached ones load into a copy).
        train: trains the reference and returns its network, or ``(network, seconds)`` when it measures its own time
            (a resumed run knows the time it trained).
        settings: recorded in ``meta.json`` as ``hparams``.

    Returns:
        The retrained network (eval mode) and the seconds its training took.
    """
    root.mkdir(parents=True, exist_ok=True)
    folder = root / key
    with FileLock(str(root / f"{key}.lock")):
        cached = read_entry(folder, net, fingerprint)
        if cached is not None:
            return cached
        start = time.perf_counter()
        retrained = train()
        seconds = time.perf_counter() - start
        if isinstance(retrained, tuple):
            retrained, seconds = retrained
        write_entry(folder, retrained, {"seconds": seconds, "split": fingerprint, "hparams": settings})
    return retrained.eval(), seconds
