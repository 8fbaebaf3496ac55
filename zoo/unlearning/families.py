"""Unlearning families beyond classifiers and regressors (causal LMs, recommenders).

A family is a module ``zoo/unlearning/<family>/family.py`` that defines:

- ``accepts(model) -> bool``: whether the family handles ``model`` (cheap: no heavy imports);
- ``unlearn(model, method, forget, retain, **hparams)``: the unlearned copy of ``model``;
- ``method_names() -> list[str]``: the family's methods.

:func:`zoo.unlearn` asks the families in :data:`FAMILY_NAMES` order before the classifier methods.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

FAMILY_NAMES = ("llm", "recommendation", "generative")


def families() -> dict[str, ModuleType]:
    """Family name -> its ``family`` module, for the families that exist in this install."""
    found = {}
    for name in FAMILY_NAMES:
        try:
            found[name] = importlib.import_module(f"zoo.unlearning.{name}.family")
        except ModuleNotFoundError as error:
            if error.name not in (f"zoo.unlearning.{name}", f"zoo.unlearning.{name}.family"):
                raise  # the family exists but one of its own imports is missing: say so
    return found


def family_for(model: Any) -> ModuleType | None:
    """The family module that accepts ``model``, or None (then the classifier methods apply)."""
    for module in families().values():
        if module.accepts(model):
            return module
    return None
