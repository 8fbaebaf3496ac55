"""How ``tools/make_weights.py ssgmap_tiny`` makes the shipped checkpoint: train the recipe four times (the naive
cylindrical UV map, SSGMap without the hierarchical discriminator, without the symmetry loss, and the full model,
which is shipped), :data:`ROW_WORKERS` at a time, each in a fresh one-thread process, and evaluate all four on held-out
procedural faces with known ground truth. Steps are recorded as the official solver counts them (one D step per
iteration, a G step every ``n_critic``-th) with Lightning's ``global_step`` (both optimisers' steps).

For each held-out face (another seed than training: new identities) a target is drawn (expression, gender, age);
the translation of the face is scored against the same person's true shape with the target attributes:

- ``vertex_error``: mean per-vertex distance to the true target (template units; the face is 1.6 wide);
- ``expression_accuracy``, ``gender_accuracy``, ``age_error_years``: the least-squares attribute probe
  (``ProceduralFaces.fit``, which fits the generator's own fields and is exact on true shapes) on the translations;
- ``identity_cosine``: cosine between the probe's identity coefficients of the translation and the true ones;
- ``symmetry_error``: mean distance of each vertex to its mirror vertex's reflection, over targets with a symmetric
  expression (0 for the truth);
- ``self_error``: the reconstruction ``G(x, c_org)`` against ``x`` (how well the generator reproduces a face);
- ``edit_error``: the translation's change ``G(x, c_trg) - G(x, c_org)`` against the true change ``x_trg - x``, per
  vertex: the attribute edit with the reconstruction error (common to both outputs) taken out; leaving the face
  unchanged scores the size of the true change.

Plus the map checks (round trip, pixel coverage, symmetry) and ``before_after.png``: matplotlib 3-D renders of the
input, the truth and each row's translation.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from weights.common import device_name, fit_or_restore
from zoo.core.files import BEFORE_AFTER_NAME
from zoo.data.faces3d import EXPRESSIONS, ProceduralFaceDataset, decode_label
from zoo.models.ssgmap.specs import SSGMapRecord
from zoo.records import EvalDataset

RECIPE = Path("recipes/ssgmap_tiny/tiny.yaml")
ROWS_DIR = Path("outputs/ssgmap_tiny/rows")
EVAL_SEED, EVAL_FACES = 2000, 96
TIMER = '[{"class_path": "lightning.pytorch.callbacks.Timer", "init_args": {"interval": "epoch", "verbose": false}}]'
FULL = "SSGMap"
ROW_WORKERS = 2
"""Rows trained at a time (one core each: the machine's two)."""
ROWS = {
    "naive cylindrical UV map": ["--model.init_args.config.map_kind=cylindrical"],
    "SSGMap without the hierarchical discriminator": ["--model.init_args.config.d_scales=[3]"],
    "SSGMap without the symmetry loss": ["--model.init_args.config.lambda_sym=0.0"],
    FULL: [],
}
"""Card row -> the recipe's overrides (the full model last: it is the shipped one)."""


def train_row(name: str, overrides: list[str], ckpt: str | None) -> tuple[float, dict[str, int], dict[str, float]]:
    """Fit one row in this process (one thread) and save its weights under ``ROWS_DIR``.

    Returns:
        ``(seconds, steps, discriminator)``: training seconds, the model's ``step_counts()`` (iterations, D and G
        steps, as the official solver counts them) with Lightning's ``global_step`` (both optimisers' steps), and
        :func:`discriminator_accuracy` of the trained D (not shipped: only here can it be measured).
    """
    torch.set_num_threads(1)  # two OpenMP threads on two shared, loaded cores spin against each other
    extra = [] if name == FULL else ["--trainer.logger=false", "--trainer.enable_checkpointing=false", f"--trainer.callbacks={TIMER}"]
    run = fit_or_restore(RECIPE, [*overrides, *ROWS[name], *extra], ckpt if name == FULL else None)
    run.model.save_pretrained(ROWS_DIR / _slug(name), card=False, manifest=False)
    return run.seconds, {**run.model.step_counts(), "lightning_global_step": run.steps}, discriminator_accuracy(run.model, held_out()[1])


@torch.no_grad()
def discriminator_accuracy(model, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """How well the trained D's classification head reads the attributes of real faces (the signal that G's
    classification term follows): expression as the argmax of the 20 expression logits (chance 5 %), gender as the
    larger of its two logits (chance 50 %), the age regression's mean error in years, and how many different
    expressions and genders it answers over the faces (1: the same answer for every face, the head ignores its input)."""
    from zoo.data.faces3d import label_to_age

    n = len(EXPRESSIONS)
    _, logits = model.discriminators["D"](batch["shape"])
    expression, gender, age = (np.array(v) for v in zip(*[decode_label(c) for c in batch["label"].numpy()]))
    logits = logits.numpy()
    return {  # the logits follow the label's layout: 20 expressions, male / female, two symmetry flags, then age
        "expression_accuracy": float(np.mean(logits[:, :n].argmax(1) == expression)),
        "gender_accuracy": float(np.mean(logits[:, n : n + 2].argmax(1) == gender)),
        "age_error_years": float(np.mean(np.abs(label_to_age(logits[:, -1]) - age))),
        "expression_answers": len(np.unique(logits[:, :n].argmax(1))),
        "gender_answers": len(np.unique(logits[:, n : n + 2].argmax(1))),
    }


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower())


def held_out():
    data = ProceduralFaceDataset(EVAL_FACES, seed=EVAL_SEED, augment=False, paired=True)
    items = [data[i] for i in range(EVAL_FACES)]
    stack = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    identity = np.stack([data.factors(i).identity for i in range(EVAL_FACES)])
    return data, stack, identity


def scores(data, batch, identity, shapes: torch.Tensor, mirror: np.ndarray, reconstruction: torch.Tensor) -> dict[str, float]:
    """The card's metrics of translated ``shapes`` (B, V, 3) against the batch's true targets, with the same
    generator's ``reconstruction`` (B, V, 3) of each input (``G(x, c_org)``)."""
    truth = batch["target_shape"]
    x = batch["shape"]
    fit = data.faces.fit(shapes.numpy())
    expr, gender, age = zip(*[decode_label(c) for c in batch["target_label"].numpy()])
    cos = (fit["identity"] * identity).sum(1) / (np.linalg.norm(fit["identity"], axis=1) * np.linalg.norm(identity, axis=1) + 1e-12)
    flip = torch.tensor([-1.0, 1.0, 1.0])
    mirror_err = (shapes - shapes[:, torch.as_tensor(mirror)] * flip).norm(dim=-1).mean(1)
    symmetric = batch["target_label"][:, 22] > 0.5
    return {
        "vertex_error": float((shapes - truth).norm(dim=-1).mean()),
        "expression_accuracy": float(np.mean(fit["expression"] == np.array(expr))),
        "gender_accuracy": float(np.mean(fit["gender"] == np.array(gender))),
        "age_error_years": float(np.mean(np.abs(fit["age"] - np.array(age)))),
        "identity_cosine": float(cos.mean()),
        "symmetry_error": float(mirror_err[symmetric].mean()),
        "self_error": float((reconstruction - x).norm(dim=-1).mean()),
        "edit_error": float(((shapes - reconstruction) - (truth - x)).norm(dim=-1).mean()),
    }


def map_stats(template, shapes: torch.Tensor) -> dict[str, dict[str, float]]:
    """Round trip (mean / max per-vertex error), coverage and grid symmetry of the two 64 x 64 maps."""
    from zoo.models.ssgmap.geomap import GeometricMap

    out = {}
    for kind in ("ssgmap", "cylindrical"):
        g = GeometricMap.from_template(template.vertices, template.faces, template.mirror, 64, kind)
        err = (g.decode(g.encode(shapes, masked=False)) - shapes).norm(dim=-1)
        # A vertex's map position against its mirror vertex's, reflected in the middle row (pixels: S / 2 per unit).
        sym = (g.grid[torch.as_tensor(template.mirror)] * torch.tensor([1.0, -1.0]) - g.grid).abs() * g.size / 2
        out[kind] = {
            "round_trip_mean": float(err.mean()), "round_trip_max": float(err.max()), "coverage": g.coverage(),
            "mirror_position_error_px": float(sym.max()),
        }
    return out


def render(template, panels: dict[str, np.ndarray], path: Path) -> None:
    """One matplotlib 3-D view per panel (frontal, slightly from below), coloured by depth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(dict.fromkeys(k.split(" | ")[0] for k in panels))
    cols = list(dict.fromkeys(k.split(" | ")[1] for k in panels))
    fig = plt.figure(figsize=(2.6 * len(cols), 2.9 * len(rows)))
    for r, row in enumerate(rows):
        for c, col in enumerate(cols):
            v = panels[f"{row} | {col}"]
            ax = fig.add_subplot(len(rows), len(cols), r * len(cols) + c + 1, projection="3d")
            ax.plot_trisurf(v[:, 0], v[:, 2], v[:, 1], triangles=template.faces, cmap="viridis", linewidth=0, antialiased=False)
            ax.view_init(elev=8, azim=-90)
            ax.set_box_aspect((1.6, 0.9, 2.0))
            ax.set_axis_off()
            ax.set_title(f"{col}\n{row}" if c == 0 else col, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> SSGMapRecord:
    """Train the four rows (:data:`ROW_WORKERS` at a time, each in a fresh one-thread process), evaluate them, write
    ``out_dir`` and return the record."""
    from zoo.models.ssgmap.module import SSGMap

    if ckpt not in (None, "last"):
        raise ValueError(f"ssgmap_tiny: --ckpt expected 'last' (resume the shipped row's run), received {ckpt!r}")
    tools = str(Path(__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join([tools, *filter(None, [os.environ.get("PYTHONPATH")])])
    sys.stdout.flush()
    # A fresh spawned process per row; ROW_WORKERS of them at a time, one core each.
    with ProcessPoolExecutor(ROW_WORKERS, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1) as pool:
        futures = {name: pool.submit(train_row, name, list(overrides), ckpt) for name in ROWS}
        runs = {name: f.result() for name, f in futures.items()}
    models = {name: SSGMap.from_pretrained(ROWS_DIR / _slug(name)).eval() for name in ROWS}
    models[FULL].save_pretrained(out_dir, card=False, manifest=False)

    torch.set_num_threads(1)
    data, batch, identity = held_out()
    template = models[FULL].template
    with torch.no_grad():
        translated = {name: m(batch["shape"], batch["target_label"]) for name, m in models.items()}
        reconstructed = {name: m(batch["shape"], batch["label"]) for name, m in models.items()}
    x = batch["shape"]
    results = {name: scores(data, batch, identity, out, template.mirror, reconstructed[name]) for name, out in translated.items()}
    results["input unchanged (no translation)"] = scores(data, batch, identity, x, template.mirror, x)
    results["true targets (the probe's check)"] = scores(data, batch, identity, batch["target_shape"], template.mirror, x)
    # The best any generator on this map can do: the true targets through the map and back (unmasked).
    g = models[FULL].geomap
    through = lambda v: g.decode(g.encode(v, masked=False))  # noqa: E731
    results["true targets through the 64 x 64 map (a map generator's floor)"] = scores(
        data, batch, identity, through(batch["target_shape"]), template.mirror, through(x)
    )

    picks = [i for i in range(EVAL_FACES) if decode_label(batch["target_label"][i].numpy())[0] != decode_label(batch["label"][i].numpy())[0]][:2]
    panels = {}
    for i in picks:
        e0, e1 = (EXPRESSIONS[decode_label(batch[k][i].numpy())[0]] for k in ("label", "target_label"))
        row = f"{e0} -> {e1}"
        panels[f"{row} | input"] = batch["shape"][i].numpy()
        for name in reversed(ROWS):
            panels[f"{row} | {name.replace('SSGMap without the ', 'no ').replace(' discriminator', ' D')}"] = translated[name][i].numpy()
        panels[f"{row} | true target"] = batch["target_shape"][i].numpy()
    render(template, panels, out_dir / BEFORE_AFTER_NAME)

    full_seconds, full_steps, _ = runs[FULL]
    return SSGMapRecord(
        num_params=models[FULL].num_params(),
        metrics=results[FULL],
        baselines={k: v for k, v in results.items() if k != FULL},
        eval_dataset=EvalDataset(
            name="procedural 3-D faces, held-out identities",
            type="zoo-procedural-faces3d",
            split="test",
            num_samples=EVAL_FACES,
            description=(
                f"{EVAL_FACES} faces of zoo.data.faces3d (seed {EVAL_SEED}; training used seed 0: new identities), upright "
                "and unscaled, each translated to a random target expression, gender and age and scored against the same "
                "person's true shape with those attributes. vertex_error: mean per-vertex distance (template units, the "
                "face 1.6 wide); expression/gender accuracy and age error: a least-squares probe that fits the generator's "
                "own deformation fields (exact on true shapes, see the last row); identity_cosine: cosine of the probe's "
                "identity coefficients with the true ones; symmetry_error: mean distance of a vertex to its mirror "
                "vertex's reflection over symmetric-expression targets."
            ),
            unit="faces",
        ),
        eval_command=" ".join(["python tools/make_weights.py", spec.name, *overrides, *(["--ckpt", "last"] if ckpt else [])]),
        train_dataset="zoo-procedural-faces3d (seed 0), unpaired",
        recipe=str(RECIPE),
        train_steps=full_steps["generator_steps"],
        train_seconds=full_seconds,
        train_device=f"{device_name().split(',')[0]}, 1 thread per row",
        map_stats=map_stats(template, batch["shape"]),
        row_train_seconds={name: seconds for name, (seconds, _, _) in runs.items()},
        row_steps={name: steps["generator_steps"] for name, (_, steps, _) in runs.items()},
        row_d_steps={name: steps["discriminator_steps"] for name, (_, steps, _) in runs.items()},
        lightning_global_steps={name: steps["lightning_global_step"] for name, (_, steps, _) in runs.items()},
        row_discriminator_accuracy={name: d for name, (_, _, d) in runs.items()},
        row_workers=ROW_WORKERS,
    )
