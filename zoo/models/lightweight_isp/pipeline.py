"""The learned ISP for inference alone (``zoo.pipeline("lightweight_isp_efficient")``): the generator of ``model.py``
with its RAW input handling and sRGB output, importing neither Lightning nor torchmetrics.

:class:`~zoo.models.lightweight_isp.module.LightweightISP` uses the same functions for its ``predict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from zoo.core import checks
from zoo.data.camera_raw import is_camera_raw, read_camera_raw_packed
from zoo.data.raw import normalize_packed, pack_bayer, pseudo_isp, three_channel_split, unpack_bayer
from zoo.models.lightweight_isp.model import PackedConvISP, RMFANet
from zoo.pipelines import Pipeline

GENERATOR_WIDTHS = {"efficient": (12, 12), "robust": (16, 4)}
RAW_PIL_MODES = ("I;16", "I;16B", "I;16L", "I")
"""PIL modes of RAW files: 16- or 32-bit single-channel sensor counts."""
MAX_RAW_VALUES = 2**27
"""The most RAW values ``predict`` takes in one call (134 M: e.g. an 11,000 x 12,000 mosaic)."""


def build_generator(generator: str, rmfa_blocks: int, rmfa_width: int) -> nn.Module:
    """The generator network: EfficientISP / RobustISP (packed convolutions) or RMFA-Net."""
    if generator in GENERATOR_WIDTHS:
        return PackedConvISP(GENERATOR_WIDTHS[generator])
    if generator == "rmfa":
        return RMFANet(rmfa_blocks, rmfa_width)
    raise ValueError(f"generator: expected one of {sorted(GENERATOR_WIDTHS) + ['rmfa']}, received {generator!r}")


def raw_to_net_input(packed: torch.Tensor, generator: str) -> torch.Tensor:
    """Packed RAW (N, 4, h, w) -> the generator's input layout (RMFA-Net takes the three-channel split)."""
    return three_channel_split(unpack_bayer(packed)) if generator == "rmfa" else packed


def to_packed(x: Any, black_level: Sequence[float], white_level: float) -> tuple[torch.Tensor, dict[str, Any]]:
    """User-level RAW (see :meth:`LightweightISP.prepare_input`) -> validated packed RAW (N, 4, h, w) and an output context.

    Args:
        x: the RAW input.
        black_level: black level per packed plane, for RAW in sensor counts.
        white_level: white level, for RAW in sensor counts.
    """
    if is_camera_raw(x):  # DNG, CR2, NEF, ...: levels and CFA pattern from the file
        return to_packed(read_camera_raw_packed(x), black_level, white_level)[0], {"kind": "pil"}
    if isinstance(x, (str, Path)):
        return to_packed(checks.open_image(x, "RAW file"), black_level, white_level)[0], {"kind": "pil"}
    if isinstance(x, Image.Image):
        if x.mode not in RAW_PIL_MODES:
            note = " (8-bit greyscale is a picture, not sensor counts)" if x.mode == "L" else ""
            raise ValueError(
                f"RAW image: expected a single-channel Bayer image of sensor counts (mode {' or '.join(RAW_PIL_MODES)}), "
                f"received mode {x.mode!r}{note}"
            )
        return to_packed(np.array(x).astype(np.int32), black_level, white_level)[0], {"kind": "pil"}
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "iu":
            if x.ndim != 2:
                raise ValueError(f"RAW counts: expected an (H, W) integer Bayer mosaic, received {checks.describe(x)}")
            checks.check_max_numel(x, MAX_RAW_VALUES, "RAW counts")
            counts = torch.from_numpy(x.astype(np.float32))[None, None]
            checks.check_not_empty(counts, "RAW counts")
            checks.check_divisible(counts, 2, "RAW counts")
            checks.check_range(
                counts, 0.0, white_level, f"RAW counts (white level {white_level:g})",
                hint="counts above the white level would saturate: pass this sensor's counts, or build the model with its white_level and black_level",
            )
            packed = normalize_packed(pack_bayer(counts), black_level, white_level)
            return packed, {"kind": "numpy", "batched": False}
        if x.dtype.kind != "f":
            raise ValueError(f"RAW: expected an integer or floating-point array, received {checks.describe(x)}")
        return to_packed(torch.from_numpy(np.ascontiguousarray(x)), black_level, white_level)[0], {"kind": "numpy", "batched": x.ndim == 4}
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"RAW: expected a tensor, numpy array, PIL image or file path, received {checks.describe(x)}")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"RAW: expected shape (H, W), (C, H, W) or (N, C, H, W) with C = 1 (mosaic) or 4 (packed), received {checks.describe(x)}")
    checks.check_max_numel(x, MAX_RAW_VALUES, "RAW")
    checks.check_floating(x, "RAW")
    checks.check_not_empty(x, "RAW")
    batched = x.ndim == 4
    x = x.reshape(1, 1, *x.shape) if x.ndim == 2 else (x[None] if x.ndim == 3 else x)
    if x.shape[1] not in (1, 4):
        raise ValueError(f"RAW: expected 1 channel (Bayer mosaic) or 4 channels (packed RAW), received {checks.describe(x)}")
    checks.check_finite(x, "RAW")
    checks.check_range(x, -0.5, 2.0, "RAW (normalised by black and white level)", hint="pass integer sensor counts as an integer array")
    if x.shape[1] == 1:
        checks.check_divisible(x, 2, "Bayer mosaic")
        x = pack_bayer(x)
    return x.float(), {"kind": "tensor", "batched": batched}


def to_output(y: torch.Tensor, context: dict[str, Any]) -> Any:
    """Clamp to [0, 1]; a tensor for tensor input, an (H, W, 3) float array for arrays, a PIL image otherwise."""
    y = y.clamp(0.0, 1.0).float().cpu()
    if context["kind"] == "pil":
        return Image.fromarray((y[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8))
    if context["kind"] == "numpy":
        out = y.permute(0, 2, 3, 1).numpy()
        return out if context["batched"] else out[0]
    return y if context["batched"] else y[0]


class ISPPipeline(Pipeline):
    """RAW -> sRGB with the shipped generator; ``predict`` takes what :meth:`LightweightISP.prepare_input` takes.

    Example:
        >>> import zoo
        >>> rgb = zoo.pipeline("lightweight_isp_efficient").predict("sample_raw.png")  # PIL image
    """

    def build_net(self, config: dict[str, Any]) -> nn.Module:
        return build_generator(config.get("generator", "efficient"), config.get("rmfa_blocks", 2), config.get("rmfa_width", 16))

    def to_packed(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """User-level RAW -> validated packed RAW (N, 4, h, w) and an output context."""
        return to_packed(x, self.config["black_level"], self.config["white_level"])

    def pseudo_isp(self, packed: torch.Tensor) -> torch.Tensor:
        """The classical pseudo-ISP rendering of packed RAW (the baseline of the demo)."""
        return pseudo_isp(unpack_bayer(packed).clamp(0.0, 1.0), self.config["pseudo_isp_gains"])

    def prepare_input(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        packed, context = self.to_packed(x)
        return raw_to_net_input(packed, self.config.get("generator", "efficient")), context

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> Any:
        return to_output(y, context)
