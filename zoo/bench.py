"""Benchmarks as per-round ratios within one process: zoo's inference paths against the official formulation.

    zoo bench lightweight_isp_efficient            # or: python tools/bench.py lightweight_isp_efficient
    zoo bench --all --markdown docs/benchmarks.md  # every model, one table

Each model contributes one **paths** row (:class:`BenchPaths`): the same input through the official formulation
(``zoo/models/<pkg>/reference.py``; the zoo network itself where it already is that formulation) eager and
``torch.compile``'d, and through zoo's network eager, compiled, compiled with freezing (channels-last for conv nets;
:func:`zoo.ops.compile.compile_for_inference`) and in onnxruntime on its ONNX export. All columns run once per round,
alternating, so load on the machine hits them alike; the figure reported is the median over rounds of the per-round
ratio against the reference compiled (the most robust figure under load), next to the median times. Warm-up calls are
excluded; the first call of each compiled column (compile time) and the ONNX export are reported separately.

Models may add **op rows** (``bench_cases``): pairs of callables (baseline, candidate) on the same input.

Peak memory is the CUDA allocator's peak on GPU, and on CPU the peak of live tensor memory in one call (profiler).
"""

from __future__ import annotations

import importlib
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

DEFAULT_BUDGET_S = 40.0
"""Seconds of timed rounds per row (after warm-up); the rounds are cut to fit it, to no fewer than 3."""


@dataclass
class BenchCase:
    """One op row: two callables computing the same thing on the same input."""

    what: str
    baseline_name: str
    candidate_name: str
    baseline: Callable[[], object]
    candidate: Callable[[], object]
    items: int | None = None  # items one call processes (default: the batch size)


@dataclass
class BenchPaths:
    """One paths row: a network and the official formulation of the same function, on one input.

    Attributes:
        what: the row's label (what is computed, at which shape).
        zoo: zoo's inference network for this row, called as ``zoo(*inputs)``.
        inputs: the input tensors.
        reference: the official formulation (module or function) called the same way, or None when ``zoo`` already
            computes it the official way (then the reference columns are zoo's eager and compiled ones).
        items: items (images, frames, tasks, tokens) one call processes.
        channels_last: zoo's frozen path stores the weights and 4-D inputs channels-last (conv nets).
        onnx: add the onnxruntime column (needs the ``export`` extra; CPU only).
        notes: what a reader must know about the row (e.g. a column skipped and why).
        official_code: whether official code exists; without it (and without ``reference``) the row compares zoo's
            network with itself, and its note says that instead of "zoo's network is the official formulation".
    """

    what: str
    zoo: nn.Module
    inputs: tuple
    reference: Callable | None = None
    items: int = 1
    channels_last: bool = False
    onnx: bool = True
    notes: list[str] = field(default_factory=list)
    official_code: bool = True


# ---------------------------------------------------------------------------------------------------- measuring
def cpu_peak_bytes(fn: Callable[[], object]) -> int:
    """Peak of live tensor memory during one call of ``fn`` on CPU, from the profiler's allocation events."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    live = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak


def peak_mib(fn: Callable[[], object], device: torch.device) -> float:
    """Peak memory of one call of ``fn`` in MiB: the CUDA allocator's peak above what was allocated before the
    call on GPU; on CPU the peak of live tensor memory seen by the profiler (onnxruntime's arena is not seen)."""
    if device.type != "cuda":
        return cpu_peak_bytes(fn) / 2**20
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def _sync(device: torch.device) -> Callable[[], None]:
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)


def measure_pair(baseline: Callable[[], object], candidate: Callable[[], object], repeats: int, device: torch.device) -> tuple[float, float]:
    """Warm both callables up (twice each), then time them alternately ``repeats`` times each.

    Returns:
        ``(baseline median seconds, candidate median seconds)``.
    """
    for fn in (baseline, candidate, baseline, candidate):
        fn()
    times = measure_rounds([baseline, candidate], repeats, device)
    return statistics.median(times[0]), statistics.median(times[1])


def measure_rounds(fns: list[Callable[[], object]], rounds: int, device: torch.device) -> list[list[float]]:
    """Time ``fns`` in turn, ``rounds`` times (no warm-up here).

    Returns:
        Seconds per call: one list per callable, one entry per round.
    """
    sync = _sync(device)
    sync()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, record in zip(fns, times):
            start = time.perf_counter()
            fn()
            sync()
            record.append(time.perf_counter() - start)
    return times


def warm_up(fn: Callable[[], object], device: torch.device) -> tuple[float, float]:
    """Call ``fn`` twice. Returns: ``(first call s, second call s)``; the first holds any compilation."""
    sync, seconds = _sync(device), []
    for _ in range(2):
        start = time.perf_counter()
        fn()
        sync()
        seconds.append(time.perf_counter() - start)
    return seconds[0], seconds[1]


def rounds_for(call_seconds: float, budget_s: float, repeats: int) -> int:
    """Rounds that fit ``budget_s`` when one round takes ``call_seconds``: at most ``repeats``, at least 3."""
    return max(3, min(repeats, int(budget_s / max(call_seconds, 1e-9))))


def ratio_medians(times: list[list[float]], against: int) -> list[float]:
    """Median over rounds of ``times[against][r] / times[i][r]`` for each column ``i`` (>1: faster than it)."""
    return [statistics.median(a / b for a, b in zip(times[against], col)) for col in times]


def max_abs_diff(a: object, b: object) -> float:
    """Largest absolute difference between two outputs (tensors, arrays, or sequences / dicts of them), leaf by leaf
    in order; leaves that are neither tensors nor arrays (e.g. a transformers cache object) are skipped."""
    import numpy as np

    def leaves(x):
        if isinstance(x, (tuple, list)):
            return [leaf for item in x for leaf in leaves(item)]
        if isinstance(x, dict):  # transformers' ModelOutput too: its tensors in order (logits first)
            return [leaf for item in x.values() for leaf in leaves(item)]
        if isinstance(x, torch.Tensor):
            return [np.asarray(x.detach().cpu(), dtype=np.float64)]
        if isinstance(x, (np.ndarray, float, int)):
            return [np.asarray(x, dtype=np.float64)]
        return []  # other objects (a key-value cache) are not compared

    la, lb = leaves(a), leaves(b)
    return max((float(np.abs(x - y.reshape(x.shape)).max()) for x, y in zip(la, lb) if x.size), default=0.0)


GEMM_SIDE = 1024
"""Side of the square fp32 GEMM timed in every round as the ceiling (2 GFLOP)."""


def gemm_call(device: torch.device, n: int = GEMM_SIDE) -> tuple[Callable[[], object], float]:
    """A call of ``a @ b`` on two ``n x n`` fp32 matrices, and its GFLOPs (the ceiling's yardstick)."""
    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    return (lambda: a @ b), 2 * n**3 / 1e9


def counted_gflops(fn: Callable[[], object]) -> float:
    """GFLOPs of one call as ``torch.utils.flop_counter`` counts them (conv, matmul, SDPA; element-wise ops are free)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


# ------------------------------------------------------------------------------------------------------ the paths
def frozen_path(net: nn.Module, channels_last: bool) -> Callable:
    """zoo's inference path: :func:`zoo.ops.compile.frozen` (Inductor freezing; channels-last for conv nets, the
    conversion of the NCHW input being part of the timed call)."""
    from zoo.ops.compile import frozen

    return frozen(net, channels_last)


def onnxruntime_path(net: nn.Module, inputs: tuple, directory: str) -> tuple[Callable, float]:
    """Export ``net`` on ``inputs`` (static shapes) with the dynamo exporter and open it in onnxruntime.

    Returns:
        ``(call, export seconds)``; ``call(*inputs)`` runs the session on the same tensors (as numpy).
    """
    import onnxruntime

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(net, inputs, strict=False)
        onnx_program = torch.onnx.export(program, dynamo=True, verbose=False)
    path = str(Path(directory) / "model.onnx")
    onnx_program.save(path)
    seconds = time.perf_counter() - start
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def call(*xs):
        return session.run(None, {n: x.detach().cpu().numpy() for n, x in zip(names, xs)})

    return call, seconds


@dataclass
class PathsResult:
    """Measured columns of one :class:`BenchPaths` row."""

    paths: BenchPaths
    columns: list[str]
    median_ms: dict[str, float]
    ratio: dict[str, float]  # per-round ratio against the reference compiled (>1: faster)
    first_call_s: dict[str, float]
    max_abs_diff: dict[str, float]
    peak_mib: dict[str, float]
    rounds: int
    notes: list[str]
    gflops: float = 0.0  # counted GFLOPs of one call
    ceiling: float = 0.0  # GEMM GFLOP/s, median over the rounds (timed in each round)
    ceiling_share: dict[str, float] = field(default_factory=dict)  # per column: median per-round share of the ceiling


def measure_paths(paths: BenchPaths, device: torch.device, repeats: int = 10, budget_s: float = DEFAULT_BUDGET_S, onnx: bool = True) -> PathsResult:
    """Build every column of ``paths``, warm each up (the first call timed as its compile time), time them in
    alternating rounds, and check every column's output against zoo eager."""
    net, xs = paths.zoo.eval(), paths.inputs
    notes = list(paths.notes)
    builders: dict[str, Callable[[], Callable]] = {}
    if paths.reference is not None:
        builders["reference eager"] = lambda: paths.reference
        builders["reference compiled"] = lambda: torch.compile(paths.reference)
    builders["zoo eager"] = lambda: net
    builders["zoo compiled"] = lambda: torch.compile(net)
    builders["zoo frozen"] = lambda: frozen_path(net, paths.channels_last)
    if paths.reference is None and paths.official_code:
        notes.append("zoo's network is the official formulation here: the reference columns are zoo eager and zoo compiled")
    elif paths.reference is None:
        notes.append("no official code exists: the reference columns are zoo eager and zoo compiled (zoo's network against itself)")
    tmp = tempfile.TemporaryDirectory()
    fns, first, diffs = {}, {}, {}
    with torch.no_grad():
        expected = net(*xs)
        for name, build in builders.items():
            fn = build()
            fns[name] = lambda fn=fn: fn(*xs)
        if onnx and paths.onnx and device.type == "cpu":
            try:
                call, seconds = onnxruntime_path(net, xs, tmp.name)
                fns["onnxruntime"] = lambda: call(*xs)
                first["onnxruntime export"] = seconds
            except Exception as error:  # an export failure is a finding of the bench, not a crash of it
                notes.append(f"onnxruntime: not exported ({type(error).__name__}: {' '.join(str(error).split())[:160]})")
        seconds_per_call = {}
        for name, fn in fns.items():
            first[name], seconds_per_call[name] = warm_up(fn, device)
            diffs[name] = max_abs_diff(fn(), expected)
        names = list(fns)
        gemm, gemm_gflops = gemm_call(device)
        warm_up(gemm, device)
        rounds = rounds_for(sum(seconds_per_call.values()), budget_s, repeats)
        times = measure_rounds([fns[n] for n in names] + [gemm], rounds, device)
        gemm_times = times.pop()
        against = names.index("reference compiled" if "reference compiled" in names else "zoo compiled")
        gflops = counted_gflops(lambda: net(*xs))
        ceiling = statistics.median(gemm_gflops / t for t in gemm_times)
        shares = {n: statistics.median((gflops / t) / (gemm_gflops / g) for t, g in zip(col, gemm_times)) for n, col in zip(names, times)}
        ratios = ratio_medians(times, against)
        # On CPU the profiler does not see oneDNN's own buffers in frozen graphs (nor onnxruntime's arena): eager only.
        measured = [n for n in ("reference eager", "zoo eager") if n in fns] + (["zoo frozen"] if device.type == "cuda" else [])
        peaks = {n: peak_mib(fns[n], device) for n in measured}
    tmp.cleanup()
    return PathsResult(
        paths, names, {n: 1e3 * statistics.median(t) for n, t in zip(names, times)}, dict(zip(names, ratios)),
        {n: s for n, s in first.items() if "compiled" in n or "frozen" in n or "export" in n}, diffs, peaks, rounds, notes,
        gflops, ceiling, shares,
    )


def measure_case(case: BenchCase, device: torch.device, repeats: int, budget_s: float) -> dict:
    """One op row: warm-up (first calls reported), alternating rounds, per-round ratio baseline / candidate."""
    with torch.no_grad():
        first = (warm_up(case.baseline, device), warm_up(case.candidate, device))
        rounds = rounds_for(first[0][1] + first[1][1], budget_s, repeats)
        times = measure_rounds([case.baseline, case.candidate], rounds, device)
        return {
            "case": case, "rounds": rounds, "ms": [1e3 * statistics.median(t) for t in times],
            "ratio": ratio_medians(times, 0)[1], "first_s": (first[0][0], first[1][0]),
            "diff": max_abs_diff(case.baseline(), case.candidate()),
        }


# ---------------------------------------------------------------------------------------------------- per model
def _reference_module(model) -> object | None:
    package = type(model).__module__.rsplit(".", 1)[0]
    try:
        return importlib.import_module(f"{package}.reference")
    except ModuleNotFoundError as error:
        if error.name != f"{package}.reference":
            raise
        return None


def model_paths(model, batch_size: int | None, size: int | None) -> list[BenchPaths]:
    """The model's paths rows: ``reference.bench_paths(model, batch_size, size)`` of its package when it has one
    (None: the package's default sizes), else the inference network on ``example_input`` (batch 4)."""
    reference = _reference_module(model)
    if reference is not None and hasattr(reference, "bench_paths"):
        return reference.bench_paths(model, batch_size, size)
    x = model.example_input(batch_size or 4)
    x = x if isinstance(x, tuple) else (x,)
    shape = " + ".join("x".join(map(str, t.shape)) for t in x)
    conv = all(t.dim() == 4 for t in x if isinstance(t, torch.Tensor))
    return [BenchPaths(f"forward {shape}", model.inference_net, x, items=int(x[0].shape[0]), channels_last=conv)]


def _device_label(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"


def paths_record(result: PathsResult) -> dict:
    """One measured paths row as plain data (what ``docs/benchmarks.json`` stores and the tables render)."""
    return {
        "what": result.paths.what, "columns": result.columns, "median_ms": result.median_ms, "ratio": result.ratio,
        "first_call_s": result.first_call_s, "max_abs_diff": result.max_abs_diff, "peak_mib": result.peak_mib,
        "rounds": result.rounds, "notes": result.notes, "gflops": result.gflops, "ceiling": result.ceiling,
        "ceiling_share": result.ceiling_share, "threads": torch.get_num_threads(),
    }


def op_record(result: dict) -> dict:
    """One measured op row (:func:`measure_case`) as plain data."""
    c = result["case"]
    return {"what": c.what, "baseline_name": c.baseline_name, "candidate_name": c.candidate_name, "ms": result["ms"],
            "ratio": result["ratio"], "diff": result["diff"], "rounds": result["rounds"], "threads": torch.get_num_threads()}


def best_column(record: dict, columns: tuple[str, ...] | None = None) -> str:
    """The fastest of ``columns`` present in the record (default: zoo's, onnxruntime included) by per-round ratio."""
    candidates = [c for c in record["columns"] if (c in columns if columns is not None else c.startswith("zoo") or c == "onnxruntime") and c in record["ratio"]]
    return max(candidates, key=lambda c: record["ratio"][c])


def _ms(record: dict, column: str) -> str:
    if column not in record["median_ms"]:
        return "–"
    return f"{record['median_ms'][column]:.1f} ({record['ratio'][column]:.2f}×)"


COLUMNS = ("reference eager", "reference compiled", "zoo eager", "zoo compiled", "zoo frozen", "onnxruntime")


def paths_table(records: list[tuple[str, dict]]) -> list[str]:
    """Markdown: one line per (model, row record); each column ``ms (ratio vs reference compiled)``."""
    lines = [
        "| model | what | " + " | ".join(COLUMNS) + " | best vs reference compiled | GFLOPs; best's share of the GEMM ceiling (GFLOP/s) | compile s (ref / zoo / frozen / ORT export) | peak MiB (eager) | rounds (threads) |",
        "|---|---|" + "---|" * len(COLUMNS) + "---|---|---|---|---|",
    ]
    for name, r in records:
        ref_c = "reference compiled" if "reference compiled" in r["columns"] else "zoo compiled"
        best = best_column(r)
        cells = [_ms(r, c) if c in r["columns"] else ("= zoo " + c.split()[1] if c.startswith("reference") else "–") for c in COLUMNS]
        compile_s = " / ".join(
            f"{r['first_call_s'][c]:.0f}" if c in r["first_call_s"] else "–"
            for c in (ref_c if ref_c != "zoo compiled" else "–", "zoo compiled", "zoo frozen", "onnxruntime export")
        )
        peaks = ", ".join(f"{k.replace('reference', 'ref')} {v:.0f}" for k, v in r["peak_mib"].items())
        share = r["ceiling_share"].get(best)
        ceiling = f"{r['gflops']:.2f}, " + (f"{100 * share:.0f}% of {r['ceiling']:.0f}" if share is not None else "–")
        lines.append(f"| `{name}` | {r['what']} | " + " | ".join(cells) + f" | **{r['ratio'][best]:.2f}×** ({best}) | {ceiling} | {compile_s} | {peaks} | {r['rounds']} ({r['threads']}) |")
    return lines


def ops_table(records: list[tuple[str, dict]]) -> list[str]:
    lines = [
        "| model | what | baseline | candidate | baseline ms | candidate ms | speed-up (per-round median) | max abs diff | rounds (threads) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in records:
        lines.append(f"| `{name}` | {r['what']} | {r['baseline_name']} | {r['candidate_name']} | {r['ms'][0]:.2f} | {r['ms'][1]:.2f} | {r['ratio']:.2f}× | {r['diff']:.1e} | {r['rounds']} ({r['threads']}) |")
    return lines


def row_notes(records: list[tuple[str, dict]], with_name: bool = True) -> list[str]:
    """The lines under the paths table: each row's max abs differences from zoo eager, then its notes."""
    label = (lambda n, r: f"`{n}` {r['what']}") if with_name else (lambda n, r: r["what"])
    lines = [f"- {label(n, r)}: max abs difference from zoo eager: " + ", ".join(f"{k} {v:.1e}" for k, v in r["max_abs_diff"].items()) for n, r in records]
    return lines + [f"- {'`' + n + '`: ' if with_name else ''}{note}" for n, r in records for note in r["notes"]]


def bench_model(name: str, batch_size: int | None = None, size: int | None = None, repeats: int = 10, device: str | None = None,
                budget_s: float = DEFAULT_BUDGET_S, ops: bool = True, onnx: bool = True) -> tuple[list[tuple[str, PathsResult]], list[tuple[str, dict]]]:
    """Measure one model (random weights: speed does not depend on them): its paths rows and its op rows."""
    import zoo

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = zoo.create(name).eval().to(dev)
    with torch.no_grad():
        paths = [(name, measure_paths(p, dev, repeats, budget_s, onnx)) for p in model_paths(model, batch_size, size)]
        from zoo.core.module import ZooModule

        own = type(model).bench_cases is not ZooModule.bench_cases  # the base's only row is the paths row again
        cases = model.bench_cases(batch_size, size) if ops and own else []
        op_results = [(name, measure_case(c, dev, repeats, budget_s / 2)) for c in cases]
    return paths, op_results


def run_bench(name: str, batch_size: int | None = None, size: int | None = None, repeats: int = 10, device: str | None = None,
              budget_s: float = DEFAULT_BUDGET_S, ops: bool = True, onnx: bool = True) -> str:
    """Benchmark model ``name`` and return markdown: its paths table, then its op rows.

    Args:
        name: a registered model.
        batch_size, size: the input (None: the package's default for its model, which fits 3 minutes on 2 cores).
        repeats: the most timed rounds per row.
        device: "cpu", "cuda", ... (default: CUDA when available).
        budget_s: seconds of timed rounds per row.
        ops: add the model's op rows (``bench_cases``).
        onnx: add the onnxruntime column.
    """
    start, cpu = time.perf_counter(), time.process_time()
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    paths, op_results = bench_model(name, batch_size, size, repeats, str(dev), budget_s, ops, onnx)
    records = [(n, paths_record(r)) for n, r in paths]
    lines = [
        f"`{name}` on {dev.type} ({_device_label(dev)}), torch {torch.__version__}; ms per call (median), and in brackets the median "
        "of the per-round ratios against the reference formulation compiled (>1: faster)",
        "",
        *paths_table(records),
        *row_notes(records, with_name=False),
    ]
    if op_results:
        lines += ["", *ops_table([(n, op_record(r)) for n, r in op_results])]
    lines += ["", f"(bench time {time.perf_counter() - start:.0f} s wall, {time.process_time() - cpu:.0f} s CPU of this process)"]
    return "\n".join(lines)


def run_all(names: list[str] | None = None, markdown: str | None = None, device: str | None = None, budget_s: float = DEFAULT_BUDGET_S,
            onnx: bool = True, log: Callable[[str], None] = print) -> str:
    """Every model (or ``names``) at its defaults: one paths table and one op table.

    With ``markdown``, each model's rows are merged, as soon as it finishes, into the page's data
    (``<markdown>.json``, next to it: a model measured again replaces its own rows, the others stay) and the page's
    tables are rendered from all of it between the ``<!-- bench:start -->`` / ``<!-- bench:end -->`` markers
    (:mod:`zoo.bench_page`). So ``--all`` regenerates every row and ``--all --models A B`` only A's and B's.

    Returns:
        The markdown of this run's rows (the whole page's tables when ``markdown`` is given).
    """
    import os
    from datetime import datetime, timezone

    import zoo
    from zoo import bench_page

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    entries: dict[str, dict] = {}
    text = ""
    for name in names or zoo.list_models():
        start, cpu = time.perf_counter(), time.process_time()
        load = os.getloadavg()[0]
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        try:
            p, o = bench_model(name, device=str(dev), budget_s=budget_s, onnx=onnx)
        except Exception as error:  # one model's failure is reported, the others go on
            entry = {"failed": f"{type(error).__name__}: {' '.join(str(error).split())[:200]}", "date": stamp}
            log(f"- `{name}`: failed ({entry['failed']})")
        else:
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            log(f"{name}: {seconds:.0f} s wall, {cpu:.0f} s CPU (this process, all threads)")
            entry = {
                "rows": [paths_record(r) for _, r in p], "ops": [op_record(r) for _, r in o], "device": f"{dev.type} ({_device_label(dev)})",
                "torch": torch.__version__, "date": stamp, "load": round((load + os.getloadavg()[0]) / 2, 1),
                "seconds": round(seconds), "cpu_seconds": round(cpu),
            }
        entries[name] = entry
        text = bench_page.merge_and_render(markdown, {name: entry}) if markdown else bench_page.render({"by_model": entries})
    return text


PROFILE_OP_GROUPS = {
    "conv": ("conv", "mkldnn_convolution", "_convolution", "qconv"),
    "matmul / attention": ("addmm", "mm", "bmm", "matmul", "linear", "_linear", "_mkl_linear", "qlinear", "scaled_dot_product", "_flash_attention", "baddbmm", "einsum"),
    "copy_ / contiguous / cat": ("copy_", "cat", "clone", "contiguous", "_to_copy", "to", "permute", "reshape"),
    "upsample / resize": ("upsample", "interpolate", "grid_sampler", "pixel_shuffle"),
    "norm": ("layer_norm", "native_layer_norm", "group_norm", "batch_norm", "instance_norm"),
}
"""Op groups by op name without its namespace (``aten::``, ``mkldnn::``) and leading underscores: exact names, or
prefixes longer than 3 characters (any name containing "conv" is a convolution)."""
PROFILE_KERNEL_GROUPS = {
    "Inductor fused kernels": ("cpp_fused",),
    "compiled-graph call (self)": ("CompiledFxGraph", "Torch-Compiled Region"),
}
"""Groups matched anywhere in the profiler key, before the op groups: Inductor's generated C++ kernels (named with
``cpp.enable_kernel_profile``; their names list the ops they fused) and the compiled graph's own time outside its
named kernels (dispatch, guards)."""
PROFILE_GROUPS = {**PROFILE_OP_GROUPS, **PROFILE_KERNEL_GROUPS}
"""Every op group of the profiles, in the order of their columns."""


def _op_group(key: str) -> str:
    """The group of a profiler key (:data:`PROFILE_KERNEL_GROUPS` first, then :data:`PROFILE_OP_GROUPS`)."""
    for group, parts in PROFILE_KERNEL_GROUPS.items():
        if any(part in key for part in parts):
            return group
    name = key.rsplit("::", 1)[-1].lstrip("_")
    for group, keys in PROFILE_OP_GROUPS.items():
        keys = [k.lstrip("_") for k in keys]
        if name in keys or any(name.startswith(k) for k in keys if len(k) > 3) or (group == "conv" and "conv" in name):
            return group
    return "other"


def group_shares(ops: list[tuple[str, float]]) -> dict[str, float]:
    """Shares per op group (:data:`PROFILE_GROUPS`, + "other") of ``[(profiler key, share), ...]``."""
    groups = {g: 0.0 for g in (*PROFILE_GROUPS, "other")}
    for key, share in ops:
        groups[_op_group(key)] += share
    return groups


def profile_ops(fn: Callable[[], object], calls: int = 2, top: int = 8) -> dict:
    """Self CPU time of ``fn`` by op, over ``calls`` calls after one warm-up call (shares are robust to load where
    absolute times are not). Compiled graphs name their generated kernels only when they were compiled with
    ``torch._inductor.config.cpp.enable_kernel_profile`` (:func:`profiled_compile`).

    Returns:
        ``{"groups": {group: share}}`` over :data:`PROFILE_GROUPS` (+ "other"), ``"top": [(op, share), ...]`` for
        the ``top`` ops with the most self CPU time, and ``"ops"``: every op's share, most first.
    """
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            fn()
    events = [(e.key, e.self_cpu_time_total) for e in prof.key_averages() if e.self_cpu_time_total > 0]
    whole = sum(t for _, t in events) or 1.0
    ops = sorted(((key, t / whole) for key, t in events), key=lambda e: -e[1])
    return {"groups": group_shares(ops), "top": ops[:top], "ops": ops}


def profiled_compile(fn: Callable, frozen_graph: bool = False, channels_last: bool = False) -> Callable:
    """``torch.compile(fn)`` (with ``frozen_graph``: :func:`zoo.ops.compile.frozen`) whose generated C++ kernels carry
    their names into the profiler (``cpp.enable_kernel_profile``, set while the graph compiles on the first call)."""
    from zoo.ops.compile import under_inductor_config

    return under_inductor_config(frozen_path(fn, channels_last) if frozen_graph else torch.compile(fn), {"cpp.enable_kernel_profile": True})


COLD_START_COMMANDS = {
    "python -c 'import torch'": ["-c", "import torch"],
    "zoo predict (ISP, bundled sample)": ["-m", "zoo.cli", "predict", "lightweight_isp_efficient", "{sample}", "-o", "{out}", "--quiet"],
    "zoo.load(...).predict (LightningModule)": ["-c", "import zoo; zoo.load('lightweight_isp_efficient').predict(r'{sample}')"],
}
"""The cold-start rows: fresh interpreters, the first against which the others are ratios."""


def cold_start(rounds: int = 5, log: Callable[[str], None] | None = None) -> list[str]:
    """Time each of :data:`COLD_START_COMMANDS` in a fresh interpreter, interleaved, ``rounds`` times.

    Returns:
        The lines of a markdown table: median seconds, and the median per-round ratio to ``import torch`` (the goal
        of the light pipeline: ``zoo predict`` at most 1.5x).
    """
    import subprocess

    from zoo.demo import SAMPLE_RAW

    times: dict[str, list[float]] = {label: [] for label in COLD_START_COMMANDS}
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "out.png")
        for round_index in range(rounds):
            for label, argv in COLD_START_COMMANDS.items():
                command = [sys.executable, *(a.format(sample=SAMPLE_RAW, out=out) for a in argv)]
                start = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True)
                times[label].append(time.perf_counter() - start)
            if log:
                log(f"cold start: round {round_index + 1}/{rounds}")
    base = times[next(iter(times))]
    lines = ["| command | median s | × import torch (median of per-round ratios) |", "|---|---|---|"]
    for label, values in times.items():
        ratio = statistics.median(v / b for v, b in zip(values, base))
        lines.append(f"| {label} | {statistics.median(values):.2f} | {ratio:.2f} |")
    return lines
