"""TecoGAN / FRVSR networks as plain nn.Modules (usable without Lightning).

FRNet = FNet (LR motion) + SRNet (reconstruction), frame-recurrent 4x video super-resolution, with the key
names of the PyTorch port (``fnet.*``, ``srnet.*``, ``upsample_func.kernels``) so that its checkpoints load
as they are. :class:`SpatioTemporalDiscriminator` is TecoGAN's D_s,t on frame triplets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.ops.warp import (
    backward_warp,
    residual_block,
    residual_block_fused,
    warp_space_to_depth_cat,
    warp_space_to_depth_cat_fused,
)

DEGRADATIONS = ("BD", "BI")


def cubic_kernels(scale: int, a: float = -0.75) -> torch.Tensor:
    """The TF-like bicubic table: row d holds the 4 cubic-convolution taps at fractional offset ``d / scale``.

    Returns:
        Shape: (scale, 4).
    """
    m = torch.tensor([[0.0, a, -2 * a, a], [1.0, 0.0, -(a + 3), a + 2], [0.0, -a, 2 * a + 3, -(a + 2)], [0.0, 0.0, a, -a]], dtype=torch.float64)
    s = torch.arange(scale, dtype=torch.float64) / scale
    powers = torch.stack([torch.ones_like(s), s, s**2, s**3], dim=0)  # (4, scale)
    return (m @ powers).T.contiguous().float()


def phase_upsample(x: torch.Tensor, kernels: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
    """Separable polyphase upsampling: output row ``s*i + d`` is ``sum_k kernels[d, k] * in[i - pad[0] + k]``
    (replicate padding), and likewise along columns.

    Args:
        x: Shape: (N, C, H, W).
        kernels: Shape: (s, taps).
        pad: replicate padding before / after, ``pad[0] + pad[1] = taps - 1``.

    Returns:
        Shape: (N, C, s*H, s*W).
    """
    n, c, h, w = x.shape
    s, taps = kernels.shape
    k = kernels.to(x.dtype)
    y = F.pad(x.reshape(n * c, 1, h, w), (pad[0], pad[1], pad[0], pad[1]), mode="replicate")
    y = F.conv2d(y, k.view(s, 1, taps, 1))  # (nc, s, h, w + taps - 1): rows of each phase
    y = y.permute(0, 2, 1, 3).reshape(n * c, 1, h * s, w + taps - 1)
    y = F.conv2d(y, k.view(s, 1, 1, taps))  # (nc, s, s*h, w)
    return y.permute(0, 2, 3, 1).reshape(n, c, h * s, w * s)


class BicubicUpsampler(nn.Module):
    """The BD-mode bicubic x``scale`` upsampler of TecoGAN (cubic convolution, a = -0.75, no half-pixel shift;
    TF1 ``resize_bicubic`` / the official ``bicubic_four``). Not ``F.interpolate(mode="bicubic")``.

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, C, s*H, s*W).
    """

    def __init__(self, scale: int = 4) -> None:
        super().__init__()
        self.scale = scale
        self.register_buffer("kernels", cubic_kernels(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return phase_upsample(x, self.kernels, (1, 2))


class LegacyBilinearUpsampler(nn.Module):
    """TF1 bilinear upsampling without half-pixel centres (``resize_images`` x2 in FNet, ``upscale_four`` for the
    flow): output ``s*i + d`` is ``(1 - d/s) * in[i] + d/s * in[i + 1]``, the last row / column repeated.

    Shape:
        - Input: (N, C, H, W). Output: (N, C, s*H, s*W).
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        d = torch.arange(scale, dtype=torch.float32) / scale
        self.register_buffer("kernels", torch.stack([1 - d, d], dim=1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return phase_upsample(x, self.kernels, (0, 1))


class BicubicInterpolate(nn.Module):
    """BI-mode upsampler: ``F.interpolate(mode="bicubic", align_corners=False)`` (the port's choice)."""

    def __init__(self, scale: int = 4) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)


def make_upsampler(degradation: str, scale: int) -> nn.Module:
    """The residual / flow upsampler of a degradation (``"BD"`` or ``"BI"``)."""
    if degradation not in DEGRADATIONS:
        raise ValueError(f"degradation: expected one of {DEGRADATIONS}, received {degradation!r}")
    return BicubicUpsampler(scale) if degradation == "BD" else BicubicInterpolate(scale)


CONVENTIONS = ("port", "tf")


def check_conventions(conventions: str) -> str:
    """Return ``conventions`` if it is ``"port"`` or ``"tf"``, else raise a ValueError naming both."""
    if conventions not in CONVENTIONS:
        raise ValueError(f"conventions: expected one of {CONVENTIONS}, received {conventions!r}")
    return conventions


class PortConvTranspose2d(nn.ConvTranspose2d):
    """3x3 stride-2 transposed convolution as the port: ``padding=1, output_padding=1`` (output row ``2i + k - 1``)."""

    def __init__(self, nf: int) -> None:
        super().__init__(nf, nf, 3, 2, 1, output_padding=1)


class TFConvTranspose2d(nn.ConvTranspose2d):
    """3x3 stride-2 transposed convolution as TF ``conv2d_transpose(padding="SAME")``: input ``i`` spreads to output
    rows ``2i + k`` (the transpose of a SAME stride-2 convolution, which pads 0 before and 1 after), i.e.
    ``padding=0`` and the last row / column cropped. Same weight layout as :class:`PortConvTranspose2d`."""

    def __init__(self, nf: int) -> None:
        super().__init__(nf, nf, 3, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return super().forward(x)[..., : 2 * h, : 2 * w]


def _conv_lrelu_pair(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(cout, cout, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True)
    )


class FNet(nn.Module):
    """LR motion estimation: encoder (w, 2w, 4w, max-pool) - decoder (8w, 4w, 2w, bilinear x2) - flow head.

    ``width=32`` is the paper's FNet (32/64/128, 256/128/64, 32 -> 2). The flow is ``max_velocity * tanh``.

    Args:
        in_nc: channels of one frame.
        width: base width w.
        max_velocity: flow bound in LR pixels (24).
        conventions: ``"port"`` (decoder upsampling ``F.interpolate`` bilinear, half-pixel centres) or ``"tf"``
            (TF1 ``resize_images``, no half-pixel centres), for the official TensorFlow weights.

    Shape:
        - curr, prev: (N, in_nc, H, W), H and W multiples of 8.
        - Output: (N, 2, H, W); channel 0 = x (horizontal) displacement, 1 = y, from ``curr`` to ``prev``.
    """

    def __init__(self, in_nc: int = 3, width: int = 32, max_velocity: float = 24.0, conventions: str = "port") -> None:
        super().__init__()
        w = width
        self.max_velocity = max_velocity
        self.resize = LegacyBilinearUpsampler(2) if check_conventions(conventions) == "tf" else None
        self.encoder1 = nn.Sequential(*_conv_lrelu_pair(2 * in_nc, w), nn.MaxPool2d(2, 2))
        self.encoder2 = nn.Sequential(*_conv_lrelu_pair(w, 2 * w), nn.MaxPool2d(2, 2))
        self.encoder3 = nn.Sequential(*_conv_lrelu_pair(2 * w, 4 * w), nn.MaxPool2d(2, 2))
        self.decoder1 = _conv_lrelu_pair(4 * w, 8 * w)
        self.decoder2 = _conv_lrelu_pair(8 * w, 4 * w)
        self.decoder3 = _conv_lrelu_pair(4 * w, 2 * w)
        self.flow = nn.Sequential(nn.Conv2d(2 * w, w, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(w, 2, 3, 1, 1))

    def forward(self, curr: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        out = self.encoder3(self.encoder2(self.encoder1(torch.cat([curr, prev], dim=1))))
        for decoder in (self.decoder1, self.decoder2, self.decoder3):
            out = decoder(out)
            out = self.resize(out) if self.resize is not None else F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=False)
        return torch.tanh(self.flow(out)) * self.max_velocity


class ResidualBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 + identity, no normalisation (through :func:`zoo.ops.residual_block`)."""

    def __init__(self, nf: int, fused: bool = False) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(nf, nf, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(nf, nf, 3, 1, 1))
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        op = residual_block_fused if self.fused else residual_block
        return op(x, self.conv[0].weight, self.conv[0].bias, self.conv[2].weight, self.conv[2].bias)


class SRNet(nn.Module):
    """Reconstruction: conv(C + s*s*C -> nf), nb residual blocks, 2 x (ConvTranspose stride 2 + ReLU), conv(nf -> C),
    plus the bicubic upsample of the LR frame.

    Args:
        in_nc: channels of one frame.
        nf: feature width (64 in the paper).
        nb: residual blocks (10, or 16 for the released TecoGAN).
        scale: upscaling factor (4).
        upsample_func: the residual upsampler.
        fused: residual blocks through the torch.compile'd op.
        conventions: ``"port"`` (``ConvTranspose2d(padding=1, output_padding=1)``) or ``"tf"`` (TF ``SAME``
            transposed convolutions, one pixel shifted: see :class:`TFConvTranspose2d`).

    Shape:
        - lr: (N, in_nc, H, W); warped: (N, s*s*in_nc, H, W).
        - Output: (N, in_nc, s*H, s*W).
    """

    def __init__(
        self, in_nc: int, nf: int, nb: int, scale: int, upsample_func: nn.Module, fused: bool = False, conventions: str = "port"
    ) -> None:
        super().__init__()
        if scale != 4:
            raise ValueError(f"scale: expected 4 (two stride-2 transposed convolutions), received {scale}")
        self.conv_in = nn.Sequential(nn.Conv2d((scale * scale + 1) * in_nc, nf, 3, 1, 1), nn.ReLU(inplace=True))
        self.resblocks = nn.Sequential(*[ResidualBlock(nf, fused) for _ in range(nb)])
        up = TFConvTranspose2d if check_conventions(conventions) == "tf" else PortConvTranspose2d
        self.conv_up = nn.Sequential(up(nf), nn.ReLU(inplace=True), up(nf), nn.ReLU(inplace=True))
        self.conv_out = nn.Conv2d(nf, in_nc, 3, 1, 1)
        self.upsample_func = upsample_func

    def forward_features(self, x: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """SRNet on its concatenated input ``x`` (N, C + s*s*C, H, W); ``lr`` is the current frame."""
        out = self.conv_out(self.conv_up(self.resblocks(self.conv_in(x))))
        return out + self.upsample_func(lr)

    def forward(self, lr: torch.Tensor, warped: torch.Tensor) -> torch.Tensor:
        return self.forward_features(torch.cat([lr, warped], dim=1), lr)


class FRNet(nn.Module):
    """The frame-recurrent generator: ``hr_t = SRNet(lr_t, space_to_depth(warp(hr_{t-1}, s * up(FNet(lr_t, lr_{t-1})))))``.

    Args:
        in_nc: channels of one frame.
        nf: SRNet width.
        nb: SRNet residual blocks.
        degradation: ``"BD"`` (TF-like bicubic residual and flow upsampling) or ``"BI"`` (``F.interpolate``).
        scale: 4.
        fnet_width: FNet base width (32 = the paper's).
        fused: warp chain and residual blocks through the torch.compile'd ops.
        conventions: ``"port"`` (the PyTorch port: its weights and parity fixture) or ``"tf"`` (the official
            TensorFlow graph: TF1 resizes in FNet, the flow upsampled by ``upscale_four`` (bilinear), TF ``SAME``
            transposed convolutions, the BD bicubic residual). Weights convert with :mod:`zoo.models.tecogan.convert`.
    """

    def __init__(
        self, in_nc: int = 3, nf: int = 64, nb: int = 10, degradation: str = "BD", scale: int = 4, fnet_width: int = 32,
        fused: bool = False, conventions: str = "port",
    ) -> None:
        super().__init__()
        self.scale = scale
        self.fused = fused
        tf = check_conventions(conventions) == "tf"
        self.upsample_func = make_upsampler("BD" if tf else degradation, scale)
        self.flow_upsample = LegacyBilinearUpsampler(scale) if tf else None
        self.fnet = FNet(in_nc, fnet_width, conventions=conventions)
        # SRNet holds its own copy (the port stores the table twice; one shared tensor could not be saved as safetensors)
        self.srnet = SRNet(in_nc, nf, nb, scale, make_upsampler("BD" if tf else degradation, scale), fused, conventions)

    def lr_flow(self, lr_curr: torch.Tensor, lr_prev: torch.Tensor) -> torch.Tensor:
        """FNet flow, reflect-padded on the bottom/right when H or W is not a multiple of 8. Shape: (N, 2, H, W)."""
        h, w = lr_curr.shape[-2:]
        flow = self.fnet(lr_curr, lr_prev)
        return F.pad(flow, (0, w - flow.shape[-1], 0, h - flow.shape[-2]), mode="reflect") if flow.shape[-2:] != (h, w) else flow

    def hr_flow(self, lr_flow: torch.Tensor) -> torch.Tensor:
        """``scale * upsample(lr_flow)``, the flow applied to HR frames. Shape: (N, 2, s*H, s*W)."""
        up = self.flow_upsample if self.flow_upsample is not None else self.upsample_func
        return self.scale * up(lr_flow)

    def reconstruct(self, lr_curr: torch.Tensor, hr_prev: torch.Tensor, hr_flow: torch.Tensor) -> torch.Tensor:
        """SRNet on the current LR frame and the previous HR output warped by ``hr_flow``."""
        chain = warp_space_to_depth_cat_fused if self.fused else warp_space_to_depth_cat
        return self.srnet.forward_features(chain(lr_curr, hr_prev, hr_flow, self.scale), lr_curr)

    def step(self, lr_curr: torch.Tensor, lr_prev: torch.Tensor, hr_prev: torch.Tensor) -> torch.Tensor:
        """One recurrent step (the streaming inference unit).

        Args:
            lr_curr: current LR frame. Shape: (N, C, H, W).
            lr_prev: previous LR frame (zeros at the first frame). Shape: (N, C, H, W).
            hr_prev: previous HR output (zeros at the first frame). Shape: (N, C, s*H, s*W).

        Returns:
            The current HR frame. Shape: (N, C, s*H, s*W).
        """
        return self.reconstruct(lr_curr, hr_prev, self.hr_flow(self.lr_flow(lr_curr, lr_prev)))

    def forward(self, lr: torch.Tensor, lr_prev: torch.Tensor | None = None, hr_prev: torch.Tensor | None = None, *, return_flows: bool = False):
        """Run the recurrence over whole clips (training and batched inference), optionally continuing a stream.

        Without ``hr_prev`` the first frame uses a zero previous HR frame (its flow is irrelevant: warping zeros gives
        zeros), so flows are only estimated for the ``T - 1`` consecutive pairs, all at once.

        Args:
            lr: LR clips. Shape: (N, T, C, H, W).
            lr_prev: with ``hr_prev``, the LR frame before ``lr[:, 0]``. Shape: (N, C, H, W).
            hr_prev: the HR output of that frame, to continue a stream chunk by chunk. Shape: (N, C, s*H, s*W).
            return_flows: also return the LR flows and HR flows of the pairs.

        Returns:
            HR clips (N, T, C, s*H, s*W); with ``return_flows``, also ``lr_flow`` (N, P, 2, H, W) and ``hr_flow``
            (N, P, 2, s*H, s*W) of the P consecutive pairs, pair i being FNet(frame i+1, frame i).
        """
        n, t, c, h, w = lr.shape
        s = self.scale
        if hr_prev is None:
            seq, hr = lr, self.srnet(lr[:, 0], lr.new_zeros(n, s * s * c, h, w))
            outputs = [hr]
        else:
            if lr_prev is None:
                raise ValueError("lr_prev: expected the LR frame before the clip when hr_prev is given, received None")
            seq, hr, outputs = torch.cat([lr_prev[:, None], lr], dim=1), hr_prev, []
        pairs = seq.shape[1] - 1
        lr_flow = hr_flow = lr.new_zeros(n, 0, 2, h, w)
        if pairs > 0:
            lr_flow = self.lr_flow(seq[:, 1:].reshape(-1, c, h, w), seq[:, :-1].reshape(-1, c, h, w))
            hr_flow = self.hr_flow(lr_flow).view(n, pairs, 2, s * h, s * w)
            lr_flow = lr_flow.view(n, pairs, 2, h, w)
            for i in range(1, seq.shape[1]):
                hr = self.reconstruct(seq[:, i], hr, hr_flow[:, i - 1])
                outputs.append(hr)
        out = torch.stack(outputs, dim=1)
        return (out, lr_flow, hr_flow) if return_flows else out


class SpatioTemporalDiscriminator(nn.Module):
    """TecoGAN's D_s,t on frame triplets, with the PyTorch port's key names and dense head.

    Input: 27 channels = the original triplet, the triplet warped to its middle frame (border of
    ``1 - crop_border_ratio`` zeroed) and the bicubic-upsampled LR triplet (each in RRRGGGBBB order).
    conv3 27 -> 64 + LReLU, 4 x [conv4 stride 2 (no bias) + BatchNorm + LReLU 0.2] (64, 64, 128, 256),
    ``Linear(256 * (size/16)^2, 1)``.

    Args:
        in_nc: channels of one frame.
        spatial_size: HR crop side the dense head is built for (a multiple of 16).

    Shape:
        - Input: (M, 9 * in_nc, spatial_size, spatial_size).
        - Output: logits (M, 1) and the 4 intermediate feature maps (for the feature-matching loss).
    """

    def __init__(self, in_nc: int = 3, spatial_size: int = 128) -> None:
        super().__init__()
        if spatial_size % 16:
            raise ValueError(f"spatial_size: expected a multiple of 16, received {spatial_size}")
        self.spatial_size = spatial_size
        self.conv_in = nn.Sequential(nn.Conv2d(in_nc * 9, 64, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True))
        widths = (64, 64, 64, 128, 256)
        blocks = {
            f"block{i + 1}": nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1, bias=False), nn.BatchNorm2d(widths[i + 1]), nn.LeakyReLU(0.2, inplace=True))
            for i in range(4)
        }
        self.discriminator_block = nn.ModuleDict(blocks)
        self.dense = nn.Linear(256 * (spatial_size // 16) ** 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out = self.conv_in(x)
        features = []
        for block in self.discriminator_block.values():
            out = block(out)
            features.append(out)
        return self.dense(out.flatten(1)), features


def triplet_input(
    frames: torch.Tensor, bicubic: torch.Tensor, hr_flow_triplets: torch.Tensor, crop_border_ratio: float
) -> torch.Tensor:
    """Build D_s,t's 27-channel input from clips whose length is a multiple of 3.

    Args:
        frames: real or generated HR clips. Shape: (N, 3K, C, H, W).
        bicubic: bicubic-upsampled LR clips (the condition). Shape: (N, 3K, C, H, W).
        hr_flow_triplets: per triplet, the flows warping frames 0, 1, 2 onto the middle frame (frame 1's is zero).
            Shape: (N*K*3, 2, H, W).
        crop_border_ratio: the centre fraction of the warped triplet kept (0.75); the border is zero.

    Returns:
        Shape: (N*K, 9*C, H, W), channel blocks [original, warped, condition], each in RRRGGGBBB order.
    """
    n, t, c, h, w = frames.shape
    m = n * t // 3

    def rrrgggbbb(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(m, 3, c, h, w).transpose(1, 2).reshape(m, 3 * c, h, w)

    warped = rrrgggbbb(backward_warp(frames.reshape(n * t, c, h, w), hr_flow_triplets))
    ch, cw = int(h * crop_border_ratio), int(w * crop_border_ratio)
    ph, pw = (h - ch) // 2, (w - cw) // 2
    mask = torch.zeros(1, 1, h, w, device=frames.device, dtype=frames.dtype)
    mask[..., ph : ph + ch, pw : pw + cw] = 1.0
    return torch.cat([rrrgggbbb(frames), warped * mask, rrrgggbbb(bicubic)], dim=1)
