"""Every recipe parses with LightningCLI and instantiates its model and data module (that every shipped model has
its tiny and paper recipes is checked in test_contract.py, over the shipped models rather than the folders)."""

from pathlib import Path

import pytest

from zoo.core.module import ZooModule
from zoo.registry import list_models
from zoo.training import run_cli

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(ROOT.glob("recipes/*/*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_instantiates(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert recipe.parent.name in list_models()
    cli = run_cli(["--config", str(recipe), "--trainer.logger=false"], run=False)
    assert isinstance(cli.model, ZooModule)
    assert cli.model.num_params() > 0
