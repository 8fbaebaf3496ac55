"""Video super-resolution metrics as the TecoGAN paper reports them: Y-PSNR, LPIPS, tOF and tLP.

- Y-PSNR: BT.601 studio-swing luma (the DUF-VSR / BasicSR coefficients the TecoGAN port uses) of 8-bit frames,
  with ``border`` pixels cropped on each side.
- LPIPS (v0.1, AlexNet, linear heads): torchmetrics' implementation with the linear heads it bundles. The
  AlexNet trunk is ImageNet-pretrained in the published metric, and torchvision would download it; offline,
  :class:`LPIPS` loads it from a local file if one is given, and otherwise uses a trunk randomly initialised
  from a fixed seed. Values from the random trunk are a *random-feature LPIPS*: comparable between methods
  measured with the same seed, not with published LPIPS numbers. ``LPIPS.kind`` says which one was computed.
- tOF: mean end-point distance between the Farneback optical flows (OpenCV, the port's parameters) of
  consecutive output frames and of consecutive ground-truth frames.
- tLP: mean ``|LPIPS(gt_{t-1}, gt_t) - LPIPS(out_{t-1}, out_t)|`` (the paper reports it x100).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from zoo.core.optional import require

_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 studio-swing luma in [16, 235] of RGB in [0, 255], rounded as 8-bit.

    Shape:
        - rgb: (..., 3, H, W). Output: (..., H, W).
    """
    w = rgb.new_tensor(_Y_WEIGHTS).view(3, 1, 1)
    return ((rgb * w).sum(-3) + 16.0).clamp(0, 255).round()


def to_uint8_frames(x: torch.Tensor) -> torch.Tensor:
    """Frames in [0, 1] (float) -> 8-bit values as float64, the way videos are stored and evaluated."""
    return (x.detach().double().clamp(0, 1) * 255.0).round()


def psnr_y(pred: torch.Tensor, target: torch.Tensor, border: int = 8) -> torch.Tensor:
    """Per-frame PSNR of the luma channel of 8-bit-quantised frames, ``border`` pixels cropped on each side.

    Args:
        pred, target: frames in [0, 1]. Shape: (T, 3, H, W).
        border: pixels cropped from each side before the comparison.

    Returns:
        Per-frame PSNR in dB. Shape: (T,).
    """
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
        raise ValueError(f"psnr_y: expected two (T, 3, H, W) tensors of one shape, received {tuple(pred.shape)} and {tuple(target.shape)}")
    yp, yt = rgb_to_y(to_uint8_frames(pred)), rgb_to_y(to_uint8_frames(target))
    if border:
        yp, yt = yp[..., border:-border, border:-border], yt[..., border:-border, border:-border]
    mse = (yp - yt).square().flatten(1).mean(1)
    return 10.0 * torch.log10(255.0**2 / mse.clamp_min(1e-10))


class LPIPS(nn.Module):
    """LPIPS v0.1 (AlexNet, linear heads) through torchmetrics, with an offline-safe trunk.

    Args:
        alexnet_weights: a local torchvision AlexNet state_dict (``features.*`` keys, .pth or .safetensors);
            None: the trunk is randomly initialised from ``seed`` (a random-feature LPIPS, see the module docstring).
        seed: seed of the random trunk.
    """

    def __init__(self, alexnet_weights: str | None = None, seed: int = 0) -> None:
        super().__init__()
        from torchmetrics.functional.image.lpips import _LPIPS

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = _LPIPS(pretrained=True, net="alex", pnet_rand=True)
        if alexnet_weights:
            from zoo.core.convert import read_official

            state = read_official(alexnet_weights)
            features = {k.split("features.", 1)[1]: v for k, v in state.items() if k.startswith("features.")}
            slices = {}
            for i, (k, v) in enumerate(sorted(features.items(), key=lambda kv: int(kv[0].split(".")[0]))):
                idx = int(k.split(".")[0])
                s = 1 if idx < 2 else 2 if idx < 5 else 3 if idx < 8 else 4 if idx < 10 else 5
                slices[f"slice{s}.{k}"] = v
            missing, _ = self.net.net.load_state_dict(slices, strict=False)
            if missing:
                raise ValueError(f"AlexNet weights {alexnet_weights!r}: expected torchvision 'features.*' keys, missing {missing[:4]}")
        self.kind = (
            f"LPIPS v0.1 AlexNet (trunk from {Path(alexnet_weights).name})" if alexnet_weights
            else f"random-feature LPIPS (torchmetrics v0.1 AlexNet linear heads on a seed-{seed} random AlexNet trunk; not comparable to published LPIPS)"
        )
        self.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-pair distance of images in [0, 1]. Shape: (N, 3, H, W) twice -> (N,)."""
        return self.net(a * 2 - 1, b * 2 - 1, normalize=False).flatten()


def _farneback(prev: np.ndarray, curr: np.ndarray) -> np.ndarray:
    cv2 = require("cv2", "tools", package="opencv-python-headless")

    return cv2.calcOpticalFlowFarneback(prev, curr, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def tof(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pair tOF: mean end-point distance between Farneback flows of output and ground-truth frame pairs.

    Args:
        pred, target: frames in [0, 1]. Shape: (T, 3, H, W), T >= 2.

    Returns:
        Shape: (T - 1,).
    """
    cv2 = require("cv2", "tools", package="opencv-python-headless")

    def grey(x: torch.Tensor) -> list[np.ndarray]:
        frames = to_uint8_frames(x).permute(0, 2, 3, 1).numpy().astype(np.uint8)
        return [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]

    gp, gt = grey(pred), grey(target)
    out = [np.sqrt(((_farneback(gt[i - 1], gt[i]) - _farneback(gp[i - 1], gp[i])) ** 2).sum(-1)).mean() for i in range(1, len(gp))]
    return torch.tensor(out, dtype=torch.float64)


class VideoMetrics:
    """Accumulate Y-PSNR, LPIPS, tOF and tLP over a long sequence fed frame by frame (constant memory).

    Args:
        lpips: the :class:`LPIPS` to use (shared between methods so they are measured alike).
        border: PSNR border crop.
    """

    def __init__(self, lpips: LPIPS, border: int = 8) -> None:
        self.lpips, self.border = lpips, border
        self.values: dict[str, list[float]] = {"psnr": [], "lpips": [], "tof": [], "tlp": []}
        self._prev: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add frames (T, 3, H, W) in [0, 1], continuing the sequence of the previous call."""
        pred, target = pred.detach().float().cpu().clamp(0, 1), target.detach().float().cpu()
        pred, target = to_uint8_frames(pred).float() / 255.0, to_uint8_frames(target).float() / 255.0
        self.values["psnr"] += psnr_y(pred, target, self.border).tolist()
        self.values["lpips"] += self.lpips(pred, target).tolist()
        if self._prev is not None:
            pred, target = torch.cat([self._prev[0], pred]), torch.cat([self._prev[1], target])
        if pred.shape[0] >= 2:
            self.values["tof"] += tof(pred, target).tolist()
            lp_gt = self.lpips(target[:-1], target[1:])
            lp_out = self.lpips(pred[:-1], pred[1:])
            self.values["tlp"] += (lp_gt - lp_out).abs().tolist()
        self._prev = (pred[-1:], target[-1:])

    def compute(self) -> dict[str, float]:
        """Means over the sequence: ``psnr`` (dB), ``lpips``, ``tof`` and ``tlp`` (x100, as the paper)."""
        out = {k: float(np.mean(v)) for k, v in self.values.items() if v}
        if "tlp" in out:
            out["tlp"] *= 100.0
        return out
