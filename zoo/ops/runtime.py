"""The onnxruntime backend: a loaded model's inference forward run by onnxruntime on its ONNX export.

``zoo.load(name, backend="onnxruntime")`` exports the model once (``zoo.export.export_onnx``: one graph per entry
point, batch and sides dynamic where the network allows), caches the files under
``$ZOO_CACHE/onnxruntime/<name>-<weights digest>/`` (default ``~/.cache/zoo``), and routes ``forward`` (and so
``predict``) through onnxruntime's CPU provider in eval mode; training mode keeps the PyTorch forward. The bench
(docs/benchmarks.md) says for which models onnxruntime is the faster path.

Needs the ``export`` extra (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch.utils import _pytree as pytree

BACKENDS = ("torch", "onnxruntime")


def check_backend(backend: str) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else a ValueError naming them."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {list(BACKENDS)}, received {backend!r}")
    return backend


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 (first 16 hex digits) over the inference network's state: names, shapes, dtypes and bytes."""
    digest = hashlib.sha256()
    for key, tensor in model.inference_net.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{key}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    return Path(os.environ.get("ZOO_CACHE", Path.home() / ".cache" / "zoo")) / "onnxruntime"


def exported_graphs(model: Any, name: str) -> dict[str, str]:
    """The model's ONNX graphs by call name (``model``, ``ab``, ``image`` ...), exported once per weights digest."""
    from zoo.export import export_onnx

    directory = cache_dir() / f"{name}-{weights_digest(model)}"
    index = directory / "graphs.json"
    if index.is_file():
        graphs = json.loads(index.read_text())
        if all(Path(p).is_file() for p in graphs.values()):
            return graphs
    directory.mkdir(parents=True, exist_ok=True)
    results = export_onnx(model, directory, check=False)
    graphs = {call: r["path"] for call, r in results.items()}
    if len(graphs) == 1 and Path(next(iter(graphs.values()))).suffix != ".onnx":  # pragma: no cover (export_onnx names files)
        raise RuntimeError(f"onnxruntime backend: unexpected export layout {graphs}")
    index.write_text(json.dumps(graphs))
    return graphs


class OnnxRuntimeForward:
    """``forward(*inputs, **options)`` of a zoo model through onnxruntime sessions, one per export call.

    Args:
        model: the ZooModule whose eval-mode forward this replaces.
        graphs: ``{call name: .onnx path}`` (:func:`exported_graphs`).
        threads: onnxruntime intra-op threads (default: torch's).
    """

    def __init__(self, model: Any, graphs: dict[str, str], threads: int | None = None) -> None:
        import onnxruntime

        from zoo.export import call_name

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.sessions = {k: onnxruntime.InferenceSession(p, options, providers=["CPUExecutionProvider"]) for k, p in graphs.items()}
        self.model, self.call_name = model, call_name

    def __call__(self, *inputs: Any, **options: Any) -> Any:
        call = self.call_name(self.model, options)
        if call not in self.sessions:
            raise ValueError(f"onnxruntime backend: expected an exported entry point ({sorted(self.sessions)}), received {call!r}")
        session = self.sessions[call]
        tensors = [t for t in pytree.tree_leaves(inputs) if isinstance(t, torch.Tensor)]
        feeds = {i.name: t.detach().cpu().numpy() for i, t in zip(session.get_inputs(), tensors)}
        outputs = [torch.from_numpy(o) for o in session.run(None, feeds)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def use_onnxruntime(model: Any, name: str, threads: int | None = None) -> Any:
    """Route ``model``'s eval-mode ``forward`` (and so ``predict``) through onnxruntime; returns ``model``.

    Raises:
        ValueError: the model is not on CPU (the CPU provider is the one shipped with the ``export`` extra).
        ModuleNotFoundError: the ``export`` extra is missing.
    """
    from zoo.core.optional import require

    require("onnxruntime", "export")
    device = next(model.inference_net.parameters()).device
    if device.type != "cpu":
        raise ValueError(f"backend='onnxruntime': expected a model on cpu, received one on {device}")
    runtime = OnnxRuntimeForward(model, exported_graphs(model, name), threads)
    torch_forward = model.forward

    def forward(*inputs: Any, **options: Any) -> Any:
        return torch_forward(*inputs, **options) if model.training else runtime(*inputs, **options)

    model.forward = forward
    model.onnxruntime = runtime
    return model
