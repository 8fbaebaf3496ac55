"""The ``llm`` unlearning family: :func:`zoo.unlearn` hands it transformers causal LMs and the zoo's tiny LMs.

    >>> unlearned = zoo.unlearn(model, "npo", forget=items, retain=retain_items, lr=1e-5, epochs=10)
    >>> unlearned = zoo.unlearn(hf_model, "grad_diff", forget=items, retain=retain_items, tokenizer=tokenizer)
    >>> unlearned = zoo.unlearn("path/to/transformers/dir", "npo", forget=items, retain=retain_items)

``forget`` / ``retain`` are TOFU-layout items (``{"question", "answer", ...}``), ``(question, answer)`` pairs or a
Dataset of tokenised examples (:mod:`zoo.unlearning.llm.data`).
"""

from __future__ import annotations

import copy
import importlib
import json
import pkgutil
import sys
import warnings
from pathlib import Path
from typing import Any


def _is_transformers_dir(model: Any) -> bool:
    if not isinstance(model, (str, Path)) or not (Path(model) / "config.json").is_file():
        return False
    try:
        return "model_type" in json.loads((Path(model) / "config.json").read_text())
    except (OSError, ValueError):
        return False


def accepts(model: Any) -> bool:
    """A transformers ``PreTrainedModel``, a zoo tiny LM, or a transformers model directory (no heavy imports)."""
    if "transformers" in sys.modules and isinstance(model, sys.modules["transformers"].PreTrainedModel):
        return True
    module = sys.modules.get("zoo.models.tiny_lm.module")
    if module is not None and isinstance(model, module.TinyLM):
        return True
    if getattr(type(model), "continual_unlearning", False):  # a served model that takes further requests (O3)
        return True
    return _is_transformers_dir(model)


def methods() -> dict[str, type]:
    """Method name -> :class:`~zoo.unlearning.llm.base.LMUnlearner` subclass (every module of ``methods/``)."""
    import zoo.unlearning.llm.methods as package
    from zoo.unlearning.llm.base import METHODS

    for info in pkgutil.iter_modules(package.__path__):
        try:
            importlib.import_module(f"{package.__name__}.{info.name}")
        except ImportError as error:  # one broken method module must not take the others down; its own tests fail
            warnings.warn(f"zoo.unlearning.llm.methods.{info.name} failed to import ({error}); its methods are unavailable", stacklevel=2)
    return METHODS


def method_names() -> list[str]:
    """The family's methods."""
    return sorted(methods())


def build(method: str, **hparams: Any):
    """The method ``method`` with ``hparams``; unknown names and hyper-parameters are refused by name."""
    table = methods()
    if method not in table:
        raise ValueError(f"method: expected one of {sorted(table)}, received {method!r}")
    known = table[method].hyperparameters()
    unknown = sorted(set(hparams) - set(known))
    if unknown:
        raise ValueError(f"{method}: unknown hyper-parameters {unknown}; expected a subset of {sorted(known)}")
    return table[method](**hparams)


def unlearn(model: Any, method: str, forget: Any, retain: Any = None, tokenizer: Any = None, max_length: int = 64, **hparams: Any):
    """Unlearn ``forget`` from a copy of ``model`` with ``method``; returns the copy (the input is untouched).

    Args:
        model: a transformers causal LM, a zoo tiny LM, or a transformers model directory (loaded with its tokenizer).
        method: one of :func:`method_names`.
        forget: the data to forget (TOFU items, ``(question, answer)`` pairs, or tokenised examples).
        retain: the data to keep, likewise (None for methods that need none).
        tokenizer: encodes items (default: a zoo model's own, or the directory's).
        max_length: tokens per example.
        hparams: the method's hyper-parameters.

    Returns:
        The unlearned copy: a zoo model for a zoo model, else the transformers model; ULD returns its
        :class:`~zoo.unlearning.llm.methods.uld.ULDModel` (base minus assistant logits).
    """
    from zoo.unlearning.llm.data import as_qa_dataset

    unlearner = build(method, **hparams)
    if isinstance(model, (str, Path)):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = tokenizer or AutoTokenizer.from_pretrained(model)
        model = AutoModelForCausalLM.from_pretrained(model)
    else:
        model = copy.deepcopy(model)
    net = getattr(model, "net", model)
    tokenizer = tokenizer or getattr(model, "tokenizer", None)
    forget_set = as_qa_dataset(forget, tokenizer, "forget", max_length)
    if forget_set is None or not len(forget_set):
        raise ValueError("forget: expected at least one example, received none")
    retain_set = as_qa_dataset(retain, tokenizer, "retain", max_length)
    result = unlearner.run(net, forget_set, retain_set)
    if result is not net:  # inference-time methods (ULD) return a new model around the untouched copy
        return result.eval()
    model.eval()
    return model
