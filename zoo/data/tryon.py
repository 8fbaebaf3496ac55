"""Virtual try-on data: the VITON-HD / DressCode folder layouts and their seeded synthetic twin, the "paper doll".

Every sample is a dict of the raw fields a try-on dataset holds (the models turn them into network inputs):

- ``person`` (3, H, W) in [0, 1]: the on-model photograph.
- ``parsing`` (H, W) int64: the person's layout in :data:`TRYON_CLASSES` (VITON-HD's CIHP labels are mapped onto it).
- ``keypoints`` (18, 3): OpenPose-18 body keypoints ``(x, y, confidence)`` in pixels; confidence 0 marks a missing one.
- ``garment`` (3, H, W) and ``garment_mask`` (1, H, W): the in-shop garment on white and its mask (zeros when unpaired).
- ``paired`` (): 1.0 when ``garment`` is the garment the person wears, 0.0 for an unpaired on-model photograph.
- ``garment_visible`` (1, H, W): the in-shop pixels that are visible on the person (the doll: exact; folders: the
  cloth mask, an approximation).
- ``onmodel_parts`` (3, H, W): the person's visible garment split into the parts of :data:`GARMENT_PARTS` (the doll:
  exact; folders: from the parsing and the arm keypoints, :func:`split_garment_parts`).

The doll adds exact references: ``part_flows`` (3, 2, H, W), for each part the pixel displacement that takes each
in-shop pixel to where the warp put it on the person (``zoo.ops.warp.backward_warp(person, part_flows[p])`` is the
in-shop part wherever it is visible), and ``amodal_mask`` (1, H, W), the garment on the person before the arms and the
lower-body layer occlude it. Evaluation sets add ``swap_*``: another doll's garment and the exact image of this body
wearing it (the unpaired try-on's ground truth, which no real dataset has).

The paper doll (``render_doll``), seeded and deterministic:

1. A body from ellipses, a trapezoid torso and capsule limbs, with one of six skin tones; hair; a lower-body garment
   (solid trousers) worn tucked-in (over the top) or untucked (under it).
2. A T-shirt as textured polygons in in-shop space: a torso and two sleeves, striped, checked or with a logo. The
   texture is a function of the in-shop coordinates, so the on-model texture is evaluated exactly, not resampled.
3. Each part is put on the body by its own smooth warp: an affine map (torso: a trapezoid fit; sleeves: a similarity
   onto the upper arm) composed with two sine shears, ``T = V o H o A``, whose inverse is analytic.
4. Occlusion by layers: upper arms under the sleeves, forearms over everything (arms across the torso), trousers over
   or under the garment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from zoo.core import checks
from zoo.data.raw_datamodule import TrainEvalDataModule

TRYON_CLASSES = ("background", "head", "upper_garment", "lower_garment", "right_arm", "left_arm", "legs", "skin")
"""The layout classes (VITON-HD's 13 merged into 8): ``right_arm`` is the person's right (the image's left)."""
UPPER, LOWER, RIGHT_ARM, LEFT_ARM, SKIN = 2, 3, 4, 5, 7
GARMENT_PARTS = ("torso", "right_sleeve", "left_sleeve")
"""The parts of an upper garment, each with its own canonicalizing flow (right: the person's right, the image's left)."""
NUM_KEYPOINTS = 18
"""OpenPose BODY_18 (COCO) order: nose, neck, r-shoulder, r-elbow, r-wrist, l-shoulder, l-elbow, l-wrist, r-hip,
r-knee, r-ankle, l-hip, l-knee, l-ankle, r-eye, l-eye, r-ear, l-ear."""
CIHP_TO_TRYON = {0: 0, 1: 1, 2: 1, 3: 7, 4: 1, 5: 2, 6: 2, 7: 2, 8: 6, 9: 3, 10: 7, 11: 7, 12: 3, 13: 1, 14: 4, 15: 5, 16: 6, 17: 6, 18: 6, 19: 6}
"""CIHP / LIP labels of VITON-HD's ``image-parse-v3`` -> :data:`TRYON_CLASSES` (hat, hair, sunglasses, face -> head;
upper clothes, dress, coat -> upper garment; pants, skirt -> lower garment; glove, neck, scarf -> skin)."""
DRESSCODE_TO_TRYON = {0: 0, 1: 1, 2: 1, 3: 1, 4: 2, 5: 3, 6: 3, 7: 2, 8: 3, 9: 6, 10: 6, 11: 1, 12: 6, 13: 6, 14: 4, 15: 5, 16: 7, 17: 7}
"""DressCode's 18 ``label_maps`` labels -> :data:`TRYON_CLASSES` (4 upper, 5 skirt, 6 pants, 7 dress, 8 belt, 14/15 arms)."""
DRESSCODE_POSE_FRAME = (384, 512)
"""``(W, H)`` of the frame DressCode's ``keypoints/*_2.json`` coordinates are given in (its images are 768 x 1024)."""

_SKIN = np.array([[0.98, 0.84, 0.72], [0.93, 0.75, 0.60], [0.82, 0.62, 0.46], [0.66, 0.47, 0.33], [0.50, 0.34, 0.23], [0.36, 0.24, 0.17]])
_TEXTURES = ("stripes", "checks", "logo")


# ------------------------------------------------------------------------------------------------ the paper doll
def _capsule(X: np.ndarray, Y: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
    """Pixels within ``r`` of the segment a-b."""
    d = b - a
    t = np.clip(((X - a[0]) * d[0] + (Y - a[1]) * d[1]) / max(float(d @ d), 1e-9), 0.0, 1.0)
    return (X - a[0] - t * d[0]) ** 2 + (Y - a[1] - t * d[1]) ** 2 <= r * r


def _in_polygon(X: np.ndarray, Y: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test of every (X, Y) against the vertices ``poly`` (K, 2)."""
    inside = np.zeros(X.shape, bool)
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0)):
        crosses = (y0 > Y) != (y1 > Y)
        x_at = (x1 - x0) * (Y - y0) / ((y1 - y0) if y1 != y0 else 1e-12) + x0
        inside ^= crosses & (X < x_at)
    return inside


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    import colorsys

    return np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.35, 0.9), rng.uniform(0.35, 0.95)))


class _Warp:
    """One part's smooth warp in-shop -> on-model, ``T = V o H o A`` (units of the image height).

    ``A(u) = origin + M (u - pivot)`` with a row-dependent horizontal scale for the torso (a trapezoid fit);
    ``H(x, y) = (x + a1 sin(f1 y + p1), y)``; ``V(x, y) = (x, y + a2 sin(f2 x + p2))``. Each factor inverts exactly.
    """

    def __init__(self, pivot, origin, matrix, taper, shear) -> None:
        self.pivot, self.origin, self.matrix = np.asarray(pivot, float), np.asarray(origin, float), np.asarray(matrix, float)
        self.taper = taper  # (top_y, slope): horizontal scale 1 + slope * (y_in - top_y) of the torso's trapezoid
        self.a1, self.f1, self.p1, self.a2, self.f2, self.p2 = shear

    def forward(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = X - self.pivot[0], Y - self.pivot[1]
        if self.taper is not None:
            dx = dx * (1.0 + self.taper[1] * (Y - self.taper[0]))
        x = self.origin[0] + self.matrix[0, 0] * dx + self.matrix[0, 1] * dy
        y = self.origin[1] + self.matrix[1, 0] * dx + self.matrix[1, 1] * dy
        x = x + self.a1 * np.sin(self.f1 * y + self.p1)
        return x, y + self.a2 * np.sin(self.f2 * x + self.p2)

    def inverse(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = Y - self.a2 * np.sin(self.f2 * X + self.p2)
        x = X - self.a1 * np.sin(self.f1 * y + self.p1)
        inv = np.linalg.inv(self.matrix)
        dx = inv[0, 0] * (x - self.origin[0]) + inv[0, 1] * (y - self.origin[1])
        dy = inv[1, 0] * (x - self.origin[0]) + inv[1, 1] * (y - self.origin[1])
        yin = self.pivot[1] + dy
        if self.taper is not None:
            dx = dx / (1.0 + self.taper[1] * (yin - self.taper[0]))
        return self.pivot[0] + dx, yin


def _body(seed: int, width_units: float) -> dict[str, Any]:
    rng = np.random.default_rng([seed, 1])
    cx = width_units / 2 + rng.uniform(-0.02, 0.02)
    ys, yh = rng.uniform(0.24, 0.27), rng.uniform(0.58, 0.62)
    ws = rng.uniform(0.14, 0.165)
    body = {
        "cx": cx, "ys": ys, "yh": yh, "ws": ws, "wh": ws * rng.uniform(0.8, 0.92), "yw": rng.uniform(0.50, 0.55),
        "head": (cx + rng.uniform(-0.01, 0.01), rng.uniform(0.12, 0.14), rng.uniform(0.07, 0.08)),
        "skin": np.clip(_SKIN[rng.integers(len(_SKIN))] + rng.uniform(-0.03, 0.03, 3), 0, 1),
        "hair": np.clip(np.array([0.12, 0.08, 0.05]) * rng.uniform(0.5, 3.0), 0, 1),
        "pants": np.array([[0.12, 0.15, 0.3], [0.1, 0.1, 0.1], [0.6, 0.52, 0.38], [0.3, 0.32, 0.34]])[rng.integers(4)] * rng.uniform(0.8, 1.2),
        "background": np.full(3, rng.uniform(0.82, 0.95)) + rng.uniform(-0.03, 0.03, 3),
        "tucked": bool(rng.uniform() < 0.5), "arm_r": rng.uniform(0.03, 0.037), "leg_w": rng.uniform(0.05, 0.06),
    }
    arms = {}
    for side, sign in (("right", -1.0), ("left", 1.0)):
        shoulder = np.array([cx + sign * (ws - 0.025), ys + 0.025])
        up = np.deg2rad(rng.uniform(8, 38))
        elbow = shoulder + 0.17 * np.array([sign * np.sin(up), np.cos(up)])
        crossing = rng.uniform() < 0.35  # the forearm folds in front of the torso: arms over the garment
        fore = np.deg2rad(rng.uniform(-105, -60) if crossing else rng.uniform(-5, 30))
        wrist = elbow + 0.15 * np.array([sign * np.sin(fore), np.cos(fore)])
        arms[side] = (shoulder, elbow, wrist)
    body["arms"] = arms
    return body


def _garment(seed: int, width_units: float) -> dict[str, Any]:
    rng = np.random.default_rng([seed, 2])
    cx, top, gw, sh = width_units / 2, 0.22, rng.uniform(0.16, 0.18), rng.uniform(0.085, 0.1)
    length, sleeve = rng.uniform(0.62, 0.72), rng.uniform(0.11, 0.16)
    torso = np.array([[cx - gw, top], [cx - 0.05, top], [cx, top + 0.04], [cx + 0.05, top], [cx + gw, top], [cx + gw, length], [cx - gw, length]])
    down = np.array([np.sin(np.pi / 4), np.cos(np.pi / 4)])
    sleeves = []
    for sign in (-1.0, 1.0):
        a, b = np.array([cx + sign * gw, top]), np.array([cx + sign * gw, top + sh])
        d = sleeve * down * np.array([sign, 1.0])
        sleeves.append(np.array([a, a + d + np.array([0.0, -0.01]), b + d, b]))
    return {
        "cx": cx, "top": top, "gw": gw, "sh": sh, "length": length, "sleeve": sleeve, "parts": [torso, *sleeves],
        "texture": _TEXTURES[rng.integers(len(_TEXTURES))], "c1": _random_colour(rng), "c2": _random_colour(rng),
        "period": rng.uniform(0.035, 0.07), "angle": rng.choice([0.0, np.pi / 2, np.pi / 4]), "logo": rng.uniform(0.035, 0.06),
        "shear_seed": int(rng.integers(2**31)),
    }


def _texture(g: dict[str, Any], X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The garment's colour at in-shop coordinates (X, Y). Shape: (..., 3)."""
    c, s = np.cos(g["angle"]), np.sin(g["angle"])
    t = (X * c + Y * s) / g["period"]
    if g["texture"] == "stripes":
        pick = np.sin(2 * np.pi * t) > 0
    elif g["texture"] == "checks":
        pick = (np.sin(2 * np.pi * t) > 0) ^ (np.sin(2 * np.pi * (-X * s + Y * c) / g["period"]) > 0)
    else:
        pick = (X - g["cx"]) ** 2 + (Y - g["top"] - 0.12) ** 2 <= g["logo"] ** 2
    return np.where(pick[..., None], g["c2"], g["c1"])


def _part_warps(body: dict[str, Any], g: dict[str, Any], seed: int) -> list[_Warp]:
    rng = np.random.default_rng([seed, g["shear_seed"], 3])

    def shear() -> tuple[float, ...]:
        return (rng.uniform(-0.012, 0.012), rng.uniform(6, 14), rng.uniform(0, 6.3), rng.uniform(-0.01, 0.01), rng.uniform(6, 14), rng.uniform(0, 6.3))

    sy = (body["yh"] + 0.05 - body["ys"] + 0.02) / (g["length"] - g["top"]) * rng.uniform(0.9, 1.02)
    sx = body["ws"] * 1.02 / g["gw"]
    slope = (body["wh"] / body["ws"] - 1.0) / max(g["length"] - g["top"], 1e-6) * 1.05
    warps = [_Warp((g["cx"], g["top"]), (body["cx"], body["ys"] - 0.02), [[sx, 0.0], [0.0, sy]], (g["top"], slope), shear())]
    for k, side in enumerate(("right", "left")):
        shoulder, elbow, _ = body["arms"][side]
        sign = -1.0 if side == "right" else 1.0
        pivot = np.array([g["cx"] + sign * g["gw"], g["top"] + g["sh"] / 2])
        canon = np.arctan2(np.cos(np.pi / 4), sign * np.sin(np.pi / 4))
        arm = elbow - shoulder
        rot = np.arctan2(arm[1], arm[0]) - canon
        scale = rng.uniform(0.95, 1.05)
        m = scale * np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
        warps.append(_Warp(pivot, shoulder + sign * np.array([0.01, -0.01]), m, None, shear()))
    return warps


def _keypoints(body: dict[str, Any], s: float) -> np.ndarray:
    hx, hy, hr = body["head"]
    (rs, re, rw), (ls, le, lw) = body["arms"]["right"], body["arms"]["left"]
    hip = body["wh"] * 0.6
    pts = [
        (hx, hy + 0.01), (body["cx"], body["ys"]), rs, re, rw, ls, le, lw,
        (body["cx"] - hip, body["yh"]), (body["cx"] - hip, 0.78), (body["cx"] - hip, 0.96),
        (body["cx"] + hip, body["yh"]), (body["cx"] + hip, 0.78), (body["cx"] + hip, 0.96),
        (hx - 0.025, hy - 0.015), (hx + 0.025, hy - 0.015), (hx - hr, hy), (hx + hr, hy),
    ]
    return np.array([[p[0] * s, p[1] * s, 1.0] for p in pts], dtype=np.float32)


def render_doll(body_seed: int, garment_seed: int | None = None, size: tuple[int, int] = (64, 48)) -> dict[str, np.ndarray]:
    """Render one paper doll: a body wearing a garment, with every reference computed analytically.

    Args:
        body_seed: seed of the body, its pose, lower garment, dressing style and the garment's warp.
        garment_seed: seed of the garment (default: ``body_seed``, the garment this body wears in its paired sample).
        size: ``(H, W)`` in pixels (any size; the geometry is in units of the height).

    Returns:
        numpy arrays, channel-last images in [0, 1]: ``person`` (H, W, 3), ``garment`` (H, W, 3) on white,
        ``garment_mask`` (H, W), ``garment_visible`` (H, W), ``parsing`` (H, W) int64, ``onmodel_parts`` (3, H, W),
        ``amodal_mask`` (H, W), ``part_flows`` (3, 2, H, W) in pixels, ``inshop_parts`` (3, H, W), ``keypoints`` (18, 3),
        ``tucked`` () and ``texture`` () (the index of the garment's texture in stripes, checks, logo).
    """
    h, w = size
    s = float(h - 1)
    X, Y = np.meshgrid(np.arange(w) / s, np.arange(h) / s)
    body, g = _body(body_seed, (w - 1) / s), _garment(body_seed if garment_seed is None else garment_seed, (w - 1) / s)
    warps = _part_warps(body, g, body_seed)

    image = np.broadcast_to(body["background"], (h, w, 3)).copy()
    parsing = np.zeros((h, w), np.int64)

    def paint(mask: np.ndarray, colour: Any, label: int) -> None:
        image[mask] = colour[mask] if np.ndim(colour) == 3 else colour
        parsing[mask] = label

    cx, hip = body["cx"], body["wh"] * 0.6
    legs = np.zeros((h, w), bool)
    for sign in (-1, 1):
        legs |= _capsule(X, Y, np.array([cx + sign * hip, body["yh"]]), np.array([cx + sign * hip, 0.97]), body["leg_w"])
    paint(legs, body["skin"], 6)
    torso = _in_polygon(X, Y, np.array([[cx - body["ws"], body["ys"]], [cx + body["ws"], body["ys"]], [cx + body["wh"], body["yh"] + 0.03], [cx - body["wh"], body["yh"] + 0.03]]))
    neck = (np.abs(X - cx) <= 0.032) & (Y >= body["head"][1]) & (Y <= body["ys"] + 0.01)
    paint(torso | neck, body["skin"], SKIN)
    hx, hy, hr = body["head"]
    head = (X - hx) ** 2 + (Y - hy) ** 2 <= hr * hr
    paint(head, body["skin"], 1)
    paint(head & (Y < hy - 0.25 * hr), body["hair"], 1)
    for side, label in (("right", RIGHT_ARM), ("left", LEFT_ARM)):
        shoulder, elbow, _ = body["arms"][side]
        paint(_capsule(X, Y, shoulder, elbow, body["arm_r"]), body["skin"], label)
    pants = ((Y >= body["yw"]) & torso) | (legs & (Y <= 0.9))
    pants_colour = np.clip(body["pants"], 0, 1)

    # The garment on the person, amodal: each on-model pixel looks up its in-shop point through every part's inverse warp.
    part_of = np.full((h, w), -1)
    colour = np.zeros((h, w, 3))
    for p in (0, 1, 2):  # sleeves after the torso: they lie over it
        u, v = warps[p].inverse(X, Y)
        inside = _in_polygon(u, v, g["parts"][p])
        part_of[inside] = p
        colour[inside] = _texture(g, u, v)[inside]
    amodal = part_of >= 0
    if not body["tucked"]:
        paint(pants, pants_colour, LOWER)
    paint(amodal, colour, UPPER)
    if body["tucked"]:
        paint(pants, pants_colour, LOWER)
    for side, label in (("right", RIGHT_ARM), ("left", LEFT_ARM)):
        _, elbow, wrist = body["arms"][side]
        fore = _capsule(X, Y, elbow, wrist, body["arm_r"] * 0.9) | ((X - wrist[0]) ** 2 + (Y - wrist[1]) ** 2 <= (body["arm_r"] * 1.2) ** 2)
        paint(fore, body["skin"], label)
    visible_part = np.where(parsing == UPPER, part_of, -1)

    # In-shop space: the flat garment, its parts, and which in-shop pixels are visible on the person.
    in_part = np.stack([_in_polygon(X, Y, poly) for poly in g["parts"]])
    in_part[0] &= ~(in_part[1] | in_part[2])
    garment_mask = in_part.any(0)
    garment = np.where(garment_mask[..., None], _texture(g, X, Y), 1.0)
    flows, visible = np.zeros((3, 2, h, w), np.float32), np.zeros((h, w), bool)
    for p in range(3):
        fx, fy = warps[p].forward(X, Y)
        flows[p, 0], flows[p, 1] = fx * s - X * s, fy * s - Y * s
        col, row = np.clip(np.rint(fx * s), 0, w - 1).astype(int), np.clip(np.rint(fy * s), 0, h - 1).astype(int)
        visible |= in_part[p] & (visible_part[row, col] == p)
    return {
        "person": image.astype(np.float32), "garment": garment.astype(np.float32), "garment_mask": garment_mask.astype(np.float32),
        "garment_visible": visible.astype(np.float32), "parsing": parsing,
        "onmodel_parts": np.stack([visible_part == p for p in range(3)]).astype(np.float32),
        "amodal_mask": amodal.astype(np.float32), "part_flows": flows, "keypoints": _keypoints(body, s),
        "inshop_parts": in_part.astype(np.float32), "tucked": np.array(body["tucked"]), "texture": np.array(_TEXTURES.index(g["texture"])),
    }


def _to_sample(d: dict[str, np.ndarray], paired: bool) -> dict[str, torch.Tensor]:
    """Channel-first tensors of the fields every try-on sample has (the in-shop fields zeroed when unpaired)."""
    keep = float(paired)
    return {
        "person": torch.from_numpy(d["person"]).permute(2, 0, 1).contiguous(),
        "parsing": torch.from_numpy(d["parsing"]),
        "keypoints": torch.from_numpy(d["keypoints"]),
        "garment": torch.from_numpy(d["garment"]).permute(2, 0, 1).contiguous() * keep,
        "garment_mask": torch.from_numpy(d["garment_mask"])[None] * keep,
        "garment_visible": torch.from_numpy(d["garment_visible"])[None] * keep,
        "onmodel_parts": torch.from_numpy(d["onmodel_parts"]),
        "paired": torch.tensor(keep),
    }


class PaperDollDataset(Dataset):
    """Paper dolls (:func:`render_doll`), rendered on access; sample ``i`` is body seed ``seed + i``.

    Args:
        count: samples.
        size: ``(H, W)``.
        seed: the first body seed (paired, unpaired and held-out sets use disjoint seed ranges).
        paired: keep the in-shop garment (False: unpaired on-model photographs, in-shop fields zeroed).
        swap: add ``swap_garment``, ``swap_garment_mask`` (the garment of body ``seed + (i + 1) % count``) and
            ``swap_person`` (this body wearing it), and the exact ``part_flows`` and ``amodal_mask``: evaluation sets.
        references: add ``part_flows`` and ``amodal_mask`` (implied by ``swap``).
    """

    def __init__(self, count: int, size: tuple[int, int] = (64, 48), seed: int = 0, paired: bool = True, swap: bool = False, references: bool = False) -> None:
        if count < 1:
            raise ValueError(f"count: expected at least 1 sample, received {count}")
        self.count, self.size, self.seed, self.paired, self.swap = count, tuple(size), seed, paired, swap
        self.references = references or swap

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        d = render_doll(self.seed + i, size=self.size)
        out = _to_sample(d, self.paired)
        if self.references:
            out["part_flows"] = torch.from_numpy(d["part_flows"])
            out["amodal_mask"] = torch.from_numpy(d["amodal_mask"])[None]
            out["inshop_parts"] = torch.from_numpy(d["inshop_parts"])
        if self.swap:
            other = render_doll(self.seed + i, self.seed + (i + 1) % self.count, size=self.size)
            out["swap_garment"] = torch.from_numpy(other["garment"]).permute(2, 0, 1).contiguous()
            out["swap_garment_mask"] = torch.from_numpy(other["garment_mask"])[None]
            out["swap_person"] = torch.from_numpy(other["person"]).permute(2, 0, 1).contiguous()
        return out


def split_garment_parts(parsing: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    """Split a person's upper-garment pixels into torso and sleeves from the arm keypoints (for real photographs, whose
    parsing has no sleeve label): a pixel is a sleeve's when it is nearer the shoulder-elbow segment than the
    neck-hip axis and lies outside the shoulders.

    Args:
        parsing: (H, W) int64 in :data:`TRYON_CLASSES`.
        keypoints: (18, 3) OpenPose keypoints in pixels.

    Returns:
        (3, H, W) float masks in :data:`GARMENT_PARTS` order.
    """
    h, w = parsing.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    upper = parsing == UPPER
    parts = torch.zeros(3, h, w)
    neck = keypoints[1, :2]
    dists = []
    for shoulder, elbow in ((2, 3), (5, 6)):
        a, b = keypoints[shoulder, :2], keypoints[elbow, :2]
        d = b - a
        t = (((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / d.square().sum().clamp_min(1e-6)).clamp(0, 1)
        dists.append((xs - a[0] - t * d[0]).square() + (ys - a[1] - t * d[1]).square())
    axis = (xs - neck[0]).square()
    right = upper & (dists[0] < axis) & (xs < keypoints[2, 0]) if keypoints[2, 2] > 0 and keypoints[3, 2] > 0 else torch.zeros_like(upper)
    left = upper & (dists[1] < axis) & (xs > keypoints[5, 0]) if keypoints[5, 2] > 0 and keypoints[6, 2] > 0 else torch.zeros_like(upper)
    parts[1], parts[2] = right.float(), left.float()
    parts[0] = (upper & ~right & ~left).float()
    return parts


# ------------------------------------------------------------------------------------------------ real folders
def white_background_mask(garment: torch.Tensor, threshold: float = 0.94) -> torch.Tensor:
    """An in-shop garment's mask from its white background: the pixels whose darkest channel is below ``threshold``.

    Shape: (N, 3, H, W) -> (N, 1, H, W).
    """
    return (garment.min(1, keepdim=True).values < threshold).float()


LAYOUTS = ("vitonhd", "dresscode")


def scale_keypoints(keypoints: torch.Tensor, scale: tuple[float, float]) -> torch.Tensor:
    """Keypoints (..., 3) in pixels of an image resized by ``(sx, sy)``: pixel centres map as the resize maps them,
    ``x' = (x + 0.5) * sx - 0.5`` (``align_corners=False``); the confidence is kept."""
    factors = keypoints.new_tensor([scale[0], scale[1]])
    return torch.cat([(keypoints[..., :2] + 0.5) * factors - 0.5, keypoints[..., 2:]], -1)


def read_openpose(path: str | Path, scale: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
    """OpenPose JSON (``people[0].pose_keypoints_2d``, 18 x (x, y, c)) -> (18, 3), for an image resized by ``scale``
    (:func:`scale_keypoints`).

    Raises:
        ValueError: not JSON, no person, or not 18 keypoints.
    """
    p = checks.check_path(path, "openpose json")
    try:
        people = json.loads(p.read_text())["people"]
        values = np.asarray(people[0]["pose_keypoints_2d"], np.float32)
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, UnicodeDecodeError) as error:
        raise ValueError(f"openpose json: expected {{'people': [{{'pose_keypoints_2d': [...]}}]}}, received {str(p)!r} ({error})") from None
    if values.size != NUM_KEYPOINTS * 3:
        raise ValueError(f"openpose json: expected {NUM_KEYPOINTS} keypoints (x, y, c), received {values.size} values in {str(p)!r}")
    return scale_keypoints(torch.from_numpy(values.reshape(NUM_KEYPOINTS, 3).copy()), scale)


def read_parsing(path: str | Path, size: tuple[int, int], mapping: dict[int, int] = CIHP_TO_TRYON) -> torch.Tensor:
    """A label PNG (palette or greyscale) -> (H, W) int64 in :data:`TRYON_CLASSES`, resized by nearest neighbour."""
    image = checks.open_image(path, "parsing")
    labels = np.asarray(image.convert("L") if image.mode not in ("P", "L") else image).astype(np.int64)
    table = np.zeros(256, np.int64)
    for src, dst in mapping.items():
        table[src] = dst
    resized = Image.fromarray(table[np.clip(labels, 0, 255)].astype(np.uint8)).resize(size[::-1], Image.NEAREST)
    return torch.from_numpy(np.asarray(resized).astype(np.int64))


def read_rgb(path: str | Path, size: tuple[int, int], what: str = "image") -> torch.Tensor:
    """An RGB image file -> (3, H, W) float in [0, 1], resized bilinearly to ``size`` = (H, W)."""
    image = checks.open_image(path, what).convert("RGB").resize(size[::-1], Image.BILINEAR)
    return torch.from_numpy(np.asarray(image, np.float32) / 255.0).permute(2, 0, 1).contiguous()


def read_mask(path: str | Path, size: tuple[int, int], what: str = "mask") -> torch.Tensor:
    """A mask image -> (1, H, W) float in {0, 1} (threshold at half), resized by nearest neighbour."""
    image = checks.open_image(path, what).convert("L").resize(size[::-1], Image.NEAREST)
    return torch.from_numpy((np.asarray(image) >= 128).astype(np.float32))[None]


class TryOnFolderDataset(Dataset):
    """A VITON-HD or DressCode folder, resized to ``size``.

    VITON-HD (``layout="vitonhd"``): ``root/{split}_pairs.txt`` (``person.jpg cloth.jpg`` per line) and
    ``root/{split}/{image, cloth, cloth-mask, image-parse-v3, openpose_json}/`` (the parsing a ``.png`` of the image's
    stem, the pose ``<stem>_keypoints.json``). DressCode (``layout="dresscode"``): ``root/{category}/{split}_pairs.txt``
    and ``root/{category}/{images, label_maps, keypoints}`` where a person is ``<id>_0.jpg``, its cloth ``<id>_1.jpg``,
    its parsing ``label_maps/<id>_4.png``; cloth masks are made by thresholding the white background, and
    DressCode's keypoints (``<id>_2.json``, ``keypoints`` of 18 x 4, in the :data:`DRESSCODE_POSE_FRAME`) are read
    as OpenPose-18.

    Args:
        root: the dataset folder.
        split: ``"train"`` or ``"test"``.
        size: ``(H, W)`` of the samples.
        layout: ``"vitonhd"`` or ``"dresscode"``.
        paired: pair each person with its own garment (the pairs file's first column); False: the pairs file as
            written (unpaired test pairs), returned as ``swap_garment`` with the person's own garment as ``garment``.
        category: DressCode category (``upper_body``).
    """

    def __init__(self, root: str | Path, split: str = "train", size: tuple[int, int] = (256, 192), layout: str = "vitonhd", paired: bool = True, category: str = "upper_body") -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout: expected one of {LAYOUTS}, received {layout!r}")
        self.root = Path(root) / category if layout == "dresscode" else Path(root)
        self.split, self.size, self.layout, self.paired = split, tuple(size), layout, paired
        pairs = self.root / (f"{split}_pairs_{'paired' if paired else 'unpaired'}.txt" if layout == "dresscode" else f"{split}_pairs.txt")
        if layout == "dresscode" and not pairs.is_file():
            pairs = self.root / f"{split}_pairs.txt"
        if not pairs.is_file():
            raise ValueError(f"root: expected a {layout} folder with {pairs.name}, received {str(root)!r} ({pairs} not found)")
        self.pairs = [tuple(line.split()[:2]) for line in pairs.read_text().splitlines() if line.strip()]
        if not self.pairs:
            raise ValueError(f"{pairs}: expected lines 'person cloth', received an empty file")

    def __len__(self) -> int:
        return len(self.pairs)

    def _files(self, person: str, cloth: str) -> dict[str, Path]:
        stem, cstem = Path(person).stem, Path(cloth).stem
        if self.layout == "vitonhd":
            d = self.root / self.split
            return {"person": d / "image" / person, "cloth": d / "cloth" / cloth, "cloth_mask": d / "cloth-mask" / cloth,
                    "parsing": d / "image-parse-v3" / f"{stem}.png", "pose": d / "openpose_json" / f"{stem}_keypoints.json"}
        base = stem.rsplit("_", 1)[0]
        return {"person": self.root / "images" / person, "cloth": self.root / "images" / cloth, "cloth_mask": None,
                "parsing": self.root / "label_maps" / f"{base}_4.png", "pose": self.root / "keypoints" / f"{base}_2.json"}

    def _garment(self, files: dict[str, Path | None]) -> tuple[torch.Tensor, torch.Tensor]:
        cloth = read_rgb(files["cloth"], self.size, "cloth")
        mask = read_mask(files["cloth_mask"], self.size, "cloth mask") if files["cloth_mask"] else white_background_mask(cloth[None])[0]
        return cloth * mask + (1 - mask), mask

    def _keypoints(self, path: Path, original: tuple[int, int]) -> torch.Tensor:
        if self.layout == "vitonhd":
            return read_openpose(path, (self.size[1] / original[0], self.size[0] / original[1]))
        # DressCode stores its keypoints in a 384 x 512 frame whatever the image size, and a missing one at or below
        # 1 px (the official loader scales by width / 384, height / 512 and draws only points beyond 1 px)
        data = json.loads(checks.check_path(path, "keypoints json").read_text())
        values = np.asarray(data["keypoints"], np.float32).reshape(-1, 4)[:NUM_KEYPOINTS, :3].copy()
        if values.shape[0] != NUM_KEYPOINTS:
            raise ValueError(f"keypoints json: expected {NUM_KEYPOINTS} keypoints [x, y, score, id], received {values.shape[0]} in {str(path)!r}")
        values[:, 2] = ((values[:, 0] > 1) & (values[:, 1] > 1)).astype(np.float32)
        return scale_keypoints(torch.from_numpy(values), (self.size[1] / DRESSCODE_POSE_FRAME[0], self.size[0] / DRESSCODE_POSE_FRAME[1]))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        person, cloth = self.pairs[i]
        own = self._files(person, person.replace("_0.", "_1.") if self.layout == "dresscode" else person)
        files = self._files(person, cloth)
        with Image.open(files["person"]) as im:
            original = im.size
        mapping = CIHP_TO_TRYON if self.layout == "vitonhd" else DRESSCODE_TO_TRYON
        parsing = read_parsing(files["parsing"], self.size, mapping)
        keypoints = self._keypoints(files["pose"], original)
        garment, mask = self._garment(own if not self.paired else files)
        out = {
            "person": read_rgb(files["person"], self.size, "person image"), "parsing": parsing, "keypoints": keypoints,
            "garment": garment, "garment_mask": mask, "garment_visible": mask.clone(),
            "onmodel_parts": split_garment_parts(parsing, keypoints), "paired": torch.tensor(1.0),
        }
        if not self.paired:
            out["swap_garment"], out["swap_garment_mask"] = self._garment(files)
        return out


# ------------------------------------------------------------------------------------------------ data module
class TryOnDataModule(TrainEvalDataModule):
    """Try-on training and evaluation data: paper dolls (``root=None``) or a VITON-HD / DressCode folder.

    Synthetic: ``paired_count`` paired dolls (body seeds from ``seed``), ``unpaired_count`` unpaired on-model dolls
    drawn from *different* bodies (seeds from ``seed + 100_000``), and ``eval_count`` held-out dolls (seeds from
    ``seed + 200_000``) with swapped garments and their exact try-on images.

    Args:
        root: a dataset folder; None: paper dolls.
        layout: ``"vitonhd"`` or ``"dresscode"`` (folders).
        image_size: ``(H, W)``.
        paired_count: paired dolls.
        paired_repeat: how many times each epoch visits the paired dolls (so that batches mix paired and unpaired
            samples when the paired set is small).
        unpaired_count: unpaired dolls (0: paired data only).
        eval_count: held-out dolls.
        batch_size: batch size.
        seed: base seed of the dolls and of the shuffling.
        num_workers: DataLoader workers.
    """

    def __init__(
        self, root: str | None = None, layout: str = "vitonhd", image_size: tuple[int, int] = (64, 48), paired_count: int = 256,
        paired_repeat: int = 1, unpaired_count: int = 1024, eval_count: int = 64, batch_size: int = 8, seed: int = 0, num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        size = tuple(h.image_size)
        if h.root:
            self.train_set = TryOnFolderDataset(h.root, "train", size, h.layout)
            self.eval_set = TryOnFolderDataset(h.root, "test", size, h.layout)
            return
        paired = PaperDollDataset(h.paired_count, size, h.seed, paired=True)
        sets = [paired] * max(h.paired_repeat, 1) + ([PaperDollDataset(h.unpaired_count, size, h.seed + 100_000, paired=False)] if h.unpaired_count else [])
        self.train_set = torch.utils.data.ConcatDataset(sets)
        self.eval_set = PaperDollDataset(h.eval_count, size, h.seed + 200_000, paired=True, swap=True)
