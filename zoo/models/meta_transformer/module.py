"""Meta-Transformer (Zhang et al., 2023): one frozen encoder shared by every modality; per-modality tokenizers and heads.

The official code fine-tunes each modality separately with the shared blocks frozen (its author, issue #49); here one
module holds the encoder and any number of (tokenizer, head) pairs, and training sums the modalities' losses over
batches of every modality at once, which with a frozen encoder is the same as training them one by one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.core import checks
from zoo.core.module import ZooModule
from zoo.models.meta_transformer.model import MetaTransformerConfig, MetaTransformerNet
from zoo.models.meta_transformer.tokenizers import MODALITY_TOKENIZERS, encode_text

UNBATCHED_RANK = {"patch": 3, "tubelet": 4, "spectrogram": 1, "series": 2, "tabular": 1, "points": 2, "hyperspectral": 3}


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
                out[name] = (torch.ones(batch_size, v, tok.node_features, device=self.device), adjacency)
            else:
                out[name] = rand(batch_size, tok.bands, tok.patch_size, tok.patch_size)
        return out

    def bench_cases(self, batch_size: int, size: int) -> list:
        """Image tokens through tokenizer + encoder + head: ours eager vs torch.compile, and timm's own ViT of the same
        size (its attention also runs fused SDPA) vs ours eager; throughput in tokens per second."""
        import timm

        from zoo.bench import BenchCase

        image = next((m for m in self.modalities if MODALITY_TOKENIZERS[m][0] == "patch"), None)
        if image is None:
            return []
        tok = self.net.tokenizers[image]
        x = torch.rand(batch_size, tok.in_channels, size - size % tok.patch_size, size - size % tok.patch_size, device=self.device)
        tokens = batch_size * (1 + (x.shape[-1] // tok.patch_size) ** 2)
        cfg = self.config
        vit = timm.models.vision_transformer.VisionTransformer(
            img_size=x.shape[-1], patch_size=tok.patch_size, in_chans=tok.in_channels, num_classes=self.net.heads[image].fc.out_features,
            embed_dim=cfg.dim, depth=cfg.depth, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, qkv_bias=True,
        ).eval().to(self.device)
        compiled = torch.compile(self.net)
        ours = lambda: self.net(x, image)
        return [
            BenchCase(f"{image} tokens, encoder {cfg.dim}x{cfg.depth}", "ours eager", "ours torch.compile", ours, lambda: compiled(x, image), items=tokens),
            BenchCase(f"{image} tokens, encoder {cfg.dim}x{cfg.depth}", "timm ViT eager", "ours eager", lambda: vit(x), ours, items=tokens),
        ]

    def example_calls(self, batch_size: int = 1) -> list[tuple[tuple, dict]]:
        return [((x,), {"modality": m}) for m, x in self.example_inputs(batch_size).items()]

    def prepare_input(self, x: Any, modality: str | None = None) -> tuple[Any, dict[str, Any]]:
        """Numpy arrays become tensors; an unbatched sample gets a batch axis (audio: (S,) is one waveform, (N, S) a batch
        of waveforms, (N, F, T) a batch of spectrograms); text may be a string or list of strings;
        a graph may be a networkx graph."""
        modality = modality or self.net.default_modality
        if modality not in self.config.modalities:
            raise ValueError(f"modality: expected one of {self.modalities}, received {modality!r}")
        kind = MODALITY_TOKENIZERS[modality][0]
        if kind == "text":
            length = self.net.tokenizers[modality].max_length
            if isinstance(x, str):
                return encode_text([x], length), {"modality": modality, "batched": False}
            if isinstance(x, list) and x and all(isinstance(t, str) for t in x):
                return encode_text(x, length), {"modality": modality, "batched": True}
            return x, {"modality": modality, "batched": True}
        if kind == "graph":
            return self._graph_input(x, modality)
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(np.ascontiguousarray(x)).float()
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{modality}: expected a tensor or numpy array, received {checks.describe(x)}")
        checks.check_floating(x, modality)
        batched = x.ndim != UNBATCHED_RANK[kind]  # audio: (S,) one waveform, (N, S) waveforms, (N, F, T) spectrograms
        return (x if batched else x[None]), {"modality": modality, "batched": batched}

    def _graph_input(self, graph: Any, modality: str):
        if hasattr(graph, "number_of_nodes"):  # networkx
            import networkx as nx

            adjacency = torch.from_numpy(nx.to_numpy_array(graph)).float()[None]
            nodes = torch.ones(1, adjacency.shape[1], self.net.tokenizers[modality].node_features)
            return (nodes, adjacency), {"modality": modality, "batched": False}
        return graph, {"modality": modality, "batched": True}

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
        device = next(self.net.parameters()).device
        prepared = tuple(t.to(device) for t in prepared) if isinstance(prepared, tuple) else prepared.to(device)
        was_training = self.training
        self.eval()
        try:
            y = self.net(prepared, context["modality"])
        finally:
            self.train(was_training)
        return self.postprocess(y, context)
