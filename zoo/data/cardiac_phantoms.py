"""Seeded synthetic short-axis cardiac MR slices with scribbles: the offline twin of :mod:`zoo.data.acdc`.

Generator (:func:`cardiac_phantom`), per slice, from one ``numpy.random.Generator``:

- labels (ACDC order: 0 BG, 1 RV, 2 MYO, 3 LV): an elliptical LV blood pool, a myocardium ring of random thickness
  around it, and an RV crescent (an ellipse beside the LV, minus the dilated epicardium); random size, position and
  orientation, then a smooth random deformation (Gaussian-filtered displacement noise);
- intensities: bright blood pools, dark myocardium, a textured body ellipse on a dark field; a smooth multiplicative
  bias field, Gaussian blur and Rician noise (the magnitude of complex Gaussian noise).

Scribbles (:func:`scribbles_from_mask`) follow the two ideas of the official ``scribble_generators.py``: the skeleton of
each (eroded) structure thickened by a closing and a dilation kept inside it, or a random walk inside it of 10 % of
its area, smoothed the same way; plus a background scribble: a thin ring around the heart. Unscribbled pixels are
:data:`~zoo.data.acdc.UNLABELLED`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.ndimage import binary_closing, binary_dilation, binary_erosion
from skimage.morphology import disk, skeletonize

from zoo.data.acdc import EvaluationSet, ScribbleDataModule, ScribbleTrainingSet, UNLABELLED, standardize_and_clip

SCRIBBLE_KINDS = ("skeleton", "random_walk", "mixed")


def _ellipse(yy: np.ndarray, xx: np.ndarray, centre: tuple[float, float], radii: tuple[float, float], angle: float) -> np.ndarray:
    dy, dx = yy - centre[0], xx - centre[1]
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy
    return (u / radii[1]) ** 2 + (v / radii[0]) ** 2 <= 1.0


def _smooth_field(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma)
    return field / (np.abs(field).max() + 1e-12)


def phantom_labels(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """One (size, size) uint8 label map: BG 0, RV 1, MYO 2, LV 3 (see the module doc)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = (size / 2 + rng.normal(0, 0.05 * size), size / 2 + rng.normal(0, 0.05 * size))
    r = rng.uniform(0.08, 0.13) * size
    aspect, angle = rng.uniform(0.8, 1.2), rng.uniform(0, np.pi)
    lv_radii = (r * aspect, r / aspect)
    wall = rng.uniform(0.045, 0.07) * size
    epi_radii = (lv_radii[0] + wall, lv_radii[1] + wall)
    lv, epi = _ellipse(yy, xx, centre, lv_radii, angle), _ellipse(yy, xx, centre, epi_radii, angle)
    side = rng.uniform(0.75, 1.25) * np.pi  # the RV lies on the patient's right, roughly
    distance = max(epi_radii) + rng.uniform(0.0, 0.4) * r
    rv_centre = (centre[0] + distance * np.sin(side), centre[1] + distance * np.cos(side))
    rv = _ellipse(yy, xx, rv_centre, (rng.uniform(1.1, 1.6) * r, rng.uniform(0.7, 1.0) * r), side + np.pi / 2)
    rv &= ~binary_dilation(epi, disk(1).astype(bool))
    labels = np.zeros((size, size), np.uint8)
    labels[rv], labels[epi], labels[lv] = 1, 2, 3
    # Smooth deformation: displacement fields of a few pixels, nearest resampling of the labels.
    amplitude = 0.03 * size
    dy, dx = (amplitude * _smooth_field(rng, size, size / 8) for _ in range(2))
    return ndimage.map_coordinates(labels, [yy + dy, xx + dx], order=0, mode="nearest").astype(np.uint8)


def phantom_image(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """A float32 MR-like magnitude image of a label map (see the module doc), in arbitrary units."""
    size = labels.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    body = _ellipse(yy, xx, (size / 2 + rng.normal(0, 2), size / 2 + rng.normal(0, 2)), (rng.uniform(0.38, 0.46) * size, rng.uniform(0.42, 0.5) * size), rng.uniform(0, np.pi))
    tissue = 0.45 + 0.12 * _smooth_field(rng, size, 2.0) + 0.08 * _smooth_field(rng, size, 6.0)
    image = np.where(body, tissue, 0.05)
    means = {1: rng.uniform(0.8, 0.95), 2: rng.uniform(0.2, 0.32), 3: rng.uniform(0.85, 1.0)}
    for label, value in means.items():
        image = np.where(labels == label, value + 0.03 * rng.standard_normal((size, size)), image)
    image = ndimage.gaussian_filter(image, rng.uniform(0.5, 0.9))
    image *= 1.0 + 0.3 * _smooth_field(rng, size, size / 4)
    sigma = rng.uniform(0.03, 0.06)
    noisy = np.hypot(image + sigma * rng.standard_normal(image.shape), sigma * rng.standard_normal(image.shape))
    return (1000.0 * noisy).astype(np.float32)


def _thicken(path: np.ndarray, inside: np.ndarray) -> np.ndarray:
    return binary_dilation(binary_closing(path)) & inside


def skeleton_scribble(mask: np.ndarray) -> np.ndarray:
    """The official skeleton scribble of one binary structure, from its erosion when that keeps it non-empty."""
    eroded = binary_erosion(mask)
    source = eroded if eroded.sum() >= 4 else mask
    return _thicken(skeletonize(source), mask)


def random_walk_scribble(mask: np.ndarray, rng: np.random.Generator, length: float = 0.10, max_steps: int = 4000) -> np.ndarray:
    """The official random-walk scribble: 8-neighbour steps inside ``mask`` until ``length`` of its area is visited,
    then closed, skeletonised and thickened inside the mask."""
    where = np.argwhere(mask)
    target = int(length * len(where))
    if target >= len(where) or not len(where):
        return mask.copy()
    walk = np.zeros_like(mask)
    y, x = where[rng.integers(len(where))]
    walk[y, x] = True
    visited, steps = 1, 0
    while visited < target and steps < max_steps:
        steps += 1
        ny, nx = np.clip(y + rng.integers(-1, 2), 0, mask.shape[0] - 1), np.clip(x + rng.integers(-1, 2), 0, mask.shape[1] - 1)
        if mask[ny, nx]:
            visited += not walk[ny, nx]
            walk[ny, nx] = True
            y, x = ny, nx
    return binary_dilation(skeletonize(binary_closing(binary_dilation(walk)))) & mask


def scribbles_from_mask(labels: np.ndarray, rng: np.random.Generator, kind: str = "mixed") -> np.ndarray:
    """Scribble labels of a label map: one scribble per structure and a background ring around the heart.

    Args:
        labels: (H, W) uint8, 0 BG, 1-3 structures.
        rng: the random generator (walks, and the per-structure choice of ``"mixed"``).
        kind: ``"skeleton"``, ``"random_walk"`` or ``"mixed"`` (either, per structure).

    Returns:
        (H, W) uint8: the class of scribbled pixels, :data:`~zoo.data.acdc.UNLABELLED` elsewhere.
    """
    if kind not in SCRIBBLE_KINDS:
        raise ValueError(f"kind: expected one of {SCRIBBLE_KINDS}, received {kind!r}")
    out = np.full(labels.shape, UNLABELLED, np.uint8)
    heart = labels > 0
    if heart.any():
        ring = binary_dilation(heart, disk(4).astype(bool)) & ~binary_dilation(heart, disk(3).astype(bool))
        out[ring] = 0
    for label in (1, 2, 3):
        mask = labels == label
        if not mask.any():
            continue
        walk = kind == "random_walk" or (kind == "mixed" and rng.random() < 0.5)
        out[random_walk_scribble(mask, rng) if walk else skeleton_scribble(mask)] = label
    return out


def cardiac_phantom(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One phantom slice: (raw image (size, size) float32, labels (size, size) uint8)."""
    labels = phantom_labels(rng, size)
    return phantom_image(rng, labels), labels


def phantom_set(n: int, size: int, seed: int, scribbles: str | None = None) -> dict[str, np.ndarray]:
    """``n`` phantoms from ``seed``: standardised images (official ``standardize_and_clip`` per slice), labels, and
    scribbles when ``scribbles`` names a kind."""
    rng = np.random.default_rng(seed)
    images, labels, scribbled = [], [], []
    for _ in range(n):
        image, label = cardiac_phantom(rng, size)
        images.append(standardize_and_clip(image))
        labels.append(label)
        if scribbles:
            scribbled.append(scribbles_from_mask(label, rng, scribbles))
    out = {"images": np.stack(images), "labels": np.stack(labels)}
    if scribbles:
        out["scribbles"] = np.stack(scribbled)
    return out


class CardiacPhantomDataModule(ScribbleDataModule):
    """Scribbled, unlabelled and real-mask phantom streams plus held-out validation and test phantoms, each drawn from
    its own seed (``seed + 0..4``), so the discriminator's masks are unpaired with every image.

    Args:
        size: slice side (a multiple of 16).
        n_scribbled: scribbled training slices.
        n_unlabelled: unlabelled training slices.
        n_masks: real masks for the discriminator.
        n_val, n_test: held-out slices with full masks.
        scribbles: scribble kind (:data:`SCRIBBLE_KINDS`).
        batch_size, seed, num_workers: as :class:`~zoo.data.acdc.ScribbleDataModule`.
    """

    def __init__(self, size: int = 64, n_scribbled: int = 64, n_unlabelled: int = 128, n_masks: int = 128, n_val: int = 32,
                 n_test: int = 128, scribbles: str = "mixed", batch_size: int = 8, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__(batch_size, seed, num_workers)
        if size % 16 or size < 32:
            raise ValueError(f"size: expected a multiple of 16 of at least 32, received {size}")
        if scribbles not in SCRIBBLE_KINDS:
            raise ValueError(f"scribbles: expected one of {SCRIBBLE_KINDS}, received {scribbles!r}")
        self.size, self.counts, self.scribbles = size, (n_scribbled, n_unlabelled, n_masks, n_val, n_test), scribbles

    def build_sets(self) -> tuple[ScribbleTrainingSet, EvaluationSet, EvaluationSet]:
        n_s, n_u, n_m, n_v, n_t = self.counts
        s = 1000 * self.seed
        sup = phantom_set(n_s, self.size, s, self.scribbles)
        unlabelled = phantom_set(n_u, self.size, s + 1)["images"]
        masks = phantom_set(n_m, self.size, s + 2)["labels"]
        val, test = phantom_set(n_v, self.size, s + 3), phantom_set(n_t, self.size, s + 4)
        train = ScribbleTrainingSet(sup["images"], sup["scribbles"], sup["labels"], unlabelled, masks)
        return train, EvaluationSet(val["images"], val["labels"]), EvaluationSet(test["images"], test["labels"])
