"""The modality-agnostic encoder: a stack of pre-norm ViT blocks, as the official release ships it.

The official "Meta-Transformer" encoder files hold only the transformer trunk of an OpenCLIP LAION-2B ViT
(B/16: 12 blocks of width 768, 12 heads; L/14: 24 blocks of width 1024, 16 heads), as an ``nn.Sequential`` of timm
``Block(dim, heads, mlp_ratio=4, qkv_bias=True, norm_layer=nn.LayerNorm)`` (LayerNorm eps 1e-5, exact GELU). The
blocks here are timm's, whose attention runs PyTorch's fused ``scaled_dot_product_attention``.
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block
from torch import nn

SIZES = {"tiny": (64, 2, 4), "base16": (768, 12, 12), "large14": (1024, 24, 16)}  # dim, depth, heads


class SharedEncoder(nn.Sequential):
    """``depth`` timm ViT blocks; key names ``{i}.norm1``, ``{i}.attn.qkv``, ... are the official file's.

    Args:
        dim: token width.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / dim.

    Shape:
        - Input: (N, T, dim) tokens, optional (N, T) boolean ``padding`` mask (True = padding, ignored as a key).
        - Output: (N, T, dim).
    """

    def __init__(self, dim: int, depth: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__(*(Block(dim, num_heads, mlp_ratio, qkv_bias=True, norm_layer=nn.LayerNorm) for _ in range(depth)))
        self.dim, self.num_heads = dim, num_heads

    def forward(self, tokens: torch.Tensor, padding: torch.Tensor | None = None) -> torch.Tensor:
        attn_mask = None if padding is None else ~padding[:, None, None, :]  # (N, 1, 1, T): True = attend
        for block in self:
            tokens = block(tokens, attn_mask=attn_mask)
        return tokens
