"""The light inference pipeline: zoo.pipeline(name) predicts as zoo.load(name) does, without importing Lightning."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import zoo
from zoo.demo import SAMPLE_RAW
from zoo.hub import ChecksumError
from zoo.pipelines import Pipeline
from zoo.registry import REGISTRY

LIGHT = sorted(name for name, spec in REGISTRY.items() if spec.pipeline and zoo.registry.checkpoint_record(name))
HEAVY_MODULES = ("lightning", "torchmetrics", "torchvision.models", "timm")


@pytest.mark.parametrize("name", LIGHT)
def test_pipeline_predicts_as_the_lightning_module(name):
    light, full = zoo.pipeline(name), zoo.load(name)
    assert isinstance(light, Pipeline)
    x = full.example_predict_input()
    assert torch.equal(light.predict(x), full.predict(x))
    assert np.array_equal(np.asarray(light.predict(str(SAMPLE_RAW))), np.asarray(full.predict(str(SAMPLE_RAW))))


def test_a_model_without_a_pipeline_gets_its_lightning_module():
    from zoo.core.module import ZooModule

    assert isinstance(zoo.pipeline("unem_gaussian"), ZooModule)


def test_pipeline_refuses_bad_input_as_the_module_does():
    with pytest.raises(ValueError, match="RAW"):
        zoo.pipeline("lightweight_isp_efficient").predict(torch.zeros(3, 5, 5))


def test_pipeline_refuses_a_tampered_folder(tmp_path):
    folder = tmp_path / "isp"
    zoo.load("lightweight_isp_efficient").save_pretrained(folder)
    assert torch.equal(zoo.pipeline("lightweight_isp_efficient", weights=folder).predict(torch.ones(1, 4, 8, 8) * 0.3),
                       zoo.load("lightweight_isp_efficient").predict(torch.ones(1, 4, 8, 8) * 0.3))
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ChecksumError):
        zoo.pipeline("lightweight_isp_efficient", weights=folder)


@pytest.mark.parametrize("command", [["predict", "lightweight_isp_efficient", str(SAMPLE_RAW), "-o", "{out}/rgb.png", "--quiet"],
                                     ["demo", "-o", "{out}/demo.png"]])
def test_cold_commands_import_no_lightning(tmp_path, command):
    argv = [a.format(out=tmp_path) for a in command]
    code = ("import sys, json\nfrom zoo.cli import main\nassert main(%r) == 0\n"
            "print(json.dumps([m for m in %r if m in sys.modules]))" % (argv, HEAVY_MODULES))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert any(tmp_path.iterdir())
