"""SSGMap: multi-domain attribute translation of 3-D facial shapes (Fan et al., ICCV 2023).

Train (CPU, minutes; the paper's setting in ``paper.yaml``)::

    zoo train recipes/ssgmap_tiny/tiny.yaml

Training as the official ``solver.py``: each iteration first updates the discriminator, then (every ``n_critic``-th
iteration; official 1) the generator; training stops after ``num_iters`` iterations. Target labels are the batch's own
labels in a random permutation.

- D: ``-mean D(x) + mean D(G(x, c_trg)) + lambda_cls BCE(cls(x)[:24], c_org[:24]) + lambda_reg MSE(cls(x)[24],
  c_org[24]) + lambda_gp GP``, with the GP of StarGAN's 3-D variant (the RMS of the gradient of the summed logits at
  per-sample interpolates of the vertex tensors, centred at lambda_para).
- G: ``-mean D(G(x, c_trg)) + lambda_rec |x - G(G(x, c_trg), c_org)| + lambda_idn |x - G(x, c_org)| + lambda_cls BCE
  + lambda_reg MSE + lambda_sym mean|sym_error|``, the symmetry error over both the translated and the identity
  outputs.

Adam 1e-4 (betas 0.9, 0.999) for both; the rate follows StarGAN's schedule: after ``num_iters - num_iters_decay``
iterations it drops by ``lr / num_iters_decay`` every ``lr_update_step`` iterations (0.1 % in all at the official
settings). The permutation and the interpolation weights are drawn from ``(seed, iteration)``, so a resumed run is
exact.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.core import checks
from zoo.core.adversarial import AdversarialConfig, AdversarialModule
from zoo.core.optional import require
from zoo.data.faces3d import (
    AGE_RANGE, ASYMMETRIC_EXPRESSIONS, EXPRESSIONS, GENDERS, LABEL_DIM, ProceduralFaceDataset, ProceduralFaces, age_to_label,
    face_template,
)
from zoo.losses.adversarial import hinge_generator_loss, interpolated_gradient_penalty, wasserstein_critic_loss
from zoo.models.ssgmap.discriminator import HierarchicalDiscriminator
from zoo.models.ssgmap.geomap import MAP_KINDS, GeometricMap
from zoo.models.ssgmap.model import SSGMapGenerator

DEFAULT_SOURCE = {"expression": "neutral", "gender": "male", "age": 30.0}
"""The attributes ``predict`` assumes of an input face when ``source`` is not given."""
MESH_SUFFIXES = (".ply", ".obj", ".off", ".stl")
MAX_VALUES = 2**26
"""The most values ``predict`` takes in one call (a batch of about 10,000 FaceScape-sized faces)."""
DEMO_AGES = tuple(float(a) for a in np.linspace(*AGE_RANGE, 8))
"""The official demo's eight target ages (``c[24] = 2 (i - 22) / 7 - 1``, i = 22..29): 17 to 70 years."""


@dataclasses.dataclass
class SSGMapConfig(AdversarialConfig):
    """Configuration of :class:`SSGMap` (defaults: the official ``main.py`` arguments).

    Args:
        g_lr, d_lr: Adam learning rates (1e-4).
        g_betas, d_betas: Adam betas (PyTorch's defaults, 0.9 and 0.999: the official code passes none).
        map_size: the map's side S (128).
        map_kind: ``"ssgmap"`` (the paper's square symmetric map) or ``"cylindrical"`` (the naive UV baseline).
        template_cols, template_rows: the procedural template's grid (``zoo.data.faces3d.face_template``).
        grid_file: the official ``grid.hdf5`` (its tables replace the procedural template's; then S is 128 and the
            vertices are the official template's 10,857).
        conv_dim: generator width (64).
        c_dim: label size (25).
        repeat_num: generator residual blocks (6).
        use_running_stats: normalise by the running statistics at inference (False: per instance, as the official demo).
        normalisation: how coordinates are normalised before the networks (a fixed affine map; the official data are
            normalised per axis before training, so ``"none"`` is the official model on normalised data):
            ``"none"``; ``"mean_face"``: minus the procedural faces' expected face, vertex by vertex, so that the
            networks see a face's deviation from the mean (procedural template only); ``"face"``: the generator sees
            each face per axis centred on its own centroid and divided by its own spread (root mean square about
            the centroid), and its output is mapped back with the input's (the official per-axis normalisation,
            taken per face: instance norm makes the official generator blind to a face's position and extent).
        d_conv_dim: discriminator width (64).
        d_repeat_num: discriminator strided convs (6).
        d_scales: the discriminator's real/fake heads ((1, 2, 3): hierarchical; (3,): StarGAN's single head).
        lambda_cls, lambda_reg, lambda_rec, lambda_idn, lambda_gp, lambda_sym: loss weights (0.02, 0.05, 2, 0.1, 0.2, 0.5).
        lambda_para: the gradient penalty's centre (0.01).
        n_critic: update G once every ``n_critic`` iterations (1).
        num_iters, num_iters_decay, lr_update_step: StarGAN's schedule (400k, 200k, 1000); training stops after
            ``num_iters`` iterations (one D step each, ``num_iters // n_critic`` G steps).
        seed: seed of the target permutations and interpolation weights.
    """

    g_lr: float = 1e-4
    g_betas: tuple[float, float] = (0.9, 0.999)
    d_lr: float = 1e-4
    d_betas: tuple[float, float] = (0.9, 0.999)
    map_size: int = 128
    map_kind: str = "ssgmap"
    template_cols: int = 49
    template_rows: int = 57
    grid_file: str | None = None
    conv_dim: int = 64
    c_dim: int = 25
    repeat_num: int = 6
    use_running_stats: bool = False
    normalisation: str = "none"
    d_conv_dim: int = 64
    d_repeat_num: int = 6
    d_scales: tuple[int, ...] = (1, 2, 3)
    lambda_cls: float = 0.02
    lambda_reg: float = 0.05
    lambda_rec: float = 2.0
    lambda_idn: float = 0.1
    lambda_gp: float = 0.2
    lambda_para: float = 0.01
    lambda_sym: float = 0.5
    n_critic: int = 1
    num_iters: int = 400000
    num_iters_decay: int = 200000
    lr_update_step: int = 1000
    seed: int = 0


@lru_cache(maxsize=8)
def _procedural_tables(cols: int, rows: int, size: int, kind: str) -> tuple[torch.Tensor, ...]:
    t = face_template(cols, rows)
    g = GeometricMap.from_template(t.vertices, t.faces, t.mirror, size, kind)
    return g.indices, g.weights, g.grid, g.keep == 0, torch.tensor(g.coverage())


NORMALISATIONS = ("none", "mean_face", "face")


@lru_cache(maxsize=4)
def _mean_face(cols: int, rows: int) -> np.ndarray:
    return ProceduralFaces(face_template(cols, rows)).mean_shape()


def build_geomap(cfg: SSGMapConfig) -> GeometricMap:
    """The config's map: the official tables (``grid_file``) or the procedural template's (cached per setting)."""
    if cfg.grid_file is not None:
        return GeometricMap.from_official(cfg.grid_file)
    if cfg.map_kind not in MAP_KINDS:
        raise ValueError(f"map_kind: expected one of {tuple(MAP_KINDS)}, received {cfg.map_kind!r}")
    idx, w, grid, hole, coverage = _procedural_tables(cfg.template_cols, cfg.template_rows, cfg.map_size, cfg.map_kind)
    g = GeometricMap(idx.clone(), w.clone(), grid.clone(), hole.clone())
    g._coverage = float(coverage)
    return g


def stargan_lr(base: float, iteration: int, num_iters: int, num_iters_decay: int, lr_update_step: int) -> float:
    """The official learning rate during ``iteration`` (0-based): StarGAN's decrements of ``base / num_iters_decay``,
    applied after every iteration ``i`` with ``(i + 1) % lr_update_step == 0`` and ``i + 1 > num_iters - num_iters_decay``."""
    if num_iters_decay <= 0:
        return base
    start = num_iters - num_iters_decay
    # Decrements applied before this iteration: multiples m of lr_update_step with start < m <= iteration.
    steps = max(0, iteration // lr_update_step - start // lr_update_step)
    return base - steps * base / num_iters_decay


class SSGMap(AdversarialModule):
    """3-D face attribute translation on the geometric map.

    Args:
        config: a :class:`SSGMapConfig` (or a dict of its fields).

    Shape:
        - ``forward(vertices, label, rotation=None)``: vertices (B, V, 3) on the template topology, label (B, 25),
          rotation (B, 3, 3) -> translated vertices (B, V, 3).

    Example:
        >>> import zoo
        >>> model = zoo.load("ssgmap_tiny")
        >>> smiling = model.predict(face_vertices, expression="smile")       # (V, 3) array in, (V, 3) array out
        >>> variants = model.predict_all(face_vertices)                      # the official demo's 31 shapes
    """

    config_class = SSGMapConfig
    progress_metrics = ("vertex_error",)
    OUTPUT_SUFFIXES = (".ply", ".obj")

    def __init__(self, config: SSGMapConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.c_dim != LABEL_DIM:
            raise ValueError(f"c_dim: expected {LABEL_DIM} (the FaceScape label: 20 expressions, gender, symmetry flag, age), received {cfg.c_dim}")
        if cfg.n_critic < 1 or cfg.lr_update_step < 1:
            raise ValueError(f"n_critic, lr_update_step: expected integers >= 1, received {cfg.n_critic}, {cfg.lr_update_step}")
        geomap = build_geomap(cfg)
        self.template = None if cfg.grid_file else face_template(cfg.template_cols, cfg.template_rows)
        self.net = SSGMapGenerator(geomap, cfg.conv_dim, cfg.c_dim, cfg.repeat_num, cfg.use_running_stats, self._centre(), cfg.normalisation == "face")
        self.setup_ema()

    def _centre(self) -> torch.Tensor | None:
        """The normalisation's per-vertex offset (:attr:`SSGMapConfig.normalisation`), None for ``"none"``."""
        kind = self.config.normalisation
        if kind not in NORMALISATIONS:
            raise ValueError(f"normalisation: expected one of {NORMALISATIONS}, received {kind!r}")
        if kind in ("none", "face"):
            return None
        if self.template is None:
            raise ValueError("normalisation: expected 'none' with official tables (grid_file; the official data are normalised beforehand), received 'mean_face'")
        return torch.from_numpy(_mean_face(self.config.template_cols, self.config.template_rows)).float()

    @property
    def geomap(self) -> GeometricMap:
        return self.net.geomap

    # ---------------------------------------------------------------- training
    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.build_training_parts()

    def build_training_parts(self) -> None:
        """Build the discriminator (training only; not in the shipped weights). Idempotent."""
        cfg = self.config
        if "D" not in self.discriminators:
            disc = HierarchicalDiscriminator(
                self.geomap, self.geomap.size, cfg.d_conv_dim, cfg.c_dim, cfg.d_repeat_num, tuple(cfg.d_scales), self.net.centre.detach().cpu().clone()
            )
            self.discriminators["D"] = disc.to(self.device)

    def _check_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not isinstance(batch, dict) or "shape" not in batch or "label" not in batch:
            raise ValueError(f"batch: expected a dict with 'shape' (B, V, 3), 'label' (B, 25) and 'rotation', received {checks.describe(batch)}")
        x, c = batch["shape"], batch["label"]
        rotation = batch.get("rotation")
        if rotation is None:
            rotation = torch.eye(3, dtype=x.dtype, device=x.device).expand(len(x), 3, 3)
        return x, c, rotation

    def _draws(self, batch_size: int, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([self.config.seed, iteration, self.global_rank]).generate_state(1)[0]))
        return torch.randperm(batch_size, generator=gen), torch.rand(batch_size, 1, 1, generator=gen)

    def attribute_losses(self, out_cls: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The official classification (BCE with logits on the 24 one-hot entries) and age regression (MSE) terms."""
        return F.binary_cross_entropy_with_logits(out_cls[:, :-1], label[:, :-1]), F.mse_loss(out_cls[:, -1], label[:, -1])

    def discriminator_terms(self, x: torch.Tensor, c_org: torch.Tensor, x_fake: torch.Tensor, alpha: torch.Tensor) -> dict[str, torch.Tensor]:
        """D's loss terms (unweighted) on real faces ``x`` and generated ``x_fake``."""
        disc = self.discriminators["D"]
        out_real, out_cls = disc(x)
        out_fake, _ = disc(x_fake.detach())
        cls, reg = self.attribute_losses(out_cls, c_org)
        gp = interpolated_gradient_penalty(disc, x, x_fake, alpha.to(x), center=self.config.lambda_para, logit_reduction="sum", norm="rms")
        return {"adv": wasserstein_critic_loss(out_real, out_fake), "cls": cls, "reg": reg, "gp": gp}

    def generator_terms(self, x: torch.Tensor, c_org: torch.Tensor, c_trg: torch.Tensor, rotation: torch.Tensor) -> dict[str, torch.Tensor]:
        """G's loss terms (unweighted), as the official G step."""
        b = len(x)
        out, sym = self.net(torch.cat([x, x]), torch.cat([c_trg, c_org]), torch.cat([rotation, rotation]))
        x_fake, x_idt = out[:b], out[b:]
        out_src, out_cls = self.discriminators["D"](x_fake)
        cls, reg = self.attribute_losses(out_cls, c_trg)
        x_rec, _ = self.net(x_fake, c_org, rotation)
        return {
            "adv": hinge_generator_loss(out_src), "rec": (x - x_rec).abs().mean(), "idn": (x - x_idt).abs().mean(),
            "cls": cls, "reg": reg, "sym": sym.abs().mean(),
        }

    def training_step(self, batch: Any, batch_idx: int) -> None:
        cfg = self.config
        x, c_org, rotation = self._check_batch(batch)
        i = int(self.generator_steps)
        opt_g, opt_d = self.optimizers()
        for opt, base in ((opt_g, cfg.g_lr), (opt_d, cfg.d_lr)):
            for group in opt.param_groups:
                group["lr"] = stargan_lr(base, i, cfg.num_iters, cfg.num_iters_decay, cfg.lr_update_step)
        perm, alpha = self._draws(len(x), i)
        c_trg = c_org[perm.to(c_org.device)]

        disc = self.discriminators["D"]
        disc.requires_grad_(True)
        with torch.no_grad():  # the fake only feeds D here (the official graph through G is never used)
            x_fake, _ = self.net(x, c_trg, rotation)
        d = self.discriminator_terms(x, c_org, x_fake, alpha)
        d_loss = d["adv"] + cfg.lambda_cls * d["cls"] + cfg.lambda_reg * d["reg"] + cfg.lambda_gp * d["gp"]
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        opt_d.step()
        for name, value in d.items():
            self.log(f"d/{name}", value.detach(), on_step=True, on_epoch=True, sync_dist=True)

        if (i + 1) % cfg.n_critic == 0:
            disc.requires_grad_(False)
            g = self.generator_terms(x, c_org, c_trg, rotation)
            weights = {"adv": 1.0, "rec": cfg.lambda_rec, "idn": cfg.lambda_idn, "cls": cfg.lambda_cls, "reg": cfg.lambda_reg, "sym": cfg.lambda_sym}
            g_loss = sum(weights[k] * v for k, v in g.items())
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            opt_g.step()
            opt_d.zero_grad(set_to_none=True)
            disc.requires_grad_(True)
            if self.net_ema is not None:
                self.net_ema.update_parameters(self.net)
            for name, value in g.items():
                self.log(f"g/{name}", value.detach(), on_step=True, on_epoch=True, sync_dist=True)
            self.log("g/total", g_loss.detach(), prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        self.generator_steps += 1
        if self._trainer is not None and self.iterations >= cfg.num_iters:
            self.trainer.should_stop = True  # the official solver runs num_iters iterations

    @property
    def iterations(self) -> int:
        """Training iterations so far, counted as the official solver's ``i``: each one discriminator step (the base
        class's ``generator_steps`` buffer holds this count)."""
        return int(self.generator_steps)

    def step_counts(self) -> dict[str, int]:
        """The optimiser steps taken, as the official (StarGAN) solver counts them: D steps every iteration, G on the
        iterations ``i`` with ``(i + 1) % n_critic == 0``. Lightning's ``global_step`` is the sum of the two.

        Returns:
            ``iterations``, ``discriminator_steps`` and ``generator_steps``.
        """
        it = self.iterations
        return {"iterations": it, "discriminator_steps": it, "generator_steps": it // self.config.n_critic}

    # -------------------------------------------------------------- evaluation
    def mirror_error(self, vertices: torch.Tensor) -> torch.Tensor:
        """Per-face mean distance of each vertex to the reflection of its mirror vertex (``x -> -x``): 0 for a
        perfectly symmetric face (needs the procedural template's correspondence). Shape: (B, V, 3) -> (B,)."""
        if self.template is None:
            raise ValueError("mirror_error: expected a model on the procedural template (its mirror correspondence), received one on official tables")
        mirror = torch.as_tensor(self.template.mirror, device=vertices.device)
        flip = torch.tensor([-1.0, 1.0, 1.0], dtype=vertices.dtype, device=vertices.device)
        return (vertices - vertices[:, mirror] * flip).norm(dim=-1).mean(1)

    def evaluate_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """On paired evaluation faces (``target_label``, ``target_shape``): the mean per-vertex distance of the
        translation to the true target (``vertex_error``), of ``G(x, c_org)`` to ``x`` (``self_error``), and the mirror
        error of translations to symmetric expressions (``symmetry_error``; the truth's is 0)."""
        x, c_org, _ = self._check_batch(batch)
        if "target_label" not in batch or "target_shape" not in batch:
            raise ValueError("batch: expected paired evaluation faces with 'target_label' and 'target_shape', received neither")
        fake = self(x, batch["target_label"])
        metrics = {
            "vertex_error": (fake - batch["target_shape"]).norm(dim=-1).mean(),
            "self_error": (self(x, c_org) - x).norm(dim=-1).mean(),
        }
        if self.template is not None:
            symmetric = batch["target_label"][:, 22] > 0.5
            err = self.mirror_error(fake)
            metrics["symmetry_error"] = err[symmetric].mean() if symmetric.any() else err.new_zeros(())
        return metrics

    # ------------------------------------------------------------ input/output
    def forward(self, vertices: torch.Tensor, label: torch.Tensor, rotation: torch.Tensor | None = None) -> torch.Tensor:
        return (self.net if self.training else self.inference_net)(vertices, label, rotation)[0]

    def example_input(self, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        if self.template is None:
            gen = torch.Generator().manual_seed(0)
            x = 0.1 * torch.randn(batch_size, self.geomap.num_vertices, 3, generator=gen)
            c = torch.stack([torch.from_numpy(_label(DEFAULT_SOURCE)) for _ in range(batch_size)])
        else:
            data = ProceduralFaceDataset(batch_size, seed=0, augment=False)
            items = [data[i] for i in range(batch_size)]
            x, c = torch.stack([it["shape"] for it in items]), torch.stack([it["label"] for it in items])
        return x.to(self.device), c.to(self.device)

    def example_predict_input(self) -> tuple[torch.Tensor, np.ndarray]:
        """A face as a ``(vertices (V, 3), faces (F, 3))`` pair (no faces on official tables, which carry none)."""
        faces = self.template.faces if self.template is not None else np.zeros((0, 3), np.int64)
        return self.example_input(1)[0][0].cpu(), faces

    def example_cli_args(self, folder: Path) -> tuple[list[str], str]:
        """``zoo predict`` arguments: the example face written as ``face.ply`` and a target expression; a ``.ply`` out."""
        trimesh = require("trimesh", "mesh")
        vertices, faces = self.example_predict_input()
        path = Path(folder) / "face.ply"
        (trimesh.Trimesh(vertices.numpy(), faces, process=False) if len(faces) else trimesh.PointCloud(vertices.numpy())).export(path)
        return [str(path), "--expression", "smile"], ".ply"

    def _read(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """User input -> (B, V, 3) float32 vertices and the context to return the same kind."""
        if isinstance(x, tuple):
            if len(x) != 2:
                raise ValueError(f"mesh: expected a (vertices, faces) pair, received a tuple of {len(x)} items")
            vertices, ctx = self._read(x[0])
            faces = np.asarray(x[1].cpu() if isinstance(x[1], torch.Tensor) else x[1])
            if faces.ndim != 2 or faces.shape[-1] != 3 or faces.dtype.kind not in "iu" or (faces.size and (faces.min() < 0 or faces.max() >= vertices.shape[1])):
                raise ValueError(f"faces: expected an integer array (F, 3) of indices into {vertices.shape[1]} vertices, received {checks.describe(faces)}")
            return vertices, {"kind": "pair", "vertices": ctx, "faces": faces}
        if isinstance(x, (str, Path)):
            trimesh = require("trimesh", "mesh")
            path = checks.check_path(x, "mesh")
            if path.suffix.lower() not in MESH_SUFFIXES:
                raise ValueError(f"mesh: expected a mesh file ({', '.join(MESH_SUFFIXES)}), received {str(path)!r}")
            try:
                mesh = trimesh.load(path, process=False, force="mesh")
            except Exception as error:  # trimesh raises many types for unreadable files
                raise ValueError(f"mesh: expected a readable mesh file, received {str(path)!r} ({type(error).__name__}: {error})") from None
            return self._read(np.asarray(mesh.vertices, dtype=np.float32))[0], {"kind": "mesh", "faces": np.asarray(mesh.faces)}
        if isinstance(x, np.ndarray):
            if x.dtype.kind != "f":
                raise ValueError(f"vertices: expected a float array (V, 3) or (B, V, 3), received {checks.describe(x)}")
            tensor, ctx = self._read(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
            return tensor, {"kind": "numpy", "batched": ctx["batched"], "dtype": x.dtype}
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"vertices: expected a mesh path, a (V, 3) / (B, V, 3) array or tensor, received {checks.describe(x)}")
        v = self.geomap.num_vertices
        checks.check_max_numel(x, MAX_VALUES, "vertices")
        checks.check_not_empty(x, "vertices")
        if x.ndim not in (2, 3) or x.shape[-1] != 3 or x.shape[-2] != v:
            raise ValueError(
                f"vertices: expected shape ({v}, 3) or (B, {v}, 3) (the template's topology: {v:,} vertices), received {checks.describe(x)}"
            )
        checks.check_floating(x, "vertices")
        checks.check_finite(x, "vertices")
        checks.check_range(x.abs(), 0.0, checks.FEATURE_MAGNITUDE, "vertices (absolute values)")
        batched = x.ndim == 3
        return (x if batched else x[None]).float(), {"kind": "tensor", "batched": batched, "dtype": x.dtype, "device": x.device}

    def prepare_input(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """Validate a face (a mesh file, or vertices on the template topology) and batch it."""
        return self._read(x)

    def _translate(self, vertices: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        param = next(self.inference_net.parameters())
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self(vertices.to(param), labels.to(param))
        finally:
            self.train(was_training)

    @torch.no_grad()
    def predict(self, x: Any, expression: str | None = None, gender: str | None = None, age: float | str | None = None, source: Any = None) -> Any:
        """Translate a face to target attributes; the attributes not given keep the source's.

        Args:
            x: a mesh file (.ply / .obj, read with trimesh), vertices (V, 3) / (B, V, 3) (array or tensor) on the
                template's topology, in the training data's coordinates, or a ``(vertices, faces)`` pair.
            expression: a name of ``zoo.data.faces3d.EXPRESSIONS`` (FaceScape's 20), e.g. ``"smile"``.
            gender: ``"male"`` or ``"female"``.
            age: years in [17, 70] (a number or a numeric string).
            source: the input's attributes: a dict (or ``"expression=...,gender=...,age=..."``) of the three, or a
                25-d label; default :data:`DEFAULT_SOURCE`.

        Returns:
            The translated face, as the input's kind: a ``trimesh.Trimesh`` with the input's faces (mesh file), an array
            or a tensor of the input's shape, or a ``(vertices, faces)`` pair.

        Raises:
            ValueError: a wrong vertex count, NaN, an unknown attribute name or an age out of range.
        """
        base = _source_label(source)
        target = _edit_label(base, expression, gender, age)
        vertices, context = self.prepare_input(x)
        out = self._translate(vertices, torch.from_numpy(target)[None].expand(len(vertices), -1))
        return self.postprocess(out, context)

    @torch.no_grad()
    def predict_all(self, x: Any, source: Any = None) -> dict[str, Any]:
        """The official demo's 31 shapes: the input, its 20 expressions, 2 genders and 8 ages (17 to 70 years).

        Args:
            x, source: as :meth:`predict` (one face).

        Returns:
            Name (``"input"``, ``"expression=smile"``, ``"gender=female"``, ``"age=32.1"``, ...) -> face, as :meth:`predict`.
        """
        base = _source_label(source)
        targets = [("input", None)]
        targets += [(f"expression={e}", _edit_label(base, e, None, None)) for e in EXPRESSIONS]
        targets += [(f"gender={g}", _edit_label(base, None, g, None)) for g in GENDERS]
        targets += [(f"age={a:.1f}", _edit_label(base, None, None, a)) for a in DEMO_AGES]
        vertices, context = self.prepare_input(x)
        if len(vertices) != 1:
            raise ValueError(f"vertices: expected one face for predict_all, received a batch of {len(vertices)}")
        labels = torch.from_numpy(np.stack([t for _, t in targets[1:]]))
        out = self._translate(vertices.expand(len(labels), -1, -1), labels)
        results = {"input": self.postprocess(vertices, context)}
        results.update({name: self.postprocess(out[k : k + 1], context) for k, (name, _) in enumerate(targets[1:])})
        return results

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> Any:
        """The input's kind (see :meth:`predict`)."""
        if context["kind"] == "pair":
            return self.postprocess(y, context["vertices"]), context["faces"]
        if context["kind"] == "tensor":
            y = y.to(device=context["device"], dtype=context["dtype"])
            return y if context["batched"] else y[0]
        array = y.float().cpu().numpy()
        if context["kind"] == "numpy":
            array = array.astype(context["dtype"])
            return array if context["batched"] else array[0]
        trimesh = require("trimesh", "mesh")
        return trimesh.Trimesh(array[0], context["faces"], process=False)

    def predict_to_file(self, x: Any, path: str | Path, **options: Any) -> Path:
        """:meth:`predict` and write the translated mesh (``.ply`` / ``.obj``; the input's faces, or the template's
        for vertex input). ``options`` are :meth:`predict`'s keywords (strings from the command line).

        Returns:
            The written path.
        """
        trimesh = require("trimesh", "mesh")
        path = Path(path)
        if path.suffix.lower() not in self.OUTPUT_SUFFIXES:
            raise ValueError(f"output: expected a file ending in {' or '.join(self.OUTPUT_SUFFIXES)}, received {str(path)!r}")
        out = self.predict(x, **options)
        if isinstance(out, tuple):
            out = trimesh.Trimesh(np.asarray(out[0], dtype=np.float64), out[1], process=False) if len(out[1]) else out[0]
        if not isinstance(out, trimesh.Trimesh):
            vertices = np.asarray(out.detach().cpu() if isinstance(out, torch.Tensor) else out, dtype=np.float64)
            if vertices.ndim != 2:
                raise ValueError(f"vertices: expected one face to write to {path.name}, received a batch of shape {vertices.shape}")
            faces = self.template.faces if self.template is not None else None
            out = trimesh.Trimesh(vertices, faces, process=False) if faces is not None else trimesh.PointCloud(vertices)
        path.parent.mkdir(parents=True, exist_ok=True)
        out.export(path)
        return path


# ------------------------------------------------------------------------------------------------ labels
def _label(attributes: dict[str, Any]) -> np.ndarray:
    return _edit_label(np.zeros(LABEL_DIM, np.float32), attributes["expression"], attributes["gender"], attributes["age"])


def _edit_label(base: np.ndarray, expression: Any, gender: Any, age: Any) -> np.ndarray:
    """``base`` with the given attributes replaced (the expression also sets the symmetric-expression flag, as the
    official demo does)."""
    c = np.array(base, dtype=np.float32)
    if expression is not None:
        name = str(expression).strip().lower().replace("-", "_").replace(" ", "_")
        if name not in EXPRESSIONS:
            raise ValueError(f"expression: expected one of {list(EXPRESSIONS)}, received {expression!r}")
        k = EXPRESSIONS.index(name)
        c[:20] = 0.0
        c[k] = 1.0
        c[22], c[23] = (0.0, 1.0) if k in ASYMMETRIC_EXPRESSIONS else (1.0, 0.0)
    if gender is not None:
        name = str(gender).strip().lower()
        if name not in GENDERS:
            raise ValueError(f"gender: expected one of {list(GENDERS)}, received {gender!r}")
        c[20], c[21] = (1.0, 0.0) if name == "male" else (0.0, 1.0)
    if age is not None:
        try:
            years = float(age)
        except (TypeError, ValueError):
            raise ValueError(f"age: expected a number of years in [{AGE_RANGE[0]:g}, {AGE_RANGE[1]:g}], received {age!r}") from None
        if not AGE_RANGE[0] <= years <= AGE_RANGE[1]:
            raise ValueError(f"age: expected a number of years in [{AGE_RANGE[0]:g}, {AGE_RANGE[1]:g}] (the label's range), received {age!r}")
        c[24] = float(age_to_label(years))
    return c


def _source_label(source: Any) -> np.ndarray:
    """The input face's label from ``source`` (None, a dict or ``"k=v,..."`` string of attributes, or a 25-d label)."""
    if source is None:
        return _label(DEFAULT_SOURCE)
    if isinstance(source, str):
        pairs = [p.split("=", 1) for p in source.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"source: expected 'expression=...,gender=...,age=...', received {source!r}")
        source = {k.strip(): v.strip() for k, v in pairs}
    if isinstance(source, dict):
        unknown = sorted(set(source) - set(DEFAULT_SOURCE))
        if unknown:
            raise ValueError(f"source: expected keys among {sorted(DEFAULT_SOURCE)}, received {unknown}")
        return _label({**DEFAULT_SOURCE, **source})
    label = np.asarray(source, dtype=np.float32)
    if label.shape != (LABEL_DIM,) or not np.isfinite(label).all():
        raise ValueError(f"source: expected attributes or a finite {LABEL_DIM}-d label, received {checks.describe(label)}")
    return label
