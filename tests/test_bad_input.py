"""Bad input, registry-wide: every registered model's ``predict`` refuses each kind of bad input with a ValueError that
names what was expected and what was received, and, fuzzed over shapes, dtypes and values, never raises anything else.

The table mutates each model's ``example_predict_input()`` (the valid base); ``zoo predict`` on the shipped models is
tabled in tests/test_cli.py. The worst findings of issue 25 have their own tests at the end.
"""

import functools
import math
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from test_contract import sized

import zoo
from zoo.registry import HUGE_PARAMS, get_spec, list_models

NAMES = [n for n in list_models() if get_spec(n).num_params <= HUGE_PARAMS]
KINDS = ("rank", "channels", "dtype", "nan", "inf", "empty", "range", "oversize", "file", "directory", "option")
FRAGMENT = {"dtype": "floating", "nan": "finite", "inf": "finite", "empty": "non-empty", "range": "values in", "oversize": "at most"}
"""What the message of each kind must say besides "expected" and "received"."""
OPTIONS = {"direction": "sideways", "modality": "smell"}
"""An unknown value of each option a ``predict`` takes."""


@functools.cache
def model(name: str):
    """Each model built once for the whole module (random weights: validation does not depend on them)."""
    torch.manual_seed(0)
    return zoo.create(name).eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad_input")
    for name in ("not_an_image.png", "not_a_video.mp4"):
        (root / name).write_text("this is text, not pixels\n")
    (root / "empty_folder").mkdir()
    return {"png": root / "not_an_image.png", "mp4": root / "not_a_video.mp4", "directory": root / "empty_folder"}


def split_base(x):
    """The tensor a mutation changes (UNEM: the support features) and how to put it back into the input."""
    if isinstance(x, tuple):
        return x[0], lambda t: (t, *x[1:])
    return x, lambda t: t


def bad_input(name: str, kind: str, files: dict[str, Path]) -> tuple[object, dict]:
    """``(input, predict keyword arguments)`` of one bad kind for model ``name``."""
    m = model(name)
    t, rebuild = split_base(m.example_predict_input())
    if kind == "rank":
        return rebuild(t.reshape(1, 1, *t.shape)), {}
    if kind == "channels":  # one more channel (image layouts) or feature column (UNEM)
        dim = -1 if isinstance(m.example_predict_input(), tuple) else -3
        return rebuild(torch.cat([t, t.narrow(dim, 0, 1)], dim)), {}
    if kind == "dtype":
        return rebuild(t.to(torch.int32)), {}
    if kind in ("nan", "inf"):
        bad = t.clone()
        bad.view(-1)[bad.numel() // 2] = float("nan") if kind == "nan" else float("inf")
        return rebuild(bad), {}
    if kind == "empty":
        return rebuild(t[..., :0]), {}
    if kind == "range":
        return rebuild(t + 1e7), {}
    if kind == "oversize":  # an expanded view: huge shape, no memory; refused before a value is read
        return rebuild(t[..., :1, :1].expand(*t.shape[:-2], 2**14, 2**14)), {}
    if kind == "file":
        return str(files["mp4" if hasattr(m, "predict_to_file") else "png"]), {}
    if kind == "directory":
        return str(files["directory"]), {}
    option = sorted(_option_names(name))[0]
    return m.example_predict_input(), {option: OPTIONS[option]}


def cases() -> list:
    """(model, kind) pairs: every kind for every model, the option kind where ``predict`` takes an option."""
    out = []
    for name in NAMES:
        for kind in KINDS:
            if kind == "option" and not _option_names(name):
                continue
            out.append(pytest.param(name, kind, id=f"{name}-{kind}"))
    return out


def _option_names(name: str) -> set[str]:
    """The options of a model's ``predict``, from its class (no model is built while collecting)."""
    import inspect

    from zoo.registry import resolve_class

    return set(inspect.signature(resolve_class(get_spec(name)).predict).parameters) & set(OPTIONS)


CASES = cases()


def _skip_unless_tensor_input(name: str) -> None:
    """The mutations here rebuild a floating-point tensor input (or a tuple led by one). Models whose predict takes
    text, ids or NumPy volumes (tiny LMs, recommenders, MAAG) refuse bad input in their own package tests."""
    x = model(name).example_predict_input()
    first = x[0] if isinstance(x, tuple) else x
    if not (isinstance(first, torch.Tensor) and first.is_floating_point()):
        pytest.skip(f"{name}: predict's example input is {type(first).__name__}, not a float tensor; its bad input is tested in its package's tests")


@pytest.mark.parametrize("name, kind", CASES)
def test_bad_input_is_a_value_error_naming_expected_and_received(name, kind, files):
    if kind != "option":
        _skip_unless_tensor_input(name)
    x, options = bad_input(name, kind, files)
    with pytest.raises(ValueError) as info:
        model(name).predict(x, **options)
    message = str(info.value)
    assert "expected" in message and "received" in message, message
    assert FRAGMENT.get(kind, "") in message, message
    assert "\n" not in message


def test_the_table_covers_every_model_and_kind():
    """The count reported in issue 25: (model x bad kind) cases."""
    assert len(CASES) == len(NAMES) * (len(KINDS) - 1) + sum(bool(_option_names(n)) for n in NAMES)
    assert {c.values[1] for c in CASES} == set(KINDS)


# --------------------------------------------------------------------------------------------------------- fuzzing
DTYPES = (torch.float32, torch.float64, torch.float16, torch.int64, torch.uint8, torch.bool)
VALUES = (0.0, 1.0, -1.0, 0.5, 255.0, 1e30, -1e30, float("nan"), float("inf"), float("-inf"))


@st.composite
def fuzzed_input(draw, name: str):
    """Either a random tensor (rank 0 to 5, sides 0 to 9) or the valid base cropped, retyped and with some values
    replaced; for UNEM the fuzzed tensor is the support features."""
    t, rebuild = split_base(model(name).example_predict_input())
    if draw(st.integers(0, 3)) == 0:
        shape = draw(st.lists(st.integers(0, 9), min_size=0, max_size=5))
        x = torch.full(shape, draw(st.sampled_from(VALUES)))
    else:
        x = t.clone() if draw(st.booleans()) else t[tuple(slice(0, draw(st.integers(0, size))) for size in t.shape)].clone()
        x = x * draw(st.sampled_from((1.0, 0.5, 255.0, -1.0)))
        for _ in range(draw(st.integers(0, 2)) if x.numel() else 0):
            x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(st.sampled_from(VALUES))
    dtype = draw(st.sampled_from((t.dtype, *DTYPES)))
    x = x.to(dtype) if dtype.is_floating_point else x.nan_to_num(0.0, 0.0, 0.0).clamp(-1e9, 1e9).to(dtype)
    return rebuild(x.numpy() if draw(st.booleans()) and dtype != torch.float16 else x)


@pytest.mark.parametrize("name", sized(NAMES))
def test_fuzzed_input_returns_or_raises_a_value_error(name):
    _skip_unless_tensor_input(name)

    @settings(max_examples=15, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(fuzzed_input(name))
    def check(x):
        try:
            model(name).predict(x)
        except ValueError as error:
            assert "expected" in str(error) and "received" in str(error), str(error)

    check()


# --------------------------------------------------------------------------------------- the worst findings of issue 25
@pytest.mark.parametrize("name", ["allcnn_mnist_classifier", "allcnn_mnist_regressor"])
def test_allcnn_refuses_0_to_255_floats_and_negative_values(name):
    """Floats are intensities in [0, 1]: 0..255 floats took accuracy from 98% to 0% and -100 was accepted."""
    shipped = zoo.load(name)
    digit = np.random.default_rng(0).integers(0, 256, (28, 28)).astype(np.uint8)
    shipped.predict(digit)  # uint8 in 0..255 is the documented way
    for bad in (torch.from_numpy(digit).float(), torch.full((1, 28, 28), -100.0)):
        with pytest.raises(ValueError, match=r"expected values in \[0.0, 1.0\].*divide 0..255 values by 255"):
            shipped.predict(bad)


def test_isp_integer_counts_are_range_checked_and_8_bit_png_is_not_raw(tmp_path):
    """Counts up to 65535 against a white level of 1023 saturated 34% of pixels; an 8-bit greyscale PNG was read as RAW."""
    isp = zoo.load("lightweight_isp_efficient")
    counts = np.random.default_rng(0).integers(0, 65536, (16, 16)).astype(np.uint16)
    with pytest.raises(ValueError, match=r"RAW counts \(white level 1023\): expected values in \[0.0, 1023.0\]"):
        isp.predict(counts)
    isp.predict(counts % 1024)
    Image.fromarray((counts // 256).astype(np.uint8)).save(tmp_path / "grey.png")
    with pytest.raises(ValueError, match="received mode 'L'"):
        isp.predict(tmp_path / "grey.png")


@pytest.mark.parametrize("modality", ["image", "tabular", "time_series", "imu", "point_cloud", "audio", "graph"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_meta_transformer_refuses_nan_and_inf_in_every_modality(modality, value):
    """NaN / Inf came out as NaN probabilities with label 0 in five modalities."""
    m = model("meta_transformer_tiny")
    x = m.example_inputs(1)[modality]
    first = x[0] if isinstance(x, tuple) else x
    first = first.clone()
    first.view(-1)[0] = value
    with pytest.raises(ValueError, match="expected finite values"):
        m.predict((first, x[1]) if isinstance(x, tuple) else first, modality=modality)


def test_meta_transformer_takes_float64_and_refuses_empty_input_and_a_string_graph():
    m = model("meta_transformer_tiny")
    assert m.predict(torch.rand(1, 10, dtype=torch.float64), modality="tabular").shape == (1, 1)
    with pytest.raises(ValueError, match="non-empty"):
        m.predict(torch.rand(0, 3), modality="point_cloud")
    with pytest.raises(ValueError, match=r"graph: expected a networkx graph or \(node features.*received str"):
        m.predict("ab", modality="graph")


def test_meta_transformer_checks_the_series_length_before_any_compute(monkeypatch):
    """A 100,000-step series ran the encoder for over 60 s before the forecasting head refused it."""
    m = model("meta_transformer_tiny")

    def encoder_must_not_run(*args, **kwargs):
        raise AssertionError("the encoder ran on an input that was to be refused")

    monkeypatch.setattr(m.net.encoder, "forward", encoder_must_not_run)
    monkeypatch.setattr(m.net.tokenizers["time_series"], "forward", encoder_must_not_run)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"time_series: expected a series of exactly 48 steps.*\(1, 100000, 1\)"):
        m.predict(torch.rand(1, 100_000, 1), modality="time_series")
    assert time.perf_counter() - start < 1.0
    with pytest.raises(ValueError, match="tokens per sample"):
        m.predict(torch.rand(1, 5000, 6), modality="imu")


def test_unem_refuses_features_that_overflow_float32():
    """Features x 1e20 came out as NaN assignments."""
    m = model("unem_gaussian")
    support, labels, query = m.example_input(1)
    with pytest.raises(ValueError, match=r"support: expected values in \[-1000000.0, 1000000.0\]"):
        m.predict((support * 1e20, labels, query))
    assert torch.isfinite(m.predict((support * 1e4, labels, query))["probabilities"]).all()


# ------------------------------------------------------------------------------------------- files and weights
def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims ``width x height`` pixels with almost no data: PIL refuses it as a decompression bomb on open."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("name", ["allcnn_mnist_classifier", "lightweight_isp_efficient", "rawformer", "cyclegan_resnet6"])
def test_unreadable_truncated_and_bomb_images_are_one_line_errors(name, tmp_path):
    buffer = tmp_path / "ok.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(buffer)
    (tmp_path / "truncated.png").write_bytes(buffer.read_bytes()[:60])
    png_header_only(tmp_path / "bomb.png", 20_000, 20_000)
    for file, fragment in (("truncated.png", "readable image file"), ("bomb.png", "at most")):
        with pytest.raises(ValueError, match=fragment):
            model(name).predict(tmp_path / file)


def test_video_files_folders_and_arrays_are_refused_by_name(tmp_path):
    from zoo.data.video import write_video

    m = model("frvsr_tiny")
    write_video(tmp_path / "ok.mp4", (np.full((16, 16, 3), 40 * i, np.uint8) for i in range(3)))
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "truncated.mp4").write_bytes((tmp_path / "ok.mp4").read_bytes()[:200])
    for file in ("zero.mp4", "truncated.mp4"):
        with pytest.raises(ValueError, match="expected a decodable video file"):
            m.predict(tmp_path / file)
        with pytest.raises(ValueError, match="expected a decodable video file"):
            m.predict_to_file(tmp_path / file, tmp_path / "out.mp4")
    with pytest.raises(ValueError, match="non-empty"):
        m.predict(np.zeros((0, 16, 16, 3), np.uint8))
    for folder, sizes in (("mismatched", [(16, 16), (16, 20)]), ("bad_frame", [(16, 16), None])):
        (tmp_path / folder).mkdir()
        for i, size in enumerate(sizes):
            if size is None:
                (tmp_path / folder / f"{i}.png").write_text("not a frame")
            else:
                Image.fromarray(np.zeros((*size, 3), np.uint8)).save(tmp_path / folder / f"{i}.png")
    with pytest.raises(ValueError, match="expected frames of one size"):
        m.predict(tmp_path / "mismatched")
    with pytest.raises(ValueError, match="frame: expected a readable image file"):
        m.predict(tmp_path / "bad_frame")
    assert m.predict(tmp_path / "ok.mp4").shape == (3, 64, 64, 3)


def test_weights_with_nan_and_configs_of_the_wrong_type_are_refused_on_load(tmp_path):
    import json

    from safetensors.torch import load_file, save_file

    shipped = zoo.load("allcnn_mnist_classifier")
    for variant in ("nan", "config"):
        folder = tmp_path / variant
        shipped.save_pretrained(folder)
        if variant == "nan":
            state = load_file(str(folder / "model.safetensors"))
            next(t for t in state.values() if t.is_floating_point()).view(-1)[0] = float("nan")
            save_file(state, str(folder / "model.safetensors"))
        else:
            config = json.loads((folder / "config.json").read_text())
            (folder / "config.json").write_text(json.dumps({**config, "filters_percentage": "a quarter"}))
        (folder / "sha256.json").unlink(missing_ok=True)  # the edit is ours: only the content check may refuse it
        with pytest.raises(ValueError) as info:
            zoo.load("allcnn_mnist_classifier", weights=folder)
        expected = "expected finite values" if variant == "nan" else "config.filters_percentage: expected float (not NaN), received 'a quarter'"
        assert expected in str(info.value)


# ------------------------------------------------------------------------------------------------------- memory
def test_rawformer_pads_a_strip_to_its_multiple_not_to_a_tile(monkeypatch):
    """A 1 x 700 strip was padded to 512 x 768 (47 s); now it runs as two 64 x 512 tiles."""
    m = model("rawformer")
    seen = []
    monkeypatch.setattr(m, "forward", lambda t, reverse=False: seen.append(tuple(t.shape[-2:])) or t)
    assert m.predict(torch.rand(3, 1, 700)).shape == (3, 1, 700)
    assert seen == [(64, 512), (64, 512)]


def test_tecogan_tiles_large_frames_by_default_and_matches_whole_frames():
    """A 720p frame took 7.5 GB in one piece: above 256 LR pixels frames run in tiles unless config.tile says otherwise."""
    import dataclasses

    from zoo.models.tecogan.module import DEFAULT_TILE

    m = model("frvsr_tiny")
    assert m.config.tile == 0
    calls = []
    step = m.inference_net.step
    m.inference_net.step = lambda *a: calls.append(tuple(a[0].shape[-2:])) or step(*a)
    try:
        frame = torch.rand(1, 3, DEFAULT_TILE + 8, 16)
        tiled = m.predict(frame)
        assert len(calls) == 2  # two tiles of at most DEFAULT_TILE rows, each with its context
        whole_config = m.config
        m.config = dataclasses.replace(m.config, tile=10_000)
        whole = m.predict(frame)
        m.config = whole_config
    finally:
        del m.inference_net.step
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)
    assert math.prod(tiled.shape) == 3 * 4 * (DEFAULT_TILE + 8) * 4 * 16
