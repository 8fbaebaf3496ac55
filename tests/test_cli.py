"""The `zoo` command, the demo, the ops and the tools that wrap the library."""

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

        def upload_folder(self, **kwargs):
            calls["upload"] = kwargs
            return "https://huggingface.co/me/isp/commit/0"

    assert push_to_hub.push(NAME, "me/isp", api=FakeApi()).endswith("/commit/0")
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
