"""Learned lightweight ISP: parity with the official models, converter, input checks, RAW pipeline."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import zoo
from zoo.data.raw import (
    camera_profiles,
    demosaic_bilinear,
    mosaic_rggb,
    pack_bayer,
    pseudo_isp,
    three_channel_split,
    unpack_bayer,
    unprocess,
)
from zoo.data.raw_datamodule import RawRGBFolderDataModule, SyntheticRawDataset
from zoo.demo import SAMPLE_RAW

VARIANTS = {"efficient_isp": "lightweight_isp_efficient", "robust_isp": "lightweight_isp_robust", "rmfa_net_tiny": "lightweight_isp_rmfa_tiny"}


@pytest.mark.parametrize("folder", sorted(VARIANTS))
def test_official_parity(parity_dir, folder, tmp_path):
    """Official weights through convert.py reproduce the official outputs to 1e-5 (from .pth and .safetensors)."""
    fixture = parity_dir / "lightweight_isp_unpaired" / folder
    official = load_file(str(fixture / "official_state_dict.safetensors"))
    pth = tmp_path / "official.pth"
    torch.save(official, pth)
    x = load_file(str(fixture / "input.safetensors"))["input"]
    expected = load_file(str(fixture / "output.safetensors"))["output"]
    for path in (pth, fixture / "official_state_dict.safetensors"):
        model = zoo.load(VARIANTS[folder], weights=path, official=True)
        with torch.no_grad():
            y = model(x)
        assert y.shape == expected.shape
        assert (y - expected).abs().max().item() <= 1e-5
    meta = json.loads((fixture / "meta.json").read_text())
    assert model.num_params() == meta["num_params"]


def test_converter_refuses_other_variant(parity_dir):
    path = parity_dir / "lightweight_isp_unpaired" / "robust_isp" / "official_state_dict.safetensors"
    with pytest.raises(ValueError, match="expected shape"):
        zoo.load("lightweight_isp_efficient", weights=path, official=True)
    with pytest.raises(ValueError, match="missing"):
        zoo.load("lightweight_isp_rmfa_tiny", weights=path, official=True)


def test_official_requires_a_file():
    with pytest.raises(ValueError, match="expected weights=<path"):
        zoo.load("lightweight_isp_efficient", official=True)
    with pytest.raises(ValueError, match="expected an existing file"):
        zoo.load("lightweight_isp_efficient", weights="/nonexistent/official.pth", official=True)


# ----------------------------------------------------------------------------- predict
@pytest.fixture(scope="module")
def isp():
    torch.manual_seed(0)
    return zoo.create("lightweight_isp_efficient").eval()


@pytest.mark.parametrize(
    "bad, fragment",
    [
        (torch.rand(1, 3, 16, 16), "1 channel (Bayer mosaic) or 4 channels"),
        (torch.rand(1, 1, 1, 16, 16), "expected shape (H, W)"),
        (torch.rand(16), "expected shape (H, W)"),
        (torch.full((1, 4, 8, 8), float("nan")), "expected finite values"),
        (torch.tensor([[float("inf"), 0.0], [0.0, 0.0]]), "expected finite values"),
        (torch.rand(1, 1, 15, 16), "divisible by 2"),
        (torch.randint(0, 10, (1, 4, 8, 8)), "floating-point"),
        (np.zeros((8, 8), dtype=np.complex64), "integer or floating-point array"),
        (torch.rand(1, 4, 0, 8), "non-empty"),
        (np.zeros((0, 8), dtype=np.uint16), "non-empty"),
        (torch.rand(1, 4, 8, 8) * 1000, "expected values in"),
        (Image.new("RGB", (8, 8)), "single-channel Bayer image"),
        ("/no/such/raw.png", "expected an existing file"),
        ([1, 2, 3], "expected a tensor, numpy array, PIL image or file path"),
    ],
)
def test_bad_input_names_expected_and_received(isp, bad, fragment):
    with pytest.raises(ValueError) as info:
        isp.predict(bad)
    message = str(info.value)
    assert fragment in message and "expected" in message and "received" in message


def test_predict_user_level_types(isp, tmp_path):
    image = isp.predict(SAMPLE_RAW)
    raw = np.array(Image.open(SAMPLE_RAW))
    assert isinstance(image, Image.Image) and image.size == (raw.shape[1], raw.shape[0])
    array = isp.predict(raw)
    assert array.shape == (*raw.shape, 3) and array.dtype == np.float32
    np.testing.assert_allclose(np.asarray(image) / 255.0, array, atol=1 / 255 + 1e-6)
    packed = isp.to_packed(raw)[0]
    tensor = isp.predict(packed[0])
    assert tensor.shape == (3, *raw.shape) and tensor.min() >= 0 and tensor.max() <= 1
    mosaic = unpack_bayer(packed)
    assert torch.equal(isp.predict(mosaic), isp.predict(packed))


# ------------------------------------------------------------------------------ RAW data
def test_packing_follows_official_plane_order():
    mosaic = torch.arange(16.0).view(1, 1, 4, 4)
    packed = pack_bayer(mosaic)
    m = mosaic[0, 0]
    for plane, (r, c) in enumerate([(1, 1), (0, 1), (0, 0), (1, 0)]):
        assert torch.equal(packed[0, plane], m[r::2, c::2])
    assert torch.equal(unpack_bayer(packed), mosaic)


def test_three_channel_split_matches_official_layout():
    mosaic = torch.rand(1, 1, 4, 4)
    split = three_channel_split(mosaic)
    m = mosaic[0, 0]
    assert torch.equal(split[0, 0, 0::2, 0::2], m[0::2, 0::2]) and (split[0, 0, 1::2, :] == 1).all()
    assert torch.equal(split[0, 1, 0::2, 1::2], m[0::2, 1::2]) and torch.equal(split[0, 1, 1::2, 0::2], m[1::2, 0::2])
    assert torch.equal(split[0, 2, 1::2, 1::2], m[1::2, 1::2]) and (split[0, 2, 0::2, :] == 1).all()


def test_demosaic_keeps_known_samples_rggb():
    rgb = torch.rand(2, 3, 8, 8)
    out = demosaic_bilinear(mosaic_rggb(rgb))
    assert torch.equal(out[:, 0, 0::2, 0::2], rgb[:, 0, 0::2, 0::2])
    assert torch.equal(out[:, 2, 1::2, 1::2], rgb[:, 2, 1::2, 1::2])
    assert torch.equal(out[:, 1, 0::2, 1::2], rgb[:, 1, 0::2, 1::2])


def test_unprocess_is_seeded_and_in_sensor_range():
    srgb = torch.rand(3, 32, 32)
    profile = camera_profiles()["mediatek_10bit"]
    a = unprocess(srgb, profile, torch.Generator().manual_seed(3))
    b = unprocess(srgb, profile, torch.Generator().manual_seed(3))
    c = unprocess(srgb, profile, torch.Generator().manual_seed(4))
    assert torch.equal(a.packed_counts, b.packed_counts) and not torch.equal(a.packed_counts, c.packed_counts)
    assert a.packed_counts.shape == (4, 16, 16)
    assert a.packed_counts.min() >= 0 and a.packed_counts.max() <= profile.white_level
    assert torch.equal(a.packed_counts, a.packed_counts.round())


def test_pseudo_isp_range_and_unpaired_targets():
    data = SyntheticRawDataset(length=4, crop=32, paired=False, seed=0)
    item = data[0]
    assert item["raw"].shape == (4, 16, 16) and item["gt"].shape == (3, 32, 32)
    assert not torch.equal(item["target"], item["gt"])
    assert torch.equal(data[1]["raw"], data[1]["raw"])
    out = pseudo_isp(unpack_bayer(item["raw"][None]).clamp(0, 1))
    assert out.shape == (1, 3, 32, 32) and out.min() >= 0 and out.max() <= 1
    paired = SyntheticRawDataset(length=4, crop=32, paired=True, seed=0)
    assert torch.equal(paired[0]["target"], paired[0]["gt"])


def test_folder_datamodule_reads_bayer_pngs(tmp_path):
    data = SyntheticRawDataset(length=3, crop=32, paired=True, seed=0)
    for split in ("train", "test"):
        (tmp_path / split / "mediatek_raw").mkdir(parents=True)
        (tmp_path / split / "fujifilm").mkdir(parents=True)
        profile = camera_profiles()["mediatek_10bit"]
        for i in range(3):
            result = unprocess(data[i]["gt"], profile, torch.Generator().manual_seed(i))
            mosaic = unpack_bayer(result.packed_counts)[0].numpy().astype(np.uint16)
            Image.fromarray(mosaic).save(tmp_path / split / "mediatek_raw" / f"{i}.png")
            Image.fromarray((data[i]["gt"].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / split / "fujifilm" / f"{i}.png")
    dm = RawRGBFolderDataModule(str(tmp_path), batch_size=2, num_workers=0, paired=False)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["raw"].shape == (2, 4, 16, 16) and batch["target"].shape == (2, 3, 32, 32)
    test_item = dm.eval_set[0]
    expected = unprocess(data[0]["gt"], camera_profiles()["mediatek_10bit"], torch.Generator().manual_seed(0)).packed
    assert torch.allclose(test_item["raw"], expected, atol=1e-6)
    assert torch.allclose(test_item["gt"], data[0]["gt"], atol=1 / 255)
