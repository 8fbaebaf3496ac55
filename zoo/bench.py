"""Benchmarks as ratios within one run: eager vs torch.compile, and ours vs the reference formulation.

    zoo bench lightweight_isp_efficient            # or: python tools/bench.py lightweight_isp_efficient

Throughput is images per second (median of ``repeats`` timed calls after warm-up); peak memory is the
CUDA allocator's peak on GPU, and on CPU the peak of live tensor memory in one call (profiler events).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np
import torch


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


def reference_isp_from_counts(model, mosaics: list[np.ndarray]) -> list[torch.Tensor]:
    """The official inference formulation: per image, numpy ``dstack`` packing and per-plane normalisation, then
    one forward per image (as ``pretrained/run_inference.py`` does), re-expressed here for comparison."""
    black = np.asarray(model.config.black_level, dtype=np.float32)
    outputs = []
    for raw in mosaics:
        planes = np.dstack((raw[1::2, 1::2], raw[0::2, 1::2], raw[0::2, 0::2], raw[1::2, 0::2])).astype(np.float32)
        planes = (planes - black) / (model.config.white_level - black)
        x = torch.from_numpy(planes).permute(2, 0, 1)[None].to(model.device)
        outputs.append(model(model.raw_to_net_input(x)))
    return outputs


def zoo_isp_from_counts(model, mosaics: list[np.ndarray], forward: Callable | None = None) -> torch.Tensor:
    """zoo's formulation: one batched tensor pipeline (pack, normalise, forward) on the model's device."""
    from zoo.data.raw import normalize_packed, pack_bayer

    counts = torch.from_numpy(np.stack(mosaics).astype(np.float32))[:, None].to(model.device)
    packed = normalize_packed(pack_bayer(counts), model.config.black_level, model.config.white_level)
    return (model if forward is None else forward)(model.raw_to_net_input(packed))


def run_bench(name: str, batch_size: int = 4, size: int = 256, repeats: int = 10, device: str | None = None) -> str:
    """Benchmark model ``name`` (random weights; speed does not depend on them) and return a markdown table."""
    import zoo
    from zoo.data.raw import unpack_bayer
    from zoo.ops.color import white_balance_normalize_gamma, white_balance_normalize_gamma_fused

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = zoo.create(name).eval().to(dev)
    packed = torch.rand(batch_size, 4, size // 2, size // 2, generator=torch.Generator().manual_seed(0)).to(dev)
    x = model.raw_to_net_input(packed)
    compiled = torch.compile(model.net)
    rows = []

    with torch.no_grad():
        eager = measure(lambda: model.net(x), batch_size, repeats, dev)
        fused = measure(lambda: compiled(x), batch_size, repeats, dev)
        rows.append(("generator forward", "eager", "torch.compile", eager, fused))

        rgb = torch.rand(batch_size, 3, size, size, device=dev)
        gains = torch.tensor([1.6, 1.2, 1.4], device=dev)
        eager = measure(lambda: white_balance_normalize_gamma(rgb, gains), batch_size, repeats, dev)
        fused = measure(lambda: white_balance_normalize_gamma_fused(rgb, gains), batch_size, repeats, dev)
        rows.append(("pseudo-ISP colour stage (op)", "eager", "fused", eager, fused))

        if hasattr(model, "raw_to_net_input") and hasattr(model.config, "black_level"):
            mosaics = [
                (unpack_bayer(packed[i : i + 1].cpu())[0, 0].numpy() * 900 + 62).astype(np.uint16) for i in range(batch_size)
            ]
            ours = zoo_isp_from_counts(model, mosaics)
            reference = torch.cat(reference_isp_from_counts(model, mosaics))
            assert torch.allclose(ours, reference, atol=1e-5), "formulations disagree"
            ref = measure(lambda: reference_isp_from_counts(model, mosaics), batch_size, repeats, dev)
            mine = measure(lambda: zoo_isp_from_counts(model, mosaics, compiled), batch_size, repeats, dev)
            rows.append(("RAW counts -> sRGB", "official formulation (per image, numpy packing, eager)", "zoo (batched, compiled)", ref, mine))

    header = [
        f"`{name}` on {dev.type} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
        f"batch {batch_size}, output {size}x{size}, median of {repeats}",
        "",
        "| what | baseline | candidate | baseline img/s | candidate img/s | speed-up | baseline peak MiB | candidate peak MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    body = [
        f"| {what} | {a} | {b} | {ra[0]:.1f} | {rb[0]:.1f} | {rb[0] / ra[0]:.2f}x | {ra[1]:.1f} | {rb[1]:.1f} |"
        for what, a, b, ra, rb in rows
    ]
    return "\n".join(header + body)
