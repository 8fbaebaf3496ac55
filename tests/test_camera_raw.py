"""Real camera RAW through rawpy: a DNG written here (tifffile) with its own black/white levels and CFA pattern."""

from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo.data.camera_raw import read_camera_raw, read_camera_raw_packed
from zoo.data.raw import normalize_packed, pack_bayer

tifffile = pytest.importorskip("tifffile")
pytest.importorskip("rawpy")

CFA_CODES = {"R": 0, "G": 1, "B": 2}


def write_dng(path: Path, mosaic: np.ndarray, pattern: str = "RGGB", black: int = 64, white: int = 1023) -> Path:
    """A minimal uncompressed CFA DNG (DNG 1.4 tags) of ``mosaic``, whose 2x2 cell is ``pattern``."""
    identity = (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1)  # ColorMatrix1 = I as SRATIONALs
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), False),  # DNGVersion
        (50708, "s", 0, "zoo test camera", False),  # UniqueCameraModel
        (33421, "H", 2, (2, 2), False),  # CFARepeatPatternDim
        (33422, "B", 4, tuple(CFA_CODES[c] for c in pattern), False),  # CFAPattern
        (50710, "B", 3, (0, 1, 2), False),  # CFAPlaneColor
        (50711, "H", 1, 1, False),  # CFALayout: rectangular
        (50714, "H", 1, black, False),  # BlackLevel
        (50717, "H", 1, white, False),  # WhiteLevel
        (50721, "2i", 9, identity, False),  # ColorMatrix1
    ]
    tifffile.imwrite(path, mosaic.astype(np.uint16), photometric=32803, subfiletype=0, extratags=tags, metadata=None)
    return path


@pytest.fixture
def mosaic():
    return np.random.default_rng(0).integers(64, 1000, (64, 96)).astype(np.uint16)


def test_levels_and_pattern_come_from_the_file(tmp_path, mosaic):
    raw = read_camera_raw(write_dng(tmp_path / "rggb.dng", mosaic, black=64, white=1000))
    assert raw.black_level == (64.0,) * 4 and raw.white_level == 1000.0 and raw.offset == (0, 0)
    assert np.array_equal(raw.mosaic, mosaic.astype(np.float32))
    # a GRBG sensor: the mosaic is shifted one column so that it starts on red
    grbg = read_camera_raw(write_dng(tmp_path / "grbg.dng", mosaic, pattern="GRBG"))
    assert grbg.offset == (0, 1) and np.array_equal(grbg.mosaic, mosaic[:, 1:-1].astype(np.float32))
    packed = read_camera_raw_packed(tmp_path / "rggb.dng")
    expected = normalize_packed(pack_bayer(torch.from_numpy(mosaic.astype(np.float32))[None, None]), (64,) * 4, 1000)
    torch.testing.assert_close(packed, expected)


def test_isp_and_rawformer_read_a_dng(tmp_path, mosaic):
    path = write_dng(tmp_path / "shot.dng", mosaic, black=64, white=1023)
    isp = zoo.load("lightweight_isp_efficient")
    rgb = isp.predict(path)
    assert rgb.size == (96, 64)
    packed = normalize_packed(pack_bayer(torch.from_numpy(mosaic.astype(np.float32))[None, None]), (64,) * 4, 1023)
    by_hand = (isp.predict(packed)[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.abs(np.asarray(rgb).astype(int) - by_hand).max() <= 1
    camera_b = zoo.load("rawformer").predict(str(path))
    assert camera_b.size == (48, 32)  # R, mean G, B planes at half the mosaic's size


def test_a_file_that_is_not_raw_is_refused_clearly(tmp_path):
    (tmp_path / "fake.dng").write_bytes(b"not a raw file at all")
    with pytest.raises(ValueError, match="camera RAW: expected a file LibRaw reads"):
        zoo.load("lightweight_isp_efficient").predict(tmp_path / "fake.dng")
    with pytest.raises(ValueError, match="expected an existing file"):
        read_camera_raw(tmp_path / "missing.dng")
