"""``zoo bench`` hook of BVTON. BVTON released no code, so there is no official formulation to hold this package
against: the paths row compares zoo's try-on network with itself (eager, compiled, frozen, onnxruntime), and the
bench reports its peak memory (eager) beside the times."""

from __future__ import annotations

import torch

from zoo.models.bvton.conditioning import person_conditions

BENCH_SIZE = (256, 192)
"""The issue's bench size: the try-on at 256 x 192 (HR-VITON's condition-generator resolution)."""


def bench_inputs(model, batch_size: int = 1, size: tuple[int, int] = BENCH_SIZE) -> tuple[torch.Tensor, ...]:
    """Seeded try-on inputs ``(garment, garment_mask, agnostic, parse_agnostic, pose)`` at ``size``: a random person,
    parsing and keypoints, and a garment that covers the frame (every pixel is garment, none is skipped)."""
    g = torch.Generator().manual_seed(0)
    h, w = size
    parsing = torch.randint(0, 8, (batch_size, h, w), generator=g)
    keypoints = torch.rand(batch_size, 18, 3, generator=g) * torch.tensor([w, h, 1.0])
    cond = person_conditions(torch.rand(batch_size, 3, h, w, generator=g), parsing, keypoints)
    garment, mask = torch.rand(batch_size, 3, h, w, generator=g), torch.ones(batch_size, 1, h, w)
    return tuple(t.to(model.device) for t in (garment, mask, cond["agnostic"], cond["parse_agnostic"], cond["pose"]))


def bench_paths(model, batch_size: int | None = None, size: int | None = None) -> list:
    """``zoo bench`` row: the try-on (stages 2 and 3, what ``predict`` runs after preparing its inputs) on
    ``batch_size`` (default 1) persons at 256 x 192, or ``size`` x ``3 * size / 4`` rounded to the pyramid's multiple."""
    from zoo.bench import BenchPaths

    batch_size = batch_size or 1
    if size:
        m = model.multiple
        hw = (max(m, round(size / m) * m), max(m, round(size * 3 / 4 / m) * m))
    else:
        hw = BENCH_SIZE
    x = bench_inputs(model, batch_size, hw)
    note = "BVTON released no code; peak MiB is zoo eager's"
    return [BenchPaths(f"try-on {batch_size}x3x{hw[0]}x{hw[1]} (stages 2 + 3)", model.inference_net.eval(), x, items=batch_size, channels_last=True,
                       notes=[note], official_code=False)]
