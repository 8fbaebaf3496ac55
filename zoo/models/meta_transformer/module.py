"""Meta-Transformer (Zhang et al., 2023): one frozen encoder shared by every modality; per-modality tokenizers and heads.

The official code fine-tunes each modality separately with the shared blocks frozen (its author, issue #49); here one
module holds the encoder and any number of (tokenizer, head) pairs, and training sums the modalities' losses over
batches of every modality at once, which with a frozen encoder is the same as training them one by one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.core import checks
from zoo.core.module import ZooModule
from zoo.models.meta_transformer.model import MetaTransformerConfig, MetaTransformerNet
from zoo.models.meta_transformer.tokenizers import MODALITY_TOKENIZERS, encode_text, laplacian_eigenvectors

UNBATCHED_RANK = {"patch": 3, "tubelet": 4, "spectrogram": 1, "series": 2, "tabular": 1, "points": 2, "hyperspectral": 3}
MAX_TOKENS = 4096
"""The most tokens ``predict`` feeds the encoder per sample (a 1024 x 1024 image in 16-px patches; a 4,096-step series)."""
MAX_BATCH_TOKENS = 2**16
"""The most tokens ``predict`` feeds the encoder in one call."""
MAX_POINTS = 2**18
"""The most points of a point cloud (farthest-point sampling visits every point once per centre)."""
MAX_INPUT_VALUES = 2**26
"""The most values of one ``predict`` input."""


def _as_float_tensor(x: Any, what: str) -> torch.Tensor:
    """A tensor, or a numpy array of numbers (made float), else a ValueError; floating-point tensors only."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "iuf":
            raise ValueError(f"{what}: expected a numeric array, received {checks.describe(x)}")
        x = torch.from_numpy(np.ascontiguousarray(x))
        x = x if x.is_floating_point() else x.float()
    if isinstance(x, (str, Path)):
        raise ValueError(f"{what}: expected a tensor or numpy array (from the command line: an .npy file), received the path {str(x)!r}")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{what}: expected a tensor or numpy array, received {checks.describe(x)}")
    checks.check_floating(x, what)
    return x


class MetaTransformer(ZooModule):
    """One encoder, many modalities.

    Args:
        config: a :class:`MetaTransformerConfig` (or a dict of its fields).

    Example:
        >>> model = zoo.load("meta_transformer_tiny")
        >>> model.predict(points, modality="point_cloud")   # {"label": int, "probabilities": array}
        >>> model.predict(series, modality="time_series")   # (horizon, channels) forecast
    """

    config_class = MetaTransformerConfig

    def __init__(self, config: MetaTransformerConfig | dict | None = None) -> None:
        super().__init__(config)
        self.net = MetaTransformerNet(self.config)
        if self.config.encoder_weights:
            from zoo.models.meta_transformer.convert import load_official

            load_official(self, self.config.encoder_weights)
        if self.config.freeze_encoder:
            self.net.encoder.requires_grad_(False)

    @property
    def modalities(self) -> list[str]:
        return list(self.config.modalities)

    # ---------------------------------------------------------------- training
    def modality_loss(self, modality: str, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        head = self.config.modalities[modality].get("head", "classification")
        if head == "classification":
            return F.cross_entropy(output, target.long())
        return F.mse_loss(output.reshape(target.shape), target.to(output.dtype))

    @staticmethod
    def split_batch(batch: tuple) -> tuple[Any, torch.Tensor]:
        """``(x, y)``, or ``(*inputs, y)`` for modalities with several input tensors (graphs) -> ``(inputs, y)``."""
        return (batch[0] if len(batch) == 2 else tuple(batch[:-1])), batch[-1]

    def evaluate_batch(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Metrics of a batch ``{modality: (x, y)}`` (graphs: ``(nodes, adjacency, y)``), per modality:
        ``{modality}_accuracy`` (fraction) for classification heads, ``{modality}_mse`` for the others."""
        metrics = {}
        for modality, items in batch.items():
            x, y = self.split_batch(items)
            out = self.net(x, modality)
            if self.config.modalities[modality].get("head", "classification") == "classification":
                metrics[f"{modality}_accuracy"] = (out.argmax(1) == y).float().mean()
            else:
                metrics[f"{modality}_mse"] = (out.reshape(y.shape) - y).square().mean()
        return metrics

    @staticmethod
    def batch_size_of(batch: Any) -> int:
        """Samples in a batch ``{modality: (..., y)}``: the first modality's target count (evaluate one modality per
        batch for exact sample weights)."""
        if isinstance(batch, dict):
            return int(next(iter(batch.values()))[-1].shape[0])
        return ZooModule.batch_size_of(batch)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        total = 0.0
        for modality, items in batch.items():
            x, y = self.split_batch(items)
            loss = self.modality_loss(modality, self.net(x, modality), y)
            self.log(f"train_loss_{modality}", loss, prog_bar=True)
            total = total + loss
        return total

    def configure_optimizers(self):
        params = [p for p in self.net.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.config.lr, weight_decay=self.config.weight_decay)

    # --------------------------------------------------------------- inference
    def forward(self, x: Any, modality: str | None = None) -> torch.Tensor:
        return self.net(x, modality)

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        return self.example_inputs(batch_size)[self.net.default_modality]

    def example_inputs(self, batch_size: int = 1) -> dict[str, Any]:
        """A small valid batch of every configured modality."""
        gen = torch.Generator().manual_seed(0)
        rand = lambda *shape: torch.rand(*shape, generator=gen).to(self.device)
        out = {}
        for name in self.modalities:
            tok = self.net.tokenizers[name]
            kind = MODALITY_TOKENIZERS[name][0]
            if kind == "patch":
                side = tok.pos_embed.shape[1] * tok.patch_size
                out[name] = rand(batch_size, tok.in_channels, side, side)
            elif kind == "tubelet":
                out[name] = rand(batch_size, tok.in_channels, tok.tubelet * 2, tok.patch_size * 2, tok.patch_size * 2)
            elif kind == "spectrogram":
                out[name] = rand(batch_size, tok.hop * 40) * 2 - 1
            elif kind == "series":
                spec = self.config.modalities[name]
                out[name] = rand(batch_size, spec.get("length", 32), tok.channels)
            elif kind == "tabular":
                out[name] = rand(batch_size, tok.columns)
            elif kind == "text":
                out[name] = encode_text(["a photo of a cat", "zoo"][:batch_size] * batch_size, tok.max_length)[:batch_size].to(self.device)
            elif kind == "points":
                out[name] = rand(batch_size, tok.groups * 2, 3)
            elif kind == "graph":
                v = 8
                ring = torch.roll(torch.eye(v), 1, 1)
                adjacency = ((ring + ring.T) > 0).float().expand(batch_size, v, v).to(self.device)
                out[name] = (torch.ones(batch_size, v, tok.node_features, device=self.device), adjacency, laplacian_eigenvectors(adjacency, tok.k))
            else:
                out[name] = rand(batch_size, tok.bands, tok.patch_size, tok.patch_size)
        return out

    def bench_cases(self, batch_size: int | None, size: int | None) -> list:
        """No op rows: the encoder (timm blocks, as the official file) is the paths row of ``zoo bench``
        (``reference.py``)."""
        return []

    def example_calls(self, batch_size: int = 1) -> list[tuple[tuple, dict]]:
        return [((x,), {"modality": m}) for m, x in self.example_inputs(batch_size).items()]

    def prepare_input(self, x: Any, modality: str | None = None) -> tuple[Any, dict[str, Any]]:
        """Validate one modality's input and batch it, before any of the network runs.

        Args:
            x: a tensor or numpy array of the modality's layout (see ``tokenizers.py``), unbatched or batched (audio:
                (S,) is one waveform, (N, S) a batch of waveforms, (N, F, T) a batch of spectrograms); an image file
                path for image modalities; a string or list of strings for text; a networkx graph or a
                ``(node features, adjacency)`` pair, unbatched (V, F), (V, V) or batched, for graphs. Values finite,
                of magnitude at most ``checks.FEATURE_MAGNITUDE`` (adjacency non-negative); at most
                :data:`MAX_TOKENS` tokens per sample and :data:`MAX_BATCH_TOKENS` per call; a forecasting series of
                exactly its configured length.
            modality: a configured modality (default: the first).

        Returns:
            The network's input (float32 tensors; int64 ids for text) and ``{"modality", "batched"}``.

        Raises:
            ValueError: an unknown modality, or a wrong type, rank, shape, dtype, size or value, naming what was
                expected and what was received.
        """
        modality = modality or self.net.default_modality
        if modality not in self.config.modalities:
            raise ValueError(f"modality: expected one of {self.modalities}, received {modality!r}")
        kind = MODALITY_TOKENIZERS[modality][0]
        tok = self.net.tokenizers[modality]
        context = {"modality": modality, "batched": True}
        if kind == "text":
            if isinstance(x, str):
                return encode_text([x], tok.max_length), {**context, "batched": False}
            if isinstance(x, list) and x and all(isinstance(t, str) for t in x):
                return encode_text(x, tok.max_length), context
            x = torch.from_numpy(x) if isinstance(x, np.ndarray) and x.dtype.kind in "iu" else x
            if isinstance(x, torch.Tensor):
                checks.check_not_empty(x, "text")
            return x, context
        if kind == "graph":
            return self._graph_input(x, modality)
        if kind == "patch" and isinstance(x, (str, Path)):
            image = np.asarray(checks.open_image(x, modality).convert("L" if tok.in_channels == 1 else "RGB"), dtype=np.float32) / 255.0
            return self.prepare_input(image.reshape(*image.shape[:2], -1).transpose(2, 0, 1), modality)[0], {**context, "batched": False}
        x = _as_float_tensor(x, modality)
        batched = x.ndim != UNBATCHED_RANK[kind]  # audio: (S,) one waveform, (N, S) waveforms, (N, F, T) spectrograms
        x = x if batched else x[None]
        self._check_size(kind, modality, x)
        checks.check_finite(x, modality)
        checks.check_range(x, -checks.FEATURE_MAGNITUDE, checks.FEATURE_MAGNITUDE, modality, hint="standardise the input")
        return x.float(), {**context, "batched": batched}

    def _check_size(self, kind: str, modality: str, x: torch.Tensor) -> None:
        """Refuse an input whose token count the encoder cannot take (or, for forecasting, the head), from its shape alone."""
        tok, spec = self.net.tokenizers[modality], self.config.modalities[modality]
        checks.check_max_numel(x, MAX_INPUT_VALUES, modality)
        checks.check_not_empty(x, modality)
        tokens = None
        if kind == "patch" and x.ndim == 4:
            tokens = (x.shape[-2] // tok.patch_size) * (x.shape[-1] // tok.patch_size)
        elif kind == "tubelet" and x.ndim == 5:
            tokens = (x.shape[2] // tok.tubelet) * (x.shape[-2] // tok.patch_size) * (x.shape[-1] // tok.patch_size)
        elif kind == "spectrogram" and x.ndim in (2, 3):
            patch, stride = tok.proj.kernel_size[0], tok.proj.stride[0]
            if x.ndim == 2:
                shortest = max((patch - 1) * tok.hop + 1, tok.n_fft // 2 + 1)
                if x.shape[1] < shortest:
                    raise ValueError(f"{modality}: expected waveforms of at least {shortest} samples, received {checks.describe(x)}")
                frames = x.shape[1] // tok.hop + 1
            else:
                frames = x.shape[2]
                if frames < patch:
                    raise ValueError(f"{modality}: expected spectrograms of at least {patch} frames, received {checks.describe(x)}")
            tokens = ((tok.n_fft // 2 + 1 - patch) // stride + 1) * ((frames - patch) // stride + 1)
        elif kind == "series" and x.ndim == 3:
            tokens = x.shape[1]
            if spec.get("head") == "forecasting" and tokens != spec["length"]:
                raise ValueError(f"{modality}: expected a series of exactly {spec['length']} steps (the forecasting head's input), received {checks.describe(x)}")
        elif kind == "points" and x.ndim == 3 and x.shape[1] > MAX_POINTS:
            raise ValueError(f"{modality}: expected at most {MAX_POINTS:,} points, received {checks.describe(x)}")
        if tokens is not None and (tokens > MAX_TOKENS or tokens * len(x) > MAX_BATCH_TOKENS):
            raise ValueError(
                f"{modality}: expected at most {MAX_TOKENS:,} tokens per sample and {MAX_BATCH_TOKENS:,} per call, "
                f"received {tokens:,} per sample from {checks.describe(x)}"
            )

    def _graph_input(self, graph: Any, modality: str):
        tok = self.net.tokenizers[modality]
        if hasattr(graph, "number_of_nodes"):  # networkx
            import networkx as nx

            if graph.number_of_nodes() + tok.max_edges > MAX_TOKENS:
                raise ValueError(f"{modality}: expected at most {MAX_TOKENS - tok.max_edges:,} nodes, received {graph.number_of_nodes():,}")
            adjacency = torch.from_numpy(nx.to_numpy_array(graph)).float()[None]
            nodes = torch.ones(1, adjacency.shape[1], tok.node_features)
            graph, batched = (nodes, adjacency), False
        elif isinstance(graph, (tuple, list)) and len(graph) == 2:
            nodes, adjacency = (_as_float_tensor(t, f"{modality} {part}") for t, part in zip(graph, ("node features", "adjacency")))
            batched = nodes.ndim == 3
            if nodes.ndim == 2 and adjacency.ndim == 2:
                nodes, adjacency = nodes[None], adjacency[None]
            checks.check_shape(nodes, ["N", "V", str(tok.node_features)], f"{modality} node features")
            checks.check_shape(adjacency, ["N", str(nodes.shape[1]), str(nodes.shape[1])], f"{modality} adjacency")
            checks.check_not_empty(nodes, f"{modality} node features")
            if nodes.shape[1] + tok.max_edges > MAX_TOKENS:
                raise ValueError(f"{modality}: expected at most {MAX_TOKENS - tok.max_edges:,} nodes, received {checks.describe(nodes)}")
            for t, part, low in ((nodes, "node features", -checks.FEATURE_MAGNITUDE), (adjacency, "adjacency", 0.0)):
                checks.check_finite(t, f"{modality} {part}")
                checks.check_range(t, low, checks.FEATURE_MAGNITUDE, f"{modality} {part}")
            graph = (nodes.float(), adjacency.float())
        else:
            raise ValueError(
                f"{modality}: expected a networkx graph or (node features (N, V, F), adjacency (N, V, V)) tensors or arrays, "
                f"received {checks.describe(graph)}"
            )
        nodes, adjacency = graph
        tok.check_edges(adjacency)  # here too: the onnxruntime backend never runs the tokenizer's own check
        # the node identifiers are pre-processing, so that the exported graph needs no eigendecomposition
        return (nodes, adjacency, laplacian_eigenvectors(adjacency, tok.k)), {"modality": modality, "batched": batched}

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> Any:
        """Classification: ``{"label", "probabilities"}``; regression: values; forecasting: (horizon, channels) arrays."""
        y = y.float().cpu()
        head = self.config.modalities[context["modality"]].get("head", "classification")
        if head == "classification":
            probs = y.softmax(1).numpy()
            out = {"label": probs.argmax(1), "probabilities": probs}
            return out if context["batched"] else {"label": int(out["label"][0]), "probabilities": probs[0]}
        values = y.numpy()
        return values if context["batched"] else values[0]

    @torch.no_grad()
    def predict(self, x: Any, modality: str | None = None) -> Any:
        """Run the model on one modality's input (see :meth:`prepare_input`); bad input raises a ValueError."""
        prepared, context = self.prepare_input(x, modality)
        placed = checks.place_like(prepared, next(self.net.parameters()))
        prepared = placed if isinstance(prepared, tuple) else placed[0]
        was_training = self.training
        self.eval()
        try:
            y = self(prepared, modality=context["modality"])  # forward: the onnxruntime backend replaces it
        finally:
            self.train(was_training)
        return self.postprocess(y, context)
