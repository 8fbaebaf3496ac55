"""RAW sensor data for every RAW model of the zoo: Bayer layouts, unprocessing, the classical pseudo-ISP.

Conventions (those of the Zurich RAW-to-RGB / Fujifilm UltraISP loaders and the official ISP code):

- A *mosaic* is the single-plane Bayer image, RGGB (R at (0, 0), G at (0, 1) and (1, 0), B at (1, 1)),
  shape ``(..., 1, H, W)`` with even ``H`` and ``W``.
- A *packed* RAW is ``(..., 4, H/2, W/2)`` with planes ``raw[1::2,1::2], raw[0::2,1::2], raw[0::2,0::2],
  raw[1::2,0::2]``, i.e. ``[B, G(0,1), R, G(1,0)]`` for RGGB: :data:`PACKED_PLANE_OFFSETS`.
- Normalised values are ``(counts - black) / (white - black)``, per packed plane.

Unprocessing follows Brooks et al., "Unprocessing Images for Learned Raw Denoising" (CVPR 2019): inverse
gamma, inverse smoothstep tone curve, inverse colour correction, inverse white balance (highlight-preserving),
mosaic, shot/read noise, black level and quantisation. Camera profiles are data, in ``camera_profiles.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import kornia
import torch

from zoo.core.checks import check_divisible, check_shape

PACKED_PLANE_OFFSETS: tuple[tuple[int, int], ...] = ((1, 1), (0, 1), (0, 0), (1, 0))
"""(row, column) offset in the 2x2 Bayer cell of each packed plane, in packed order."""

RGGB_COLOR_OF_OFFSET = {(0, 0): 0, (0, 1): 1, (1, 0): 1, (1, 1): 2}

_SRGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)


@dataclass(frozen=True)
class CameraProfile:
    """A sensor's colour and noise characteristics, as used by :func:`unprocess`.

    Args:
        name: profile name.
        xyz_to_cam: candidate 3x3 XYZ -> camera matrices; one is mixed per image (Brooks et al.).
        black_level: black level per packed plane, in sensor counts.
        white_level: saturation level in sensor counts.
        red_gain: range of the white-balance red gain.
        blue_gain: range of the white-balance blue gain.
        shot_noise: log-uniform range of the shot-noise variance factor.
        read_noise_fit: ``(slope, intercept, std)`` of log(read) vs log(shot).
        exposure: the sensor's relative sensitivity (exposure x gain): scales the linear signal before clipping.
    """

    name: str
    xyz_to_cam: tuple[tuple[tuple[float, ...], ...], ...]
    black_level: tuple[float, float, float, float]
    white_level: float
    red_gain: tuple[float, float]
    blue_gain: tuple[float, float]
    shot_noise: tuple[float, float]
    read_noise_fit: tuple[float, float, float]
    exposure: float = 1.0


@lru_cache(maxsize=1)
def camera_profiles() -> dict[str, CameraProfile]:
    """The camera profiles shipped in ``zoo/data/camera_profiles.json``, by name."""
    data = json.loads(Path(__file__).with_name("camera_profiles.json").read_text())
    out = {}
    for name, p in data.items():
        out[name] = CameraProfile(
            name=name,
            xyz_to_cam=tuple(tuple(tuple(r) for r in m) for m in p["xyz_to_cam"]),
            black_level=tuple(p["black_level"]),
            white_level=float(p["white_level"]),
            red_gain=tuple(p["red_gain"]),
            blue_gain=tuple(p["blue_gain"]),
            shot_noise=tuple(p["shot_noise"]),
            read_noise_fit=tuple(p["read_noise_fit"]),
            exposure=float(p.get("exposure", 1.0)),
        )
    return out


# --------------------------------------------------------------------------- layouts
def pack_bayer(mosaic: torch.Tensor) -> torch.Tensor:
    """Mosaic -> packed planes in the official order (:data:`PACKED_PLANE_OFFSETS`).

    Args:
        mosaic: Shape: (..., 1, H, W), H and W even.

    Returns:
        Shape: (..., 4, H/2, W/2).
    """
    check_shape(mosaic, ["*", "1", "H", "W"], "mosaic")
    check_divisible(mosaic, 2, "mosaic")
    return torch.cat([mosaic[..., r::2, c::2] for r, c in PACKED_PLANE_OFFSETS], dim=-3)


def unpack_bayer(packed: torch.Tensor) -> torch.Tensor:
    """Packed planes -> mosaic; the inverse of :func:`pack_bayer`.

    Args:
        packed: Shape: (..., 4, h, w).

    Returns:
        Shape: (..., 1, 2h, 2w).
    """
    check_shape(packed, ["*", "4", "h", "w"], "packed RAW")
    *lead, _, h, w = packed.shape
    mosaic = packed.new_zeros(*lead, 1, 2 * h, 2 * w)
    for plane, (r, c) in enumerate(PACKED_PLANE_OFFSETS):
        mosaic[..., 0, r::2, c::2] = packed[..., plane, :, :]
    return mosaic


def three_channel_split(mosaic: torch.Tensor, fill: float = 1.0) -> torch.Tensor:
    """Mosaic -> full-resolution R, G, B planes holding their own Bayer sites, ``fill`` elsewhere (RMFA-Net input).

    Args:
        mosaic: RGGB mosaic. Shape: (..., 1, H, W).
        fill: value of the sites a plane does not sample (1.0 in the official loader).

    Returns:
        Shape: (..., 3, H, W).
    """
    check_shape(mosaic, ["*", "1", "H", "W"], "mosaic")
    check_divisible(mosaic, 2, "mosaic")
    planes = torch.full((*mosaic.shape[:-3], 3, *mosaic.shape[-2:]), fill, dtype=mosaic.dtype, device=mosaic.device)
    for (r, c), color in RGGB_COLOR_OF_OFFSET.items():
        planes[..., color, r::2, c::2] = mosaic[..., 0, r::2, c::2]
    return planes


def mosaic_rggb(rgb: torch.Tensor) -> torch.Tensor:
    """Sample an RGB image on the RGGB Bayer pattern.

    Args:
        rgb: Shape: (..., 3, H, W), H and W even.

    Returns:
        Shape: (..., 1, H, W).
    """
    check_shape(rgb, ["*", "3", "H", "W"], "rgb")
    check_divisible(rgb, 2, "rgb")
    mosaic = rgb.new_zeros(*rgb.shape[:-3], 1, *rgb.shape[-2:])
    for (r, c), color in RGGB_COLOR_OF_OFFSET.items():
        mosaic[..., 0, r::2, c::2] = rgb[..., color, r::2, c::2]
    return mosaic


def demosaic_bilinear(mosaic: torch.Tensor) -> torch.Tensor:
    """Bilinear demosaicing of an RGGB mosaic (kornia's ``raw_to_rgb``; known samples stay intact).

    Args:
        mosaic: Shape: (N, 1, H, W).

    Returns:
        Shape: (N, 3, H, W).
    """
    return kornia.color.raw_to_rgb(mosaic, kornia.color.CFA.BG)


def normalize_packed(counts: torch.Tensor, black_level: tuple[float, ...], white_level: float) -> torch.Tensor:
    """Sensor counts of packed planes -> ``(counts - black) / (white - black)`` per plane.

    Args:
        counts: Shape: (..., 4, h, w).
    """
    black = torch.as_tensor(black_level, dtype=counts.dtype, device=counts.device).view(4, 1, 1)
    return (counts - black) / (white_level - black)


# ------------------------------------------------------------------------ unprocess
def _smoothstep_inverse(y: torch.Tensor) -> torch.Tensor:
    y = y.clamp(0.0, 1.0)
    return 0.5 - torch.sin(torch.asin(1.0 - 2.0 * y) / 3.0)


def _uniform(gen: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen))


def random_ccm(profile: CameraProfile, gen: torch.Generator) -> torch.Tensor:
    """A random sRGB -> camera matrix: a convex mix of the profile's XYZ->cam matrices, rows normalised to 1."""
    mats = torch.tensor(profile.xyz_to_cam, dtype=torch.float32)
    weights = torch.rand(len(mats), generator=gen) * 1e8 + 1e-8
    xyz_to_cam = (mats * (weights / weights.sum()).view(-1, 1, 1)).sum(0)
    rgb_to_cam = xyz_to_cam @ _SRGB_TO_XYZ
    return rgb_to_cam / rgb_to_cam.sum(-1, keepdim=True)


@dataclass
class UnprocessResult:
    """Output of :func:`unprocess`.

    Attributes:
        packed_counts: noisy, quantised sensor counts, packed. Shape: (4, H/2, W/2).
        packed: ``packed_counts`` normalised by black and white level. Shape: (4, H/2, W/2).
        rgb_gain, red_gain, blue_gain: the white-balance gains that were inverted.
        ccm: the sRGB -> camera matrix that was applied.
    """

    packed_counts: torch.Tensor
    packed: torch.Tensor
    rgb_gain: float
    red_gain: float
    blue_gain: float
    ccm: torch.Tensor


def unprocess(
    srgb: torch.Tensor, profile: CameraProfile, gen: torch.Generator, noise: bool = True, noise_gen: torch.Generator | None = None
) -> UnprocessResult:
    """Turn an sRGB image into the packed RAW a sensor with ``profile`` would have recorded.

    Args:
        srgb: Shape: (3, H, W), values in [0, 1], H and W even.
        profile: the camera profile.
        gen: random generator; the same seed gives the same RAW.
        noise: add heteroscedastic shot + read noise.
        noise_gen: generator of the per-pixel noise draw (default ``gen``). Two cameras capturing one scene share
            ``gen``'s scene draws (illuminant, gains, noise level) but need independent noise realisations.

    Returns:
        An :class:`UnprocessResult`.
    """
    check_shape(srgb, ["3", "H", "W"], "srgb")
    linear = srgb.clamp(0.0, 1.0)
    linear = _smoothstep_inverse(linear)
    linear = linear.clamp_min(1e-8) ** 2.2
    ccm = random_ccm(profile, gen)
    cam = torch.einsum("ij,jhw->ihw", ccm, linear) * profile.exposure
    rgb_gain = 1.0 / max(0.5, 0.8 + 0.1 * float(torch.randn((), generator=gen)))
    red_gain = _uniform(gen, *profile.red_gain)
    blue_gain = _uniform(gen, *profile.blue_gain)
    gains = torch.tensor([1.0 / red_gain, 1.0, 1.0 / blue_gain]) / rgb_gain
    # Highlight-preserving inversion (Brooks et al.): keep saturated pixels from being pushed below white.
    gray = cam.mean(0, keepdim=True)
    inflection = 0.9
    mask = ((gray - inflection).clamp_min(0.0) / (1.0 - inflection)) ** 2.0
    safe_gains = torch.maximum(mask + (1.0 - mask) * gains.view(3, 1, 1), gains.view(3, 1, 1))
    cam = (cam * safe_gains).clamp(0.0, 1.0)
    mosaic = mosaic_rggb(cam)
    if noise:
        log_shot = _uniform(gen, math.log(profile.shot_noise[0]), math.log(profile.shot_noise[1]))
        slope, intercept, std = profile.read_noise_fit
        log_read = slope * log_shot + intercept + std * float(torch.randn((), generator=gen))
        variance = mosaic * math.exp(log_shot) + math.exp(log_read)
        mosaic = mosaic + torch.randn(mosaic.shape, generator=gen if noise_gen is None else noise_gen) * variance.sqrt()
    packed_signal = pack_bayer(mosaic)
    black = torch.tensor(profile.black_level).view(4, 1, 1)
    counts = (packed_signal * (profile.white_level - black) + black).round().clamp(0.0, profile.white_level)
    return UnprocessResult(
        packed_counts=counts,
        packed=normalize_packed(counts, profile.black_level, profile.white_level),
        rgb_gain=rgb_gain,
        red_gain=red_gain,
        blue_gain=blue_gain,
        ccm=ccm,
    )


# ----------------------------------------------------------------------- pseudo-ISP
OFFICIAL_PSEUDO_ISP_GAINS = (1.6, 1.2, 1.4)


def pseudo_isp(
    mosaic: torch.Tensor, gains: tuple[float, float, float] = OFFICIAL_PSEUDO_ISP_GAINS, gamma: float = 2.2, fused: bool = False
) -> torch.Tensor:
    """The classical pseudo-ISP of the official unpaired ISP code: demosaic, fixed white balance, clip,
    per-image min-max normalisation, gamma ``1/2.2``.

    The official code demosaics with Menon 2007 (colour-demosaicing); this uses kornia's bilinear demosaic.

    Args:
        mosaic: normalised RGGB mosaic. Shape: (N, 1, H, W).
        gains: RGB white-balance gains.
        gamma: display gamma.
        fused: use the torch.compile'd colour stage.

    Returns:
        sRGB-like image in [0, 1]. Shape: (N, 3, H, W).
    """
    from zoo.ops.color import white_balance_normalize_gamma, white_balance_normalize_gamma_fused

    rgb = demosaic_bilinear(mosaic)
    op = white_balance_normalize_gamma_fused if fused else white_balance_normalize_gamma
    return op(rgb, torch.tensor(gains, dtype=rgb.dtype, device=rgb.device), gamma)
