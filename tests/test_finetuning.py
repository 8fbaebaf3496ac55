"""Fine-tuning: a recipe started from shipped weights (--init_weights), on the user's own folders, and a Lightning
checkpoint exported to a Hub-layout folder that zoo.load reads."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.cli import main
from zoo.registry import checkpoint_record
from zoo.training import export_weights, module_from_checkpoint, pretrained_net_state

ROOT = Path(__file__).resolve().parent.parent
ISP = "lightweight_isp_efficient"
pytestmark = pytest.mark.skipif(not checkpoint_record(ISP), reason="no shipped ISP")


def _raw_rgb_tree(root: Path, count: int = 4, side: int = 64) -> Path:
    """``root/{train,test}/{mediatek_raw,fujifilm}``: 16-bit Bayer PNGs and 8-bit RGB PNGs, as UltraISP lays them out."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for kind in ("mediatek_raw", "fujifilm"):
            (root / split / kind).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(62, 1023, (side, side), dtype=np.uint16)).save(root / split / "mediatek_raw" / f"{i}.png")
            Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(root / split / "fujifilm" / f"{i}.png")
    return root


def _train(tmp_path, monkeypatch, *extra: str) -> Path:
    """``zoo train`` of the ISP's tiny recipe for two steps on a temporary RAW/RGB folder; returns the last.ckpt."""
    data = _raw_rgb_tree(tmp_path / "my_data")
    monkeypatch.chdir(tmp_path)  # the recipe writes outputs/ relative to the working directory
    code = main([
        "train", str(ROOT / "recipes" / ISP / "tiny.yaml"),
        "--data", "zoo.data.raw_datamodule.RawRGBFolderDataModule", "--data.root", str(data),
        "--data.batch_size", "2", "--data.num_workers", "0",
        "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false", *extra,
    ])
    assert code == 0
    return tmp_path / "outputs" / ISP / "checkpoints" / "last.ckpt"


def test_fine_tune_the_shipped_isp_on_own_folder_then_export(tmp_path, monkeypatch):
    shipped = zoo.load(ISP).inference_net.state_dict()
    ckpt = _train(tmp_path, monkeypatch, "--init_weights", f"zoo:{ISP}")
    trained = module_from_checkpoint(ckpt)
    # started from the shipped weights: two small steps later, still close to them (a random start is far away)
    start_gap = max(float((trained.net.state_dict()[k] - v).abs().max()) for k, v in shipped.items())
    random_gap = max(float((zoo.create(ISP, **{}).net.state_dict()[k] - v).abs().max()) for k, v in shipped.items())
    assert start_gap < 0.05 < random_gap, (start_gap, random_gap)

    folder = export_weights(ckpt, tmp_path / "exported")
    assert {"model.safetensors", "config.json", "README.md", "sha256.json"} <= {p.name for p in folder.iterdir()}
    reloaded = zoo.load(ISP, weights=folder)
    for key, value in trained.inference_net.state_dict().items():
        assert torch.equal(reloaded.inference_net.state_dict()[key], value), key
    raw = np.random.default_rng(1).integers(62, 1023, (32, 32), dtype=np.uint16)
    assert np.asarray(reloaded.predict(raw)).shape[:2] == (32, 32)


def test_init_weights_sources_and_refusals(tmp_path):
    model = zoo.load(ISP)
    model.save_pretrained(tmp_path / "folder")
    by_name = pretrained_net_state(f"zoo:{ISP}")
    for source in (str(tmp_path / "folder"), str(tmp_path / "folder" / "model.safetensors")):
        state = pretrained_net_state(source)
        assert all(torch.equal(state[k], v) for k, v in by_name.items())
    with pytest.raises(ValueError, match="init_weights: expected zoo:NAME"):
        pretrained_net_state(str(tmp_path / "missing"))
    with pytest.raises(KeyError, match="did you mean 'lightweight_isp_efficient'"):
        pretrained_net_state("zoo:lightweight_isp_efficent")
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.ckpt"):
        module_from_checkpoint(tmp_path / "bad.ckpt")
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": "os.system", "config": {}}}, tmp_path / "odd.ckpt")
    with pytest.raises(ValueError, match="expected a ZooModule class"):
        module_from_checkpoint(tmp_path / "odd.ckpt")
    assert main(["export-weights", str(tmp_path / "missing.ckpt"), str(tmp_path / "out")]) == 2


def test_a_recipe_with_the_wandb_logger_names_the_extra_when_wandb_is_missing(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    assert main(["train", str(ROOT / "recipes" / ISP / "tiny.yaml"), "--trainer.max_steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lightning-paper-zoo[train]" in err and "'wandb'" in err
