"""The Rawformer generator (Perevozchikov et al., ECCV 2024) as plain nn.Modules, usable without Lightning.

A U-Net of RawFormer blocks (condensed-query attention + depth-wise conv branch, SPFN feed-forward) around a
pixel-wise ViT bottleneck whose extra token is the style vector of the decoder's modulated blocks. The official
``vit-rawnet`` generator nests its U-Net levels (``net.modnet.inner_module...``); here they are flat lists
(``encoders[i]``, ``decoders[i]``) and ``convert.py`` maps the keys.

Unlike the official model, which is locked to the resolution it was built for, this one runs at any size whose
sides are multiples of 64: the bottleneck's position grid is rebuilt for the input's size by the official
formula (identical at the built size).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.ops.attention import condensed_query_attention
from zoo.ops.modulation import demodulate
from zoo.ops.norm import rezero_residual_layer_norm

ACTIVATIONS = ("gelu", "relu", "leakyrelu", "linear", None)
UNET_NORMS = (None, "batch", "instance")
DOWNSAMPLES = ("conv", "conv3", "avgpool", "maxpool")
UPSAMPLES = ("upsample-conv", "deconv", "upsample")


def activation(name: str | None) -> nn.Module:
    """The official code's activation by name (LeakyReLU keeps PyTorch's default slope 0.01)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {ACTIVATIONS}, received {name!r}")
    return {"gelu": nn.GELU, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU}.get(name, nn.Identity)()


def unet_norm(name: str | None, channels: int) -> nn.Module:
    """Normalisation of the U-Net blocks (None in the paper's preset)."""
    if name not in UNET_NORMS:
        raise ValueError(f"unet_norm: expected one of {UNET_NORMS}, received {name!r}")
    return {"batch": nn.BatchNorm2d, "instance": nn.InstanceNorm2d}.get(name, lambda c: nn.Identity())(channels)


def downsample_layer(name: str, channels: int) -> nn.Module:
    """Stride-2 downsampling that keeps the channel count (``'conv'``: 2x2 conv, the preset)."""
    layers = {
        "conv": lambda: nn.Conv2d(channels, channels, 2, stride=2),
        "conv3": lambda: nn.Conv2d(channels, channels, 3, stride=2, padding=1),
        "avgpool": lambda: nn.AvgPool2d(2, 2),
        "maxpool": lambda: nn.MaxPool2d(2, 2),
    }
    if name not in layers:
        raise ValueError(f"downsample: expected one of {DOWNSAMPLES}, received {name!r}")
    return layers[name]()


def upsample_layer(name: str, channels: int) -> nn.Module:
    """x2 upsampling that keeps the channel count (``'upsample-conv'``: nearest neighbour, then a 3x3 conv)."""
    layers = {
        "upsample-conv": lambda: nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(channels, channels, 3, padding=1)),
        "deconv": lambda: nn.ConvTranspose2d(channels, channels, 2, stride=2),
        "upsample": lambda: nn.Upsample(scale_factor=2),
    }
    if name not in layers:
        raise ValueError(f"upsample: expected one of {UPSAMPLES}, received {name!r}")
    return layers[name]()


class CondensedQueryAttention(nn.Module):
    """Condensed-query attention on ``token x token`` tokens, optionally style-modulated and demodulated.

    Args:
        dim: channels C; the temperature is ``1/sqrt(C)`` (fixed, as the official code).
        token: token side.
        modulated: scale the query by the per-sample style and demodulate the output projection.
        demod: with ``modulated``, apply the demodulation.

    Shape:
        - x: (N, C, H, W), H and W divisible by ``2 * token``; style: (N, C) when modulated.
        - output: (N, C, H, W).
    """

    def __init__(self, dim: int, token: int = 4, modulated: bool = False, demod: bool = True) -> None:
        super().__init__()
        self.qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.pool = nn.AvgPool2d(2, 2)
        self.q_reduce = nn.Conv2d(dim, dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)
        self.token, self.temperature = token, 1.0 / math.sqrt(dim)
        self.modulated, self.demod = modulated, demod

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=1)
        if self.modulated:
            q = q * style[:, :, None, None]
        q_reduced = self.q_reduce(self.pool(q))
        out = self.proj(condensed_query_attention(q, k, v, q_reduced, self.token, self.temperature))
        if self.modulated and self.demod:
            out = demodulate(out, style, self.proj.weight)
        return out


class SPFN(nn.Module):
    """The two-branch feed-forward: 1x1 -> depth-wise 3x3 / 5x5 -> ReLU, cross-concatenated, 1x1 each, summed.

    Shape:
        - x: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.expand3 = nn.Conv2d(channels, hidden, 1)
        self.dw3 = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fuse3 = nn.Conv2d(2 * hidden, channels, 1)
        self.expand5 = nn.Conv2d(channels, hidden, 1)
        self.dw5 = nn.Conv2d(hidden, hidden, 5, padding=2, groups=hidden)
        self.fuse5 = nn.Conv2d(2 * hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.dw3(self.expand3(x)))
        b = F.relu(self.dw5(self.expand5(x)))
        return self.fuse3(torch.cat([b, a], 1)) + self.fuse5(torch.cat([a, b], 1))


class RawFormerBlock(nn.Module):
    """``x + pw([CQA(n), act(dw(n))])``, then ``+ SPFN(norm(x))``, then ``act(conv3x3)`` to ``out_channels``.

    Args:
        in_channels: input channels (the attention and SPFN width).
        out_channels: output channels.
        hidden: SPFN hidden width.
        act: activation name.
        norm: U-Net normalisation name.
        token: attention token side.
        style_dim: None for the encoder block; the style vector's size for the decoder's modulated block.
        demod, style_rezero, style_bias: options of the modulated block.

    Shape:
        - x: (N, in_channels, H, W); style: (N, style_dim) when modulated.
        - output: (N, out_channels, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int,
        act: str | None = "leakyrelu",
        norm: str | None = None,
        token: int = 4,
        style_dim: int | None = None,
        demod: bool = True,
        style_rezero: bool = True,
        style_bias: bool = True,
    ) -> None:
        super().__init__()
        self.modulated = style_dim is not None
        if self.modulated:
            self.style = nn.Linear(style_dim, in_channels, bias=style_bias)
            self.style_gain = nn.Parameter(torch.zeros(1)) if style_rezero else None
        self.norm1 = unet_norm(norm, in_channels)
        self.attn = CondensedQueryAttention(in_channels, token, self.modulated, demod)
        self.dw = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels)
        self.pw = nn.Conv2d(2 * in_channels, in_channels, 1)
        self.norm2 = unet_norm(norm, in_channels)
        self.ffn = SPFN(in_channels, hidden)
        self.out_conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.act = activation(act)

    def forward(self, x: torch.Tensor, mod: torch.Tensor | None = None) -> torch.Tensor:
        style = None
        if self.modulated:
            gain = self.style_gain if self.style_gain is not None else 1.0
            style = 1.0 + gain * self.style(mod)
        n = self.norm1(x)
        x = x + self.pw(torch.cat([self.attn(n, style), self.act(self.dw(n))], 1))
        x = x + self.ffn(self.norm2(x))
        return self.act(self.out_conv(x))


def official_position_grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The official bottleneck's position buffers for an ``height x width`` grid (``x_const``, ``y_const``).

    They come from an "ij" meshgrid of (arange(width), arange(height)): for token ``k``, ``x = k // height`` and
    ``y = k % height``; on a square grid "x" is the token's row. Shape: (1, height * width) each.
    """
    k = torch.arange(height * width, dtype=torch.float32)
    return (k // height).view(1, -1), (k % height).view(1, -1)


class TransformerBlock(nn.Module):
    """Pre-LN transformer block with ReZero gains (one shared gain for both sub-layers, as the official code).

    Shape:
        - x: (N, L, D) -> (N, L, D).
    """

    def __init__(self, dim: int, ffn_dim: int, heads: int, act: str | None = "gelu", norm: str | None = "layer", rezero: bool = True) -> None:
        super().__init__()
        if norm not in ("layer", None):
            raise ValueError(f"vit_norm: expected 'layer' or None, received {norm!r}")
        self.norm1 = nn.LayerNorm(dim) if norm else None
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim) if norm else None
        self.mlp = nn.Sequential(nn.Linear(dim, ffn_dim), activation(act), nn.Linear(ffn_dim, dim))
        self.gain = nn.Parameter(torch.zeros(1)) if rezero else None

    @staticmethod
    def _ln(norm: nn.LayerNorm | None) -> tuple:
        return (norm.weight, norm.bias, norm.eps) if norm is not None else (None, None, 1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gain = self.gain if self.gain is not None else 1.0
        w1, b1, eps1 = self._ln(self.norm1)
        w2, b2, eps2 = self._ln(self.norm2)
        h = F.layer_norm(x, x.shape[-1:], w1, b1, eps1) if w1 is not None else x
        y, h = rezero_residual_layer_norm(x, self.attn(h, h, h, need_weights=False)[0], gain, w2, b2, eps2)
        return y + gain * self.mlp(h)


class PixelwiseViT(nn.Module):
    """The bottleneck: every pixel is a token, with a Fourier position embedding and ``n_ext`` extra tokens
    appended whose outputs form the style vector.

    Args:
        in_channels: channels of the bottleneck feature map.
        dim, heads, blocks, ffn_dim, embed_dim: transformer sizes.
        grid: (height, width) of the bottleneck the position buffers are built for.
        act, norm, rezero: block options.
        n_ext: extra tokens.

    Shape:
        - x: (N, in_channels, h, w), h and w >= 2.
        - output: ``(y, mod)`` with y (N, in_channels, h, w) and mod (N, n_ext * dim).
    """

    def __init__(
        self,
        in_channels: int,
        dim: int,
        heads: int,
        blocks: int,
        ffn_dim: int,
        embed_dim: int,
        grid: tuple[int, int],
        act: str | None = "gelu",
        norm: str | None = "layer",
        rezero: bool = True,
        n_ext: int = 1,
    ) -> None:
        super().__init__()
        x_pos, y_pos = official_position_grid(*grid)
        self.register_buffer("x_pos", x_pos)
        self.register_buffer("y_pos", y_pos)
        self.grid = tuple(grid)
        self.pos_proj = nn.Linear(2, embed_dim)
        self.input_proj = nn.Linear(embed_dim + in_channels, dim)
        self.blocks = nn.Sequential(*[TransformerBlock(dim, ffn_dim, heads, act, norm, rezero) for _ in range(blocks)])
        self.extra_tokens = nn.Parameter(torch.randn(1, n_ext, dim))
        self.output_proj = nn.Linear(dim, in_channels)

    def position_embedding(self, height: int, width: int) -> torch.Tensor:
        """``sin(Linear(x_norm, y_norm))`` over the grid. Shape: (1, height * width, embed_dim)."""
        if (height, width) == self.grid:
            x_pos, y_pos = self.x_pos, self.y_pos
        else:  # rebuilt for this input size, exactly as the official model built at that size would hold it
            x_pos, y_pos = (t.to(self.x_pos) for t in official_position_grid(height, width))
        coords = torch.stack([2 * x_pos / (width - 1) - 1, 2 * y_pos / (height - 1) - 1], dim=-1)
        return torch.sin(self.pos_proj(coords))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        pos = self.position_embedding(h, w).expand(n, -1, -1)
        y = self.input_proj(torch.cat([pos, tokens], dim=-1))
        y = self.blocks(torch.cat([y, self.extra_tokens.expand(n, -1, -1)], dim=1))
        out = self.output_proj(y[:, : h * w]).transpose(1, 2).reshape(n, c, h, w)
        return out, y[:, h * w :].reshape(n, -1)


class EncoderLevel(nn.Module):
    """A RawFormer block (its output is the skip) followed by stride-2 downsampling."""

    def __init__(self, in_channels: int, channels: int, act: str | None, norm: str | None, token: int, downsample: str) -> None:
        super().__init__()
        self.block = RawFormerBlock(in_channels, channels, channels, act, norm, token)
        self.down = downsample_layer(downsample, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.block(x)
        return self.down(skip), skip


class DecoderLevel(nn.Module):
    """x2 upsampling (optionally ReZero-scaled), concatenation ``[up, skip]``, then a modulated RawFormer block."""

    def __init__(
        self, channels: int, out_channels: int, style_dim: int, act: str | None, norm: str | None, token: int,
        upsample: str, rezero: bool, demod: bool, style_rezero: bool, style_bias: bool,
    ) -> None:
        super().__init__()
        self.up = upsample_layer(upsample, channels)
        self.gain = nn.Parameter(torch.zeros(1)) if rezero else None
        self.block = RawFormerBlock(
            2 * channels, out_channels, channels, act, norm, token, style_dim, demod, style_rezero, style_bias
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor, mod: torch.Tensor) -> torch.Tensor:
        up = self.up(x)
        if self.gain is not None:
            up = self.gain * up
        return self.block(torch.cat([up, skip], 1), mod)


class RawformerGenerator(nn.Module):
    """The ``vit-rawnet`` generator: stem conv, U-Net of RawFormer levels, pixel-wise ViT bottleneck, 1x1 head.

    Arguments mirror the official constructor (``features`` -> ``vit_dim``, ``modnet_features_list`` ->
    ``unet_features``, ...); see :class:`~zoo.models.rawformer.module.RawformerConfig`.

    Shape:
        - x: (N, channels, H, W), H and W multiples of ``2**(len(unet_features) - 1) * 2 * token`` (64 for 4 levels:
          the deepest attention level runs at 1/8 resolution on ``2 * token``-divisible sides).
        - output: (N, channels, H, W); in [0, 1] with the sigmoid output.
    """

    def __init__(
        self,
        channels: int = 3,
        image_size: tuple[int, int] = (256, 256),
        unet_features: tuple[int, ...] = (24, 48, 96, 192),
        unet_act: str | None = "leakyrelu",
        unet_norm: str | None = None,
        downsample: str = "conv",
        upsample: str = "upsample-conv",
        unet_rezero: bool = False,
        demod: bool = True,
        style_rezero: bool = True,
        style_bias: bool = True,
        token: int = 4,
        vit_dim: int = 192,
        vit_heads: int = 6,
        vit_blocks: int = 12,
        vit_ffn: int = 768,
        vit_embed: int = 192,
        vit_act: str | None = "gelu",
        vit_norm: str | None = "layer",
        vit_rezero: bool = True,
        n_ext: int = 1,
        output_act: str | None = "sigmoid",
    ) -> None:
        super().__init__()
        if output_act not in ("sigmoid", None, "linear"):
            raise ValueError(f"output_act: expected 'sigmoid' or None, received {output_act!r}")
        self.multiple = 2 ** (len(unet_features) - 1) * 2 * token
        self.output_act = output_act
        self.stem = nn.Sequential(nn.Conv2d(channels, unet_features[0], 3, padding=1), activation(unet_act))
        widths = (unet_features[0], *unet_features)
        self.encoders = nn.ModuleList(
            EncoderLevel(widths[i], widths[i + 1], unet_act, unet_norm, token, downsample) for i in range(len(unet_features))
        )
        grid = tuple(s // 2 ** len(unet_features) for s in image_size)
        self.bottleneck = PixelwiseViT(
            unet_features[-1], vit_dim, vit_heads, vit_blocks, vit_ffn, vit_embed, grid, vit_act, vit_norm, vit_rezero, n_ext
        )
        self.decoders = nn.ModuleList(
            DecoderLevel(
                widths[i + 1], widths[i], vit_dim * n_ext, unet_act, unet_norm, token, upsample, unet_rezero, demod,
                style_rezero, style_bias,
            )
            for i in range(len(unet_features))
        )
        self.head = nn.Conv2d(unet_features[0], channels, 1)

    def forward_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate activation by the parity fixture's names (``stem``, ``enc{i}_skip``, ``mod``, ...)."""
        feats = {"stem": self.stem(x)}
        y, skips = feats["stem"], []
        for i, level in enumerate(self.encoders):
            y, skip = level(y)
            feats[f"enc{i}_skip"], feats[f"enc{i}_down"] = skip, y
            skips.append(skip)
        feats["bottleneck_in"] = y
        y, mod = self.bottleneck(y)
        feats["bottleneck_out"], feats["mod"] = y, mod
        for i in reversed(range(len(self.decoders))):
            y = self.decoders[i](y, skips[i], mod)
            feats[f"dec{i}"] = y
        feats["pre_sigmoid"] = self.head(y)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.forward_features(x)["pre_sigmoid"]
        return torch.sigmoid(y) if self.output_act == "sigmoid" else y


class CycleGenerators(nn.Module):
    """The two generators of a CycleGAN-style model: ``ab`` translates domain A to B, ``ba`` the reverse.

    Shape:
        - x: what the generators take; ``forward(x)`` is A -> B, ``forward(x, reverse=True)`` B -> A.
    """

    def __init__(self, ab: nn.Module, ba: nn.Module) -> None:
        super().__init__()
        self.ab, self.ba = ab, ba

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        return (self.ba if reverse else self.ab)(x)
