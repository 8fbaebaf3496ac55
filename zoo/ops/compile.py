"""Lazy torch.compile: build the compiled function on first call, so importing zoo never compiles."""

from __future__ import annotations

import functools
from typing import Callable

import torch


def lazy_compile(fn: Callable, **compile_kwargs) -> Callable:
    """Return a wrapper that compiles ``fn`` with ``torch.compile(**compile_kwargs)`` on its first call.

    Inductor emits C++ on CPU and Triton on CUDA; the wrapper itself is device-agnostic.
    """
    compiled: list[Callable] = []

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not compiled:
            compiled.append(torch.compile(fn, **compile_kwargs))
        return compiled[0](*args, **kwargs)

    wrapper.eager = fn  # type: ignore[attr-defined]
    return wrapper
