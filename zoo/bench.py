"""Benchmarks as ratios within one run: eager vs torch.compile, and ours vs the reference formulation.

    zoo bench lightweight_isp_efficient            # or: python tools/bench.py lightweight_isp_efficient

Throughput is images per second (median of ``repeats`` timed calls after warm-up, the baseline's and the
candidate's calls alternating); peak memory is the CUDA allocator's peak on GPU, and on CPU the peak of live
tensor memory in one call (profiler events).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class BenchCase:
    """One row of a benchmark: two callables computing the same thing on the same input."""

    what: str
    baseline_name: str
    candidate_name: str
    baseline: Callable[[], object]
    candidate: Callable[[], object]
    items: int | None = None  # items one call processes (default: the batch size)


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
    call on GPU; on CPU the peak of live tensor memory seen by the profiler."""
    if device.type != "cuda":
        return cpu_peak_bytes(fn) / 2**20
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def measure_pair(baseline: Callable[[], object], candidate: Callable[[], object], repeats: int, device: torch.device) -> tuple[float, float]:
    """Warm both callables up (twice each), then time them alternately ``repeats`` times each, so that drift in
    the machine's speed (other load, clock changes) hits both alike.

    Returns:
        ``(baseline median seconds, candidate median seconds)``.
    """
    for fn in (baseline, candidate, baseline, candidate):
        fn()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, record in ((baseline, times[0]), (candidate, times[1])):
            start = time.perf_counter()
            fn()
            sync()
            record.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def run_bench(name: str, batch_size: int = 4, size: int = 256, repeats: int = 10, device: str | None = None) -> str:
    """Benchmark model ``name`` (random weights; speed does not depend on them) and return a markdown table.

    The rows come from the model's ``bench_cases``: pairs of callables (baseline, candidate) on the same input.
    """
    import zoo

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = zoo.create(name).eval().to(dev)
    rows = []
    with torch.no_grad():
        for case in model.bench_cases(batch_size, size):
            items = case.items or batch_size
            seconds = measure_pair(case.baseline, case.candidate, repeats, dev)
            baseline = (items / seconds[0], peak_mib(case.baseline, dev))
            candidate = (items / seconds[1], peak_mib(case.candidate, dev))
            rows.append((case, baseline, candidate))
    header = [
        f"`{name}` on {dev.type} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
        f"batch {batch_size}, size {size}, median of {repeats}; throughput in items (images, tasks, tokens or samples, as the row says) per second",
        "",
        "| what | baseline | candidate | baseline items/s | candidate items/s | speed-up | baseline peak MiB | candidate peak MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    body = [
        f"| {c.what} | {c.baseline_name} | {c.candidate_name} | {ra[0]:.1f} | {rb[0]:.1f} | {rb[0] / ra[0]:.2f}x | {ra[1]:.1f} | {rb[1]:.1f} |"
        for c, ra, rb in rows
    ]
    return "\n".join(header + body)
