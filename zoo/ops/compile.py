"""torch.compile helpers: lazy compilation (importing zoo never compiles) and compilation for inference."""

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


def compile_for_inference(fn: Callable, **compile_kwargs) -> Callable:
    """``torch.compile`` with Inductor's freezing: parameters become constants folded into the graph (on CPU,
    convolution weights are pre-packed for oneDNN once instead of at every call).

    Only for inference: call the result under ``torch.no_grad()``, after the weights are final (later changes to
    them are not seen).
    """
    options = {"freezing": True, **compile_kwargs.pop("options", {})}
    return torch.compile(fn, options=options, **compile_kwargs)
