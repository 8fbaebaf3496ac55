"""Condensed-query attention (Rawformer, ECCV 2024): attention between 4x4 spatial tokens through a pooled query.

Queries, keys and values are cut into non-overlapping ``t x t`` tokens (each a ``C*t*t`` vector); a second,
2x-pooled query ``q_r`` condenses them. With every token L2-normalised and a fixed temperature ``T``:

    out = softmax(q q_r^T T) (softmax(q_r k^T T) v)

which costs ``O(L * L/4)`` instead of ``O(L^2)`` for ``L`` tokens. :func:`condensed_query_attention` computes the
two products with ``scaled_dot_product_attention`` on a single head (no attention matrix is materialised);
:func:`condensed_query_attention_reference` is the explicit matrix formulation of the official code, which the
tests hold it equal to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.ops.compile import lazy_compile


def image_to_tokens(x: torch.Tensor, token: int) -> torch.Tensor:
    """Cut an image into non-overlapping ``token x token`` tokens, row-major.

    Args:
        x: Shape: (N, C, H, W), H and W divisible by ``token``.
        token: token side.

    Returns:
        Shape: (N, H/token * W/token, C * token * token); a token's vector is ordered (C, row, column).
    """
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // token, token, w // token, token).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(n, (h // token) * (w // token), c * token * token)


def tokens_to_image(tokens: torch.Tensor, channels: int, height: int, width: int, token: int) -> torch.Tensor:
    """Inverse of :func:`image_to_tokens`.

    Args:
        tokens: Shape: (N, H/token * W/token, C * token * token).

    Returns:
        Shape: (N, C, H, W).
    """
    n = tokens.shape[0]
    x = tokens.reshape(n, height // token, width // token, channels, token, token).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(n, channels, height, width)


def _check(q: torch.Tensor, q_reduced: torch.Tensor, token: int) -> None:
    h, w = q.shape[-2:]
    hr, wr = q_reduced.shape[-2:]
    if h % token or w % token or hr % token or wr % token:
        raise ValueError(
            f"condensed-query attention: expected query sides divisible by the token size {token} at full and pooled "
            f"resolution, received {h}x{w} and {hr}x{wr} (Rawformer needs image sides that are multiples of 64)"
        )


def _tokens(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_reduced: torch.Tensor, token: int) -> tuple[torch.Tensor, ...]:
    """The four token sequences, queries and keys L2-normalised (sides checked)."""
    _check(q, q_reduced, token)
    return tuple(
        F.normalize(image_to_tokens(t, token), dim=-1) if unit else image_to_tokens(t, token)
        for t, unit in ((q, True), (k, True), (v, False), (q_reduced, True))
    )


def condensed_query_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_reduced: torch.Tensor, token: int, temperature: float
) -> torch.Tensor:
    """Condensed-query attention through two ``scaled_dot_product_attention`` calls.

    Args:
        q: query. Shape: (N, C, H, W).
        k: key. Shape: (N, C, H, W).
        v: value. Shape: (N, C, H, W).
        q_reduced: the condensed query (pooled ``q``, projected). Shape: (N, C, H/2, W/2).
        token: token side (4 in the paper).
        temperature: logit scale (``1/sqrt(C)`` in the official code).

    Returns:
        Shape: (N, C, H, W).
    """
    qt, kt, vt, rt = _tokens(q, k, v, q_reduced, token)
    condensed = _single_head_attention(rt, kt, vt, temperature)
    out = _single_head_attention(qt, rt, condensed, temperature)
    return tokens_to_image(out, *q.shape[1:], token)


def _single_head_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """``scaled_dot_product_attention`` over one head: the tokens get a head axis of size 1 and lose it again, so that
    the op sees the 4-D (N, heads, L, E) layout that every backend takes (ONNX's Attention only takes 4-D inputs);
    the values are those of the 3-D call.

    Args:
        q: Shape: (N, Lq, E). k: Shape: (N, Lk, E). v: Shape: (N, Lk, Ev).
        scale: logit scale.

    Returns:
        Shape: (N, Lq, Ev).
    """
    return F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], scale=scale)[:, 0]


def condensed_query_attention_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_reduced: torch.Tensor, token: int, temperature: float
) -> torch.Tensor:
    """The explicit formulation: both attention matrices materialised, softmax, two products (official code).

    Same arguments, result and shapes as :func:`condensed_query_attention`.
    """
    qt, kt, vt, rt = _tokens(q, k, v, q_reduced, token)
    attn_condensed = torch.softmax(rt @ kt.transpose(-1, -2) * temperature, dim=-1)
    attn_expand = torch.softmax(qt @ rt.transpose(-1, -2) * temperature, dim=-1)
    return tokens_to_image(attn_expand @ (attn_condensed @ vt), *q.shape[1:], token)


condensed_query_attention_fused = lazy_compile(condensed_query_attention, dynamic=False)
