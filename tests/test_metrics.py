"""Video metrics: Y-PSNR with border crop, LPIPS (offline trunk), tOF, tLP, streaming accumulation."""

import math

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from zoo.metrics import LPIPS, VideoMetrics, psnr_y, rgb_to_y, tof


def test_psnr_y_known_value_and_border():
    white, black = torch.ones(2, 3, 32, 32), torch.zeros(2, 3, 32, 32)
    assert torch.equal(rgb_to_y(white[0] * 255), torch.full((32, 32), 235.0))
    torch.testing.assert_close(psnr_y(white, black), torch.full((2,), 20 * math.log10(255 / 219), dtype=torch.float64))
    noisy = black.clone()
    noisy[..., :4, :] = 1.0  # damage only the border
    assert float(psnr_y(noisy, black, border=8).min()) > 90 and float(psnr_y(noisy, black, border=0).max()) < 20
    with pytest.raises(ValueError, match="T, 3, H, W"):
        psnr_y(white, black[:, :2])


def test_lpips_offline_trunk_and_local_weights(tmp_path):
    lpips = LPIPS()
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    assert torch.equal(lpips(a, a), torch.zeros(2)) and float(lpips(a, b).min()) > 0
    torch.testing.assert_close(lpips(a, b), lpips(b, a))
    assert "random" in lpips.kind and torch.equal(LPIPS()(a, b), lpips(a, b))  # seeded: reproducible
    torch.manual_seed(5)
    save_file(torchvision.models.alexnet(weights=None).state_dict(), str(tmp_path / "alexnet.safetensors"))
    local = LPIPS(str(tmp_path / "alexnet.safetensors"))
    assert "alexnet.safetensors" in local.kind and not torch.equal(local(a, b), lpips(a, b))


def test_tof_and_streamed_metrics():
    torch.manual_seed(0)
    base = torch.rand(1, 3, 72, 96)
    gt = torch.cat([torch.roll(base, 2 * t, dims=-1) for t in range(4)])
    assert float(tof(gt, gt).max()) == 0
    static = base.expand(4, -1, -1, -1)
    assert float(tof(static, gt).mean()) > 0.5  # the output misses the motion
    lpips = LPIPS()
    whole, streamed = VideoMetrics(lpips), VideoMetrics(lpips)
    whole.update(static, gt)
    for t in range(4):
        streamed.update(static[t : t + 1], gt[t : t + 1])
    a, b = whole.compute(), streamed.compute()
    assert a.keys() == {"psnr", "lpips", "tof", "tlp"} and all(math.isclose(a[k], b[k], rel_tol=1e-6) for k in a)
    assert a["tlp"] > 0
