"""torch.compile helpers: compiled twins that must earn their place, and compilation for inference.

A compiled op or network is not always faster than eager on CPU: Inductor decomposes ``grid_sample`` into gathers,
re-lays out tiny convolutions, and a call on a few small tensors is dominated by the compiled graph's guards and
launch. So :func:`lazy_compile` and :func:`faster_of` time both candidates on the caller's own shapes, alternating
calls, and keep the compiled one only where the median per-round ratio says it wins.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch

MARGIN = 1.05
"""The compiled candidate is kept only when it is at least this much faster than eager (median per-round ratio)."""

ROUNDS = 5
"""Alternating timed rounds (after one warm-up call each) behind each choice."""


def _signature(args: tuple, kwargs: dict) -> tuple:
    """What a choice depends on: the tensors' shapes, dtypes, devices and gradient flags, and the grad mode."""

    def key(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return ("T", tuple(value.shape), value.dtype, value.device.type, value.requires_grad)
        if isinstance(value, (tuple, list)):
            return tuple(key(v) for v in value)
        return type(value).__name__

    return (key(args), tuple((k, key(v)) for k, v in sorted(kwargs.items())), torch.is_grad_enabled())


def per_round_ratio(baseline: Callable[[], Any], candidate: Callable[[], Any], rounds: int = ROUNDS) -> float:
    """Median over ``rounds`` alternating rounds of ``time(baseline) / time(candidate)`` (>1: the candidate is faster).

    Both are called once first (warm-up, compilation); CUDA work is synchronised around each call.
    """
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    baseline(), candidate()
    ratios = []
    for _ in range(rounds):
        seconds = []
        for fn in (baseline, candidate):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            seconds.append(time.perf_counter() - start)
        ratios.append(seconds[0] / max(seconds[1], 1e-12))
    return statistics.median(ratios)


def faster_of(eager: Callable, compiled: Callable, args: tuple, kwargs: dict | None = None, margin: float = MARGIN) -> tuple[Callable, str, float]:
    """Time ``eager`` and ``compiled`` on ``args`` and return the one to keep.

    Returns:
        ``(callable, "compiled" or "eager", per-round ratio eager / compiled)``.
    """
    kwargs = kwargs or {}
    ratio = per_round_ratio(lambda: eager(*args, **kwargs), lambda: compiled(*args, **kwargs))
    return (compiled, "compiled", ratio) if ratio >= margin else (eager, "eager", ratio)


def choices_path() -> Path:
    """Where twins keep their choices between processes: ``$ZOO_CACHE/twin_choices.json`` (default ``~/.cache/zoo``)."""
    return Path(os.environ.get("ZOO_CACHE", Path.home() / ".cache" / "zoo")) / "twin_choices.json"


def _choice_id(fn: Callable, key: tuple) -> str:
    """A choice holds for one op, input signature, thread count and torch version on this machine."""
    return f"{fn.__module__}.{fn.__qualname__}|{key!r}|threads={torch.get_num_threads()}|torch={torch.__version__}"


def stored_choice(fn: Callable, key: tuple) -> tuple[str, float] | None:
    """The choice an earlier process made for ``fn`` at signature ``key`` (see :func:`lazy_compile`), or None."""
    try:
        entry = json.loads(choices_path().read_text()).get(_choice_id(fn, key))
    except (OSError, ValueError):
        return None
    return (entry[0], float(entry[1])) if entry else None


def store_choice(fn: Callable, key: tuple, name: str, ratio: float) -> None:
    """Record a choice for later processes (atomic replace; a concurrent writer may win, which only costs a re-timing)."""
    path = choices_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        table = json.loads(path.read_text()) if path.is_file() else {}
        table[_choice_id(fn, key)] = [name, ratio]
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table, indent=1))
        os.replace(tmp, path)
    except (OSError, ValueError):  # a read-only or corrupt cache never breaks the op
        pass


def lazy_compile(fn: Callable, **compile_kwargs) -> Callable:
    """Return ``fn``'s compiled twin: compiled with ``torch.compile(**compile_kwargs)`` on its first call (importing
    zoo never compiles), then timed against ``fn`` on that call's shapes, and used only where it wins.

    Per input signature (shapes, dtypes, devices, gradient flags) the wrapper keeps the faster of the two;
    ``wrapper.choices`` records ``{signature: ("compiled" | "eager", per-round ratio eager / compiled)}``. The choice is
    timed once per machine, not once per process: it is kept in :func:`choices_path` (per op, signature, thread count
    and torch version), and a later process takes it from there without timing, and without compiling where eager
    was chosen. Inside an enclosing ``torch.compile`` the wrapper is ``fn`` itself (the enclosing graph fuses it with
    its neighbours). Inductor emits C++ on CPU and Triton on CUDA; the wrapper itself is device-agnostic.
    """
    compiled: list[Callable] = []
    chosen: dict[tuple, Callable] = {}
    choices: dict[tuple, tuple[str, float]] = {}

    def compiled_fn() -> Callable:
        if not compiled:
            compiled.append(torch.compile(fn, **compile_kwargs))
        return compiled[0]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if torch.compiler.is_compiling():
            return fn(*args, **kwargs)
        key = _signature(args, kwargs)
        if key not in chosen:
            stored = stored_choice(fn, key)
            if stored is not None:
                chosen[key], choices[key] = (compiled_fn() if stored[0] == "compiled" else fn), stored
            else:
                chosen[key], name, ratio = faster_of(fn, compiled_fn(), args, kwargs)
                choices[key] = (name, ratio)
                store_choice(fn, key, name, ratio)
        return chosen[key](*args, **kwargs)

    wrapper.eager = fn  # type: ignore[attr-defined]
    wrapper.choices = choices  # type: ignore[attr-defined]
    return wrapper


def compile_for_inference(fn: Callable, **compile_kwargs) -> Callable:
    """``torch.compile`` with Inductor's freezing: parameters become constants folded into the graph (on CPU,
    convolution weights are pre-packed for oneDNN once instead of at every call).

    Only for inference: call the result under ``torch.no_grad()``, after the weights are final (later changes to
    them are not seen).
    """
    options = {"freezing": True, **compile_kwargs.pop("options", {})}
    return torch.compile(fn, options=options, **compile_kwargs)


def under_inductor_config(compiled: Callable, patch: dict[str, Any], like: Callable | None = None) -> Callable:
    """``compiled`` (a ``torch.compile`` result) called with ``torch._inductor.config`` patched by ``patch``: for the
    global flags that Inductor reads while the graph compiles (on the first call, or a recompile) rather than from
    ``torch.compile``'s ``options``. ``like``: the function whose name and docstring the result carries."""
    import torch._inductor.config as inductor_config

    def call(*args, **kwargs):
        with inductor_config.patch(patch):
            return compiled(*args, **kwargs)

    return functools.wraps(like)(call) if like is not None else call


def _channels_last(x: Any) -> Any:
    return x.contiguous(memory_format=torch.channels_last) if isinstance(x, torch.Tensor) and x.dim() == 4 else x


def frozen(net: torch.nn.Module, channels_last: bool = False, **compile_kwargs) -> Callable:
    """``net`` under :func:`compile_for_inference`; with ``channels_last``, a copy of it whose weights are stored
    channels-last, called on 4-D inputs converted to channels-last (the conversion is part of each call)."""
    if not channels_last:
        return compile_for_inference(net, **compile_kwargs)
    import copy

    compiled = compile_for_inference(copy.deepcopy(net).to(memory_format=torch.channels_last), **compile_kwargs)
    return lambda *xs: compiled(*(_channels_last(x) for x in xs))


def inference_path_key(net: torch.nn.Module, example_args: tuple, channels_last: bool = False) -> tuple:
    """The stored-choice key of :func:`inference_path`: the parameters' names and shapes (two presets of one class
    differ), the memory format and the inputs' signature."""
    layout = hashlib.sha256(repr([(n, tuple(p.shape)) for n, p in net.named_parameters()]).encode()).hexdigest()[:16]
    return ("inference_path", layout, channels_last, _signature(example_args, {}))


def inference_path(net: torch.nn.Module, example_args: tuple, channels_last: bool = False, **compile_kwargs) -> tuple[Callable, str, float]:
    """The faster of ``net`` eager and :func:`frozen` ``net``, timed on ``example_args`` (compiles once).

    Args:
        net: an inference network (eval mode; weights final).
        example_args: inputs of the shapes it will serve.
        channels_last: see :func:`frozen` (conv nets).

    Returns:
        ``(callable, "frozen" or "eager", per-round ratio eager / frozen)``; the callable takes the same inputs.

    The choice is kept between processes as the twins' are (:func:`lazy_compile`, keyed by the network's class, its
    parameters' names and shapes, so that two presets of one class do not share a choice, and the inputs'
    signature): where eager won before, nothing is compiled or timed again.
    """
    key = inference_path_key(net, example_args, channels_last)
    stored = stored_choice(type(net), key)
    if stored is not None and stored[0] == "eager":
        return net, "eager", stored[1]
    with torch.no_grad():
        fn, name, ratio = faster_of(net, frozen(net, channels_last, **compile_kwargs), example_args)
    store_choice(type(net), key, name, ratio)
    return fn, "frozen" if name == "compiled" else "eager", ratio
