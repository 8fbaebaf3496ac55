"""Fused ops: each op has an eager reference and a torch.compile'd twin (``<op>_fused``).

A twin compiles on its first call (never at import) and then keeps itself only on the shapes where it beats the
eager op (:func:`zoo.ops.compile.lazy_compile`); inside an enclosing ``torch.compile`` it is the eager op, which that
graph fuses with its neighbours. The tests check that the two agree in values and gradients; ``zoo bench`` reports
their speed ratio at each model's own shapes (docs/benchmarks.md).
"""

from zoo.ops.attention import (
    condensed_query_attention,
    condensed_query_attention_fused,
    condensed_query_attention_reference,
)
from zoo.ops.compile import compile_for_inference, faster_of, frozen, inference_path, lazy_compile
from zoo.ops.color import white_balance_normalize_gamma, white_balance_normalize_gamma_fused
from zoo.ops.em import gaussian_e_step, gaussian_e_step_fused
from zoo.ops.modulation import demodulate, demodulate_fused
from zoo.ops.norm import rezero_residual_layer_norm, rezero_residual_layer_norm_fused
from zoo.ops.quantize import int8_inference, quantize_int8
from zoo.ops.warp import (
    backward_warp,
    residual_block,
    residual_block_fused,
    space_to_depth,
    warp_space_to_depth_cat,
    warp_space_to_depth_cat_fused,
)

__all__ = [
    "compile_for_inference",
    "faster_of",
    "frozen",
    "inference_path",
    "int8_inference",
    "lazy_compile",
    "quantize_int8",
    "white_balance_normalize_gamma",
    "white_balance_normalize_gamma_fused",
    "gaussian_e_step",
    "gaussian_e_step_fused",
    "condensed_query_attention",
    "condensed_query_attention_fused",
    "condensed_query_attention_reference",
    "demodulate",
    "demodulate_fused",
    "rezero_residual_layer_norm",
    "rezero_residual_layer_norm_fused",
    "backward_warp",
    "space_to_depth",
    "warp_space_to_depth_cat",
    "warp_space_to_depth_cat_fused",
    "residual_block",
    "residual_block_fused",
]
