"""BVTON's inputs from a try-on sample's raw fields (the person, its parsing and keypoints, the garment): the
clothing-agnostic person, the parse-agnostic layout, the pose maps, and the random misalignment of stage 3's pseudo
pairs. Plain torch: the inference path and the training steps share it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

NUM_CLASSES = 8
NUM_KEYPOINTS = 18
UPPER, LOWER, RIGHT_ARM, LEFT_ARM, SKIN = 2, 3, 4, 5, 7
HIDDEN = (UPPER, RIGHT_ARM, LEFT_ARM, SKIN)
"""The classes the agnostic inputs hide (HR-VITON hides the upper clothes and the arms; the doll's torso skin, which
only the garment's cut reveals, is hidden with them)."""
AGNOSTIC_GREY = 0.5


def one_hot(parsing: torch.Tensor, classes: int = NUM_CLASSES) -> torch.Tensor:
    """(N, H, W) int64 labels -> (N, classes, H, W) float one-hot."""
    return F.one_hot(parsing.long().clamp(0, classes - 1), classes).permute(0, 3, 1, 2).float()


def hidden_mask(parsing: torch.Tensor) -> torch.Tensor:
    """(N, H, W) labels -> (N, 1, H, W): 1 where the agnostic inputs hide the person (:data:`HIDDEN`)."""
    return torch.stack([parsing == c for c in HIDDEN]).any(0)[:, None].float()


def agnostic_person(person: torch.Tensor, parsing: torch.Tensor) -> torch.Tensor:
    """The clothing-agnostic person: the upper garment, the arms and the torso skin painted grey.

    Shape: person (N, 3, H, W), parsing (N, H, W) -> (N, 3, H, W).
    """
    hide = hidden_mask(parsing)
    return person * (1 - hide) + AGNOSTIC_GREY * hide


def parse_agnostic(parsing: torch.Tensor) -> torch.Tensor:
    """The parse-agnostic layout: :data:`HIDDEN` classes set to background, one-hot. (N, H, W) -> (N, 8, H, W)."""
    return one_hot(torch.where(hidden_mask(parsing)[:, 0].bool(), torch.zeros_like(parsing), parsing))


def pose_maps(keypoints: torch.Tensor, size: tuple[int, int], sigma: float | None = None) -> torch.Tensor:
    """Gaussian heatmaps of OpenPose keypoints (zero for keypoints of confidence 0), cut to zero beyond 3 sigma as the
    pose-estimation codes draw them: the far tail is otherwise denormal floats, which make every convolution that
    reads the maps several times slower on CPU.

    Args:
        keypoints: (N, 18, 3) ``(x, y, confidence)`` in pixels.
        size: ``(H, W)``.
        sigma: Gaussian width in pixels (default ``H / 40``).

    Returns:
        (N, 18, H, W) in [0, 1].
    """
    h, w = size
    sigma = sigma or h / 40.0
    ys = torch.arange(h, device=keypoints.device, dtype=torch.float32).view(1, 1, h, 1)
    xs = torch.arange(w, device=keypoints.device, dtype=torch.float32).view(1, 1, 1, w)
    kx, ky = keypoints[..., 0, None, None].float(), keypoints[..., 1, None, None].float()
    d2 = ((xs - kx) ** 2 + (ys - ky) ** 2) / sigma**2
    maps = torch.exp(-d2 / 2) * (d2 <= 9.0)
    return maps * (keypoints[..., 2, None, None] > 0).float()


def person_conditions(person: torch.Tensor, parsing: torch.Tensor, keypoints: torch.Tensor) -> dict[str, torch.Tensor]:
    """The person-side network inputs: ``agnostic`` (N, 3, H, W), ``parse_agnostic`` (N, 8, H, W), ``pose`` (N, 18, H, W)."""
    return {"agnostic": agnostic_person(person, parsing), "parse_agnostic": parse_agnostic(parsing), "pose": pose_maps(keypoints, tuple(person.shape[-2:]))}


def random_misalign(
    garment: torch.Tensor, mask: torch.Tensor, generator: torch.Generator, rotate: float = 8.0, scale: float = 0.1,
    shift: float = 0.08, bend: float = 0.03,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage 3's pseudo pairs: the person's own garment after a random affine and a smooth sine bend (a TPS-like
    jitter), so the synthesizer learns to fix a garment that does not sit on the body.

    Args:
        garment: the garment cut from the person (zero outside it). Shape: (N, 3, H, W).
        mask: its mask. Shape: (N, 1, H, W).
        generator: a CPU generator (seeded per step, so a resumed run draws the same jitter).
        rotate: the largest rotation in degrees.
        scale: the largest relative scale change.
        shift: the largest shift, as a fraction of the half-size.
        bend: the largest sine displacement, as a fraction of the half-size.

    Returns:
        The misaligned garment and mask, same shapes.
    """
    n = garment.shape[0]
    u = torch.rand(n, 6, generator=generator).to(garment.device) * 2 - 1
    angle = u[:, 0] * math.radians(rotate)
    s = 1 + u[:, 1] * scale
    theta = torch.zeros(n, 2, 3, device=garment.device)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = s * torch.cos(angle), -s * torch.sin(angle), s * torch.sin(angle), s * torch.cos(angle)
    theta[:, 0, 2], theta[:, 1, 2] = u[:, 2] * shift, u[:, 3] * shift
    grid = F.affine_grid(theta, list(garment.shape), align_corners=False)
    phase = (u[:, 4:6] * math.pi).view(n, 1, 1, 2)
    grid = grid + bend * torch.sin(3.0 * grid.flip(-1) + phase)
    both = F.grid_sample(torch.cat([garment, mask], 1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return both[:, :3], (both[:, 3:] > 0.5).float()
