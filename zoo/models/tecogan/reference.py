"""Benchmark rows of the frame-recurrent generator: one recurrent step at the issue's frame size.

:class:`~zoo.models.tecogan.model.FRNet` computes the step the way the official PyTorch port does (FNet, bilinear
flow upsampling, ``grid_sample`` backward warp, space-to-depth, SRNet), with the port's key names, so the reference
columns of ``zoo bench`` are zoo's eager and compiled calls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Step(nn.Module):
    """``net.step(lr_curr, lr_prev, hr_prev)`` as a module (what torch.compile, freezing and ONNX export take)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, lr_curr: torch.Tensor, lr_prev: torch.Tensor, hr_prev: torch.Tensor) -> torch.Tensor:
        return self.net.step(lr_curr, lr_prev, hr_prev)


def bench_paths(model, batch_size: int | None = None, size: int | None = None) -> list:
    """``zoo bench`` row: one step on ``batch`` LR frames of 144 x 180 (or ``size`` x ``size``) -> x4."""
    from zoo.bench import BenchPaths

    batch_size, s = batch_size or 1, model.config.scale
    h, w = (size, size) if size else (144, 180)
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(batch_size, 3, h, w, generator=g).to(model.device)
    lr_prev = torch.roll(lr, 1, dims=-1)
    hr_prev = F.interpolate(lr_prev, scale_factor=s, mode="bilinear")
    return [BenchPaths(f"step {batch_size}x3x{h}x{w} -> x{s}", Step(model.inference_net).eval(), (lr, lr_prev, hr_prev), items=batch_size, channels_last=True)]
