"""Raw-to-raw (camera A -> camera B) data: two synthetic cameras, and the real CycleGAN folder layout.

Both data modules yield dicts ``{"a": (3, h, w), "b": (3, h, w)}`` in [0, 1]. Training batches are unpaired
(``b`` shows another scene than ``a``); validation / test batches are paired (``b`` is camera B's capture of
``a``'s scene), for PSNR / SSIM against ground truth.

Images are in the official Rawformer loader's format: 3-channel raw images (packed Bayer planes with the two
greens averaged: R, G, B at half the sensor resolution), normalised by black and white level; no mean / std
normalisation.
"""

from __future__ import annotations

from pathlib import Path

import albumentations as A
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from zoo.data.raw import camera_profiles, unprocess
from zoo.data.raw_datamodule import HELD_OUT_PHOTOS, TRAIN_PHOTOS, SyntheticRawDataset, TrainEvalDataModule

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def packed_to_rgb_planes(packed: torch.Tensor) -> torch.Tensor:
    """Packed RGGB planes ``[B, G, R, G]`` (zoo's packed order) -> ``[R, (G + G) / 2, B]``.

    Args:
        packed: Shape: (..., 4, h, w).

    Returns:
        Shape: (..., 3, h, w).
    """
    return torch.stack([packed[..., 2, :, :], 0.5 * (packed[..., 1, :, :] + packed[..., 3, :, :]), packed[..., 0, :, :]], dim=-3)


class SyntheticCameraPairDataset(SyntheticRawDataset):
    """The same bundled photographs as two cameras record them (inverse ISP with each camera's profile); the crops,
    augmentation and unpaired partners are :class:`~zoo.data.raw_datamodule.SyntheticRawDataset`'s.

    Sample ``i`` is a pure function of ``(seed, i)``. Camera A renders crop ``i``; camera B renders crop ``i``
    too when ``paired`` (same scene, and the same random draws for illuminant and noise level, so the two
    captures share the light; each sensor's noise realisation is its own), else the crop of an unrelated sample.

    Args:
        photos: photograph names (see :func:`zoo.data.raw_datamodule.bundled_photograph`).
        length: number of samples.
        crop: side of the sRGB crop; the raw images are ``crop / 2``.
        camera_a, camera_b: camera profile names (``zoo/data/camera_profiles.json``).
        paired: ``b`` is camera B's capture of ``a``'s scene.
        augment: random flips and 90-degree rotations.
        noise: sensor noise.
        seed: base seed.
    """

    def __init__(
        self,
        photos: tuple[str, ...] = TRAIN_PHOTOS,
        length: int = 256,
        crop: int = 128,
        camera_a: str = "sim_dslr_14bit",
        camera_b: str = "sim_phone_12bit",
        paired: bool = False,
        augment: bool = True,
        noise: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(photos, length, crop, camera_a, paired, augment, noise, seed)
        self.profiles = (camera_profiles()[camera_a], camera_profiles()[camera_b])

    def _capture(self, index: int, camera: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        # Each sensor draws its own noise: shared draws would make camera A's noise a copy of the paired ground
        # truth's, which rewards passing the input's noise through.
        noise_gen = torch.Generator().manual_seed((self.seed * 1_000_003 + index) * 2 + camera + 1)
        raw = unprocess(self.srgb(index), self.profiles[camera], gen, noise=self.noise, noise_gen=noise_gen).packed
        return packed_to_rgb_planes(raw).clamp(0.0, 1.0)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"a": self._capture(index, 0), "b": self._capture(index if self.paired else self.partner[index], 1)}


def read_image(path: str | Path) -> torch.Tensor:
    """An RGB image file, read with PIL, as a float tensor in [0, 1] (16-bit data where PIL keeps it). Shape: (3, H, W)."""
    with Image.open(path) as image:
        array = np.array(image)
    if array.ndim == 2 or array.shape[-1] not in (3, 4):
        raise ValueError(f"image {path}: expected an RGB image, received an array of shape {array.shape}")
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    return torch.from_numpy(array[..., :3].astype(np.float32) / scale).permute(2, 0, 1).contiguous()


class UnpairedImageFolderDataset(Dataset):
    """``root/<split>A`` and ``root/<split>B`` (the CycleGAN layout of the NUS and S9 <-> iPhone X raw data).

    Unpaired: ``b`` is a seeded random partner; paired: files are matched by sorted order (aligned test sets).

    Args:
        root: dataset root.
        split: ``"train"`` or ``"test"``.
        paired: match the i-th files of A and B.
        size: resize side before cropping (286 in the official recipe; None keeps the size).
        crop: random (train) or centre (test) crop side (256); None keeps the size.
        augment: random horizontal flips.
        seed: seed of the partner permutation and the augmentation.
    """

    def __init__(self, root: str | Path, split: str = "train", paired: bool = False, size: int | None = 286, crop: int | None = 256, augment: bool = True, seed: int = 0) -> None:
        root = Path(root)
        self.files = []
        for domain in "AB":
            folder = root / f"{split}{domain}"
            files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
            if not files:
                raise ValueError(f"image folder: expected images in {folder} (layout root/{{train,test}}{{A,B}}/), found none")
            self.files.append(files)
        if paired and len(self.files[0]) != len(self.files[1]):
            raise ValueError(f"paired folders: expected as many images in {split}A as in {split}B, received {len(self.files[0])} and {len(self.files[1])}")
        self.paired, self.seed = paired, seed
        ops: list = [A.Resize(size, size)] if size else []
        if crop:
            ops.append(A.RandomCrop(crop, crop) if augment else A.CenterCrop(crop, crop))
        if augment:
            ops.append(A.HorizontalFlip(p=0.5))
        self.transform = A.Compose(ops)

    def __len__(self) -> int:
        return len(self.files[0])

    def _load(self, path: Path, seed: int) -> torch.Tensor:
        image = read_image(path).permute(1, 2, 0).numpy()
        self.transform.set_random_seed(seed)
        return torch.from_numpy(np.ascontiguousarray(self.transform(image=image)["image"])).permute(2, 0, 1)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        files_b = self.files[1]
        partner = index if self.paired else int(torch.randint(len(files_b), (), generator=torch.Generator().manual_seed(self.seed * 7919 + index)))
        seed = self.seed * 1_000_003 + index
        return {"a": self._load(self.files[0][index], seed), "b": self._load(files_b[partner], seed if self.paired else seed + 1)}


class SyntheticCameraPairDataModule(TrainEvalDataModule):
    """Two simulated cameras: unpaired training crops of five bundled photographs; paired validation / test crops of
    two held-out photographs.

    Args:
        batch_size: batch size.
        crop: sRGB crop side (the raw images are half).
        train_length: training samples per epoch.
        eval_length: validation / test samples.
        camera_a, camera_b: camera profile names.
        noise: sensor noise.
        seed: base seed of every draw.
        num_workers: DataLoader workers.
    """

    def __init__(
        self, batch_size: int = 1, crop: int = 512, train_length: int = 2000, eval_length: int = 32,
        camera_a: str = "sim_dslr_14bit", camera_b: str = "sim_phone_12bit", noise: bool = True, seed: int = 0, num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        common = dict(crop=h.crop, camera_a=h.camera_a, camera_b=h.camera_b, noise=h.noise)
        self.train_set = SyntheticCameraPairDataset(TRAIN_PHOTOS, h.train_length, paired=False, augment=True, seed=h.seed, **common)
        self.eval_set = SyntheticCameraPairDataset(HELD_OUT_PHOTOS, h.eval_length, paired=True, augment=False, seed=h.seed + 1, **common)


class UnpairedImageFolderDataModule(TrainEvalDataModule):
    """Real two-domain data in the CycleGAN layout (``trainA``, ``trainB``, ``testA``, ``testB``).

    Args:
        root: dataset root.
        size: resize side before cropping (286).
        crop: crop side (256).
        paired_test: the test folders are aligned pairs (NUS, S9 <-> iPhone X); else they are unpaired too.
        batch_size: batch size (1 in the paper).
        seed: seed of pairing and shuffling.
        num_workers: DataLoader workers.
    """

    def __init__(self, root: str, size: int | None = 286, crop: int | None = 256, paired_test: bool = True, batch_size: int = 1, seed: int = 0, num_workers: int = 4) -> None:
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        self.train_set = UnpairedImageFolderDataset(h.root, "train", False, h.size, h.crop, True, h.seed)
        self.eval_set = UnpairedImageFolderDataset(h.root, "test", h.paired_test, h.size, h.crop, False, h.seed + 1)
