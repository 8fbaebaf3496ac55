"""The distribution: the wheel carries the shipped weights and works installed, away from the checkout.

The wheel is built from a copy of the source tree (so that the checkout gets no build/ or egg-info, and parallel runs
cannot race), with ``python -m build`` (sdist, then the wheel from the sdist) where ``build`` is installed (the
``test`` extra installs it), else with ``pip wheel``. It is installed with no index into a venv that sees the base
environment's packages (torch and the rest, no network needed) and run from a directory outside the checkout, with the
``train`` extra's wandb made unimportable. (matplotlib and OpenCV, which moved to the ``tools`` extra, are still
installed as dependencies of mlxtend and albumentations: for them the test checks that zoo imports them only inside the
functions that need them.)
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import zoo
from zoo import hub
from zoo.core.optional import require

ROOT = Path(__file__).resolve().parents[1]
SOURCE_TREE = ("pyproject.toml", "README.md", "zoo", "weights", "recipes", "tests", "tools")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
OPTIONAL = ("wandb", "matplotlib", "cv2")  # the modules of the extras' dependencies: inference must not need them
UNINSTALLED = ("wandb",)  # those that a minimal install lacks (the others come with mlxtend and albumentations)

RUN_SHIPPED = """
import importlib.abc, json, sys
class Block(importlib.abc.MetaPathFinder):  # not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {uninstalled!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Block())
import importlib.util
_find_spec = importlib.util.find_spec
def find_spec(name, package=None):  # "is it installed?" probes (transformers asks for wandb) say no, as a lack would
    return None if name.split(".")[0] in {uninstalled!r} else _find_spec(name, package)
importlib.util.find_spec = find_spec
import zoo, zoo.hub
results = {{"zoo": zoo.__file__, "shipped_weights": str(zoo.hub.SHIPPED_WEIGHTS), "models": {{}}}}
for name in zoo.list_models(pretrained=True):
    directory, source = zoo.hub.resolve_weights(name)
    model = zoo.load(name)
    out = model.predict(model.example_predict_input())
    results["models"][name] = {{"source": source, "directory": str(directory), "output": type(out).__name__}}
print(json.dumps(results))
"""


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for entry in SOURCE_TREE:
        path = ROOT / entry
        if path.is_dir():
            shutil.copytree(path, source / entry, symlinks=True, ignore=IGNORED)  # zoo/_weights stays a link to weights/
        else:
            shutil.copy2(path, source / entry)
    dist = tmp_path / "dist"
    if importlib.util.find_spec("build") is not None:
        command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)]
    else:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = dist.glob("*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_ships_the_weights_and_runs_installed_outside_the_checkout(tmp_path):
    wheel = _build_wheel(tmp_path)
    assert wheel.name.startswith("lightning_paper_zoo-"), wheel.name
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = sorted(p.relative_to(ROOT / "weights").as_posix() for p in (ROOT / "weights").rglob("*") if p.is_file())
    assert shipped and not [f for f in shipped if f"zoo/_weights/{f}" not in names], "weights/ files missing from the wheel"
    assert not [n for n in names if n.startswith(("tests/", "tools/", "weights/", "recipes/"))]
    assert {"zoo/py.typed", "zoo/checkpoints.json", "zoo/core/optional.py"} <= names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)]
    done = subprocess.run(install, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([str(python), "-c", RUN_SHIPPED.format(uninstalled=UNINSTALLED)], capture_output=True, text=True, cwd=outside, env=env)
    assert done.returncode == 0, done.stderr[-5000:]
    results = json.loads(done.stdout.splitlines()[-1])
    site = Path(results["zoo"]).resolve().parent.parent
    assert env_dir.resolve() in site.parents, f"zoo imported from {results['zoo']}, not from the venv"
    assert Path(results["shipped_weights"]) == site / "zoo" / "_weights"
    assert sorted(results["models"]) == zoo.list_models(pretrained=True)
    for name, result in results["models"].items():
        assert result["source"] == "shipped" and Path(result["directory"]) == site / "zoo" / "_weights" / name, (name, result)

    done = subprocess.run([str(bin_dir / "zoo"), "demo", "-o", "demo.png"], capture_output=True, text=True, cwd=outside, env=env)
    assert done.returncode == 0, done.stderr[-5000:]
    assert (outside / "demo.png").stat().st_size > 0 and "before/after written to" in done.stdout


def test_checkout_resolves_the_shipped_weights_to_weights_folder():
    """In the checkout (the editable install) SHIPPED_WEIGHTS is weights/ itself: tools/make_weights.py writes there."""
    if Path(zoo.__file__).resolve().parent != ROOT / "zoo":
        pytest.skip(f"zoo is imported from {zoo.__file__}, not from this checkout")
    assert hub.SHIPPED_WEIGHTS == (ROOT / "weights").resolve()


def test_require_names_the_extra():
    assert require("json", "tools") is json
    with pytest.raises(ModuleNotFoundError, match=r"'opencv-python-headless'.*pip install 'lightning-paper-zoo\[tools\]'"):
        require("zoo_no_such_module", "tools", package="opencv-python-headless")


def _eager_imports(tree: ast.Module):
    """The modules a file imports when it is imported: every import statement outside a function body."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
        stack.extend(ast.iter_child_nodes(node))


def test_optional_dependencies_are_imported_lazily():
    """No module of zoo imports a dependency of the ``train`` or ``tools`` extra at import time."""
    eager = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "zoo").rglob("*.py"))
        for module in _eager_imports(ast.parse(path.read_text()))
        if module.split(".")[0] in OPTIONAL
    ]
    assert eager == []
