"""ACDC cine-MR slices with scribbles (NIfTI through nibabel), preprocessed as the official MAAG code.

The official ``data_interface/utils_acdc/prepare_dataset.py`` per NIfTI file: slices (and time frames) on the first
axis; each slice resized to 1.51 mm in-plane (``int(size * spacing / 1.51)``, bicubic for images, nearest for labels);
centre pad (edge for images, 0 for labels) and crop to 224 x 224; images clipped to their 5th-95th percentiles and
standardised by median and IQR over the whole file; labels one-hot (BG, RV, MYO, LV); in the released scribbles
(``patientXXX_frameYY_scribble.nii.gz``) 0 is the background scribble, 1-3 the structures and 4 unlabelled.
Resizing here is torch's (bicubic with OpenCV's a = -0.75 kernel; nearest as OpenCV's INTER_NEAREST) instead of cv2.

Training streams, as the official ``get_splits()`` (``perc25`` / ``perc50``, ``split0``): scribbled ED/ES slices of the
``train_sup`` patients; unlabelled slices of the ``train_unsup`` patients (every frame of ``patientXXX_4d.nii.gz``, or
ED/ES when the 4-D file is missing); real masks of the ``train_disc`` patients for the discriminator; ED/ES images
with their masks for ``validation`` and ``test``. Empty slices (constant images) are dropped. The same training set
classes carry the synthetic phantoms (:mod:`zoo.data.cardiac_phantoms`), the offline twin of this module.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from zoo.data.samplers import EpochSeededSampler

NUM_CLASSES = 4
UNLABELLED = 255
"""The index of unlabelled scribble pixels in the stored label maps (the released files use 4)."""
SCRIBBLE_UNLABELLED_VALUE = 4
SPACING_MM, SIZE = 1.51, 224
"""The official in-plane resolution (``mean_dx`` 1.5117105, rounded in the paper) and crop side."""
OFFICIAL_SPACING_MM = 1.5117105

_TEST = [5, 39, 77, 82, 78, 10, 64, 24, 30, 73, 80, 41, 36, 60, 72]
_VALIDATION = [84, 32, 27, 96, 17, 18, 57, 81, 79, 22, 1, 44, 49, 25, 95]
_UNSUP = [37, 50, 53, 100, 38, 19, 61, 74, 97, 31, 91, 35, 56, 94, 26, 69, 46, 59, 4, 89, 71, 6, 52, 43, 45, 63, 93, 14, 98, 88, 21, 28, 99, 54, 90]
_DISC = [2, 76, 34, 85, 70, 86, 3, 8, 51, 40, 7, 13, 47, 55, 12, 58, 87, 9, 65, 62, 33, 42, 23, 92, 29, 11, 83, 68, 75, 67, 16, 48, 66, 20, 15]
SPLITS: dict[str, dict[str, list[int]]] = {
    "perc25": {"test": _TEST, "validation": _VALIDATION, "train_unsup": _UNSUP, "train_disc": _DISC,
               "train_sup": [3, 7, 8, 12, 21, 33, 42, 48, 58, 63, 67, 74, 76, 88, 91, 92, 97, 98]},
    "perc50": {"test": _TEST, "validation": _VALIDATION, "train_unsup": _UNSUP, "train_disc": _DISC, "train_sup": list(_UNSUP)},
}
"""The official ``split0`` patient ids of ``data_interface/utils_acdc/split_data.py``."""
SPLIT_KEYS = ("train_sup", "train_unsup", "train_disc", "validation", "test")


# ------------------------------------------------------------------ NIfTI and preprocessing
def load_nifti(path: str | Path, what: str = "volume"):
    """A nibabel image from ``path`` (``.nii`` / ``.nii.gz``).

    Raises:
        ValueError: nibabel cannot read it, naming the file.
    """
    from zoo.core.optional import require

    nib = require("nibabel", "medical")
    try:
        return nib.load(str(path))
    except Exception as error:  # nibabel raises several types for a file that is not NIfTI
        raise ValueError(f"{what}: expected a readable NIfTI file, received {str(path)!r} ({type(error).__name__}: {error})") from None


def independent_slices(data: np.ndarray) -> np.ndarray:
    """(X, Y, Z) or (X, Y, Z, T) -> (Z * T, X, Y): every slice and frame on the first axis (official order)."""
    if data.ndim == 4:
        x, y, z, t = data.shape
        return np.transpose(data, (2, 3, 0, 1)).reshape(z * t, x, y)
    if data.ndim == 3:
        return np.transpose(data, (2, 0, 1))
    if data.ndim == 2:
        return data[None]
    raise ValueError(f"volume: expected 2 to 4 dimensions, received shape {data.shape}")


def crop_or_pad(slices: np.ndarray, size: int, mode: str) -> np.ndarray:
    """The official ``crop_or_pad_slice_center``: pad to at least ``size`` (ceil before, floor after; ``"edge"`` or
    zeros), then crop ``size`` about the centre (``x // 2 - size // 2``)."""
    _, x, y = slices.shape
    pad = [(0, 0)] + [(int(np.ceil(max(0, size - n) / 2)), int(np.floor(max(0, size - n) / 2))) for n in (x, y)]
    slices = np.pad(slices, pad, mode="edge") if mode == "edge" else np.pad(slices, pad, mode="constant")
    x0, y0 = slices.shape[1] // 2 - size // 2, slices.shape[2] // 2 - size // 2
    return slices[:, x0 : x0 + size, y0 : y0 + size]


def resample(slices: np.ndarray, zooms: tuple[float, float], spacing: float, labels: bool) -> np.ndarray:
    """Resize (S, X, Y) slices from pixel size ``zooms`` to ``spacing`` mm: ``int(scale * side)``, bicubic or nearest."""
    size = (max(int(zooms[0] / spacing * slices.shape[1]), 1), max(int(zooms[1] / spacing * slices.shape[2]), 1))
    x = torch.from_numpy(np.ascontiguousarray(slices, dtype=np.float32))[:, None]
    out = F.interpolate(x, size=size, mode="nearest") if labels else F.interpolate(x, size=size, mode="bicubic", align_corners=False)
    return out[:, 0].numpy()


def preprocess(image, labels: bool, spacing: float = OFFICIAL_SPACING_MM, size: int = SIZE) -> np.ndarray:
    """One NIfTI image -> (S, size, size) slices: float32 standardised images, or uint8 label maps.

    Args:
        image: a nibabel image (or a path).
        labels: a label file (masks, scribbles): nearest resizing, zero padding, no intensity change.
        spacing: target in-plane pixel size (mm).
        size: crop side.
    """
    image = image if hasattr(image, "dataobj") else load_nifti(image)
    zooms = tuple(float(z) for z in image.header.get_zooms()[:2])
    slices = resample(independent_slices(np.asanyarray(image.dataobj)), zooms, spacing, labels)
    slices = crop_or_pad(slices, size, "zero" if labels else "edge")
    return np.rint(slices).astype(np.uint8) if labels else standardize_and_clip(slices)


def standardize_and_clip(x: np.ndarray) -> np.ndarray:
    """The official intensity normalisation: clip to the 5th-95th percentiles, then ``(x - median) / IQR`` (all
    percentiles of the unclipped values of the whole array: a volume, or one slice)."""
    p5, p25, p50, p75, p95 = np.percentile(x, (5, 25, 50, 75, 95))
    return ((np.clip(x, p5, p95) - p50) / (p75 - p25 + 1e-12)).astype(np.float32)


def parse_info_cfg(path: str | Path) -> tuple[int, int]:
    """ED and ES frame numbers of an ACDC ``Info.cfg``."""
    text = Path(path).read_text()
    frames = {key: re.search(rf"^{key}:\s*(\d+)", text, re.MULTILINE) for key in ("ED", "ES")}
    if not all(frames.values()):
        raise ValueError(f"{path}: expected 'ED: <frame>' and 'ES: <frame>' lines, received {text[:80]!r}")
    return int(frames["ED"].group(1)), int(frames["ES"].group(1))


# ------------------------------------------------------------------ training sets shared with the phantoms
def one_hot(labels: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """(…, H, W) integer labels -> (…, K, H, W) float one-hot; labels outside 0..K-1 (unlabelled) are all zero."""
    labels = labels.long()
    valid = (labels >= 0) & (labels < num_classes)
    out = F.one_hot(torch.where(valid, labels, 0), num_classes).movedim(-1, -3).float()
    return out * valid.unsqueeze(-3)


class ScribbleTrainingSet(Dataset):
    """Scribbled images with their masks, plus the unlabelled images and real masks of the adversarial streams.

    An item is indexed by a triple ``(scribbled, unlabelled, real mask)`` (:class:`TripleShuffleSampler`).

    Args:
        images: (S, H, W) float32 standardised images.
        scribbles: (S, H, W) uint8 scribble labels, :data:`UNLABELLED` where unannotated.
        masks: (S, H, W) uint8 full labels (monitoring and the full-mask baseline).
        unlabelled: (U, H, W) float32 images.
        real_masks: (R, H, W) uint8 labels, unpaired with anything.
    """

    def __init__(self, images, scribbles, masks, unlabelled, real_masks) -> None:
        self.images, self.scribbles, self.masks = (torch.as_tensor(np.asarray(a)) for a in (images, scribbles, masks))
        self.unlabelled, self.real_masks = torch.as_tensor(np.asarray(unlabelled)), torch.as_tensor(np.asarray(real_masks))
        if not len(self.images) or not len(self.unlabelled) or not len(self.real_masks):
            raise ValueError(f"training set: expected scribbled, unlabelled and real-mask slices, received {len(self.images)}, {len(self.unlabelled)}, {len(self.real_masks)}")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: tuple[int, int, int]) -> dict[str, torch.Tensor]:
        i, u, r = index
        return {"image": self.images[i][None].float(), "scribble": one_hot(self.scribbles[i]), "mask": one_hot(self.masks[i]),
                "unlabelled": self.unlabelled[u][None].float(), "real_mask": one_hot(self.real_masks[r])}


class EvaluationSet(Dataset):
    """(image (1, H, W), one-hot mask (4, H, W)) pairs for validation and test."""

    def __init__(self, images, masks) -> None:
        self.images, self.masks = torch.as_tensor(np.asarray(images)), torch.as_tensor(np.asarray(masks))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i][None].float(), "mask": one_hot(self.masks[i])}


class TripleShuffleSampler(EpochSeededSampler):
    """One epoch = one pass over the scribbled slices in a fresh order; the unlabelled and real-mask streams repeat
    (as the official iterators), each in its own order. Every order is drawn from ``seed + epoch``, so a resumed run
    sees the batches an uninterrupted one would (see :class:`~zoo.data.samplers.EpochSeededSampler`)."""

    def __init__(self, lengths: tuple[int, int, int], seed: int = 0) -> None:
        super().__init__(seed)
        self.lengths = lengths

    def __len__(self) -> int:
        return self.lengths[0]

    def epoch_order(self, generator: torch.Generator) -> list[tuple[int, int, int]]:
        n = self.lengths[0]
        orders = [torch.randperm(length, generator=generator).repeat(-(-n // length))[:n].tolist() for length in self.lengths]
        return list(zip(*orders))


class ScribbleDataModule(L.LightningDataModule):
    """The loaders over a :class:`ScribbleTrainingSet` and two :class:`EvaluationSet`\\ s; subclasses build them in
    :meth:`build_sets`.

    Args:
        batch_size: slices per batch of each stream (official 12).
        seed: seed of the shuffling.
        num_workers: loader workers.
    """

    def __init__(self, batch_size: int = 12, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__()
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.train_set: ScribbleTrainingSet | None = None
        self.val_set: EvaluationSet | None = None
        self.test_set: EvaluationSet | None = None

    def build_sets(self) -> tuple[ScribbleTrainingSet, EvaluationSet, EvaluationSet]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set, self.val_set, self.test_set = self.build_sets()

    def train_dataloader(self) -> DataLoader:
        sets = self.train_set
        sampler = TripleShuffleSampler((len(sets.images), len(sets.unlabelled), len(sets.real_masks)), self.seed)
        return DataLoader(sets, self.batch_size, sampler=sampler, num_workers=self.num_workers, drop_last=len(sets) >= self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, self.batch_size, num_workers=self.num_workers)


# ------------------------------------------------------------------ ACDC
class ACDCScribbleDataModule(ScribbleDataModule):
    """ACDC with the released expert scribbles, split and preprocessed as the official code (see the module doc).

    Args:
        root: the ACDC ``training`` folder (``patientXXX/`` with ``Info.cfg``, ``patientXXX_frameYY.nii.gz``,
            ``..._gt.nii.gz``, optionally ``patientXXX_4d.nii.gz``); scribbles beside them or in ``scribbles``.
        scribbles: folder of ``patientXXX_frameYY_scribble.nii.gz`` (None: the patient folders).
        split: ``"perc25"`` or ``"perc50"`` (the official ``split0``), or a dict of patient ids per key of
            :data:`SPLIT_KEYS`.
        spacing: in-plane pixel size in mm (official 1.5117105).
        size: crop side (224).
        batch_size, seed, num_workers: as :class:`ScribbleDataModule`.
    """

    def __init__(self, root: str, scribbles: str | None = None, split: str | dict = "perc25", spacing: float = OFFICIAL_SPACING_MM,
                 size: int = SIZE, batch_size: int = 12, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__(batch_size, seed, num_workers)
        if isinstance(split, str) and split not in SPLITS:
            raise ValueError(f"split: expected one of {sorted(SPLITS)} or a dict of patient ids, received {split!r}")
        self.split = SPLITS[split] if isinstance(split, str) else split
        missing = [k for k in SPLIT_KEYS if k not in self.split]
        if missing:
            raise ValueError(f"split: expected patient ids for {list(SPLIT_KEYS)}, received none for {missing}")
        self.root, self.scribbles = Path(root), Path(scribbles) if scribbles else None
        self.spacing, self.size = spacing, size

    def _patient(self, pid: int) -> tuple[Path, str, tuple[int, int]]:
        folder = self.root / f"patient{pid:03d}"
        if not (folder / "Info.cfg").is_file():
            raise ValueError(f"ACDC root: expected {folder / 'Info.cfg'}, received no such file (is root the ACDC training folder?)")
        return folder, f"patient{pid:03d}", parse_info_cfg(folder / "Info.cfg")

    def _frames(self, pid: int, suffix: str, labels: bool) -> np.ndarray:
        folder, name, frames = self._patient(pid)
        base = self.scribbles if suffix == "_scribble" and self.scribbles else folder
        return np.concatenate([preprocess(load_nifti(base / f"{name}_frame{f:02d}{suffix}.nii.gz", "ACDC file"), labels, self.spacing, self.size) for f in frames])

    def _images_and_masks(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        images, masks = [], []
        for pid in ids:
            image, mask = self._frames(pid, "", False), self._frames(pid, "_gt", True)
            keep = np.ptp(image.reshape(len(image), -1), axis=1) > 0  # the official remove_empty_slices
            images.append(image[keep])
            masks.append(mask[keep])
        return np.concatenate(images), np.concatenate(masks)

    def _unlabelled(self, ids: list[int]) -> np.ndarray:
        out = []
        for pid in ids:
            folder, name, _ = self._patient(pid)
            four_d = folder / f"{name}_4d.nii.gz"
            out.append(preprocess(load_nifti(four_d), False, self.spacing, self.size) if four_d.is_file() else self._frames(pid, "", False))
        return np.concatenate(out)

    def build_sets(self) -> tuple[ScribbleTrainingSet, EvaluationSet, EvaluationSet]:
        images, masks, scribbles = [], [], []
        for pid in self.split["train_sup"]:
            image, mask = self._frames(pid, "", False), self._frames(pid, "_gt", True)
            scribble = self._frames(pid, "_scribble", True)
            scribble[scribble == SCRIBBLE_UNLABELLED_VALUE] = UNLABELLED
            keep = np.ptp(image.reshape(len(image), -1), axis=1) > 0
            images.append(image[keep]), masks.append(mask[keep]), scribbles.append(scribble[keep])
        real = self._images_and_masks(self.split["train_disc"])[1]
        train = ScribbleTrainingSet(np.concatenate(images), np.concatenate(scribbles), np.concatenate(masks), self._unlabelled(self.split["train_unsup"]), real)
        return train, EvaluationSet(*self._images_and_masks(self.split["validation"])), EvaluationSet(*self._images_and_masks(self.split["test"]))

    def summary(self) -> dict[str, Any]:
        """Slices per stream (after :meth:`setup`)."""
        t = self.train_set
        return {"scribbled": len(t.images), "unlabelled": len(t.unlabelled), "real_masks": len(t.real_masks), "validation": len(self.val_set), "test": len(self.test_set)}
