"""Flow warping and the frame-recurrent input chain of video super-resolution (TecoGAN / FRVSR).

``warp_space_to_depth_cat`` is the per-frame hot path of the recurrent generator: warp the previous HR
output with the HR flow (bilinear grid sampling), fold it to LR by space-to-depth and concatenate it with the
current LR frame. ``residual_block`` is the SRNet block (conv-ReLU-conv + identity). Each has a
``*_fused`` torch.compile twin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.ops.compile import lazy_compile


def backward_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``x`` at ``(col + u, row + v)``: bilinear, border padding, ``align_corners=True``.

    Flow channel 0 is the horizontal (x) displacement and channel 1 the vertical one, in pixels, as in the
    PyTorch port of TecoGAN (the TensorFlow original samples at ``pos - flow`` with (dy, dx) channels; the
    converter maps that onto this convention).

    Args:
        x: image or feature map. Shape: (N, C, H, W).
        flow: displacement in pixels. Shape: (N, 2, H, W).

    Returns:
        The warped tensor. Shape: (N, C, H, W).
    """
    _, _, h, w = x.shape
    # pixel positions -> align_corners coordinates, 2 p / (side - 1) - 1; arange, not linspace: linspace's step count
    # must be a Python int, which would fix the side of an exported graph
    cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w)
    rows = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1)
    grid = torch.stack(((cols + flow[:, 0]) * (2.0 / (w - 1.0)) - 1.0, (rows + flow[:, 1]) * (2.0 / (h - 1.0)) - 1.0), dim=3)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def space_to_depth(x: torch.Tensor, scale: int) -> torch.Tensor:
    """TensorFlow ``space_to_depth``: HR pixel ``(s*y + dy, s*x + dx)`` of channel c goes to channel ``(dy*s + dx)*C + c``.

    Args:
        x: Shape: (N, C, s*H, s*W).
        scale: block size s.

    Returns:
        Shape: (N, s*s*C, H, W).
    """
    n, c, hh, ww = x.shape
    h, w = hh // scale, ww // scale
    x = x.view(n, c, h, scale, w, scale).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(n, scale * scale * c, h, w)


def warp_space_to_depth_cat(lr: torch.Tensor, hr_prev: torch.Tensor, hr_flow: torch.Tensor, scale: int) -> torch.Tensor:
    """The SRNet input: ``cat([lr, space_to_depth(backward_warp(hr_prev, hr_flow), scale)])``.

    Args:
        lr: current LR frame. Shape: (N, C, H, W).
        hr_prev: previous HR output. Shape: (N, C, s*H, s*W).
        hr_flow: HR flow from the current to the previous frame. Shape: (N, 2, s*H, s*W).
        scale: the upscaling factor s.

    Returns:
        Shape: (N, C + s*s*C, H, W).
    """
    return torch.cat([lr, space_to_depth(backward_warp(hr_prev, hr_flow), scale)], dim=1)


def residual_block(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """``x + conv(relu(conv(x, w1, b1)), w2, b2)`` with 3x3 'same' convolutions (SRNet's block, no normalisation).

    Args:
        x: Shape: (N, C, H, W).
        w1, w2: conv weights. Shape: (C, C, 3, 3).
        b1, b2: conv biases. Shape: (C,).

    Returns:
        Shape: (N, C, H, W).
    """
    return x + F.conv2d(F.relu(F.conv2d(x, w1, b1, padding=1)), w2, b2, padding=1)


warp_space_to_depth_cat_fused = lazy_compile(warp_space_to_depth_cat, dynamic=False)
residual_block_fused = lazy_compile(residual_block, dynamic=False)
