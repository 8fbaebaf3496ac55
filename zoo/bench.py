"""Benchmarks as ratios within one run: eager vs torch.compile, and ours vs the reference formulation.

    zoo bench lightweight_isp_efficient            # or: python tools/bench.py lightweight_isp_efficient

Throughput is images per second (median of ``repeats`` timed calls after warm-up); peak memory is the
CUDA allocator's peak on GPU, and on CPU the peak of live tensor memory in one call (profiler events).
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


def measure(fn: Callable[[], object], n_images: int, repeats: int, device: torch.device) -> tuple[float, float]:
    """Run ``fn`` twice to warm up, then ``repeats`` times.

    Returns:
        ``(images per second, peak memory of one call in MiB)``: the CUDA allocator's peak above what was
        allocated before the call on GPU; on CPU the peak of live tensor memory seen by the profiler.
    """
    for _ in range(2):
        fn()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    if device.type == "cuda":
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        sync()
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        peak = cpu_peak_bytes(fn)
    return n_images / statistics.median(times), peak / 2**20


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
            baseline = measure(case.baseline, items, repeats, dev)
            candidate = measure(case.candidate, items, repeats, dev)
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
