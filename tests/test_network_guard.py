"""Nothing in zoo touches the network unless a Hub download is asked for.

Each command runs in a child process whose ``sitecustomize`` makes every IP connection and name lookup fail and
records it. ``HF_HUB_OFFLINE`` and ``NO_ALBUMENTATIONS_UPDATE`` are removed from the child's environment on purpose:
the guard must hold without them.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 180

GUARD = '''
import os, socket, traceback

def _refuse(what, *args):
    with open(os.environ["ZOO_NETWORK_LOG"], "a") as log:
        log.write(f"ATTEMPT {what}{args!r}\\n" + "".join(traceback.format_stack(limit=8)) + "\\n")
    raise OSError(f"network access blocked by the test guard: {what}{args!r}")

def _guard(real):
    def guarded(self, address, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6):  # local (AF_UNIX) sockets are no network
            _refuse(real.__name__, address)
        return real(self, address, *args)
    return guarded

socket.socket.connect = _guard(socket.socket.connect)
socket.socket.connect_ex = _guard(socket.socket.connect_ex)
socket.create_connection = lambda address, *args, **kwargs: _refuse("create_connection", address)
socket.getaddrinfo = lambda host, port, *args, **kwargs: _refuse("getaddrinfo", host, port)
'''

TRAIN_OVERRIDES = [
    "--trainer.max_steps=1", "--trainer.logger=false", "--trainer.num_sanity_val_steps=0", "--trainer.limit_val_batches=0",
    "--trainer.enable_progress_bar=false", "--data.init_args.train_length=8", "--data.init_args.eval_length=8",
    "--data.init_args.batch_size=2",
]
UNLEARN = ["gradient_ascent", "--model", "allcnn_mnist_classifier", "--forget", "class:0", "--set", "epochs=1", "--set", "progress=false"]
COMMANDS = {
    "import-list": ["-c", "import zoo; assert zoo.list_models()"],
    "load-predict-isp": ["-c", "import zoo; m = zoo.load('lightweight_isp_efficient'); m.predict(m.example_predict_input())"],
    "load-predict-rawformer-tensor": ["-c", "import torch, zoo; zoo.load('rawformer').predict(torch.rand(1, 3, 40, 48))"],
    "predict-rawformer-file": ["-m", "zoo.cli", "predict", "rawformer", "{png}", "-o", "{tmp}/out.png"],
    "demo": ["-m", "zoo.cli", "demo", "-o", "{tmp}/demo.png"],
    "train": ["-m", "zoo.cli", "train", str(REPO / "recipes/lightweight_isp_efficient/tiny.yaml"), *TRAIN_OVERRIDES],
    "unlearn": ["-m", "zoo.cli", "unlearn", *UNLEARN, "-o", "{tmp}/unlearned"],
}


@pytest.fixture
def guarded(tmp_path):
    """Run ``python ARGS`` under the guard in ``tmp_path``; returns (the finished process, the recorded attempts)."""
    (tmp_path / "guard").mkdir()
    (tmp_path / "guard" / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "network.log"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "NO_ALBUMENTATIONS_UPDATE")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(tmp_path / "guard"), *filter(None, [os.environ.get("PYTHONPATH")])]),
        ZOO_NETWORK_LOG=str(log), WANDB_MODE="disabled", ZOO_CACHE=str(tmp_path / "zoo-cache"), HF_HOME=str(tmp_path / "hf"),
    )

    def run(args: list[str]) -> tuple[subprocess.CompletedProcess, str]:
        result = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        return result, log.read_text() if log.exists() else ""

    return run


def test_guard_records_a_connection(guarded):
    result, attempts = guarded(["-c", "import socket\ntry: socket.create_connection(('example.com', 80))\nexcept OSError: pass"])
    assert result.returncode == 0, result.stderr
    assert "ATTEMPT create_connection(('example.com', 80),)" in attempts


@pytest.mark.parametrize("command", list(COMMANDS))
def test_no_network_without_a_hub_download(command, guarded, tmp_path):
    png = tmp_path / "in.png"
    if "{png}" in COMMANDS[command]:
        import numpy as np
        from PIL import Image

        Image.fromarray((np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)).save(png)
    result, attempts = guarded([arg.format(png=png, tmp=tmp_path) for arg in COMMANDS[command]])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert attempts == "", f"{command} tried the network:\n{attempts}"


def test_missing_weights_fail_fast_without_retries(guarded):
    """A model with no shipped weights asks the Hub once and gives up at once when it cannot be reached."""
    code = "import zoo\nfrom zoo.hub import WeightsNotFoundError\ntry: zoo.load('tecogan_bd')\nexcept WeightsNotFoundError as e: print('refused:', e)"
    start = time.perf_counter()
    result, attempts = guarded(["-c", code])
    assert result.returncode == 0 and "refused: no weights for 'tecogan_bd'" in result.stdout, result.stderr
    assert "weights=" in result.stdout
    assert time.perf_counter() - start < 10  # huggingface_hub's own retries took about 25 s
    # the metadata request, and huggingface_hub's own agent-registry lookup when it builds the request's headers
    tried = [line for line in attempts.splitlines() if line.startswith("ATTEMPT ")]
    assert 1 <= len(tried) <= 2 and all("'huggingface.co'" in line for line in tried), attempts


def test_missing_weights_offline_sends_nothing(guarded):
    code = "import os; os.environ['HF_HUB_OFFLINE'] = '1'\nimport zoo\nfrom zoo.hub import WeightsNotFoundError\ntry: zoo.load('tecogan_bd')\nexcept WeightsNotFoundError as e: print('refused:', e)"
    result, attempts = guarded(["-c", code])
    assert result.returncode == 0 and "refused: no weights for 'tecogan_bd'" in result.stdout, result.stderr
    assert attempts == ""


def test_load_from_the_hub_cache_sends_nothing(guarded, tmp_path):
    from test_hub import _seed_hf_cache  # the cache layout, as test_hub builds it

    from zoo import hub
    from zoo.registry import checkpoint_record, get_spec, pinned_revision

    name = "lightweight_isp_efficient"
    record = checkpoint_record(name)
    if not record:
        pytest.skip("no shipped checkpoint recorded yet")
    spec = get_spec(name)  # the cache holds the pinned revision (the pin tag's ref), which zoo.load asks for
    _seed_hf_cache(tmp_path / "hf" / "hub", spec.hub_repo, [hub.SHIPPED_WEIGHTS / name / f for f in record.sha256], ref=pinned_revision(spec))
    code = f"import zoo.hub\nzoo.hub.SHIPPED_WEIGHTS = zoo.hub.SHIPPED_WEIGHTS / 'none'\nzoo.load({name!r})"
    result, attempts = guarded(["-c", code])
    assert result.returncode == 0, result.stderr
    assert attempts == ""
