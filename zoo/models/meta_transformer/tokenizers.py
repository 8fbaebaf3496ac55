"""Data-to-sequence tokenizers: each maps one modality's raw input to tokens of the encoder's width.

Every tokenizer returns ``(tokens (N, 1 + T, dim), padding (N, 1 + T) bool or None)``; token 0 is a learned
class token the heads read. Following the official per-modality code (``Data2Seq`` and each modality's fork):

==============  =====================  =========================================================================
modality        tokenizer              input
==============  =====================  =========================================================================
image, infrared, x-ray   ``patch``     (N, C, H, W): Conv2d(C, dim, p, stride p) + learned positions (ViT)
video           ``tubelet``            (N, C, T, H, W): Conv3d(C, dim, (t, p, p)) (VideoMAE)
audio           ``spectrogram``        (N, S) waveform or (N, F, T) spectrogram: log-STFT, Conv2d patches (AST)
time series, IMU  ``series``           (N, L, C): circular Conv1d(C, dim, 3) + sinusoidal positions (TSLib)
tabular         ``tabular``            (N, F): one token per column, x_f * w_f + b_f (column embedding)
text            ``text``               (N, L) int64 ids (0 = padding): embedding + learned positions
point cloud     ``points``             (N, P, 3): farthest-point centres, k-NN groups, mini-PointNet, xyz MLP positions
graph           ``graph``              (node features (N, V, F), adjacency (N, V, V)): TokenGT node + edge tokens
                                       with Laplacian-eigenvector node identifiers
hyperspectral   ``hyperspectral``      (N, B, h, w): one token per group of neighbouring bands (SpectralFormer)
==============  =====================  =========================================================================
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core import checks


def _interpolate_positions(pos: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Resize a (1, *grid, dim) positional table to ``shape`` (linear / bicubic / trilinear by rank)."""
    if tuple(pos.shape[1:-1]) == tuple(shape):
        return pos
    mode = {1: "linear", 2: "bicubic", 3: "trilinear"}[len(shape)]
    grid = pos.movedim(-1, 1)
    return F.interpolate(grid, size=shape, mode=mode, align_corners=False).movedim(1, -1)


class _WithClassToken(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def prepend(self, tokens: torch.Tensor, padding: torch.Tensor | None = None):
        # shape[0], not len(): len() must return an int, which fixes the batch of a traced graph
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        if padding is not None:
            padding = torch.cat([padding.new_zeros(padding.shape[0], 1), padding], dim=1)
        return tokens, padding


class PatchTokenizer(_WithClassToken):
    """Image / infrared / X-ray patches (ViT). Other sizes than ``image_size`` interpolate the position grid.

    Args:
        dim: token width.
        in_channels: image channels.
        patch_size: side of a square patch.
        image_size: side the position table is built for.
    """

    def __init__(self, dim: int, in_channels: int = 3, patch_size: int = 16, image_size: int = 224) -> None:
        super().__init__(dim)
        self.in_channels, self.patch_size = in_channels, patch_size
        self.proj = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        grid = image_size // patch_size
        self.pos_embed = nn.Parameter(torch.randn(1, grid, grid, dim) * 0.02)

    def forward(self, x: torch.Tensor):
        checks.check_shape(x, ["N", str(self.in_channels), "H", "W"], "image")
        checks.check_divisible(x, self.patch_size, "image")
        tokens = self.proj(x).movedim(1, -1)
        tokens = (tokens + _interpolate_positions(self.pos_embed, tokens.shape[1:3])).flatten(1, 2)
        return self.prepend(tokens)


class TubeletTokenizer(_WithClassToken):
    """Video tubelets (VideoMAE): Conv3d over ``tubelet`` frames x ``patch_size``^2 pixels.

    Args:
        dim: token width.
        in_channels: colour channels.
        patch_size: spatial patch side.
        tubelet: frames per token.
        frames: clip length the position table is built for.
        image_size: frame side the position table is built for.
    """

    def __init__(self, dim: int, in_channels: int = 3, patch_size: int = 16, tubelet: int = 2, frames: int = 16, image_size: int = 224) -> None:
        super().__init__(dim)
        self.in_channels, self.patch_size, self.tubelet = in_channels, patch_size, tubelet
        self.proj = nn.Conv3d(in_channels, dim, (tubelet, patch_size, patch_size), stride=(tubelet, patch_size, patch_size))
        self.pos_embed = nn.Parameter(torch.randn(1, frames // tubelet, image_size // patch_size, image_size // patch_size, dim) * 0.02)

    def forward(self, x: torch.Tensor):
        checks.check_shape(x, ["N", str(self.in_channels), "T", "H", "W"], "video")
        checks.check_divisible(x, self.patch_size, "video")
        if x.shape[2] % self.tubelet:
            raise ValueError(f"video: expected a frame count divisible by {self.tubelet}, received {checks.describe(x)}")
        tokens = self.proj(x).movedim(1, -1)
        tokens = (tokens + _interpolate_positions(self.pos_embed, tokens.shape[1:4])).flatten(1, 3)
        return self.prepend(tokens)


class SpectrogramTokenizer(_WithClassToken):
    """Audio (AST): log-magnitude STFT of a waveform (or a given spectrogram) cut into overlapping patches.

    Args:
        dim: token width.
        n_fft: STFT size (frequency bins: n_fft // 2 + 1).
        hop: STFT hop in samples.
        patch_size: square patch side on the spectrogram.
        stride: patch stride (AST: 10 for 16x16 patches).
        frames: spectrogram length the position table is built for.
    """

    def __init__(self, dim: int, n_fft: int = 254, hop: int = 64, patch_size: int = 16, stride: int = 10, frames: int = 128) -> None:
        super().__init__(dim)
        self.n_fft, self.hop = n_fft, hop
        self.proj = nn.Conv2d(1, dim, patch_size, stride=stride)
        bins = n_fft // 2 + 1
        grid = ((bins - patch_size) // stride + 1, (frames - patch_size) // stride + 1)
        self.pos_embed = nn.Parameter(torch.randn(1, *grid, dim) * 0.02)

    def spectrogram(self, waveform: torch.Tensor) -> torch.Tensor:
        """(N, S) waveform -> (N, n_fft // 2 + 1, frames) log-magnitude spectrogram."""
        window = torch.hann_window(self.n_fft, device=waveform.device, dtype=waveform.dtype)
        spec = torch.stft(waveform, self.n_fft, self.hop, window=window, return_complex=True).abs()
        return torch.log(spec + 1e-6)

    def forward(self, x: torch.Tensor):
        checks.check_floating(x, "audio")
        if x.ndim == 2:
            x = self.spectrogram(x)
        checks.check_shape(x, ["N", str(self.n_fft // 2 + 1), "T"], "audio spectrogram")
        tokens = self.proj(x[:, None]).movedim(1, -1)
        tokens = (tokens + _interpolate_positions(self.pos_embed, tokens.shape[1:3])).flatten(1, 2)
        return self.prepend(tokens)


def sinusoidal_positions(length: int, dim: int, device=None, dtype=None) -> torch.Tensor:
    """The Transformer's fixed sin/cos table, (length, dim)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return table.to(dtype or torch.float32)


class SeriesTokenizer(_WithClassToken):
    """Time series / IMU (TSLib ``DataEmbedding``): one token per time step.

    Args:
        dim: token width.
        channels: variables per time step.
    """

    def __init__(self, dim: int, channels: int = 1) -> None:
        super().__init__(dim)
        self.channels = channels
        self.proj = nn.Conv1d(channels, dim, 3, padding=1, padding_mode="circular", bias=False)

    def forward(self, x: torch.Tensor):
        checks.check_shape(x, ["N", "L", str(self.channels)], "series")
        tokens = self.proj(x.transpose(1, 2)).transpose(1, 2)
        return self.prepend(tokens + sinusoidal_positions(tokens.shape[1], tokens.shape[2], x.device, x.dtype))


class TabularTokenizer(_WithClassToken):
    """Tabular rows: column f becomes ``x_f * w_f + b_f`` (a per-column embedding of its value).

    Args:
        dim: token width.
        columns: number of (standardised, numeric) columns.
    """

    def __init__(self, dim: int, columns: int = 1) -> None:
        super().__init__(dim)
        self.columns = columns
        self.weight = nn.Parameter(torch.randn(columns, dim) * 0.02)
        self.bias = nn.Parameter(torch.zeros(columns, dim))

    def forward(self, x: torch.Tensor):
        checks.check_shape(x, ["N", str(self.columns)], "tabular")
        return self.prepend(x[..., None] * self.weight + self.bias)


def encode_text(texts: list[str], max_length: int = 64) -> torch.Tensor:
    """Byte-level ids for :class:`TextTokenizer` (0 padding, 1 start, 2 end, byte b -> b + 3), (N, max_length)."""
    ids = torch.zeros(len(texts), max_length, dtype=torch.long)
    for i, text in enumerate(texts):
        row = [1, *[b + 3 for b in text.encode("utf-8")][: max_length - 2], 2]
        ids[i, : len(row)] = torch.tensor(row)
    return ids


class TextTokenizer(_WithClassToken):
    """Text: token embedding + learned positions; id 0 is padding (masked out of attention).

    Args:
        dim: token width.
        vocab_size: embedding rows (259 for :func:`encode_text`'s bytes; 49,408 for CLIP's BPE ids).
        max_length: longest sequence.
    """

    def __init__(self, dim: int, vocab_size: int = 259, max_length: int = 64) -> None:
        super().__init__(dim)
        self.vocab_size, self.max_length = vocab_size, max_length
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.pos_embed = nn.Parameter(torch.randn(1, max_length, dim) * 0.02)

    def forward(self, ids: torch.Tensor):
        if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long or ids.ndim != 2:
            raise ValueError(f"text: expected (N, L) int64 token ids (zoo.models.meta_transformer.tokenizers.encode_text), received {checks.describe(ids)}")
        if ids.shape[1] > self.max_length or bool((ids < 0).any() | (ids >= self.vocab_size).any()):
            raise ValueError(f"text: expected at most {self.max_length} ids in [0, {self.vocab_size}), received {checks.describe(ids)}")
        tokens = self.embed(ids) + self.pos_embed[:, : ids.shape[1]]
        return self.prepend(tokens, ids == 0)


def farthest_point_sample(points: torch.Tensor, count: int) -> torch.Tensor:
    """Indices (N, count) of farthest-point sampling, starting from point 0 (deterministic)."""
    n, p, _ = points.shape
    chosen = torch.zeros(n, count, dtype=torch.long, device=points.device)
    distance = torch.full((n, p), float("inf"), device=points.device, dtype=points.dtype)
    farthest = torch.zeros(n, dtype=torch.long, device=points.device)
    rows = torch.arange(n, device=points.device)
    for i in range(count):
        chosen[:, i] = farthest
        centre = points[rows, farthest][:, None]
        distance = torch.minimum(distance, (points - centre).square().sum(-1))
        farthest = distance.argmax(1)
    return chosen


class PointCloudTokenizer(_WithClassToken):
    """Point clouds (PointNeXt-style grouping): FPS centres, k nearest neighbours, a shared MLP max-pooled per group;
    positions from an MLP on the centre coordinates (added once here; the official code adds them before every block).

    Args:
        dim: token width.
        groups: number of centres (tokens).
        group_size: neighbours per centre.
    """

    def __init__(self, dim: int, groups: int = 64, group_size: int = 32) -> None:
        super().__init__(dim)
        self.groups, self.group_size = groups, group_size
        self.point_mlp = nn.Sequential(nn.Linear(3, 64), nn.GELU(), nn.Linear(64, 128), nn.GELU(), nn.Linear(128, dim))
        self.pos_mlp = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, dim))

    def forward(self, points: torch.Tensor):
        checks.check_shape(points, ["N", "P", "3"], "point cloud")
        if points.shape[1] < self.group_size:
            raise ValueError(f"point cloud: expected at least {self.group_size} points, received {checks.describe(points)}")
        rows = torch.arange(points.shape[0], device=points.device)[:, None]  # not len(): it would fix a traced batch
        centres = points[rows, farthest_point_sample(points, self.groups)]
        neighbours = torch.cdist(centres, points).topk(self.group_size, largest=False).indices
        local = points[rows[..., None], neighbours] - centres[:, :, None]
        tokens = self.point_mlp(local).amax(2) + self.pos_mlp(centres)
        return self.prepend(tokens)


def laplacian_eigenvectors(adjacency: torch.Tensor, k: int) -> torch.Tensor:
    """The k lowest eigenvectors of the symmetric normalised Laplacian of each graph, (N, V, k) (zero-padded if V < k)."""
    degree = adjacency.sum(-1)
    inv_sqrt = torch.where(degree > 0, degree.clamp_min(1e-12).rsqrt(), torch.zeros_like(degree))
    lap = torch.eye(adjacency.shape[-1], device=adjacency.device) - inv_sqrt[..., None] * adjacency * inv_sqrt[..., None, :]
    vectors = torch.linalg.eigh(lap).eigenvectors[..., :k]
    return F.pad(vectors, (0, k - vectors.shape[-1]))


class GraphTokenizer(_WithClassToken):
    """Graphs (TokenGT): every node and every edge is a token. Node v: ``W x_v + W_id [P_v, P_v] + type_node``; edge
    (u, v): ``e + W_id [P_u, P_v] + type_edge``; P = Laplacian eigenvectors (random sign flips in training).

    Args:
        dim: token width.
        node_features: features per node.
        max_edges: edge tokens per graph (graphs with more are refused).
        eigenvectors: node-identifier size k.
    """

    def __init__(self, dim: int, node_features: int = 1, max_edges: int = 128, eigenvectors: int = 16) -> None:
        super().__init__(dim)
        self.node_features, self.max_edges, self.k = node_features, max_edges, eigenvectors
        self.node_proj = nn.Linear(node_features, dim)
        self.id_proj = nn.Linear(2 * eigenvectors, dim, bias=False)
        self.edge_embed = nn.Parameter(torch.zeros(1, 1, dim))
        self.type_embed = nn.Embedding(2, dim)

    def forward(self, graph):
        """Tokens of ``(nodes, adjacency)``, or of ``(nodes, adjacency, node_ids)`` with the node identifiers computed
        beforehand (:func:`laplacian_eigenvectors`, (N, V, k)): then the graph traces without an eigendecomposition,
        which ONNX lacks, and ``predict`` computes them in its pre-processing."""
        if not (isinstance(graph, (tuple, list)) and len(graph) in (2, 3)):
            raise ValueError(f"graph: expected (node features (N, V, F), adjacency (N, V, V)[, node ids (N, V, k)]), received {checks.describe(graph)}")
        nodes, adjacency = graph[:2]
        checks.check_shape(nodes, ["N", "V", str(self.node_features)], "graph node features")
        checks.check_shape(adjacency, ["N", str(nodes.shape[1]), str(nodes.shape[1])], "graph adjacency")
        if len(graph) == 3:
            checks.check_shape(graph[2], ["N", str(nodes.shape[1]), str(self.k)], "graph node ids")
        upper = torch.triu(adjacency > 0, diagonal=1)
        if not torch.compiler.is_compiling():  # a traced graph (torch.export, ONNX) keeps the first max_edges edges
            self.check_edges(adjacency)
        ids = (graph[2] if len(graph) == 3 else laplacian_eigenvectors(adjacency.float(), self.k)).to(nodes.dtype)
        if self.training:
            ids = ids * torch.randint(0, 2, (len(ids), 1, self.k), device=ids.device).mul(2).sub(1)
        node_tokens = self.node_proj(nodes) + self.id_proj(torch.cat([ids, ids], -1)) + self.type_embed.weight[0]
        u, v, real = self._edge_slots(upper)
        ends = torch.cat([ids.gather(1, u[..., None].expand(-1, -1, self.k)), ids.gather(1, v[..., None].expand(-1, -1, self.k))], -1)
        edge_tokens = self.edge_embed[0, 0] + self.id_proj(ends) + self.type_embed.weight[1]
        edge_tokens = torch.where(real[..., None], edge_tokens, torch.zeros_like(edge_tokens))
        edge_padding = ~real
        node_padding = ~(adjacency.sum(-1) > 0) & ~(nodes.abs().sum(-1) > 0)
        return self.prepend(torch.cat([node_tokens, edge_tokens], 1), torch.cat([node_padding, edge_padding], 1))

    def check_edges(self, adjacency: torch.Tensor) -> None:
        """Refuse graphs with more than ``max_edges`` edges (the tokens an exported graph has room for)."""
        counts = torch.triu(adjacency > 0, diagonal=1).flatten(1).sum(1)
        if len(counts) and int(counts.max()) > self.max_edges:
            raise ValueError(f"graph: expected at most {self.max_edges} edges per graph, received {int(counts.max())}")

    def _edge_slots(self, upper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The ``max_edges`` edge slots of each graph without data-dependent sizes (so that it traces): the edges in
        row-major order, then padding.

        Args:
            upper: the edges, as the strict upper triangle of the adjacency. Shape: (N, V, V) bool.

        Returns:
            ``(u, v, real)``: the end nodes of each slot (int64; node 0 in padding slots) and whether it holds an edge.
            Shape: (N, max_edges) each.
        """
        side = upper.shape[-1]
        cells = torch.arange(side * side, device=upper.device)
        order = torch.where(upper.flatten(1), cells, cells + side * side)  # edges first, both groups row-major
        # at least max_edges candidates; a constant fill above every cell index (2V² < 2^40 for V < 2^19 nodes), as a
        # fill computed from V would fix the traced size
        order = F.pad(order, (0, self.max_edges), value=2**40)
        slots = order.topk(self.max_edges, dim=1, largest=False).values
        real = slots < side * side
        slots = torch.where(real, slots, torch.zeros_like(slots))
        rows = torch.div(slots, side, rounding_mode="floor")
        return rows, slots - rows * side, real  # not ``%``: the ONNX exporter cannot translate a remainder by a symbolic size


class HyperspectralTokenizer(_WithClassToken):
    """Hyperspectral pixels (SpectralFormer group-wise spectral embedding): band b's h x w patch together with its
    ``band_group - 1`` neighbouring bands becomes one token.

    Args:
        dim: token width.
        bands: spectral bands.
        patch_size: spatial side h = w of the pixel's neighbourhood.
        band_group: neighbouring bands per token.
    """

    def __init__(self, dim: int, bands: int = 200, patch_size: int = 7, band_group: int = 3) -> None:
        super().__init__(dim)
        self.bands, self.patch_size, self.band_group = bands, patch_size, band_group
        self.proj = nn.Linear(band_group * patch_size * patch_size, dim)
        self.pos_embed = nn.Parameter(torch.randn(1, bands, dim) * 0.02)

    def forward(self, x: torch.Tensor):
        checks.check_shape(x, ["N", str(self.bands), str(self.patch_size), str(self.patch_size)], "hyperspectral")
        half = self.band_group // 2
        padded = F.pad(x.flatten(2).transpose(1, 2), (half, self.band_group - 1 - half), mode="replicate").transpose(1, 2)
        groups = padded.unfold(1, self.band_group, 1)  # (N, bands, h*w, band_group)
        tokens = self.proj(groups.flatten(2)) + self.pos_embed
        return self.prepend(tokens)


TOKENIZERS = {
    "patch": PatchTokenizer,
    "tubelet": TubeletTokenizer,
    "spectrogram": SpectrogramTokenizer,
    "series": SeriesTokenizer,
    "tabular": TabularTokenizer,
    "text": TextTokenizer,
    "points": PointCloudTokenizer,
    "graph": GraphTokenizer,
    "hyperspectral": HyperspectralTokenizer,
}

MODALITY_TOKENIZERS = {
    "image": ("patch", {"in_channels": 3}),
    "infrared": ("patch", {"in_channels": 1}),
    "xray": ("patch", {"in_channels": 1}),
    "video": ("tubelet", {}),
    "audio": ("spectrogram", {}),
    "time_series": ("series", {}),
    "imu": ("series", {"channels": 6}),
    "tabular": ("tabular", {}),
    "text": ("text", {}),
    "point_cloud": ("points", {}),
    "graph": ("graph", {}),
    "hyperspectral": ("hyperspectral", {}),
}
