"""zoo.unlearn hands causal LMs and recommenders to their family; the classifier path still needs a retain set."""

import types

import pytest
import torch

import zoo
from zoo.unlearning import families


def test_unlearn_asks_the_families_first(monkeypatch):
    seen = []
    fake = types.SimpleNamespace(
        accepts=lambda model: isinstance(model, torch.nn.Bilinear),
        unlearn=lambda model, method, forget, retain, **hp: seen.append((method, forget, retain, hp)) or "unlearned",
        method_names=lambda: ["fake"],
    )
    monkeypatch.setattr(families, "families", lambda: {"fake": fake})
    assert zoo.unlearn(torch.nn.Bilinear(2, 2, 1), "fake", forget=[(0, 1)], lr=0.1) == "unlearned"
    assert seen == [("fake", [(0, 1)], None, {"lr": 0.1})]
    with pytest.raises(ValueError, match="retain: expected a Dataset"):  # not the family's model: classifier path
        zoo.unlearn(torch.nn.Linear(2, 2), "finetune", forget=(torch.zeros(2, 2), torch.zeros(2)), task="classification")


def test_families_skip_the_ones_not_installed():
    assert set(families.families()) <= set(families.FAMILY_NAMES)
    assert families.family_for(torch.nn.Linear(2, 2)) is None
