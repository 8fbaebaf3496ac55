"""The UnlearnCanvas-style stylised digits: styles, captions, the dataset and its split, the real-layout reader."""

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.data.stylized_digits import (
    STYLES,
    StylizedDigits,
    StylizedDigitsDataModule,
    caption,
    read_unlearncanvas,
    stylize,
)


@pytest.fixture(scope="module")
def test_set():
    return StylizedDigits("test")


def test_stylize_shapes_range_and_determinism():
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for style in STYLES:
        y = stylize(x, style)
        assert y.shape == (4, 3, 28, 28) and y.dtype == torch.float32
        assert 0 <= float(y.min()) and float(y.max()) <= 1
        assert torch.equal(y, stylize(x.clone(), style))


def test_styles_differ_as_documented():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 10:18, 13:15] = 1.0  # a vertical bar
    plain = stylize(x, "plain")
    assert torch.equal(plain, x.expand(-1, 3, -1, -1))
    assert stylize(x, "thick")[:, 0].sum() > x.sum() > stylize(x, "thin")[:, 0].sum()
    striped = stylize(x, "striped")[0, 0, 10:18, 13]
    assert torch.allclose(striped, torch.tensor([0.25, 0.25, 1, 1, 0.25, 0.25, 1, 1]))  # rows 10, 11 are rows 2, 3 mod 4
    slanted = stylize(x, "slanted")[0, 0]
    top, bottom = slanted[10].argmax(), slanted[17].argmax()
    assert top != bottom  # the bar leans
    sunset = stylize(x, "sunset")[0]
    assert torch.allclose(sunset[:, 0, 0], torch.tensor([0.08, 0.08, 0.30]))  # background colour
    assert sunset[0, 12, 13] > sunset[2, 12, 13]  # warm ink


def test_stylize_refuses_bad_input():
    with pytest.raises(ValueError, match="style: expected one of"):
        stylize(torch.zeros(1, 1, 28, 28), "cubist")
    with pytest.raises(ValueError, match="images: expected shape"):
        stylize(torch.zeros(1, 3, 28, 28), "plain")
    with pytest.raises(ValueError, match=r"images: expected values in \[0.0, 1.0\]"):
        stylize(torch.full((1, 1, 28, 28), 255.0), "plain")
    with pytest.raises(ValueError, match="floating-point"):
        stylize(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), "plain")


def test_caption():
    assert caption(7, "thick") == "a seven in the thick style"
    assert caption(2, "slanted", 1) == "a slanted two"
    with pytest.raises(ValueError, match="digit: expected an int in 0..9"):
        caption(10, "thick")
    with pytest.raises(ValueError, match="variant"):
        caption(1, "thick", 5)


def test_dataset_items(test_set):
    assert len(test_set) == 1000 * len(STYLES)
    item = test_set[7]
    assert set(item) == {"image", "digit", "style", "caption"}
    assert item["image"].shape == (3, 28, 28) and item["image"].dtype == torch.float32
    assert item["style"] == 7 % len(STYLES) and STYLES[item["style"]] in item["caption"]
    # the stored image is the 8-bit quantised stylize of its base digit
    from zoo.data.digits import digits_dataset

    dataset, _, _ = digits_dataset()
    base = dataset.tensors[0][test_set.base_index[7]][None]
    assert (item["image"] - stylize(base, STYLES[item["style"]])[0]).abs().max() <= 0.5 / 255 + 1e-6
    assert int(dataset.tensors[1][test_set.base_index[7]]) == item["digit"]
    counts = np.bincount(test_set.digit_labels.numpy(), minlength=10)
    assert (counts == 100 * len(STYLES)).all()


def test_dataset_selection_and_errors():
    subset = StylizedDigits("test", styles=("sunset", "thick"), digits=(3, 5))
    assert len(subset) == 2 * 100 * 2
    assert set(subset.style_labels.tolist()) == {STYLES.index("sunset"), STYLES.index("thick")}
    assert set(subset.digit_labels.tolist()) == {3, 5}
    with pytest.raises(ValueError, match="split"):
        StylizedDigits("val")
    with pytest.raises(ValueError, match="style: expected one of"):
        StylizedDigits("test", styles=("plain", "cubist"))
    with pytest.raises(ValueError, match="the string"):
        StylizedDigits("test", styles="plain")


def test_captions_deterministic_per_seed(test_set):
    again = StylizedDigits("test")
    assert [test_set[i]["caption"] for i in range(30)] == [again[i]["caption"] for i in range(30)]
    assert len({test_set[i]["caption"].split(" ")[0] for i in range(60)}) > 1  # more than one template in use


def test_datamodule_split_keeps_images_together():
    dm = StylizedDigitsDataModule(batch_size=32, styles=("plain", "thin"), val_fraction=0.1)
    dm.setup("fit")
    base = dm.train_set.dataset.base_index
    train, val = set(base[dm.train_set.indices]), set(base[dm.val_set.indices])
    assert not train & val and len(val) == 400 and len(train) == 3600
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (32, 3, 28, 28) and len(batch["caption"]) == 32
    first = [b["digit"].tolist() for b, _ in zip(dm.train_dataloader(), range(2))]
    assert first == [b["digit"].tolist() for b, _ in zip(dm.train_dataloader(), range(2))]


def _write_tree(root):
    for s, style in enumerate(("Seed_Images", "Van_Gogh")):
        for o, obj in enumerate(("Cats", "Dogs")):
            folder = root / style / obj
            folder.mkdir(parents=True)
            for n in (1, 2, 10):
                Image.fromarray(np.full((12, 16, 3), 40 * s + 10 * o + n, np.uint8)).save(folder / f"{n}.jpg", quality=100)
    (root / "Van_Gogh" / "Cats" / "notes.txt").write_text("not an image")


def test_read_unlearncanvas_layout(tmp_path):
    _write_tree(tmp_path)
    data = read_unlearncanvas(tmp_path)
    assert data.styles == ("Seed_Images", "Van_Gogh") and data.objects == ("Cats", "Dogs")
    assert len(data) == 12
    assert [p.name for p, _, _ in data.items[:3]] == ["1.jpg", "2.jpg", "10.jpg"]  # numeric order
    item = data[4]
    assert item["style"] == 0 and item["object"] == 1 and item["caption"] == "An Dogs image in Seed Images style."
    assert item["image"].shape == (3, 12, 16) and abs(float(item["image"].mean()) * 255 - 12) < 2
    small = read_unlearncanvas(tmp_path, styles=["Van_Gogh"], objects=["Cats"], image_size=8)
    assert len(small) == 3 and small[0]["image"].shape == (3, 8, 8) and small.styles == ("Van_Gogh",)


def test_read_unlearncanvas_errors(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        read_unlearncanvas(tmp_path / "missing")
    with pytest.raises(ValueError, match="with none"):
        read_unlearncanvas(tmp_path)
    _write_tree(tmp_path)
    with pytest.raises(ValueError, match="styles: expected a sequence of names"):
        read_unlearncanvas(tmp_path, styles=["Monet"])
