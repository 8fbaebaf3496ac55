"""int8 inference of the ISP (zoo.ops.quantize, zoo.models.lightweight_isp.int8): it runs, and it stays close to fp32
on the held-out set's crops; its full accuracy cost and speed are on docs/isp_int8.md (tools/isp_int8.py)."""

from __future__ import annotations

import pytest
import torch

import zoo

pytest.importorskip("torchao")

BOUND_DB = 40.0
"""int8 against fp32 on the shipped weights: at least this PSNR (docs/isp_int8.md measures about 52 dB on all 64 crops)."""


def test_quantize_refuses_a_training_network_and_empty_calibration():
    from zoo.ops.quantize import quantize_int8

    net = torch.nn.Conv2d(4, 4, 3)
    with pytest.raises(ValueError, match="eval mode"):
        quantize_int8(net.train(), [torch.rand(1, 4, 8, 8)])
    with pytest.raises(ValueError, match="at least one input batch"):
        quantize_int8(net.eval(), [])


@pytest.mark.slow
@pytest.mark.compile
def test_int8_isp_runs_at_any_size_and_stays_close_to_fp32():
    from zoo.models.lightweight_isp.int8 import calibration_batches, held_out_psnr, int8_generator

    model = zoo.load("lightweight_isp_efficient").eval()
    fast = int8_generator(model, calibration_batches(model, samples=8))
    scores = held_out_psnr(model, fast, samples=4, batch_size=4)
    assert scores["int8_vs_fp32_min_db"] >= BOUND_DB, scores
    assert abs(scores["int8_vs_gt_db"] - scores["fp32_vs_gt_db"]) < 0.5, scores
    with torch.no_grad():
        x = torch.rand(2, 4, 24, 40)  # another batch and size: one dynamic-shape graph
        out = fast(x)
    assert out.shape == (2, 3, 48, 80) and torch.isfinite(out).all()
