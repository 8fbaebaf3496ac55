"""int8 inference on x86 CPUs: PT2E static quantisation (torchao's ``X86InductorQuantizer``) lowered by Inductor.

    from zoo.ops.quantize import int8_inference
    fast = int8_inference(net, calibration=[(x1,), (x2,)])   # net in eval mode, weights final
    with torch.no_grad():
        y = fast(x)

The flow is PyTorch's current one for x86 (in torch 2.14 it lives in torchao, ``torchao.quantization.pt2e``): export
the network with ``torch.export`` (batch and, for images, the spatial sides dynamic), insert observers
(``prepare_pt2e``), run calibration inputs through it, convert the observed ranges to quantise / dequantise pairs
(``convert_pt2e``) and compile the result with Inductor's freezing, whose x86 passes replace each
dequantise-conv-quantise chain by a oneDNN int8 convolution (weights per channel, activations per tensor,
post-op activations fused). The accuracy cost is the model's to measure: ``docs/isp_int8.md`` gives the ISP's PSNR
of int8 against fp32 on its held-out set, and its speed in the same process (``tools/isp_int8.py``).

Needs the ``int8`` extra (torchao).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Callable

import torch

from zoo.core.optional import require


def _as_args(item) -> tuple:
    return tuple(item) if isinstance(item, (tuple, list)) else (item,)


def _dynamic_shapes(args: tuple, spatial: bool) -> tuple:
    """Batch dynamic for every tensor argument; for 4-D tensors with ``spatial`` also height and width (``Dim.AUTO``:
    export derives the constraints the network puts on them, e.g. sides divisible by its pooling factor)."""
    auto = torch.export.Dim.AUTO
    return tuple(
        ({0: auto, 2: auto, 3: auto} if x.dim() == 4 and spatial else {0: auto}) if isinstance(x, torch.Tensor) else None
        for x in args
    )


def quantize_int8(net: torch.nn.Module, calibration: Iterable, spatial: bool = True) -> torch.fx.GraphModule:
    """``net`` statically quantised to int8 (not compiled): exported, observed on ``calibration``, converted.

    Args:
        net: an inference network in eval mode, its weights final.
        calibration: inputs that look like the data it will serve: tensors, or tuples of the network's arguments
            (at least one; a few batches suffice: only the activation ranges are estimated).
        spatial: export 4-D inputs with dynamic height and width (one graph for any image size).

    Returns:
        The converted graph module (quantise / dequantise nodes around fp32 ops); :func:`int8_inference` compiles it.

    Raises:
        ValueError: ``net`` is in training mode or ``calibration`` is empty.
    """
    require("torchao", "int8")
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import X86InductorQuantizer, get_default_x86_inductor_quantization_config

    if net.training:
        raise ValueError("net: expected a network in eval mode (int8 is for inference), received one in training mode")
    batches = [_as_args(item) for item in calibration]
    if not batches:
        raise ValueError("calibration: expected at least one input batch, received none")
    with torch.no_grad():
        exported = torch.export.export(net, batches[0], dynamic_shapes=_dynamic_shapes(batches[0], spatial)).module()
        quantizer = X86InductorQuantizer()
        quantizer.set_global(get_default_x86_inductor_quantization_config())
        observed = prepare_pt2e(exported, quantizer)
        for args in batches:
            observed(*args)
        return convert_pt2e(observed)


def int8_inference(net: torch.nn.Module, calibration: Iterable, spatial: bool = True) -> Callable:
    """:func:`quantize_int8` compiled with Inductor freezing: the int8 oneDNN kernels. Call the result under ``torch.no_grad()``; it compiles on its first call (and once more for
    the first call at a second input size, after which one dynamic-shape graph serves every size).

    Args:
        net, calibration, spatial: see :func:`quantize_int8`.

    Returns:
        A callable taking the same arguments as ``net`` (fp32 in, fp32 out).
    """
    from zoo.ops.compile import under_inductor_config

    # Inductor's x86 int8 passes (weight pre-packing, qconv fusion) read the global ``freezing`` flag, not the
    # per-call ``options`` of torch.compile that compile_for_inference passes: set it while the graph compiles.
    return under_inductor_config(torch.compile(quantize_int8(net, calibration, spatial)), {"freezing": True}, like=net.forward)
