"""Faults: a run killed while writing the retrain cache or a checkpoint, corrupt entries, concurrent runs, names.

Kills are real (SIGKILL in a child process, so no ``finally`` runs); the child is this file run as a script, so
that it builds the same tiny problem as the test: a linear classifier on 240 random 8x8 images.
"""

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from zoo import registry
from zoo.training import AtomicCheckpointIO, CorruptCheckpointError, checkpoint_problem, run_cli
from zoo.unlearning import make_split
from zoo.unlearning import api
from zoo.unlearning.api import retrained_reference

RETRAIN = {"epochs": 1, "batch_size": 64, "progress": False}
CHILD_TIMEOUT = 120


def _problem():
    """A tiny classifier, its dataset and a class:0 split (deterministic)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(240, 1, 8, 8, generator=generator)
    labels = torch.arange(240) % 4
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    split = make_split(labels.numpy(), np.arange(200), np.arange(200, 240), "class:0")
    return net, TensorDataset(images, labels), split


def _reference(cache: Path):
    net, dataset, split = _problem()
    return retrained_reference(net, dataset, split, "classification", cache, **RETRAIN)


def _entry(cache: Path) -> Path:
    (folder,) = [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return folder


@pytest.fixture
def count_retrains(monkeypatch):
    """Count calls of the retrain method through ``zoo.unlearning.api.run_method``."""
    calls = []
    real = api.run_method

    def counted(net, method, *args, **kwargs):
        calls.append(method)
        return real(net, method, *args, **kwargs)

    monkeypatch.setattr(api, "run_method", counted)
    return calls


def _child_main(cache: str, mode: str, marker: str) -> None:
    """The child process: compute the reference in ``cache``, killed at the step ``mode`` names.

    Args:
        cache: the cache directory.
        mode: ``"after_weights"`` (SIGKILL once model.safetensors is written), ``"before_rename"`` (SIGKILL once
            both files are written) or ``"slow"`` (a retrain that takes a second longer, to overlap two runs).
        marker: a file that gets one line per retrain.
    """
    from zoo.unlearning import cache as cache_module

    real_run, real_save = api.run_method, cache_module.save_file

    def run_method(*args, **kwargs):
        with open(marker, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        if mode == "slow":
            time.sleep(1.0)
        return real_run(*args, **kwargs)

    def kill(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    def save_then_kill(*args, **kwargs):
        real_save(*args, **kwargs)
        kill()

    api.run_method = run_method
    if mode == "after_weights":
        cache_module.save_file = save_then_kill
    elif mode == "before_rename":
        os.replace = kill
    elif mode == "slow":  # start together, so that the second run arrives while the first retrains
        ready = Path(marker).with_suffix(".ready")
        with open(ready, "a") as handle:
            handle.write("x")
        deadline = time.monotonic() + CHILD_TIMEOUT / 2
        while len(ready.read_text()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    _reference(Path(cache))


def _spawn(cache: Path, mode: str, marker: Path) -> subprocess.Popen:
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_faults; test_faults._child_main(*sys.argv[1:])"
    return subprocess.Popen([sys.executable, "-c", code, str(cache), mode, str(marker)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait(process: subprocess.Popen) -> tuple[int, str]:
    out, _ = process.communicate(timeout=CHILD_TIMEOUT)
    return process.returncode, out.decode(errors="replace")


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.fixture(scope="module")
def clean_reference(tmp_path_factory):
    """The reference computed once with nothing going wrong."""
    return _reference(tmp_path_factory.mktemp("clean"))[0]


# ------------------------------------------------------------------ the retrain cache
@pytest.mark.parametrize("step", ["after_weights", "before_rename"])
def test_kill_while_writing_the_cache_then_rerun(step, tmp_path, count_retrains, clean_reference):
    marker = tmp_path / "retrains.txt"
    code, out = _wait(_spawn(tmp_path / "cache", step, marker))
    assert code == -signal.SIGKILL, out
    assert marker.read_text().count("\n") == 1
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir() and not p.name.startswith(".")]  # nothing published

    retrained, seconds = _reference(tmp_path / "cache")
    assert count_retrains == ["retrain"] and seconds > 0
    assert _same_weights(retrained, clean_reference)
    assert not list((tmp_path / "cache").glob(".*"))  # the killed run's staging directory is gone
    assert json.loads((_entry(tmp_path / "cache") / "meta.json").read_text())["seconds"] == seconds

    again, _ = _reference(tmp_path / "cache")
    assert count_retrains == ["retrain"] and _same_weights(again, clean_reference)  # served from the cache


def test_concurrent_runs_on_one_split_retrain_once(tmp_path):
    marker = tmp_path / "retrains.txt"
    children = [_spawn(tmp_path / "cache", "slow", marker) for _ in range(2)]
    for child in children:
        code, out = _wait(child)
        assert code == 0, out
    assert marker.read_text().count("\n") == 1


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda entry: (entry / "model.safetensors").write_bytes((entry / "model.safetensors").read_bytes()[:100]), id="truncated-weights"),
        pytest.param(lambda entry: (entry / "meta.json").write_text('{"seconds": 1.'), id="bad-json"),
        pytest.param(lambda entry: (entry / "meta.json").unlink(), id="missing-meta"),
        pytest.param(lambda entry: (entry / "model.safetensors").unlink(), id="missing-weights"),
    ],
)
def test_corrupt_cache_entry_is_rebuilt(damage, tmp_path, count_retrains, clean_reference):
    _reference(tmp_path)
    damage(_entry(tmp_path))
    with pytest.warns(UserWarning, match="corrupt retrain cache entry"):
        retrained, _ = _reference(tmp_path)
    assert count_retrains == ["retrain", "retrain"] and _same_weights(retrained, clean_reference)
    _reference(tmp_path)
    assert count_retrains == ["retrain", "retrain"]


# ------------------------------------------------------------------ checkpoints
def test_failed_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    io, last = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1, "w": torch.ones(1000)}, last)

    def half_then_fail(obj, handle):
        handle.write(b"PK\x03\x04 half a checkpoint")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(RuntimeError, match="killed mid-write"):
        io.save_checkpoint({"step": 2, "w": torch.zeros(1000)}, last)
    monkeypatch.undo()
    assert io.load_checkpoint(last)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_checkpoint_killed_mid_write_with_tmpdir_elsewhere(tmp_path):
    """A SIGKILL during the save, with ``$TMPDIR`` on another filesystem (/dev/shm), leaves last.ckpt whole."""
    other_fs = Path("/dev/shm")
    if not other_fs.is_dir() or os.stat(other_fs).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem (/dev/shm) for TMPDIR")
    last = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1, "w": torch.ones(1000)}, last)
    code = (
        "import os, signal, sys, torch\n"
        "from zoo.training import AtomicCheckpointIO\n"
        "def half_then_kill(obj, handle):\n"
        "    handle.write(b'PK\\x03\\x04 half'); handle.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
        "torch.save = half_then_kill\n"
        "AtomicCheckpointIO().save_checkpoint({'step': 2}, sys.argv[1])\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(last)], env={**os.environ, "TMPDIR": str(other_fs)}, capture_output=True, timeout=CHILD_TIMEOUT)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    assert checkpoint_problem(last) is None and AtomicCheckpointIO().load_checkpoint(last)["step"] == 1
    assert (tmp_path / "last.ckpt.tmp").is_file()  # the partial write was staged beside it, not in TMPDIR


@pytest.fixture
def boring_run(tmp_path, monkeypatch):
    """LightningCLI args of a two-step BoringModel run that keeps every checkpoint and last.ckpt in tmp_path/ckpt."""
    monkeypatch.setattr(sys, "argv", sys.argv[:1])  # LightningCLI reads only the args given
    checkpoint = {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                  "init_args": {"dirpath": str(tmp_path / "ckpt"), "save_last": True, "save_top_k": -1, "every_n_train_steps": 1}}
    return [
        "--model=lightning.pytorch.demos.boring_classes.BoringModel",
        "--data=lightning.pytorch.demos.boring_classes.BoringDataModule",
        "--trainer.max_steps=2", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false", "--trainer.limit_val_batches=0", f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.callbacks={json.dumps([checkpoint])}",
    ]


def test_zoo_train_uses_the_atomic_checkpoint_io(boring_run, tmp_path):
    cli = run_cli(["fit", *boring_run])
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert {"last.ckpt", "epoch=0-step=2.ckpt"} <= {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert not list((tmp_path / "ckpt").glob("*.tmp"))
    resumed = run_cli(["fit", *boring_run, "--trainer.max_steps=3", "--ckpt_path=last"])
    assert resumed.trainer.global_step == 3


def test_truncated_last_checkpoint_names_the_intact_sibling(boring_run, tmp_path):
    run_cli(["fit", *boring_run])
    last = tmp_path / "ckpt" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    (tmp_path / "ckpt" / "epoch=0-step=1.ckpt").write_bytes(b"")  # damaged too: not offered
    with pytest.raises(CorruptCheckpointError) as info:
        run_cli(["fit", *boring_run, "--trainer.max_steps=3", "--ckpt_path=last"])
    message = str(info.value)
    assert str(last) in message and "truncated" in message
    assert "intact checkpoints beside it, newest first: epoch=0-step=2.ckpt;" in message
    assert f"--ckpt_path {tmp_path / 'ckpt' / 'epoch=0-step=2.ckpt'}" in message


# ------------------------------------------------------------------ names
@pytest.mark.parametrize("name", ["tecogan\n", "tecogan\n\n", "rawformer\nx"])
def test_model_name_is_matched_in_full(name):
    with pytest.raises(ValueError, match="model name must match"):
        registry.validate_name(name)


def test_registered_name_is_matched_in_full(monkeypatch):
    spec = registry.ModelSpec(name="fake\n", task="t", paper="p", paper_url="u", official_repo="o/r", official_license="none",
                              module="fakepkg.module:Fake")
    monkeypatch.setitem(sys.modules, "fakepkg.specs", types.SimpleNamespace(SPECS=(spec,)))
    monkeypatch.setattr(registry, "model_packages", lambda: ["fakepkg"])
    with pytest.raises(ValueError, match="model name 'fake\\\\n' must match"):
        registry._discover()
