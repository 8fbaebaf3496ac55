"""Weights resolution: shipped copy, Hugging Face cache offline, tampering, corrupt files, clear errors."""

import shutil

import pytest
import torch

import zoo
from zoo import hub
from zoo.hub import ChecksumError, WeightsNotFoundError
from zoo.registry import checkpoint_record

NAME = "lightweight_isp_efficient"


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A private copy of the shipped weights tree, so that tests may damage it."""
    if not checkpoint_record(NAME):
        pytest.skip("no shipped checkpoint recorded yet (run tools/make_weights.py)")
    root = tmp_path / "weights"
    shutil.copytree(hub.SHIPPED_WEIGHTS / NAME, root / NAME)
    monkeypatch.setattr(hub, "SHIPPED_WEIGHTS", root)
    return root / NAME


def test_tampered_weights_refused(shipped):
    zoo.load(NAME)  # the intact copy loads
    data = bytearray((shipped / "model.safetensors").read_bytes())
    data[-1] ^= 0x01
    (shipped / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="expected sha256"):
        zoo.load(NAME)


def test_tampered_config_refused(shipped):
    (shipped / "config.json").write_text((shipped / "config.json").read_text().replace('"efficient"', '"robust"'))
    with pytest.raises(ChecksumError, match="config.json"):
        zoo.load(NAME)


def test_corrupt_local_directory_refused(tmp_path):
    model = zoo.create(NAME)
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes((tmp_path / "model.safetensors").read_bytes()[:100])
    with pytest.raises(ValueError, match="valid safetensors"):
        zoo.load(NAME, weights=tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="valid JSON"):
        zoo.load(NAME, weights=tmp_path)


def test_local_directory_must_hold_weights(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="missing model.safetensors"):
        zoo.load(NAME, weights=tmp_path)


def test_config_of_another_architecture_refused(tmp_path):
    model = zoo.create(NAME)
    model.save_pretrained(tmp_path)
    text = (tmp_path / "config.json").read_text().replace("zoo.models.lightweight_isp.module:LightweightISP", "os:system")
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ValueError, match="expected architecture"):
        zoo.load(NAME, weights=tmp_path)


def _seed_hf_cache(cache, repo_id, files):
    """Lay files out as huggingface_hub's cache does: blobs, refs/main, snapshots/<commit>/<file>."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for path in files:
        blob = repo / "blobs" / hub.sha256_file(path)
        shutil.copy(path, blob)
        (snapshot / path.name).symlink_to(blob)
    return snapshot


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(hub, "SHIPPED_WEIGHTS", tmp_path / "no-shipped-weights")
    return tmp_path / "hf"


def test_load_from_hf_cache_offline(offline_cache):
    record = checkpoint_record(NAME)
    if not record:
        pytest.skip("no shipped checkpoint recorded yet")
    spec = zoo.registry.get_spec(NAME)
    files = [hub.REPO_ROOT / "weights" / NAME / f for f in record.sha256]
    _seed_hf_cache(offline_cache, spec.hub_repo, files)
    model = zoo.load(NAME)
    reference = zoo.load(NAME, weights=hub.REPO_ROOT / "weights" / NAME)
    x = model.example_input()
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_missing_offline_gives_clear_error(offline_cache):
    with pytest.raises(WeightsNotFoundError) as info:
        zoo.load(NAME)
    message = str(info.value)
    assert "weights/lightweight_isp_efficient" in message and "zoo-models/lightweight_isp_efficient" in message
    assert "HF_HUB_OFFLINE" in message and "weights=" in message


def test_hub_copy_is_hash_checked(offline_cache, tmp_path):
    record = checkpoint_record(NAME)
    if not record:
        pytest.skip("no shipped checkpoint recorded yet")
    spec = zoo.registry.get_spec(NAME)
    damaged = tmp_path / "damaged"
    shutil.copytree(hub.REPO_ROOT / "weights" / NAME, damaged)
    (damaged / "model.safetensors").write_bytes((damaged / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    _seed_hf_cache(offline_cache, spec.hub_repo, [damaged / f for f in record.sha256])
    with pytest.raises(ChecksumError):
        zoo.load(NAME)
