"""3-D faces on one template topology: a seeded procedural face generator with known attribute deformations, and a
FaceScape-layout hdf5 data module (the SSGMap paper's ``training_data.hdf5``).

**The procedural faces** (:class:`ProceduralFaces`). The template (:func:`face_template`) is a frontal face surface
cut from a regular grid by an ellipse: a dome with a nose ridge and tip, eye sockets, brow ridges, lips, cheeks and a
chin, and three holes (two eyes and the mouth) as the FaceScape TU models have. Its triangulation is mirror
symmetric: vertex ``i`` and vertex ``mirror[i]`` are each other's reflection in the mid-sagittal plane ``x = 0``.
A face is the template plus additive displacement fields, each a smooth function of the template's rest position:

- identity: ``IDENTITY_RANK`` mirror-symmetric basis fields (sums of random Gaussian bumps, drawn once from a fixed
  seed) with N(0, 1) coefficients;
- expression: one of the 20 FaceScape expressions (:data:`EXPRESSIONS`, FaceScape's order) as blendshape-like local
  bumps around the mouth, jaw, cheeks, eyes and brows, at an intensity U(0.8, 1.2); ``jaw_left``, ``jaw_right``,
  ``mouth_left`` and ``mouth_right`` (indices 4, 5, 7, 8, as in the official code) are one-sided, the rest symmetric;
- gender: a global field (wider jaw, larger nose and brow ridge for ``male``, the opposite for ``female``);
- age: a smooth sag of the cheeks and jowls that grows linearly from 17 to 70 years.

Because every factor is known, the shape of the same person with other attributes is available: the ground truth a
translation is scored against (evaluation only; training sees unpaired faces).

**The label vector** (25 values, the official layout): ``c[0:20]`` the expression one-hot, ``c[20:22]`` the gender
one-hot (``c[20]`` male, ``c[21]`` female: the official code does not name them), ``c[22:24]`` the symmetric /
asymmetric expression one-hot, ``c[24]`` the age mapped linearly from [17, 70] years to [-1, 1].

**Batches** are dicts as the official dataset's tuple: ``shape`` (N, V, 3), augmented as ``(v * s) @ r`` with a
scale ``s ~ U(0.9, 1.1)`` and an Euler rotation ``r`` of +-10 degrees per axis; ``label`` (N, 25); ``rotation``
(N, 3, 3); ``scale`` (N, 1). The augmentation of sample ``i`` is drawn from ``(seed, i)``, so it is the same every
epoch and a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from zoo.core.optional import require
from zoo.data.samplers import SeededShuffleSampler

EXPRESSIONS = (
    "neutral", "smile", "mouth_stretch", "anger", "jaw_left", "jaw_right", "jaw_forward", "mouth_left", "mouth_right",
    "dimpler", "chin_raiser", "lip_puckerer", "lip_funneler", "sadness", "lip_roll", "grin", "cheek_blowing",
    "eye_closed", "brow_raiser", "brow_lower",
)
"""The 20 FaceScape expressions, in FaceScape's order (label index = position)."""
ASYMMETRIC_EXPRESSIONS = (4, 5, 7, 8)
"""Expressions whose deformation is one-sided (the official ``demo.py`` sets ``c[23]`` for them)."""
GENDERS = ("male", "female")
AGE_RANGE = (17.0, 70.0)
"""Ages (years) mapped linearly onto the label's [-1, 1] (the official demo's range)."""
LABEL_DIM = 25
IDENTITY_RANK = 10
BASIS_SEED = 1234
"""Seed of the identity basis: part of the generator's definition, the same for every data seed."""


# ----------------------------------------------------------------------------------------------- labels
def age_to_label(age: float | np.ndarray) -> float | np.ndarray:
    """Age in years -> the label's ``c[24]`` in [-1, 1] (linear, 17 -> -1, 70 -> 1)."""
    lo, hi = AGE_RANGE
    return 2.0 * (np.asarray(age, dtype=np.float64) - lo) / (hi - lo) - 1.0


def label_to_age(value: float | np.ndarray) -> float | np.ndarray:
    """The label's ``c[24]`` -> age in years (the inverse of :func:`age_to_label`)."""
    lo, hi = AGE_RANGE
    return lo + (np.asarray(value, dtype=np.float64) + 1.0) * (hi - lo) / 2.0


def make_label(expression: int, gender: int, age: float) -> np.ndarray:
    """The 25-d label of one face.

    Args:
        expression: index into :data:`EXPRESSIONS`.
        gender: 0 male, 1 female.
        age: years.

    Returns:
        float32 array of shape (25,).
    """
    c = np.zeros(LABEL_DIM, np.float32)
    c[expression] = 1.0
    c[20 + gender] = 1.0
    c[23 if expression in ASYMMETRIC_EXPRESSIONS else 22] = 1.0
    c[24] = age_to_label(age)
    return c


def decode_label(c: np.ndarray) -> tuple[int, int, float]:
    """``(expression index, gender index, age in years)`` of a label (argmax of each one-hot)."""
    c = np.asarray(c, dtype=np.float64)
    return int(np.argmax(c[:20])), int(np.argmax(c[20:22])), float(label_to_age(c[24]))


# --------------------------------------------------------------------------------------------- template
@dataclasses.dataclass(frozen=True)
class FaceTemplate:
    """A face mesh topology with its mirror correspondence.

    Args:
        vertices: rest positions. Shape: (V, 3), float64; x left-right, y up, z towards the viewer.
        faces: triangles (counter-clockwise seen from +z). Shape: (F, 3), int64.
        mirror: ``mirror[i]`` is the vertex that mirrors vertex ``i`` in the plane x = 0. Shape: (V,).
    """

    vertices: np.ndarray
    faces: np.ndarray
    mirror: np.ndarray

    @property
    def num_vertices(self) -> int:
        return len(self.vertices)


_HOLES = (((-0.33, 0.28), (0.12, 0.045)), ((0.33, 0.28), (0.12, 0.045)), ((0.0, -0.5), (0.18, 0.035)))
"""(centre (x, y), semi-axes) of the eye and mouth holes."""
_HALF_WIDTH, _HALF_HEIGHT = 0.8, 1.0


def _gauss(x: np.ndarray, y: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return np.exp(-(((x - cx) / rx) ** 2) - ((y - cy) / ry) ** 2)


def _height(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The template's depth z(x, y): a dome plus the facial features (each feature mirror symmetric)."""
    ax = np.abs(x)
    z = 0.55 * np.sqrt(np.clip(1.0 - (x / 0.95) ** 2 - (y / 1.25) ** 2, 0.0, None))
    z += 0.22 * _gauss(x, y, 0.0, -0.05, 0.1, 0.28) + 0.08 * _gauss(x, y, 0.0, -0.28, 0.09, 0.07)  # nose ridge, tip
    z -= 0.1 * _gauss(ax, y, 0.33, 0.28, 0.16, 0.1)  # eye sockets
    z += 0.05 * _gauss(ax, y, 0.33, 0.45, 0.2, 0.06)  # brow ridges
    z += 0.06 * _gauss(x, y, 0.0, -0.5, 0.22, 0.08) + 0.05 * _gauss(x, y, 0.0, -0.82, 0.2, 0.12)  # lips, chin
    z += 0.04 * _gauss(ax, y, 0.42, -0.05, 0.15, 0.15)  # cheek bones
    return z


@lru_cache(maxsize=4)
def face_template(cols: int = 49, rows: int = 57) -> FaceTemplate:
    """The procedural template: a grid of ``cols`` x ``rows`` over the face's ellipse, minus the holes.

    Args:
        cols: grid columns (odd, so that a column lies on the mid-sagittal plane).
        rows: grid rows.

    Returns:
        The template (about 2,000 vertices at the defaults). Cached: treat its arrays as read-only.
    """
    if cols % 2 == 0 or cols < 9 or rows < 9:
        raise ValueError(f"face_template: expected an odd cols >= 9 and rows >= 9, received cols={cols}, rows={rows}")
    gx, gy = np.meshgrid(np.linspace(-_HALF_WIDTH, _HALF_WIDTH, cols), np.linspace(_HALF_HEIGHT, -_HALF_HEIGHT, rows))
    inside = (gx / _HALF_WIDTH) ** 2 + (gy / _HALF_HEIGHT) ** 2 <= 1.0 + 1e-9
    ids = np.arange(rows * cols).reshape(rows, cols)
    tris = []
    mid = cols // 2
    for j in range(rows - 1):
        for k in range(cols - 1):
            a, b, c, d = ids[j, k], ids[j, k + 1], ids[j + 1, k], ids[j + 1, k + 1]
            if not (inside.flat[a] and inside.flat[b] and inside.flat[c] and inside.flat[d]):
                continue
            # Rows go downwards, so (a, c, b) is counter-clockwise seen from +z. The diagonal is mirrored across the
            # middle column, which makes the triangulation itself mirror symmetric.
            tris += [(a, c, d), (a, d, b)] if k < mid else [(a, c, b), (b, c, d)]
    tris = np.asarray(tris, dtype=np.int64)
    cx, cy = gx.ravel()[tris].mean(1), gy.ravel()[tris].mean(1)
    in_hole = np.zeros(len(tris), bool)
    for (hx, hy), (rx, ry) in _HOLES:
        in_hole |= ((cx - hx) / rx) ** 2 + ((cy - hy) / ry) ** 2 < 1.0
    tris = tris[~in_hole]
    used = np.unique(tris)
    remap = np.full(rows * cols, -1, np.int64)
    remap[used] = np.arange(len(used))
    x, y = gx.ravel()[used], gy.ravel()[used]
    vertices = np.stack([x, y, _height(x, y)], 1)
    mirror_grid = ids[:, ::-1].ravel()  # (j, k) <-> (j, cols - 1 - k)
    mirror = remap[mirror_grid[used]]
    if (mirror < 0).any():
        raise AssertionError("face_template: the kept vertices are not mirror symmetric")
    return FaceTemplate(vertices=vertices, faces=remap[tris], mirror=mirror)


# ------------------------------------------------------------------------------------ deformation fields
def _bumps(rest: np.ndarray, specs: list[tuple[tuple[float, float], float, tuple[float, float, float]]], mirrored: bool) -> np.ndarray:
    """Sum of Gaussian bumps ``d * exp(-|p - c|^2 / r^2)`` over the rest (x, y); ``mirrored`` adds each bump's
    reflection (centre and dx negated). Shape: (V, 3)."""
    out = np.zeros_like(rest)
    for (cx, cy), r, d in specs:
        for sign in ((1.0, -1.0) if mirrored else (1.0,)):
            w = np.exp(-(((rest[:, 0] - sign * cx) ** 2 + (rest[:, 1] - cy) ** 2) / r**2))
            out += w[:, None] * np.array([sign * d[0], d[1], d[2]])
    return out


# (centre, radius, displacement); "sym" bumps get their mirror image added, "one" bumps stay one-sided.
_EXPRESSION_BUMPS: dict[str, tuple[list, list]] = {
    "neutral": ([], []),
    "smile": ([((0.18, -0.5), 0.12, (0.06, 0.06, -0.02)), ((0.35, -0.2), 0.15, (0.0, 0.03, 0.02))], []),
    "mouth_stretch": ([((0.16, -0.5), 0.1, (-0.03, 0.0, 0.0))], [((0.0, -0.8), 0.35, (0.0, -0.15, -0.02))]),
    "anger": ([((0.2, 0.45), 0.12, (-0.03, -0.05, 0.01)), ((0.1, -0.5), 0.1, (0.0, 0.0, -0.03))], []),
    "jaw_left": ([], [((0.0, -0.8), 0.4, (-0.12, -0.03, 0.0))]),
    "jaw_right": ([], [((0.0, -0.8), 0.4, (0.12, -0.03, 0.0))]),
    "jaw_forward": ([], [((0.0, -0.8), 0.4, (0.0, 0.0, 0.1))]),
    "mouth_left": ([], [((0.0, -0.5), 0.2, (-0.08, 0.0, 0.0))]),
    "mouth_right": ([], [((0.0, -0.5), 0.2, (0.08, 0.0, 0.0))]),
    "dimpler": ([((0.25, -0.5), 0.07, (0.0, 0.0, -0.05))], []),
    "chin_raiser": ([], [((0.0, -0.75), 0.15, (0.0, 0.05, 0.04))]),
    "lip_puckerer": ([((0.18, -0.5), 0.08, (-0.05, 0.0, 0.0))], [((0.0, -0.5), 0.15, (0.0, 0.0, 0.1))]),
    "lip_funneler": ([((0.18, -0.5), 0.08, (-0.03, 0.0, 0.0))], [((0.0, -0.5), 0.2, (0.0, 0.0, 0.06)), ((0.0, -0.8), 0.3, (0.0, -0.04, 0.0))]),
    "sadness": ([((0.18, -0.52), 0.1, (0.0, -0.06, 0.0)), ((0.12, 0.45), 0.08, (0.0, 0.04, 0.0))], []),
    "lip_roll": ([], [((0.0, -0.5), 0.12, (0.0, 0.0, -0.06))]),
    "grin": ([((0.18, -0.5), 0.14, (0.09, 0.03, -0.03))], []),
    "cheek_blowing": ([((0.35, -0.35), 0.2, (0.06, 0.0, 0.09))], []),
    "eye_closed": ([((0.33, 0.33), 0.07, (0.0, -0.04, 0.01))], []),
    "brow_raiser": ([((0.33, 0.45), 0.18, (0.0, 0.07, 0.0))], []),
    "brow_lower": ([((0.33, 0.45), 0.15, (0.0, -0.06, 0.01))], []),
}


def expression_fields(template: FaceTemplate) -> np.ndarray:
    """The 20 expression displacement fields at intensity 1. Shape: (20, V, 3)."""
    rest = template.vertices
    return np.stack([_bumps(rest, _EXPRESSION_BUMPS[e][0], True) + _bumps(rest, _EXPRESSION_BUMPS[e][1], False) for e in EXPRESSIONS])


def gender_field(template: FaceTemplate) -> np.ndarray:
    """The male (+1) direction of the gender change; female is its negative. Shape: (V, 3)."""
    x, y = template.vertices[:, 0], template.vertices[:, 1]
    lower = 1.0 / (1.0 + np.exp((y + 0.3) / 0.1))  # ~1 below the mouth line, ~0 above
    field = np.zeros_like(template.vertices)
    field[:, 0] = 0.05 * x * lower  # jaw width
    field[:, 2] = 0.03 * _gauss(x, y, 0.0, -0.1, 0.1, 0.3) + 0.02 * _gauss(np.abs(x), y, 0.33, 0.45, 0.2, 0.06)  # nose, brows
    return field


def age_field(template: FaceTemplate) -> np.ndarray:
    """The sag at 70 years (zero at 17): cheeks and jowls drop and flatten, eye bags appear. Shape: (V, 3)."""
    x, y = template.vertices[:, 0], template.vertices[:, 1]
    cheeks = _gauss(np.abs(x), y, 0.35, -0.5, 0.25, 0.3)
    field = np.zeros_like(template.vertices)
    field[:, 1] = -0.08 * cheeks
    field[:, 2] = -0.02 * cheeks + 0.015 * _gauss(np.abs(x), y, 0.33, 0.18, 0.1, 0.04)
    return field


def identity_basis(template: FaceTemplate, rank: int = IDENTITY_RANK) -> np.ndarray:
    """Mirror-symmetric identity basis fields, each the symmetrised sum of three random bumps. Shape: (rank, V, 3)."""
    rng = np.random.default_rng(BASIS_SEED)
    rest = template.vertices
    flip = np.array([-1.0, 1.0, 1.0])
    basis = []
    for _ in range(rank):
        specs = [((rng.uniform(-0.6, 0.6), rng.uniform(-0.8, 0.8)), rng.uniform(0.2, 0.5), tuple(rng.normal(0.0, 0.03, 3))) for _ in range(3)]
        field = _bumps(rest, specs, False)
        basis.append(0.5 * (field + field[template.mirror] * flip))  # symmetric: d(mirror v) = flip(d(v))
    return np.stack(basis)


@dataclasses.dataclass(frozen=True)
class FaceFactors:
    """The latent factors of one procedural face.

    Args:
        identity: identity coefficients. Shape: (IDENTITY_RANK,).
        expression: index into :data:`EXPRESSIONS`.
        intensity: expression intensity.
        gender: 0 male, 1 female.
        age: years.
    """

    identity: np.ndarray
    expression: int
    intensity: float
    gender: int
    age: float

    def with_attributes(self, expression: int, gender: int, age: float) -> FaceFactors:
        """The same person (identity and expression intensity) with other attributes."""
        return dataclasses.replace(self, expression=expression, gender=gender, age=age)

    @property
    def label(self) -> np.ndarray:
        return make_label(self.expression, self.gender, self.age)


class ProceduralFaces:
    """The seeded face generator (see the module docstring).

    Args:
        template: the topology (default: :func:`face_template`).
    """

    def __init__(self, template: FaceTemplate | None = None) -> None:
        self.template = template or face_template()
        self.expressions = expression_fields(self.template)
        self.gender = gender_field(self.template)
        self.age = age_field(self.template)
        self.identity = identity_basis(self.template)

    def sample_factors(self, rng: np.random.Generator) -> FaceFactors:
        """Draw a face's factors: identity N(0, 1), a uniform expression at intensity U(0.8, 1.2), a uniform gender,
        an age U(17, 70)."""
        return FaceFactors(
            identity=rng.normal(0.0, 1.0, len(self.identity)), expression=int(rng.integers(len(EXPRESSIONS))),
            intensity=float(rng.uniform(0.8, 1.2)), gender=int(rng.integers(2)), age=float(rng.uniform(*AGE_RANGE)),
        )

    def fit(self, shapes: np.ndarray) -> dict[str, np.ndarray]:
        """The least-squares attribute probe: fit every known field at once (identity basis, the 19 non-neutral
        expressions, gender, age) to upright, unscaled faces and read the attributes off the coefficients.

        A face's expression is the one with the largest coefficient, or neutral when none reaches 0.4 (real
        expressions have intensity >= 0.8); its gender the sign of the gender coefficient; its age the age
        coefficient on the 17-70 scale.

        Args:
            shapes: faces on the template topology. Shape: (B, V, 3).

        Returns:
            ``identity`` (B, IDENTITY_RANK) coefficients, ``expression`` (B,), ``gender`` (B,) indices and ``age``
            (B,) years.
        """
        design = np.concatenate([self.identity, self.expressions[1:], self.gender[None], self.age[None]]).reshape(-1, 3 * self.template.num_vertices)
        residual = (np.asarray(shapes, np.float64) - self.template.vertices).reshape(len(shapes), -1)
        coef = np.linalg.lstsq(design.T, residual.T, rcond=None)[0].T
        k = len(self.identity)
        expr = coef[:, k : k + len(EXPRESSIONS) - 1]
        lo, hi = AGE_RANGE
        return {
            "identity": coef[:, :k],
            "expression": np.where(expr.max(1) >= 0.4, expr.argmax(1) + 1, 0),
            "gender": np.where(coef[:, -2] > 0, 0, 1),
            "age": lo + coef[:, -1] * (hi - lo),
        }

    def mean_shape(self) -> np.ndarray:
        """The expected face under :meth:`sample_factors` (identity 0, each expression at its mean intensity 1 with
        probability 1/20, the two genders cancelling, the mean age's sag): mirror symmetric, as the template. Shape:
        (V, 3), float64."""
        return self.template.vertices + self.expressions.mean(0) + 0.5 * self.age

    def shape(self, f: FaceFactors) -> np.ndarray:
        """The face's vertices. Shape: (V, 3), float32."""
        lo, hi = AGE_RANGE
        v = self.template.vertices + np.tensordot(f.identity, self.identity, 1)
        v = v + f.intensity * self.expressions[f.expression]
        v = v + (1.0 if f.gender == 0 else -1.0) * self.gender + (f.age - lo) / (hi - lo) * self.age
        return v.astype(np.float32)


# ------------------------------------------------------------------------------------------ augmentation
def euler_rotation(angles_deg: np.ndarray) -> np.ndarray:
    """Rotation matrix of extrinsic x-y-z Euler angles in degrees (scipy's ``from_euler('xyz')``). Shape: (3, 3)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("xyz", angles_deg, degrees=True).as_matrix()


def augment(shape: np.ndarray, rng: np.random.Generator | None, scale: bool = True, rotate: bool = True) -> dict[str, torch.Tensor]:
    """The official augmentation: ``(v * s) @ r``, s ~ U(0.9, 1.1), r of Euler angles U(-10, 10) degrees per axis.

    Args:
        shape: vertices. Shape: (V, 3).
        rng: the draw (None: no augmentation).
        scale, rotate: which of the two to apply.

    Returns:
        ``shape`` (V, 3), ``rotation`` (3, 3) and ``scale`` (1,), float32 tensors.
    """
    # Both draws are made whichever parts apply, so that a face gets the same rotation with or without scaling.
    u, angles = (rng.random(), rng.random(3)) if rng is not None else (0.5, np.full(3, 0.5))
    s = 0.9 + 0.2 * u if rng is not None and scale else 1.0
    r = euler_rotation(-10.0 + 20.0 * angles) if rng is not None and rotate else np.eye(3)
    return {
        "shape": torch.from_numpy((shape * s @ r).astype(np.float32)),
        "rotation": torch.from_numpy(r.astype(np.float32)),
        "scale": torch.tensor([s], dtype=torch.float32),
    }


# ----------------------------------------------------------------------------------------------- datasets
class ProceduralFaceDataset(Dataset):
    """Unpaired procedural faces: sample ``i`` is drawn from ``(seed, i)``.

    Args:
        length: number of faces.
        seed: the data seed (held-out sets use another one).
        augment: apply the official scale and rotation augmentation.
        paired: also return ``target_label`` and ``target_shape``: the same person with random other attributes
            (evaluation only), unaugmented.
        random_scale, random_rot: which parts of the augmentation to apply (the official dataset's switches).
    """

    def __init__(self, length: int, seed: int = 0, augment: bool = True, paired: bool = False, random_scale: bool = True, random_rot: bool = True) -> None:
        if length < 1:
            raise ValueError(f"length: expected at least 1 face, received {length}")
        self.length, self.seed, self.augment, self.paired = length, seed, augment, paired
        self.random_scale, self.random_rot = random_scale, random_rot
        self.faces = ProceduralFaces()

    def __len__(self) -> int:
        return self.length

    def factors(self, index: int) -> FaceFactors:
        return self.faces.sample_factors(np.random.default_rng([self.seed, index, 0]))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        f = self.factors(index)
        rng = np.random.default_rng([self.seed, index, 1]) if self.augment else None
        item = augment(self.faces.shape(f), rng, self.random_scale, self.random_rot)
        item["label"] = torch.from_numpy(f.label)
        if self.paired:
            rng = np.random.default_rng([self.seed, index, 2])
            t = f.with_attributes(int(rng.integers(len(EXPRESSIONS))), int(rng.integers(2)), float(rng.uniform(*AGE_RANGE)))
            item["target_label"] = torch.from_numpy(t.label)
            item["target_shape"] = torch.from_numpy(self.faces.shape(t))
        return item


SHAPE_KEY, LABEL_KEY = "shape", "label"
GRID_KEYS = ("IX", "IY", "IZ", "WX", "WY", "WZ", "gridxy")
"""The official hdf5's geometric-map tables (also in ``grid.hdf5``): see ``zoo.models.ssgmap.geomap``."""


def write_facescape_hdf5(path: str | Path, shapes: np.ndarray, labels: np.ndarray, grid: dict[str, np.ndarray] | None = None) -> Path:
    """Write a training file in the official layout: ``shape`` (M, V, 3), ``label`` (M, 25), optionally the grid keys.

    Args:
        path: the ``.hdf5`` file.
        shapes: normalised vertices on the template topology. Shape: (M, V, 3).
        labels: 25-d labels. Shape: (M, 25).
        grid: the map tables (``GeometricMap.official_tables()``), stored beside the data as the official file does.

    Returns:
        The path.
    """
    h5py = require("h5py", "mesh")
    shapes, labels = np.asarray(shapes, np.float32), np.asarray(labels, np.float32)
    if shapes.ndim != 3 or shapes.shape[-1] != 3 or labels.shape != (len(shapes), LABEL_DIM):
        raise ValueError(f"shapes, labels: expected (M, V, 3) and (M, {LABEL_DIM}), received {shapes.shape} and {labels.shape}")
    with h5py.File(path, "w") as f:
        f[SHAPE_KEY], f[LABEL_KEY] = shapes, labels
        for key, value in (grid or {}).items():
            f[key] = value
    return Path(path)


class FaceScapeHDF5Dataset(Dataset):
    """The official ``training_data.hdf5``: ``shape`` (M, V, 3) and ``label`` (M, 25), read lazily (one handle per
    worker), with the official augmentation drawn from ``(seed, i)``.

    Args:
        path: the hdf5 file.
        augment: apply the scale and rotation augmentation (the official ``--data_aug``).
        seed: the augmentation seed.
        indices: the samples to use (None: all).
    """

    def __init__(self, path: str | Path, augment: bool = True, seed: int = 0, indices: np.ndarray | None = None) -> None:
        h5py = require("h5py", "mesh")
        self.path, self.augment, self.seed = Path(path), augment, seed
        if not self.path.is_file():
            raise ValueError(f"FaceScape hdf5: expected an existing file, received {str(path)!r}")
        with h5py.File(self.path, "r") as f:
            missing = [k for k in (SHAPE_KEY, LABEL_KEY) if k not in f]
            if missing:
                raise ValueError(f"FaceScape hdf5 {self.path}: expected keys 'shape' and 'label', missing {missing} (has {sorted(f)})")
            shape, label = f[SHAPE_KEY].shape, f[LABEL_KEY].shape
        if len(shape) != 3 or shape[-1] != 3 or label != (shape[0], LABEL_DIM):
            raise ValueError(f"FaceScape hdf5 {self.path}: expected shape (M, V, 3) and label (M, {LABEL_DIM}), received {shape} and {label}")
        self.num_vertices = shape[1]
        self.indices = np.arange(shape[0]) if indices is None else np.asarray(indices)
        self._file: Any = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self._file is None:
            self._file = require("h5py", "mesh").File(self.path, "r")
        i = int(self.indices[index])
        shape = np.asarray(self._file[SHAPE_KEY][i], dtype=np.float64)
        item = augment(shape, np.random.default_rng([self.seed, i, 1]) if self.augment else None)
        item["label"] = torch.from_numpy(np.asarray(self._file[LABEL_KEY][i], dtype=np.float32))
        return item

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None}  # h5py handles do not pickle into workers


def crop_tu_model(vertices: np.ndarray, index: np.ndarray, one_based: bool = True) -> np.ndarray:
    """Clip a FaceScape TU model to the template's frontal face with the official index file
    (``template/idx_Convert_TU_Models_FaceScape.mat``, MATLAB indices).

    Args:
        vertices: the TU model's vertices. Shape: (26317, 3) for FaceScape's TU models.
        index: the template's vertex indices into the TU model. Shape: (V,) or (V, 1).
        one_based: the indices are MATLAB's (the official file's).

    Returns:
        The cropped vertices. Shape: (V, 3).
    """
    index = np.asarray(index).astype(np.int64).ravel() - (1 if one_based else 0)
    if index.min() < 0 or index.max() >= len(vertices):
        raise ValueError(f"index: expected indices into {len(vertices)} vertices, received values in [{index.min()}, {index.max()}]")
    return np.asarray(vertices)[index]


class Faces3DDataModule(L.LightningDataModule):
    """Training faces from a FaceScape-layout hdf5 (``path``) or, with ``path=None``, the procedural generator.

    Args:
        path: the official ``training_data.hdf5`` (None: procedural faces).
        train_length: procedural training faces (ignored with ``path``).
        eval_length: held-out faces (procedural: another seed, paired with ground truth; hdf5: the last ones).
        batch_size: faces per batch (official 32).
        augment: the official scale and rotation augmentation.
        seed: data, augmentation and shuffling seed.
        num_workers: DataLoader workers.
    """

    def __init__(
        self, path: str | None = None, train_length: int = 2048, eval_length: int = 64, batch_size: int = 32,
        augment: bool = True, seed: int = 0, num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.path, self.train_length, self.eval_length, self.batch_size = path, train_length, eval_length, batch_size
        self.augment, self.seed, self.num_workers = augment, seed, num_workers

    def setup(self, stage: str | None = None) -> None:
        if self.path is None:
            self.train_set = ProceduralFaceDataset(self.train_length, self.seed, self.augment)
            self.eval_set = ProceduralFaceDataset(self.eval_length, self.seed + 1000, augment=False, paired=True)
            return
        count = len(FaceScapeHDF5Dataset(self.path, augment=False))
        n_eval = min(self.eval_length, count - 1)
        self.train_set = FaceScapeHDF5Dataset(self.path, self.augment, self.seed, np.arange(count - n_eval))
        self.eval_set = FaceScapeHDF5Dataset(self.path, False, self.seed, np.arange(count - n_eval, count))

    def train_dataloader(self) -> DataLoader:
        sampler = SeededShuffleSampler(len(self.train_set), seed=self.seed)
        return DataLoader(self.train_set, self.batch_size, sampler=sampler, num_workers=self.num_workers, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.eval_set, self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()
