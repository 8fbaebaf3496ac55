"""The `zoo` command, the demo, the ops and the tools that wrap the library."""

import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.cli import main
from zoo.registry import checkpoint_record

ROOT = Path(__file__).resolve().parents[1]
NAME = "lightweight_isp_efficient"
needs_weights = pytest.mark.skipif(not checkpoint_record(NAME), reason="no shipped checkpoint recorded yet")


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(f"`{n}`" in out for n in zoo.list_models())
    assert main(["list", "no-such-*"]) == 1


def test_info_and_unknown_name(capsys):
    assert main(["info", NAME]) == 0
    assert '"official_repo"' in capsys.readouterr().out
    assert main(["info", "../etc/passwd"]) == 2
    assert "model name must match" in capsys.readouterr().err


@needs_weights
def test_demo_writes_before_after_png(tmp_path):
    out = tmp_path / "demo.png"
    result = subprocess.run([sys.executable, "-m", "zoo.cli", "demo", "-o", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert str(out.resolve()) in result.stdout
    image = Image.open(out)
    raw = Image.open(ROOT / "zoo" / "assets" / "sample_raw.png")
    assert image.size[0] == 3 * raw.size[0] and image.size[1] > raw.size[1]


@needs_weights
def test_predict_and_card(tmp_path, capsys):
    out = tmp_path / "rgb.png"
    assert main(["predict", NAME, str(ROOT / "zoo" / "assets" / "sample_raw.png"), "-o", str(out)]) == 0
    assert Image.open(out).mode == "RGB"
    assert main(["card", NAME]) == 0
    card = capsys.readouterr().out
    assert "model-index" in card and "psnr" in card.lower()


@needs_weights
def test_shipped_isp_beats_pseudo_isp_in_its_record():
    record = checkpoint_record(NAME)
    baseline = next(iter(record.baselines.values()))
    assert record.metrics["psnr"] > baseline["psnr"] and record.metrics["ssim"] > baseline["ssim"]


@needs_weights
def test_push_to_hub_prepares_verified_upload(monkeypatch):
    sys.path.insert(0, str(ROOT / "tools"))
    import push_to_hub

    calls = {}

    class FakeApi:
        def create_repo(self, repo_id, **kwargs):
            calls["create"] = repo_id

        def list_repo_refs(self, repo_id, **kwargs):
            return type("GitRefs", (), {"tags": []})()

        def upload_folder(self, **kwargs):
            from huggingface_hub import CommitInfo

            calls["upload"] = kwargs
            return CommitInfo(commit_url="https://huggingface.co/me/isp/commit/" + "0" * 40, commit_message="", commit_description="", oid="0" * 40)

        def create_tag(self, repo_id, *, tag, revision, **kwargs):
            calls["tag"] = (tag, revision)

    pushed = push_to_hub.push(NAME, "me/isp", api=FakeApi())  # tests/test_hub.py tests the pin tag in full
    assert pushed.commit_url.endswith("/commit/" + "0" * 40) and calls["tag"] == (pushed.tag, "0" * 40)
    assert calls["create"] == "me/isp" and calls["upload"]["repo_id"] == "me/isp"
    assert set(calls["upload"]["allow_patterns"]) == set(checkpoint_record(NAME).sha256)
    with pytest.raises(ValueError, match="owner/name"):
        push_to_hub.prepare_upload(NAME, "no-owner")


def test_bench_formulations_agree():
    from zoo.models.lightweight_isp.reference import official_from_counts, zoo_from_counts

    model = zoo.create(NAME).eval()
    mosaics = [np.random.default_rng(i).integers(60, 1023, (16, 24)).astype(np.uint16) for i in range(2)]
    with torch.no_grad():
        ours = zoo_from_counts(model, mosaics)
        reference = torch.cat(official_from_counts(model, mosaics))
    assert torch.allclose(ours, reference, atol=1e-6)


def test_bench_times_baseline_and_candidate_alternately():
    from zoo.bench import measure_pair

    calls = []
    base, cand = measure_pair(lambda: calls.append("b"), lambda: calls.append("c"), repeats=3, device=torch.device("cpu"))
    assert calls == ["b", "c"] * 5  # two warm-up rounds, then three timed ones
    assert base > 0 and cand > 0


@pytest.mark.compile
def test_fused_colour_op_matches_eager_values_and_gradients():
    from zoo.ops.color import white_balance_normalize_gamma, white_balance_normalize_gamma_fused

    rgb = torch.rand(2, 3, 16, 16, requires_grad=True)
    gains = torch.tensor([1.6, 1.2, 1.4])
    eager = white_balance_normalize_gamma(rgb, gains)
    (g_eager,) = torch.autograd.grad(eager.square().sum(), rgb)
    fused = white_balance_normalize_gamma_fused(rgb, gains)
    (g_fused,) = torch.autograd.grad(fused.square().sum(), rgb)
    assert torch.allclose(eager, fused, atol=1e-6)
    assert torch.allclose(g_eager, g_fused, atol=1e-5)


def test_zoo_train_recipe_and_resume_from_last(tmp_path):
    """`zoo train` runs a recipe (shrunk by overrides); `--ckpt_path last` and an explicit checkpoint file continue it."""
    recipe = ROOT / "recipes" / NAME / "tiny.yaml"
    shrink = [
        "--trainer.logger=false", "--data.init_args.train_length=4", "--data.init_args.eval_length=2",
        "--data.init_args.batch_size=2", "--data.init_args.crop=32", "--model.init_args.config.train_size=32",
        "--model.init_args.config.color_img_size=32", "--model.init_args.config.content_layer=relu1_2",
    ]
    env = {**__import__("os").environ, "WANDB_MODE": "disabled"}
    explicit = str(tmp_path / "outputs" / NAME / "checkpoints" / "last.ckpt")
    for epochs, extra in ((1, []), (2, ["--ckpt_path", "last"]), (3, ["--ckpt_path", explicit])):
        result = subprocess.run(
            [sys.executable, "-m", "zoo.cli", "train", str(recipe), *shrink, f"--trainer.max_epochs={epochs}", *extra],
            capture_output=True, text=True, cwd=tmp_path, env=env,
        )
        assert result.returncode == 0, result.stderr[-2000:]
    checkpoints = sorted(p.name for p in (tmp_path / "outputs" / NAME / "checkpoints").iterdir())
    assert "last.ckpt" in checkpoints and any(name.startswith("epoch=1") for name in checkpoints)
    assert any(name.startswith("epoch=2") for name in checkpoints)


# ------------------------------------------------------------------------------------------ zoo predict, bad input
SHIPPED = zoo.list_models(pretrained=True)
PREDICT_KINDS = ("rank", "channels", "dtype", "nan", "inf", "empty", "range", "oversize", "unreadable", "directory", "option")


_LOAD = zoo.load


@functools.cache
def _shipped(name: str):
    return _LOAD(name)


@pytest.fixture
def cached_load(monkeypatch):
    """``zoo.load`` of the shipped weights once per model for the module: the CLI is under test, not loading."""

    def cached(name, weights=None, device=None, official=False, **overrides):
        if weights is None and device is None and not official and not overrides:
            return _shipped(name)
        return _LOAD(name, weights=weights, device=device, official=official, **overrides)

    monkeypatch.setattr(zoo, "load", cached)


def _valid_input(name: str) -> tuple[object, list[str], str]:
    """A valid ``zoo predict`` input of a shipped model (an array, or UNEM's task dict), its extra flags and -o suffix."""
    rng = np.random.default_rng(0)
    if name.startswith("allcnn"):
        return rng.random((28, 28), dtype=np.float32), [], ".json"
    if name == "lightweight_isp_efficient":
        return rng.random((32, 32), dtype=np.float32), [], ".png"
    if name == "rawformer":
        return rng.random((64, 64, 3), dtype=np.float32), ["--direction", "ab"], ".png"
    if name in ("frvsr_tiny", "tecogan"):
        return rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8), [], ".mp4"
    if name == "meta_transformer_tiny":
        return rng.random((64, 3), dtype=np.float32), ["--modality", "point_cloud"], ".json"
    task = _shipped(name).example_input(1)
    return {key: t[0].numpy() for key, t in zip(("support", "support_labels", "query"), task)}, [], ".json"


def _sparse_npy(path: Path, shape: tuple[int, ...], dtype: str) -> Path:
    """An .npy file of ``shape`` whose data is a hole in the file: large on paper, no disk used."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
        f.truncate(f.tell() + int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return path


def _bad_predict_args(name: str, kind: str, folder: Path) -> list[str]:
    """``zoo predict`` arguments (without -o) feeding ``name`` one bad kind of input."""
    from test_bad_input import png_header_only

    base, flags, _ = _valid_input(name)
    array = base["support"] if isinstance(base, dict) else base
    channel = {"allcnn": lambda a: np.stack([a, a]), "lightweight_isp_efficient": lambda a: a.reshape(4, 16, 16)[:3]}
    mutate = {
        "rank": lambda a: a.reshape((1, 1, 1, *a.shape)),
        "channels": channel.get(name.split("_")[0], channel.get(name, lambda a: np.concatenate([a, a[..., :1]], -1))),
        "dtype": lambda a: a.astype(np.complex64),
        "nan": lambda a: np.where(np.arange(a.size).reshape(a.shape) == 3, np.nan, a.astype(np.float32)),
        "inf": lambda a: np.where(np.arange(a.size).reshape(a.shape) == 3, np.inf, a.astype(np.float32)),
        "empty": lambda a: a[:0],
        "range": lambda a: a + 1e7,
    }
    if kind in mutate:
        bad = mutate[kind](array)
        if isinstance(base, dict):
            np.savez(folder / "task.npz", **{**base, "support": bad})
            return [str(folder / "task.npz"), *flags]
        np.save(folder / "input.npy", bad)
        return [str(folder / "input.npy"), *flags]
    if kind == "oversize":
        if name in ("frvsr_tiny", "tecogan"):
            return [str(_sparse_npy(folder / "big.npy", (1, 2100, 2100, 3), "uint8"))]
        if name == "meta_transformer_tiny":
            np.save(folder / "big.npy", np.zeros((300_000, 3), np.float32))
            return [str(folder / "big.npy"), *flags]
        if name == "unem_gaussian":
            np.savez(folder / "support.npz", support=base["support"], support_labels=base["support_labels"])
            return [str(folder / "support.npz"), str(_sparse_npy(folder / "query.npy", (2**21 + 1, 8), "<f4"))]
        return [str(png_header_only(folder / "bomb.png", 20_000, 20_000)), *flags]
    if kind == "unreadable":
        suffix = {"frvsr_tiny": ".mp4", "tecogan": ".mp4", "meta_transformer_tiny": ".npy", "unem_gaussian": ".npz"}.get(name, ".png")
        (folder / f"text{suffix}").write_text("text, not data\n")
        return [str(folder / f"text{suffix}"), *flags]
    if kind == "directory":
        (folder / "folder").mkdir()
        return [str(folder / "folder"), *flags]
    return [str(folder / "unused.npy"), "--bogus", *flags]


BY_HAND = ("allcnn_mnist_classifier", "allcnn_mnist_regressor", "lightweight_isp_efficient", "rawformer", "frvsr_tiny", "tecogan", "meta_transformer_tiny", "unem_gaussian")
"""Shipped models whose inputs these tests build (and break) by hand; the others serve their own ``example_cli_args``."""


@pytest.mark.parametrize("name", SHIPPED)
def test_zoo_predict_serves_every_shipped_model(name, tmp_path, cached_load, capsys):
    """Before issue 25 both All-CNN models crashed after inference and meta_transformer_tiny and unem_gaussian could
    not be served at all."""
    if name not in BY_HAND:
        args, suffix = _shipped(name).example_cli_args(tmp_path)
        out = tmp_path / f"out{suffix}"
        assert main(["predict", name, *args, "-o", str(out)]) == 0, capsys.readouterr().err
        assert out.is_file() and out.stat().st_size > 0
        capsys.readouterr()  # what loading printed before the command (the model is loaded once per module)
        assert main(["predict", name, *args, "--bogus-option", "1", "-o", str(tmp_path / f"bad{suffix}")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--bogus-option: expected one of the options" in err, err
        return
    base, flags, suffix = _valid_input(name)
    source = tmp_path / ("task.npz" if isinstance(base, dict) else "input.npy")
    np.savez(source, **base) if isinstance(base, dict) else np.save(source, base)
    out = tmp_path / f"out{suffix}"
    assert main(["predict", name, str(source), "-o", str(out), *flags]) == 0, capsys.readouterr().err
    assert out.is_file() and out.stat().st_size > 0
    if suffix == ".json":
        result = __import__("json").loads(out.read_text())
        assert set(result) & {"label", "labels", "value"}, result
    if name not in ("frvsr_tiny", "tecogan", "rawformer"):  # the same result as arrays (rawformer: too slow to repeat)
        assert main(["predict", name, str(source), "-o", str(tmp_path / "out.npz"), *flags]) == 0
        assert set(np.load(tmp_path / "out.npz")) & {"label", "labels", "value"}


def test_zoo_predict_takes_unem_support_and_query_files_and_image_files(tmp_path, cached_load):
    base, _, _ = _valid_input("unem_gaussian")
    np.savez(tmp_path / "support.npz", support=base["support"], support_labels=base["support_labels"])
    np.save(tmp_path / "query.npy", base["query"])
    assert main(["predict", "unem_gaussian", str(tmp_path / "support.npz"), str(tmp_path / "query.npy"), "-o", str(tmp_path / "u.json")]) == 0
    assert len(__import__("json").loads((tmp_path / "u.json").read_text())["labels"]) == len(base["query"])
    Image.fromarray((np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)).save(tmp_path / "digit.png")
    for name in ("allcnn_mnist_classifier", "allcnn_mnist_regressor"):
        assert main(["predict", name, str(tmp_path / "digit.png"), "-o", str(tmp_path / f"{name}.json")]) == 0
    assert main(["predict", "meta_transformer_tiny", str(tmp_path / "digit.png"), "--modality", "image", "-o", str(tmp_path / "m.json")]) == 0


@pytest.mark.parametrize("kind", PREDICT_KINDS)
@pytest.mark.parametrize("name", [n for n in SHIPPED if n in BY_HAND])
def test_zoo_predict_refuses_bad_input_in_one_line(name, kind, tmp_path, cached_load, capsys):
    args = _bad_predict_args(name, kind, tmp_path)
    out = tmp_path / f"out{_valid_input(name)[2]}"
    assert main(["predict", name, *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "expected" in err and "received" in err, err
    assert not out.exists()


def test_zoo_predict_refuses_bad_options_and_outputs(tmp_path, cached_load, capsys):
    np.save(tmp_path / "digit.npy", np.random.default_rng(0).random((28, 28), dtype=np.float32))
    digit = str(tmp_path / "digit.npy")
    (tmp_path / "not_a_checkpoint.pth").write_text("text\n")
    cases = [
        (["allcnn_mnist_classifier", digit, "-o", digit], "other than the input"),
        (["allcnn_mnist_classifier", digit, "-o", str(tmp_path / "missing" / "out.json")], "existing directory"),
        (["tecogan", digit, "-o", str(tmp_path / "missing" / "out.mp4")], "existing directory"),
        (["allcnn_mnist_classifier", digit, "-o", str(tmp_path / "out.png")], "not an image"),
        (["allcnn_mnist_classifier", digit, "-o", str(tmp_path / "out.txt")], "ending in one of"),
        (["allcnn_mnist_classifier", digit, "-o", str(tmp_path / "out.mp4")], "(a video)"),
        (["allcnn_mnist_classifier", digit, "-o", str(tmp_path / "o.json"), "--modality", "image"], "--modality: expected only"),
        (["allcnn_mnist_classifier", digit, "-o", str(tmp_path / "o.json"), "--person", "p.png"], "--person: expected one of the options"),
        (["allcnn_mnist_classifier", digit, "-o", str(tmp_path / "o.json"), "--person"], "--person: expected a value"),
        (["allcnn_mnist_classifier", "-o", str(tmp_path / "o.json")], "expected INPUT"),
        (["allcnn_mnist_classifier", digit, "-o", str(tmp_path / "o.json"), "--device", "bogus"], "--device: expected cpu, cuda"),
        (["allcnn_mnist_classifier", digit, "-o", str(tmp_path / "o.json"), "--device", "cuda:99"], "--device: expected"),
        (["allcnn_mnist_classifier", digit, "-o", str(tmp_path / "o.json"), "--official", "--weights", str(tmp_path / "not_a_checkpoint.pth")], "official"),
        (["rawformer", digit, "-o", str(tmp_path / "o.png"), "--official", "--weights", str(tmp_path / "not_a_checkpoint.pth")], "received"),
    ]
    for args, fragment in cases:
        assert main(["predict", *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and fragment in err and "received" in err, (args, err)


def test_other_commands_refuse_bad_arguments_in_one_line(tmp_path, capsys):
    cases = [
        (["demo", "-m", "rawformer"], "expected a RAW-to-RGB ISP model"),
        (["bench", NAME, "--size", "0"], "expected a positive integer, received '0'"),
        (["unlearn", "finetune", "--model", "allcnn_mnist_classifier", "--forget", "class:1", "--set", "lr=abc", "-o", str(tmp_path)], "lr: expected float"),
        (["unlearn", "finetune", "--model", "allcnn_mnist_classifier", "--forget", "class:1", "--set", "epochs=-1", "-o", str(tmp_path)], "epochs: expected a number >= 0"),
        (["unlearn", "ssd", "--model", "allcnn_mnist_classifier", "--forget", "random:1.5", "-o", str(tmp_path)], "strictly between 0 and 1, received 1.5"),
        (["unlearn", "ssd", "--model", "allcnn_mnist_classifier", "--forget", "range:5:2", "-o", str(tmp_path)], "LOW <= HIGH, received LOW 5 > HIGH 2"),
        (["unlearn", "ssd", "--model", "allcnn_mnist_classifier", "--forget", "class:abc", "-o", str(tmp_path)], "integer ids, received 'abc'"),
        (["info", "no_such_model"], "no_such_model"),
    ]
    for args, fragment in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and fragment in err, (args, err)
    assert not any(tmp_path.iterdir())  # nothing was written before the arguments were checked


def test_zoo_train_names_itself_in_usage_and_hints(capsys):
    recipe = str(ROOT / "recipes" / NAME / "tiny.yaml")
    assert main(["train", recipe, "--trainer.no_such_option=1"]) == 2
    err = capsys.readouterr().err
    assert "zoo train" in err and "zoo fit" not in err and "no_such_option" in err
    assert main(["train", "fit", "--help"]) == 0
    assert "usage: zoo train" in capsys.readouterr().out


def test_zoo_predict_passes_the_model_options_to_predict(tmp_path, monkeypatch, capsys):
    """``--KEY VALUE`` options that zoo predict does not define go to the model's predict, by name, as strings;
    INPUT may be absent when predict takes everything by name; own-format suffixes go to predict_to_file."""
    import zoo.cli as cli
    import zoo.registry

    calls = []

    class Named:
        def predict(self, person, garment, *, scale="1"):
            calls.append(("predict", person, garment, scale))
            return np.zeros((4, 4, 3), np.uint8)

    class Mesh:
        OUTPUT_SUFFIXES = (".ply",)

        def predict(self, mesh, expression=None):
            return mesh

        def predict_to_file(self, mesh, path, expression=None):
            calls.append(("to_file", mesh, str(path), expression))
            path.write_text("ply\n")

    for name, cls in (("allcnn_mnist_classifier", Named), ("meta_transformer_tiny", Mesh)):
        monkeypatch.setattr(cli, "_load", lambda args, cls=cls, light=False: cls())
        monkeypatch.setattr(zoo.registry, "resolve_class", lambda spec, cls=cls: cls)
        if cls is Named:
            args = ["predict", name, "--person", "p.png", "--garment=g.png", "--scale", "2", "-o", str(tmp_path / "out.png")]
            assert cli.main(args) == 0, capsys.readouterr().err
            assert calls[-1] == ("predict", "p.png", "g.png", "2")
            assert cli.main(["predict", name, "--person", "p.png", "-o", str(tmp_path / "out.png")]) == 2
            assert "expected --garment" in capsys.readouterr().err
        else:
            (tmp_path / "face.ply").write_text("ply\n")
            args = ["predict", name, str(tmp_path / "face.ply"), "--expression", "smile", "-o", str(tmp_path / "out.ply")]
            assert cli.main(args) == 0, capsys.readouterr().err
            assert calls[-1] == ("to_file", str(tmp_path / "face.ply"), str(tmp_path / "out.ply"), "smile")


def test_zoo_predict_over_a_folder_and_a_glob(tmp_path, capsys):
    """One output per input in the -o folder; images stay images, labels become JSON; no bar off a terminal."""
    rng = np.random.default_rng(0)
    (tmp_path / "digits").mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(tmp_path / "digits" / f"d{i}.png")
    (tmp_path / "digits" / ".hidden").write_text("x")
    assert main(["predict", "allcnn_mnist_classifier", str(tmp_path / "digits"), "-o", str(tmp_path / "labels") + "/"]) == 0
    out, err = capsys.readouterr()
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == ["d0.json", "d1.json", "d2.json"]
    assert "label" in json.loads((tmp_path / "labels" / "d1.json").read_text()) and "wrote 3 outputs" in out and err == ""
    pattern = str(tmp_path / "digits" / "d[01].png")
    assert main(["predict", "allcnn_mnist_classifier", pattern, "-o", str(tmp_path / "npz"), "--suffix", ".npz", "-q"]) == 0
    assert capsys.readouterr().out == "" and sorted(p.name for p in (tmp_path / "npz").iterdir()) == ["d0.npz", "d1.npz"]
    assert main(["predict", "allcnn_mnist_classifier", str(tmp_path / "none*.png"), "-o", str(tmp_path / "x") + "/"]) == 2
    assert "no file matches" in capsys.readouterr().err
    (tmp_path / "digits" / "bad.png").write_text("not an image")
    assert main(["predict", "allcnn_mnist_classifier", str(tmp_path / "digits"), "-o", str(tmp_path / "y") + "/"]) == 2
    assert "bad.png" in capsys.readouterr().err


def test_known_import_noise_of_optional_libraries_is_dropped_and_nothing_else(capsys):
    """torchao (the int8 extra) makes torch and diffusers log one line per import; a zoo command prints none of them,
    and other records of those loggers still pass."""
    import logging

    assert main(["list"]) == 0
    capsys.readouterr()
    pytree = logging.getLogger("torch.utils._pytree")
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Keep()
    pytree.addHandler(handler)
    try:
        pytree.warning("%s is an Enum subclass. Calling register_constant() on Enum subclasses is deprecated.", "E")
        pytree.warning("something else")
    finally:
        pytree.removeHandler(handler)
    assert records == ["something else"]
    before = len(pytree.filters)
    assert main(["list"]) == 0 and len(pytree.filters) == before  # a second command adds no second filter
