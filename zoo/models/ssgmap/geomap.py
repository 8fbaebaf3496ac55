"""The square and symmetric geometric map (SSGMap), the paper's first contribution: a mesh on a fixed template
topology <-> a (3, S, S) image of its xyz coordinates.

**The parameterisation** (:func:`ssgmap_parameterisation`). Each hole of the template (eyes, mouth) is closed by a
fan around a virtual centre vertex, so the mesh becomes a disk. Its outer boundary is laid on the square's perimeter
by arc length, starting from the boundary vertex that lies on the mid-sagittal plane at the top, so that mirror
vertices land on mirror points. Every inner vertex keeps its neighbourhood in the local least-squares sense of
locally linear embedding: its weights ``w_ij`` minimise ``|p_i - sum_j w_ij p_j|^2`` (sum 1, over its ring, in 3-D);
negative weights are clipped and the rest renormalised, which makes the embedding ``u_i = sum_j w_ij u_j`` with
the fixed convex boundary a bijection (Tutte / Floater). The weights are averaged with their mirror images and the
solution with its reflection, so the map is exactly symmetric: vertex ``mirror[i]`` sits at the reflection of
vertex ``i`` in the map's middle row (the official map's convention: rows run left-right, ``torch.flip(dims=[2])``
mirrors a face).

**The tables** (:func:`barycentric_tables`), as the official ``grid.hdf5``: for each pixel centre, the three
vertices of the triangle that contains it and its barycentric weights (mesh -> map), and for each vertex its map
position (map -> mesh by ``grid_sample``, bilinear, border padding, ``align_corners=False``). Pixels inside the hole
fans form the hole mask, zeroed in the network's input as the official code zeroes three rectangles.

The official tables load with :meth:`GeometricMap.from_official`; they normalise positions as ``2 g / 127 - 1``
(which, under ``align_corners=False``, is a 128/127 stretch about the centre; reproduced as it is). Maps computed
here normalise exactly (``(2 g + 1) / S - 1``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import spsolve
from scipy.spatial import cKDTree
from torch import nn

from zoo.core import checks
from zoo.core.optional import require

OFFICIAL_SIZE = 128
OFFICIAL_HOLES = ((slice(56, 72), slice(92, 97)), (slice(33, 40), slice(33, 38)), (slice(88, 95), slice(33, 38)))
"""The rectangles (rows, cols) the official code zeroes on its 128 x 128 map: the mouth and the two eyes."""
GRID_KEYS = ("IX", "IY", "IZ", "WX", "WY", "WZ", "gridxy")


# --------------------------------------------------------------------------------------- mesh topology
def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """The boundary loops of a manifold triangle mesh, each an ordered vertex cycle, longest first.

    Args:
        faces: triangles. Shape: (F, 3).

    Returns:
        The loops, in the faces' orientation (the mesh on the left of each directed boundary edge).
    """
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    directed = {tuple(e) for e in edges.tolist()}
    nxt = {a: b for a, b in directed if (b, a) not in directed}
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(np.asarray(loop, dtype=np.int64))
    return sorted(loops, key=len, reverse=True)


def fill_holes(vertices: np.ndarray, faces: np.ndarray, mirror: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Close every boundary loop but the longest with a fan around its centroid.

    Returns:
        ``(vertices (V + H, 3), faces (F + sum of hole sizes, 3), mirror (V + H,), outer loop, F)``: the virtual
        centres come after the real vertices and the fan triangles after the real ones.
    """
    loops = boundary_loops(faces)
    outer, holes = loops[0], loops[1:]
    v, f, m = [vertices], [faces], list(mirror)
    n = len(vertices)
    owner = {}
    for h, loop in enumerate(holes):
        owner.update({int(i): h for i in loop})
    for h, loop in enumerate(holes):
        v.append(vertices[loop].mean(0, keepdims=True))
        centre = n + h
        # The boundary runs with the mesh on its left; the fan on its right keeps the orientation: (b, a, centre).
        f.append(np.stack([np.roll(loop, -1), loop, np.full(len(loop), centre)], 1))
        m.append(n + owner[int(mirror[loop[0]])])
    return np.concatenate(v), np.concatenate(f), np.asarray(m, dtype=np.int64), outer, len(faces)


def _rings(faces: np.ndarray, n: int) -> list[np.ndarray]:
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adj = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adj = ((adj + adj.T) > 0).tocsr()
    return [adj.indices[adj.indptr[i] : adj.indptr[i + 1]] for i in range(n)]


def neighbourhood_weights(vertices: np.ndarray, rings: list[np.ndarray], regularisation: float = 1e-3) -> list[np.ndarray]:
    """Locally linear embedding weights of each vertex over its one-ring: ``argmin |p_i - sum w_j p_j|^2``,
    ``sum w_j = 1``, Tikhonov-regularised by ``regularisation * trace``; negative weights clipped, renormalised."""
    out = []
    for i, ring in enumerate(rings):
        d = vertices[ring] - vertices[i]
        gram = d @ d.T
        gram += np.eye(len(ring)) * regularisation * max(np.trace(gram), 1e-12)
        w = np.linalg.solve(gram, np.ones(len(ring)))
        w = np.clip(w / w.sum(), 0.0, None)
        out.append(w / w.sum())
    return out


def _square_point(t: np.ndarray) -> np.ndarray:
    """Points ``(lr, ud)`` in [0, 1]^2 on the unit square's perimeter at fraction ``t`` of its length, starting at
    the top middle ``(0.5, 0)``: fractions ``t`` and ``1 - t`` are mirror images (``lr -> 1 - lr``)."""
    s = (np.asarray(t) % 1.0) * 4.0  # perimeter 4 on the unit square, starting at (0.5, 0)
    lr, ud = np.empty_like(s), np.empty_like(s)
    seg = [(s < 0.5), (s >= 0.5) & (s < 1.5), (s >= 1.5) & (s < 2.5), (s >= 2.5) & (s < 3.5), (s >= 3.5)]
    lr[seg[0]], ud[seg[0]] = 0.5 + s[seg[0]], 0.0
    lr[seg[1]], ud[seg[1]] = 1.0, s[seg[1]] - 0.5
    lr[seg[2]], ud[seg[2]] = 1.0 - (s[seg[2]] - 1.5), 1.0
    lr[seg[3]], ud[seg[3]] = 0.0, 1.0 - (s[seg[3]] - 2.5)
    lr[seg[4]], ud[seg[4]] = s[seg[4]] - 3.5, 0.0
    return np.stack([lr, ud], 1)


def ssgmap_parameterisation(vertices: np.ndarray, faces: np.ndarray, mirror: np.ndarray, up_axis: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
    """The square, symmetric, neighbourhood-preserving 2-D parameterisation of a template (see the module docstring).

    Args:
        vertices: the template's rest positions. Shape: (V, 3).
        faces: its triangles (a disk with holes). Shape: (F, 3).
        mirror: ``mirror[i]``, the vertex that mirrors ``i`` (``mirror[mirror] == identity``). Shape: (V,).
        up_axis: the coordinate that points up the face (the outer boundary's start is its highest mid-plane vertex).

    Returns:
        ``(uv, faces_filled, num_real_faces)``: ``uv`` (V + H, 2) in [0, 1]^2 as (up-down, left-right), i.e. the map's
        (column, row) in units of its side; the hole centres follow the real vertices, the fan triangles the real ones.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    mirror = np.asarray(mirror, dtype=np.int64)
    if not np.array_equal(mirror[mirror], np.arange(len(mirror))):
        raise ValueError("mirror: expected an involution (mirror[mirror[i]] == i), received one that is not")
    v, f, m, outer, n_real = fill_holes(vertices, np.asarray(faces, dtype=np.int64), mirror)
    on_plane = [i for i in outer if m[i] == i]
    if not on_plane:
        raise ValueError("template: expected a boundary vertex on the mid-sagittal plane (mirror[i] == i), received none")
    top = max(on_plane, key=lambda i: v[i, up_axis])
    loop = np.roll(outer, -int(np.flatnonzero(outer == top)[0]))
    seg = np.linalg.norm(v[np.roll(loop, -1)] - v[loop], axis=1)
    t = np.concatenate([[0.0], np.cumsum(seg)[:-1]]) / seg.sum()
    fixed = _square_point(t)
    n = len(v)
    rings = _rings(f, n)
    weights = neighbourhood_weights(v, rings)
    rows, cols, vals = [], [], []
    for i, (ring, w) in enumerate(zip(rings, weights)):
        rows += [i] * len(ring)
        cols += ring.tolist()
        vals += w.tolist()
    w = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    perm = sp.csr_matrix((np.ones(n), (np.arange(n), m)), shape=(n, n))
    w = 0.5 * (w + perm @ w @ perm.T)  # the mirror image of each vertex's weights
    boundary = np.zeros(n, bool)
    boundary[loop] = True
    inner = np.flatnonzero(~boundary)
    uv = np.zeros((n, 2))
    uv[loop] = fixed
    lap = sp.identity(n, format="csr") - w
    a = lap[inner][:, inner].tocsc()
    rhs = -(lap[inner][:, loop] @ fixed)
    uv[inner] = np.column_stack([spsolve(a, rhs[:, k]) for k in range(2)])
    # Exact symmetry: the reflection swaps left and right (uv[:, 0] is left-right before the final swap).
    reflected = uv[m].copy()
    reflected[:, 0] = 1.0 - reflected[:, 0]
    uv = 0.5 * (uv + reflected)
    if np.corrcoef(uv[:, 0], v[:, 0])[0, 1] < 0:  # rows follow the left-right coordinate, as the official map's
        uv[:, 0] = 1.0 - uv[:, 0]
    return uv[:, ::-1].copy(), f, n_real


def cylindrical_parameterisation(vertices: np.ndarray, faces: np.ndarray, mirror: np.ndarray, up_axis: int = 1, depth_axis: int = 2) -> tuple[np.ndarray, np.ndarray, int]:
    """A naive UV map for comparison: a cylindrical projection about the vertical axis behind the face (azimuth
    left-right, height up-down), scaled uniformly into the unit square and centred (so it does not fill it).

    Returns:
        As :func:`ssgmap_parameterisation`; the hole centres are projected like the real vertices.
    """
    v, f, _, _, n_real = fill_holes(np.asarray(vertices, np.float64), np.asarray(faces, np.int64), np.asarray(mirror, np.int64))
    lr_axis = 3 - up_axis - depth_axis
    centre_lr, back = v[:, lr_axis].mean(), v[:, depth_axis].min() - 0.5 * np.ptp(v[:, lr_axis])
    theta = np.arctan2(v[:, lr_axis] - centre_lr, v[:, depth_axis] - back)
    radius = np.median(np.hypot(v[:, lr_axis] - centre_lr, v[:, depth_axis] - back))
    lr, ud = theta * radius, -v[:, up_axis]
    scale = max(np.ptp(lr), np.ptp(ud))
    lr = 0.5 + (lr - 0.5 * (lr.max() + lr.min())) / scale
    ud = 0.5 + (ud - 0.5 * (ud.max() + ud.min())) / scale
    return np.stack([ud, lr], 1), f, n_real


# -------------------------------------------------------------------------------------------- tables
def _barycentric(q: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of points ``q`` (K, 2) in triangles ``tri`` (K, 3, 2). Shape: (K, 3)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1, v2 = b - a, c - a, q - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    den = np.where(np.abs(den) < 1e-14, np.nan, den)
    l1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    l2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    return np.stack([1.0 - l1 - l2, l1, l2], 1)


def barycentric_tables(uv_pixels: np.ndarray, faces: np.ndarray, num_real_vertices: int, num_real_faces: int, size: int) -> dict[str, np.ndarray]:
    """Pixel -> (3 vertices, 3 weights) tables of a parameterisation, and the hole mask.

    Args:
        uv_pixels: vertex positions in pixel units, (column, row), pixel centres at integers. Shape: (V + H, 2).
        faces: triangles, the real ones first, then the hole fans. Shape: (F, 3).
        num_real_vertices: V (later vertices are virtual hole centres).
        num_real_faces: the real triangles (later ones are hole fans).
        size: the map's side S.

    Returns:
        ``indices`` (S*S, 3) int64 into the real vertices and ``weights`` (S*S, 3) float64 (sum 1), pixels row-major
        (pixel ``p`` is row ``p // S``, column ``p % S``); ``hole`` (S, S): pixels in a hole; ``on_mesh`` (S, S):
        pixels inside a real triangle. As in the official tables, a pixel in a hole takes its nearest vertex (weight 1),
        a pixel outside the mesh the nearest point of the mesh, on an edge (two weights, the third 0).
    """
    tri = uv_pixels[faces]
    lo, hi = np.floor(tri.min(1)).astype(int), np.ceil(tri.max(1)).astype(int)
    lo, hi = np.clip(lo, 0, size - 1), np.clip(hi, 0, size - 1)
    counts = (hi[:, 0] - lo[:, 0] + 1) * (hi[:, 1] - lo[:, 1] + 1)
    owner = np.repeat(np.arange(len(faces)), counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    width = (hi[:, 0] - lo[:, 0] + 1)[owner]
    qc, qr = lo[owner, 0] + local % width, lo[owner, 1] + local // width
    bary = _barycentric(np.stack([qc, qr], 1).astype(np.float64), tri[owner])
    inside = np.all(bary >= -1e-9, 1)
    owner, pix, bary = owner[inside], (qr * size + qc)[inside], np.clip(bary[inside], 0.0, None)
    bary /= bary.sum(1, keepdims=True)  # points on an edge: rounding leaves -1e-16 weights
    tri_of = np.full(size * size, -1)
    w = np.zeros((size * size, 3))
    # A pixel inside several triangles (on a shared edge or vertex, or where a parameterisation overlaps) takes the
    # first in face order, as the official tables do: written in reverse, the first write comes last and wins.
    real = np.flatnonzero(owner < num_real_faces)[::-1]
    tri_of[pix[real]], w[pix[real]] = owner[real], bary[real]
    real = owner < num_real_faces
    hole = np.zeros(size * size, bool)
    hole[pix[~real]] = True
    on_mesh = tri_of >= 0
    hole &= ~on_mesh
    idx = faces[np.maximum(tri_of, 0)].copy()
    in_hole = np.flatnonzero(hole)
    if len(in_hole):  # in a hole: the nearest vertex, weight 1 (as the official tables)
        q = np.stack([in_hole % size, in_hole // size], 1).astype(np.float64)
        idx[in_hole] = cKDTree(uv_pixels[:num_real_vertices]).query(q)[1][:, None]
        w[in_hole] = (1.0, 0.0, 0.0)
    missing = np.flatnonzero(~on_mesh & ~hole)
    if len(missing):  # outside the mesh: the nearest point of the mesh, on one of its edges
        q = np.stack([missing % size, missing // size], 1).astype(np.float64)
        edge_idx, edge_w = _nearest_edge_points(q, uv_pixels, faces[:num_real_faces])
        idx[missing, :2], idx[missing, 2] = edge_idx, edge_idx[:, 0]
        w[missing, :2], w[missing, 2] = edge_w, 0.0
    return {"indices": idx, "weights": w, "hole": hole.reshape(size, size), "on_mesh": on_mesh.reshape(size, size)}


def _nearest_edge_points(q: np.ndarray, uv: np.ndarray, faces: np.ndarray, k: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """For points ``q`` (K, 2) off the mesh, the nearest point on the mesh's edges (among the ``k`` edges with the
    nearest midpoints): its edge's two vertices (K, 2) and their weights ``(1 - t, t)`` (K, 2)."""
    edges = np.unique(np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), 1), axis=0)
    a, b = uv[edges[:, 0]], uv[edges[:, 1]]
    _, cand = cKDTree(0.5 * (a + b)).query(q, k=min(k, len(edges)))
    cand = cand.reshape(len(q), -1)
    ab = (b - a)[cand]
    t = np.clip(((q[:, None] - a[cand]) * ab).sum(-1) / np.maximum((ab**2).sum(-1), 1e-20), 0.0, 1.0)
    dist = np.linalg.norm(a[cand] + t[..., None] * ab - q[:, None], axis=-1)
    best = np.argmin(dist, 1)
    rows = np.arange(len(q))
    e, tb = edges[cand[rows, best]], t[rows, best]
    return e, np.stack([1.0 - tb, tb], 1)


# ------------------------------------------------------------------------------------------- the module
class GeometricMap(nn.Module):
    """Mesh <-> geometric map with fixed tables (kept as non-persistent buffers: they move with the module's device
    but are not weights; the official code keeps them as plain attributes outside its state_dict too).

    Args:
        indices: pixel -> 3 vertex indices. Shape: (S*S, 3).
        weights: pixel -> 3 barycentric weights. Shape: (S*S, 3).
        grid: vertex -> map position, normalised for ``grid_sample`` (x = column, y = row). Shape: (V, 2).
        hole: pixels zeroed in the network's input. Shape: (S, S).
        on_mesh: pixels inside a real triangle, for :meth:`coverage` (None: all but the holes). Shape: (S, S).

    Shape:
        - :meth:`encode`: (B, V, 3) -> (B, 3, S, S).
        - :meth:`decode`: (B, 3, S, S) -> (B, V, 3).
    """

    def __init__(self, indices: torch.Tensor, weights: torch.Tensor, grid: torch.Tensor, hole: torch.Tensor, on_mesh: torch.Tensor | None = None) -> None:
        super().__init__()
        size = int(round(len(indices) ** 0.5))
        if size * size != len(indices) or tuple(hole.shape) != (size, size) or weights.shape != indices.shape:
            raise ValueError(
                f"map tables: expected indices and weights (S*S, 3) and hole (S, S), received {tuple(indices.shape)}, "
                f"{tuple(weights.shape)} and {tuple(hole.shape)}"
            )
        self.size = size
        self.num_vertices = int(grid.shape[0])
        self.register_buffer("indices", indices.long(), persistent=False)
        self.register_buffer("weights", weights.float(), persistent=False)
        self.register_buffer("grid", grid.float(), persistent=False)
        self.register_buffer("keep", (~hole.bool()).float(), persistent=False)
        self._coverage = float((~hole.bool() if on_mesh is None else on_mesh.bool()).float().mean())
        self.official_normalisation = False
        """Whether ``grid`` is normalised the official way (``2 g / (S - 1) - 1``) rather than exactly."""

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_parameterisation(cls, uv: np.ndarray, faces: np.ndarray, num_real_vertices: int, num_real_faces: int, size: int) -> GeometricMap:
        """The map of a parameterisation ``uv`` in [0, 1]^2 ((column, row) / side), e.g. :func:`ssgmap_parameterisation`."""
        pixels = np.asarray(uv) * (size - 1)
        t = barycentric_tables(pixels, faces, num_real_vertices, num_real_faces, size)
        grid = (2.0 * pixels[:num_real_vertices] + 1.0) / size - 1.0
        tensors = [torch.from_numpy(t[k]) for k in ("indices", "weights")]
        return cls(*tensors, torch.from_numpy(grid), torch.from_numpy(t["hole"]), torch.from_numpy(t["on_mesh"]))

    @classmethod
    def from_template(cls, vertices: np.ndarray, faces: np.ndarray, mirror: np.ndarray, size: int, kind: str = "ssgmap") -> GeometricMap:
        """The SSGMap (``kind="ssgmap"``) or the naive cylindrical map (``"cylindrical"``) of a template at side ``size``."""
        if kind not in MAP_KINDS:
            raise ValueError(f"map kind: expected one of {MAP_KINDS}, received {kind!r}")
        uv, f, n_real = MAP_KINDS[kind](vertices, faces, mirror)
        return cls.from_parameterisation(uv, f, len(vertices), n_real, size)

    @classmethod
    def from_official(cls, path: str | Path) -> GeometricMap:
        """The official tables (``grid.hdf5``, or a ``training_data.hdf5`` that holds them): ``IX, IY, IZ`` (S*S, 1)
        vertex indices, ``WX, WY, WZ`` (S*S, 1) weights, ``gridxy`` (V, 2) positions in pixels (column, row),
        normalised as the official code does (``2 g / (S - 1) - 1``) with its three hole rectangles (S = 128)."""
        h5py = require("h5py", "mesh")
        path = checks.check_path(path, "official grid file")
        with h5py.File(path, "r") as f:
            missing = [k for k in GRID_KEYS if k not in f]
            if missing:
                raise ValueError(f"official grid file {path}: expected keys {list(GRID_KEYS)}, missing {missing}")
            tables = {k: np.asarray(f[k], dtype=np.float64) for k in GRID_KEYS}
        return cls.from_official_tables(tables)

    @classmethod
    def from_official_tables(cls, tables: dict[str, np.ndarray]) -> GeometricMap:
        """:meth:`from_official` on tables already read (arrays under the official keys)."""
        idx = np.concatenate([np.round(np.asarray(tables[k])).reshape(-1, 1) for k in ("IX", "IY", "IZ")], 1).astype(np.int64)
        w = np.concatenate([np.asarray(tables[k]).reshape(-1, 1) for k in ("WX", "WY", "WZ")], 1)
        size = int(round(len(idx) ** 0.5))
        gridxy = np.asarray(tables["gridxy"], dtype=np.float64)
        if gridxy.ndim != 2 or gridxy.shape[1] != 2:
            raise ValueError(f"gridxy: expected shape (V, 2), received {gridxy.shape}")
        if idx.min() < 0 or idx.max() >= len(gridxy):
            raise ValueError(f"IX/IY/IZ: expected indices into {len(gridxy)} vertices, received values in [{idx.min()}, {idx.max()}]")
        hole = np.zeros((size, size), bool)
        if size == OFFICIAL_SIZE:
            for rows, cols in OFFICIAL_HOLES:
                hole[rows, cols] = True
        grid = 2.0 * gridxy / (size - 1) - 1.0
        out = cls(torch.from_numpy(idx), torch.from_numpy(w), torch.from_numpy(grid), torch.from_numpy(hole))
        out.official_normalisation = True
        return out

    def official_tables(self) -> dict[str, np.ndarray]:
        """The tables in the official hdf5 layout (float64 (S*S, 1) columns, ``gridxy`` the vertices' map positions in
        pixels), e.g. for :func:`zoo.data.faces3d.write_facescape_hdf5`."""
        idx, w = self.indices.cpu().double().numpy(), self.weights.cpu().double().numpy()
        out = {k: idx[:, [i]] for i, k in enumerate(("IX", "IY", "IZ"))}
        out.update({k: w[:, [i]] for i, k in enumerate(("WX", "WY", "WZ"))})
        grid = self.grid.cpu().double().numpy() + 1.0
        out["gridxy"] = grid * (self.size - 1) / 2.0 if self.official_normalisation else (grid * self.size - 1.0) / 2.0
        return out

    # ------------------------------------------------------------------ mesh <-> map
    def encode(self, vertices: torch.Tensor, masked: bool = True) -> torch.Tensor:
        """Mesh -> map: each pixel the barycentric mix of its three vertices; hole pixels zero when ``masked``.

        Args:
            vertices: (B, V, 3).
            masked: zero the hole pixels (the network's input); False for the plain map.

        Returns:
            (B, 3, S, S).
        """
        b = vertices.shape[0]
        gathered = vertices[:, self.indices]  # (B, S*S, 3 vertices, 3 xyz)
        pixels = (gathered * self.weights[None, :, :, None].to(vertices.dtype)).sum(2)
        gmap = pixels.transpose(1, 2).reshape(b, 3, self.size, self.size)
        return gmap * self.keep.to(gmap.dtype) if masked else gmap

    def decode(self, gmap: torch.Tensor) -> torch.Tensor:
        """Map -> mesh: bilinear ``grid_sample`` at each vertex's map position (border padding, align_corners False).

        Args:
            gmap: (B, 3, S, S).

        Returns:
            (B, V, 3).
        """
        grid = self.grid.to(gmap.dtype)[None, None].expand(gmap.shape[0], 1, -1, 2)
        return F.grid_sample(gmap, grid, mode="bilinear", padding_mode="border", align_corners=False)[:, :, 0].transpose(1, 2)

    def mask(self, gmap: torch.Tensor) -> torch.Tensor:
        """Zero the hole pixels of a (B, C, S, S) map."""
        return gmap * self.keep.to(gmap.dtype)

    def coverage(self) -> float:
        """Share of pixels that lie on the real mesh (not in a hole, not outside the mesh)."""
        return self._coverage


MAP_KINDS = {"ssgmap": ssgmap_parameterisation, "cylindrical": cylindrical_parameterisation}
