"""``python tools/make_weights.py allcnn_mnist_* --ckpt shipped``: the committed checkpoint is measured again, not retrained."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from zoo.registry import checkpoint_record, get_spec

ROOT = Path(__file__).resolve().parents[1]


def test_restore_writes_the_recorded_weights_and_refuses_other_ones(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    monkeypatch.chdir(ROOT)
    import weights.convnets as convnets

    spec = get_spec("allcnn_mnist_classifier")
    record = checkpoint_record(spec.name)
    run = convnets.restore_shipped(spec, tmp_path)
    for name in ("model.safetensors", "config.json"):
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == record.sha256[name]
    assert (run.steps, run.seconds, run.max_epochs, run.data_args["batch_size"]) == (record.train_steps, record.train_seconds, 30, 256)

    altered = dataclasses.replace(record, sha256={**record.sha256, "model.safetensors": "0" * 64})
    monkeypatch.setattr("zoo.registry.checkpoint_record", lambda name: altered)
    with pytest.raises(SystemExit, match="is not the recorded one"):
        convnets.restore_shipped(spec, tmp_path)
    with pytest.raises(SystemExit, match="expected no LightningCLI overrides"):
        convnets.make_checkpoint(spec, tmp_path, convnets.SHIPPED, ["--trainer.max_epochs=1"])
