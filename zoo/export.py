"""ONNX export of a zoo model's inference network, checked against onnxruntime.

:func:`export_onnx` traces each of the model's export calls (:meth:`zoo.core.module.ZooModule.export_calls`: by
default its ``example_calls``, one per entry point such as a Meta-Transformer modality or a Rawformer direction) with
``torch.export``, converts it with the dynamo ONNX exporter (``torch.onnx.export(..., dynamo=True)``), runs the file
with onnxruntime on the same inputs and on a batch of another size, and reports the largest absolute difference from
eager PyTorch. ``zoo export NAME -o model.onnx`` is the command::

    zoo export lightweight_isp_efficient -o isp.onnx
    zoo export rawformer -o rawformer/                     # ab.onnx and ba.onnx
    zoo export meta_transformer_tiny --modality image -o image.onnx

Needs the ``export`` extra (onnx, onnxscript, onnxruntime): ``pip install "lightning-paper-zoo[export]"``.
"""

from __future__ import annotations

import inspect
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

CALL_OPTIONS = {"modality": ("modality", None), "direction": ("reverse", {"ab": False, "ba": True})}
"""Options that pick entry points: option -> (the ``forward`` keyword it sets, option value -> keyword value; None:
the value itself). A call is named by the options its keywords answer (``image``, ``ba``), else ``model``."""

EXTERNAL_DATA_BYTES = 1 << 30
"""Weights above this size go to an ``.onnx.data`` file beside the graph (a protobuf holds at most 2 GiB)."""


class _BoundCall(nn.Module):
    """``model(*inputs, **options)`` as a module whose forward takes tensors only (the options become constants)."""

    def __init__(self, model: nn.Module, options: dict[str, Any]) -> None:
        super().__init__()
        self.model, self.options = model, options

    def forward(self, *inputs: Any) -> Any:
        return self.model(*inputs, **self.options)


def _forward_defaults(model: nn.Module) -> dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(model.forward).parameters.items() if p.default is not inspect.Parameter.empty}


def call_name(model: nn.Module, kwargs: dict[str, Any]) -> str:
    """The name of one export call (its file stem): the :data:`CALL_OPTIONS` values its keywords answer, joined by
    ``_`` (a call that leaves ``reverse`` at its default is ``ab``), else ``model``.

    Args:
        model: the model whose ``forward`` the call runs.
        kwargs: the call's keyword arguments.

    Returns:
        E.g. ``"image"``, ``"ba"``, ``"model"``.
    """
    values = {**_forward_defaults(model), **kwargs}
    parts = []
    for keyword, choices in CALL_OPTIONS.values():
        if keyword in values and (keyword in kwargs or choices is not None):
            value = values[keyword]
            parts.append(str(value) if choices is None else next((k for k, v in choices.items() if v == value), str(value)))
    return "_".join(parts) or "model"


def select_calls(model: nn.Module, calls: list[tuple[tuple, dict]], **options: str | None) -> dict[str, tuple[tuple, dict]]:
    """The export calls by name, narrowed to those that match the given :data:`CALL_OPTIONS` (None: any).

    Args:
        model: the model whose ``forward`` the calls run.
        calls: ``(args, kwargs)`` pairs (:meth:`ZooModule.export_calls`).
        options: e.g. ``modality="image"``, ``direction="ba"``.

    Returns:
        ``{name: (args, kwargs)}``, in the calls' order.

    Raises:
        ValueError: an option the model's calls do not take, or a value that matches none of them.
    """
    named = {call_name(model, kwargs): (args, kwargs) for args, kwargs in calls}
    defaults = _forward_defaults(model)
    for option, value in options.items():
        if value is None:
            continue
        keyword, choices = CALL_OPTIONS[option]
        if keyword not in defaults and not any(keyword in kwargs for _, kwargs in named.values()):
            raise ValueError(f"--{option}: expected only for models whose forward takes {keyword!r}, received {option}={value!r}")
        if choices is not None and value not in choices:
            raise ValueError(f"--{option}: expected one of {sorted(choices)}, received {value!r}")
        wanted = value if choices is None else choices[value]
        named = {n: (a, k) for n, (a, k) in named.items() if {**defaults, **k}.get(keyword) == wanted}
        if not named:
            names = sorted(call_name(model, k) for _, k in calls)
            raise ValueError(f"--{option}: expected one of {names}, received {value!r}")
    return named


def _dynamic_shapes(args: tuple) -> tuple:
    """``Dim.AUTO`` on every axis of more than one element: ``torch.export`` keeps dynamic what the network allows
    (batch, image sides, sequence lengths) and makes the rest static (channels, sizes tied to weights)."""
    from torch.export import Dim

    def axes(leaf: Any) -> dict[int, Any] | None:
        return {d: Dim.AUTO for d, size in enumerate(leaf.shape) if size > 1} if isinstance(leaf, torch.Tensor) else None

    return (pytree.tree_map(axes, args),)


def _input_names(model: nn.Module, args: tuple) -> list[str]:
    """ONNX input names from ``forward``'s parameter names (the inference network's when ``forward`` takes
    ``*inputs``); nested inputs get ``_0``, ``_1``, ... suffixes."""
    params = _positional_names(model.forward)
    if len(params) < len(args) and hasattr(model, "inference_net"):
        params = _positional_names(model.inference_net.forward)
    names = []
    for i, arg in enumerate(args):
        base = params[i] if i < len(params) else f"input_{i}"
        leaves = [leaf for leaf in pytree.tree_leaves(arg) if isinstance(leaf, torch.Tensor)]
        names += [base] if isinstance(arg, torch.Tensor) else [f"{base}_{j}" for j in range(len(leaves))]
    return names


def _reason(error: BaseException) -> str:
    """The innermost cause of an export error, on one line (the exporter wraps it in pages of advice)."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:400]}"


def _static_axes_as_ints(graph) -> None:
    """Give the graph's inputs and outputs an int for every axis ``torch.export`` made static: the exporter can leave
    one as a symbol named by its size (``"3"``), which onnxruntime would take as dynamic."""
    from onnxscript import ir

    for value in (*graph.inputs, *graph.outputs):
        if value.shape is not None:
            value.shape = ir.Shape([int(d.value) if isinstance(d, ir.SymbolicDim) and str(d.value).isdigit() else d for d in value.shape])


def _positional_names(function) -> list[str]:
    return [p.name for p in inspect.signature(function).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _numpy(t: torch.Tensor):
    return t.detach().cpu().numpy()


def _max_abs_diff(session, module: nn.Module, args: tuple) -> float:
    """Largest absolute difference between onnxruntime's outputs and eager PyTorch's on ``args``."""
    import numpy as np

    feeds = {i.name: _numpy(t) for i, t in zip(session.get_inputs(), [t for t in pytree.tree_leaves(args) if isinstance(t, torch.Tensor)])}
    with torch.no_grad():
        expected = [_numpy(t) for t in pytree.tree_leaves(module(*args)) if isinstance(t, torch.Tensor)]
    received = session.run(None, feeds)
    if len(received) != len(expected):
        raise RuntimeError(f"onnxruntime returned {len(received)} outputs, PyTorch {len(expected)}")
    return max(float(np.abs(np.asarray(r, dtype=np.float64) - e.astype(np.float64)).max()) if e.size else 0.0 for r, e in zip(received, expected))


def _input_shapes(session) -> dict[str, list]:
    return {i.name: list(i.shape) for i in session.get_inputs()}


def _has_dynamic_batch(session) -> bool:
    return all(i.shape and not isinstance(i.shape[0], int) for i in session.get_inputs())


def export_onnx(
    model: Any,
    path: str | Path,
    *,
    modality: str | None = None,
    direction: str | None = None,
    opset: int | None = None,
    dynamic: bool = True,
    batch_size: int = 2,
    check: bool = True,
    keep_going: bool = False,
    verbose: bool = False,
) -> dict[str, dict[str, Any]]:
    """Export a zoo model's inference network to ONNX, one graph per export call, each checked with onnxruntime.

    Args:
        model: a ZooModule (``zoo.load(name)``), exported in eval mode.
        path: an ``.onnx`` file when one call is exported, else a directory that gets ``<name>.onnx`` per call
            (``image.onnx``, ``ab.onnx``, ...).
        modality: export only this modality's call (Meta-Transformer).
        direction: export only this direction, ``"ab"`` or ``"ba"`` (Rawformer).
        opset: the ONNX opset (default: the exporter's).
        dynamic: leave every axis dynamic that the network allows (batch, image sides, sequence lengths); False
            exports the example shapes.
        batch_size: the batch the calls are traced on (2: ``torch.export`` specialises axes of size 1).
        check: run onnxruntime on the traced inputs (and, with a dynamic batch, on a batch one larger) and measure
            the largest absolute difference from eager PyTorch.
        keep_going: a call that fails to export gets ``{"path": None, "error": reason}`` and the others go on;
            False raises the exporter's error.
        verbose: let the exporter print its progress.

    Returns:
        ``{name: {"path", "max_abs_diff" (None without ``check``), "export_seconds", "inputs": {input: shape}}}``;
        a shape holds an int per static axis and a symbol (``"s33"``) per dynamic one.

    Raises:
        ValueError: an option that matches none of the model's calls, or several calls for one ``.onnx`` path.
        ModuleNotFoundError: onnx, onnxscript or onnxruntime is missing (the ``export`` extra).
    """
    from zoo.core.optional import require

    require("onnx", "export")
    require("onnxscript", "export")
    onnxruntime = require("onnxruntime", "export")

    path = Path(path)
    model.eval()
    calls = select_calls(model, model.export_calls(batch_size), modality=modality, direction=direction)
    larger = select_calls(model, model.export_calls(batch_size + 1), modality=modality, direction=direction) if check and dynamic else {}
    if path.suffix == ".onnx" and len(calls) > 1:
        raise ValueError(f"-o: expected a directory for {len(calls)} graphs ({', '.join(calls)}), or pick one with --modality / --direction; received {str(path)!r}")
    files = {name: path if path.suffix == ".onnx" else path / f"{name}.onnx" for name in calls}
    big = sum(p.numel() * p.element_size() for p in model.inference_net.parameters()) > EXTERNAL_DATA_BYTES
    results = {}
    for name, (args, kwargs) in calls.items():
        module = _BoundCall(model, kwargs).eval()
        files[name].parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.export.export(module, args, dynamic_shapes=_dynamic_shapes(args) if dynamic else None, strict=False)
                onnx_program = torch.onnx.export(program, dynamo=True, opset_version=opset, input_names=_input_names(model, args), verbose=verbose)
        except Exception as error:
            if not keep_going:
                raise
            results[name] = {"path": None, "error": _reason(error), "export_seconds": round(time.perf_counter() - start, 1)}
            continue
        _static_axes_as_ints(onnx_program.model.graph)
        onnx_program.save(str(files[name]), external_data=big)
        seconds = time.perf_counter() - start
        session = onnxruntime.InferenceSession(str(files[name]), providers=["CPUExecutionProvider"])
        diff = None
        if check:
            diff = _max_abs_diff(session, module, args)
            if name in larger and _has_dynamic_batch(session):
                diff = max(diff, _max_abs_diff(session, module, larger[name][0]))
        results[name] = {"path": str(files[name]), "max_abs_diff": diff, "export_seconds": round(seconds, 1), "inputs": _input_shapes(session)}
    return results


def format_report(results: dict[str, dict[str, Any]]) -> str:
    """One line per exported graph: name, file, max abs difference vs onnxruntime, export time, input shapes."""
    lines = []
    for name, r in results.items():
        if r["path"] is None:
            lines.append(f"{name}: not exported ({r['error']})")
            continue
        diff = "not checked" if r["max_abs_diff"] is None else f"max abs difference vs onnxruntime {r['max_abs_diff']:.3g}"
        inputs = ", ".join(f"{k} {tuple(v)}" for k, v in r["inputs"].items())
        lines.append(f"{name}: wrote {r['path']} ({diff}; exported in {r['export_seconds']:.1f} s; inputs {inputs})")
    return "\n".join(lines)
