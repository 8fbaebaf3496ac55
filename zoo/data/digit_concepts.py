"""Stroke and shape concepts of handwritten digits, labelled programmatically (a concept bank for concept-bottleneck
models on MNIST-like images).

Every concept is a yes/no property of the binarised digit (ink = pixel > 0.5), measured inside its bounding box:

- ``loop``, ``two_loops``: at least one / two enclosed holes (background components not touching the border);
- ``loop_top``, ``loop_bottom``: a hole whose centre lies in the upper / lower half of the box;
- ``vertical_stroke``: a column whose longest ink run covers 60% of the box height;
- ``bar_top``, ``bar_bottom``: a row in the top / bottom quarter whose longest ink run covers 50% of the box width;
- ``narrow``: box width below 45% of its height;
- ``top_heavy``, ``bottom_heavy``: over 60% of the ink in the upper / lower half;
- ``right_heavy``: over 60% of the ink in the right half;
- ``junction``: a skeleton pixel with three or more skeleton neighbours (strokes crossing or branching);
- ``many_ends``: three or more skeleton end points.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

CONCEPTS = (
    "loop", "two_loops", "loop_top", "loop_bottom", "vertical_stroke", "bar_top", "bar_bottom",
    "narrow", "top_heavy", "bottom_heavy", "right_heavy", "junction", "many_ends",
)


def _longest_run(line: np.ndarray) -> int:
    best = run = 0
    for v in line:
        run = run + 1 if v else 0
        best = max(best, run)
    return best


def _concepts_of(ink: np.ndarray) -> list[bool]:
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    if len(rows) == 0:
        return [False] * len(CONCEPTS)
    box = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = box.shape
    background, count = ndimage.label(~np.pad(box, 1))
    border = set(np.unique(np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])))
    holes = [i for i in range(1, count + 1) if i not in border and (background == i).sum() >= 2]
    centres = [ndimage.center_of_mass(background == i)[0] - 1 for i in holes]
    mass = box.sum()
    skeleton = skeletonize(box)
    neighbours = ndimage.convolve(skeleton.astype(int), np.ones((3, 3), int), mode="constant") - skeleton
    quarter = max(1, h // 4)
    return [
        len(holes) >= 1,
        len(holes) >= 2,
        any(c < h / 2 for c in centres),
        any(c >= h / 2 for c in centres),
        max(_longest_run(box[:, j]) for j in range(w)) >= 0.6 * h,
        max(_longest_run(box[i]) for i in range(quarter)) >= 0.5 * w,
        max(_longest_run(box[i]) for i in range(h - quarter, h)) >= 0.5 * w,
        w < 0.45 * h,
        box[: h // 2].sum() > 0.6 * mass,
        box[h - h // 2 :].sum() > 0.6 * mass,
        box[:, w - w // 2 :].sum() > 0.6 * mass,
        bool((skeleton & (neighbours >= 3)).any()),
        int((skeleton & (neighbours == 1)).sum()) >= 3,
    ]


def digit_concepts(images: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The :data:`CONCEPTS` of every image.

    Args:
        images: (N, H, W) or (N, 1, H, W) grey digits, ink bright, in [0, 1].
        threshold: ink threshold.

    Returns:
        (N, len(CONCEPTS)) bool.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"images: expected (N, H, W) or (N, 1, H, W) grey digits, received shape {images.shape}")
    return np.array([_concepts_of(image > threshold) for image in images], dtype=bool).reshape(len(images), len(CONCEPTS))
