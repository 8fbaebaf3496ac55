"""RAW -> RGB data modules: synthetic (unprocessed bundled photographs) and real folders (Zurich / UltraISP layout).

Both yield dicts ``{"raw": packed (4, h, w), "target": RGB (3, 2h, 2w), "gt": RGB (3, 2h, 2w)}``:
``target`` is what the discriminators see as real (a *different* image's crop when unpaired), ``gt`` is the
sRGB that belongs to this RAW (only used for evaluation; for real unpaired folders it equals ``target``
when ``paired=True`` and is absent otherwise).
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import lightning as L
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from zoo.data.raw import camera_profiles, normalize_packed, pack_bayer, unprocess
from zoo.data.samplers import SeededShuffleSampler

TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "china", "motorcycle")
HELD_OUT_PHOTOS = ("chelsea", "flower")


def bundled_photograph(name: str) -> np.ndarray:
    """A real photograph that scikit-image or scikit-learn ships, as uint8 (H, W, 3).

    Names: astronaut, coffee, rocket, chelsea, motorcycle (scikit-image); china, flower (scikit-learn).
    """
    import skimage.data

    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    if name in ("astronaut", "coffee", "rocket", "chelsea"):
        return getattr(skimage.data, name)()
    raise ValueError(f"photograph: expected one of {TRAIN_PHOTOS + HELD_OUT_PHOTOS}, received {name!r}")


def crop_transform(size: int, augment: bool) -> A.Compose:
    ops: list = [A.RandomCrop(size, size)]
    if augment:
        ops += [A.HorizontalFlip(p=0.5), A.RandomRotate90(p=0.5)]
    return A.Compose(ops)


class SyntheticRawDataset(Dataset):
    """Packed RAW made by unprocessing crops of bundled photographs, with the known sRGB.

    Sample ``i`` is a pure function of ``(seed, i)``: crop position, augmentation, camera colour matrix,
    white balance and noise are all drawn from generators seeded with them.

    Args:
        photos: photograph names (see :func:`bundled_photograph`).
        length: number of samples.
        crop: side of the sRGB crop (even); the packed RAW is ``crop / 2``.
        profile: camera profile name (``zoo/data/camera_profiles.json``).
        paired: if False, ``target`` is the sRGB of an unrelated sample (unpaired training).
        augment: random flips and 90-degree rotations.
        noise: add sensor noise.
        seed: base seed.
    """

    def __init__(
        self,
        photos: tuple[str, ...] = TRAIN_PHOTOS,
        length: int = 256,
        crop: int = 64,
        profile: str = "mediatek_10bit",
        paired: bool = False,
        augment: bool = True,
        noise: bool = True,
        seed: int = 0,
    ) -> None:
        if crop % 2:
            raise ValueError(f"crop: expected an even size, received {crop}")
        self.images = [bundled_photograph(p) for p in photos]
        self.length, self.crop, self.paired, self.noise, self.seed = length, crop, paired, noise, seed
        self.profile = camera_profiles()[profile]
        self.transform = crop_transform(crop, augment)
        self.partner = torch.randperm(length, generator=torch.Generator().manual_seed(seed + 7919)).tolist()

    def __len__(self) -> int:
        return self.length

    def srgb(self, index: int) -> torch.Tensor:
        """The sRGB crop of sample ``index``. Shape: (3, crop, crop), values in [0, 1]."""
        self.transform.set_random_seed(self.seed * 1_000_003 + index)
        image = self.images[index % len(self.images)]
        crop = self.transform(image=image)["image"]
        return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float() / 255.0

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        gt = self.srgb(index)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        raw = unprocess(gt, self.profile, gen, noise=self.noise).packed
        target = gt if self.paired else self.srgb(self.partner[index])
        return {"raw": raw, "target": target, "gt": gt}


def read_bayer_png(path: str | Path) -> np.ndarray:
    """A single-channel 16-bit Bayer PNG (Zurich RAW-to-RGB / UltraISP layout) as an (H, W) integer array."""
    with Image.open(path) as image:
        array = np.array(image)
    if array.ndim != 2:
        raise ValueError(f"{path}: expected a single-channel Bayer PNG, received an image of shape {array.shape}")
    return array.astype(np.int32)


class RawRGBFolderDataset(Dataset):
    """Real RAW/RGB folders: ``raw_dir/*.png`` (16-bit Bayer, RGGB) and ``rgb_dir/*`` (8-bit RGB), matched by sorted order.

    Args:
        raw_dir: folder of Bayer PNGs.
        rgb_dir: folder of RGB images; same count and order as ``raw_dir`` when paired.
        black_level: per packed plane, in counts (``(62, 60, 58, 61)`` for the UltraISP MediaTek RAW).
        white_level: saturation in counts (1023).
        paired: if False, targets are a seeded permutation of the RGB list (the official ``shuffled=True``).
        seed: seed of that permutation.
    """

    def __init__(
        self,
        raw_dir: str | Path,
        rgb_dir: str | Path,
        black_level: tuple[float, float, float, float] = (62, 60, 58, 61),
        white_level: float = 1023,
        paired: bool = False,
        seed: int = 0,
    ) -> None:
        self.raws = sorted(Path(raw_dir).glob("*.png"))
        self.rgbs = sorted(p for p in Path(rgb_dir).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not self.raws or not self.rgbs:
            raise ValueError(f"expected PNG Bayer files in {raw_dir} and RGB images in {rgb_dir}, found {len(self.raws)} and {len(self.rgbs)}")
        if paired and len(self.raws) != len(self.rgbs):
            raise ValueError(f"paired folders: expected equal counts, received {len(self.raws)} RAW and {len(self.rgbs)} RGB")
        self.black_level, self.white_level, self.paired = tuple(black_level), float(white_level), paired
        order = torch.randperm(len(self.rgbs), generator=torch.Generator().manual_seed(seed)).tolist()
        self.target_index = list(range(len(self.rgbs))) if paired else order

    def __len__(self) -> int:
        return len(self.raws)

    def _rgb(self, path: Path) -> torch.Tensor:
        with Image.open(path) as image:
            return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).float() / 255.0

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        mosaic = torch.from_numpy(read_bayer_png(self.raws[index])).float()[None]
        raw = normalize_packed(pack_bayer(mosaic), self.black_level, self.white_level)
        target = self._rgb(self.rgbs[self.target_index[index % len(self.target_index)]])
        item = {"raw": raw, "target": target}
        if self.paired:
            item["gt"] = target
        return item


class TrainEvalDataModule(L.LightningDataModule):
    """Shared loaders: ``setup`` builds ``train_set`` and ``eval_set``; training order is seeded per epoch."""

    train_set: Dataset
    eval_set: Dataset

    def train_dataloader(self) -> DataLoader:
        sampler = SeededShuffleSampler(len(self.train_set), self.hparams.seed)
        return DataLoader(self.train_set, self.hparams.batch_size, sampler=sampler, num_workers=self.hparams.num_workers, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.eval_set, self.hparams.batch_size, num_workers=self.hparams.num_workers)

    test_dataloader = val_dataloader


class SyntheticRawDataModule(TrainEvalDataModule):
    """Unprocessed bundled photographs: training crops from five photographs, validation and test from two others.

    Args:
        batch_size: batch size.
        crop: sRGB crop side (the packed RAW is half).
        train_length: training samples per epoch.
        eval_length: validation / test samples.
        profile: camera profile name.
        paired: pair each RAW with its own sRGB (the official ``shuffled=False``).
        noise: add sensor noise.
        seed: base seed of every draw.
        num_workers: DataLoader workers.
    """

    def __init__(
        self,
        batch_size: int = 8,
        crop: int = 64,
        train_length: int = 256,
        eval_length: int = 32,
        profile: str = "mediatek_10bit",
        paired: bool = False,
        noise: bool = True,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        self.train_set = SyntheticRawDataset(TRAIN_PHOTOS, h.train_length, h.crop, h.profile, h.paired, True, h.noise, h.seed)
        self.eval_set = SyntheticRawDataset(HELD_OUT_PHOTOS, h.eval_length, h.crop, h.profile, True, False, h.noise, h.seed + 1)



class RawRGBFolderDataModule(TrainEvalDataModule):
    """Real RAW/RGB folders in the Zurich RAW-to-RGB / Fujifilm UltraISP layout.

    ``root/train/<raw_subdir>``, ``root/train/<rgb_subdir>``, and the same under ``root/test`` for evaluation.

    Args:
        root: dataset root.
        raw_subdir: RAW folder name (``mediatek_raw`` for UltraISP, ``huawei_raw`` for ZRR).
        rgb_subdir: RGB folder name (``fujifilm`` for UltraISP, ``canon`` for ZRR).
        black_level: per packed plane.
        white_level: saturation level.
        paired: paired training; test data is always paired.
        batch_size: batch size.
        seed: seed of the unpaired permutation and of the shuffling.
        num_workers: DataLoader workers.
    """

    def __init__(
        self,
        root: str,
        raw_subdir: str = "mediatek_raw",
        rgb_subdir: str = "fujifilm",
        black_level: tuple[float, float, float, float] = (62, 60, 58, 61),
        white_level: float = 1023,
        paired: bool = False,
        batch_size: int = 32,
        seed: int = 0,
        num_workers: int = 4,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()

    def _dataset(self, split: str, paired: bool) -> RawRGBFolderDataset:
        h, root = self.hparams, Path(self.hparams.root) / split
        return RawRGBFolderDataset(root / h.raw_subdir, root / h.rgb_subdir, h.black_level, h.white_level, paired, h.seed)

    def setup(self, stage: str | None = None) -> None:
        self.train_set = self._dataset("train", self.hparams.paired)
        self.eval_set = self._dataset("test", True)

