"""The Rawformer generator in a plain formulation, for ``tools/bench.py``: same weights, same function, computed
step by step as the official code does (materialised attention matrices, demodulation from an explicit
(N, C_out, C_in) product, sequence-first ``nn.MultiheadAttention`` with separate residual and norm ops)."""

from __future__ import annotations

import torch

from zoo.models.rawformer.model import RawFormerBlock, RawformerGenerator, TransformerBlock
from zoo.ops.attention import condensed_query_attention_reference


def _attention(block: RawFormerBlock, x: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
    attn = block.attn
    q, k, v = attn.qkv(x).chunk(3, dim=1)
    if style is not None:
        q = q * style.unsqueeze(2).unsqueeze(3)
    q_reduced = attn.q_reduce(attn.pool(q))
    out = attn.proj(condensed_query_attention_reference(q, k, v, q_reduced, attn.token, attn.temperature))
    if style is not None and attn.demod:
        w_sq = attn.proj.weight.square().sum(dim=(2, 3)).swapaxes(0, 1).unsqueeze(0)  # (1, C_in, C_out)
        sigma_sq = (style.square().unsqueeze(2) * w_sq).sum(dim=1)
        out = out * (1 / torch.sqrt(sigma_sq + 1e-6)).unsqueeze(2).unsqueeze(3)
    return out


def _rawformer_block(block: RawFormerBlock, x: torch.Tensor, mod: torch.Tensor | None) -> torch.Tensor:
    style = None
    if block.modulated:
        style = 1 + (block.style_gain if block.style_gain is not None else 1) * block.style(mod)
    n = block.norm1(x)
    x = x + block.pw(torch.cat([_attention(block, n, style), block.act(block.dw(n))], dim=1))
    x = x + block.ffn(block.norm2(x))
    return block.act(block.out_conv(x))


def _transformer_block(block: TransformerBlock, x: torch.Tensor) -> torch.Tensor:
    gain = block.gain if block.gain is not None else 1
    y1 = block.norm1(x) if block.norm1 is not None else x
    y1, _ = torch.nn.functional.multi_head_attention_forward(
        y1, y1, y1, block.attn.embed_dim, block.attn.num_heads, block.attn.in_proj_weight, block.attn.in_proj_bias,
        None, None, False, 0.0, block.attn.out_proj.weight, block.attn.out_proj.bias, training=False, need_weights=False,
    )
    y = x + gain * y1
    y2 = block.norm2(y) if block.norm2 is not None else y
    return y + gain * block.mlp(y2)


@torch.no_grad()
def plain_forward(gen: RawformerGenerator, x: torch.Tensor) -> torch.Tensor:
    """``gen(x)`` in the plain formulation. Shape: (N, C, H, W) -> (N, C, H, W)."""
    y, skips = gen.stem(x), []
    for level in gen.encoders:
        skip = _rawformer_block(level.block, y, None)
        skips.append(skip)
        y = level.down(skip)
    vit = gen.bottleneck
    n, c, h, w = y.shape
    tokens = y.view(n, c, -1).permute(0, 2, 1)
    z = vit.input_proj(torch.cat([vit.position_embedding(h, w).expand(n, -1, -1), tokens], dim=2))
    z = torch.cat([z, vit.extra_tokens.tile(n, 1, 1)], dim=1).permute(1, 0, 2)  # sequence-first, as official
    for block in vit.blocks:
        z = _transformer_block(block, z)
    z = z.permute(1, 0, 2)
    y = vit.output_proj(z[:, : h * w]).permute(0, 2, 1).reshape(n, c, h, w)
    mod = z[:, h * w :].reshape(n, -1)
    for i in reversed(range(len(gen.decoders))):
        level = gen.decoders[i]
        up = level.up(y) * (level.gain if level.gain is not None else 1)
        y = _rawformer_block(level.block, torch.cat([up, skips[i]], dim=1), mod)
    y = gen.head(y)
    return torch.sigmoid(y) if gen.output_act == "sigmoid" else y


class PlainGenerator(torch.nn.Module):
    """:func:`plain_forward` as a module over ``gen``'s weights (what torch.compile and the bench take)."""

    def __init__(self, gen: RawformerGenerator) -> None:
        super().__init__()
        self.gen = gen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return plain_forward(self.gen, x)


def bench_paths(model, batch_size: int | None = None, size: int | None = None) -> list:
    """``zoo bench`` row: the A -> B generator on ``batch`` (default 1) images of ``size`` px (default 256, rounded
    to the generator's multiple), the plain formulation as the reference."""
    from zoo.bench import BenchPaths

    gen = model.inference_net.ab
    batch_size = batch_size or 1
    side = max(model.multiple, (size or 256) // model.multiple * model.multiple)
    x = torch.rand(batch_size, model.config.channels, side, side, generator=torch.Generator().manual_seed(0)).to(model.device)
    return [BenchPaths(f"generator A->B {batch_size}x{model.config.channels}x{side}x{side}", gen, (x,), PlainGenerator(gen).eval(), items=batch_size, channels_last=True)]
