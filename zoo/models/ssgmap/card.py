"""SSGMap's card prose: a function of the config and the measured record (None: nothing shipped)."""

from __future__ import annotations

from typing import Any

from zoo.cards import settings_table
from zoo.registry import ModelSpec

_NOT_TRAINING = ("grid_file", "use_running_stats", "template_cols", "template_rows", "seed")
LOWER_IS_BETTER = ("vertex_error", "age_error_years", "symmetry_error", "self_error", "edit_error")
FULL = "SSGMap"
SHORT_RUN_REASONS = {
    "g_lr": "10x the official rate for G and D; the copy pilots below measure the official rate too (row 'official lr 1e-4').",
    "lambda_idn": "identity weight 10 instead of 0.1: with 0.1 the generator learns to reproduce a face only through the "
    "two-pass cycle loss, and in a short run the error is almost all reconstruction (G(x, c_org) is as far from x as "
    "the translation from the target); `python tools/ssgmap_gan_pilot.py --lambda-idn W` runs the full row at another weight.",
    "normalisation": "each face is normalised per axis by its own centroid and spread before the generator, and the "
    "output mapped back with the input's (the official data are normalised per axis over the whole training set): "
    "instance norm removes every channel's per-face mean and spread, so the official generator cannot follow a face's "
    "own position and extent; the copy pilots below measure it against the other candidate changes.",
    "num_iters": "the budget: CPU minutes per row instead of 400k GPU iterations.",
    "num_iters_decay": "StarGAN's linear decay over the last half of the short run instead of the last 200k iterations.",
    "lr_update_step": "the decay applied every iteration, so that the rate reaches zero at the end (the official "
    "decrement every 1,000 iterations lowers the rate by only 0.1 % in all).",
}
"""Why the tiny recipe departs from the official settings (kept in ``paper.yaml``): the card prints the reasons of
the settings that differ."""


def _claim(record: Any, cfg: Any = None) -> str:
    """Which of the four trained rows is best on each metric, from the record (the claim: the full model), and
    whether any row beats leaving the face unchanged (without that the comparison says nothing about the claim)."""
    rows = {FULL: record.metrics, **{k: v for k, v in record.baselines.items() if k.startswith(("SSGMap", "naive"))}}
    if len(rows) < 2:
        return ""
    lines, wins = [], 0
    for metric in record.metrics:
        better = min if metric in LOWER_IS_BETTER else max
        best = better(rows, key=lambda r: rows[r][metric])
        tied = [r for r in rows if rows[r][metric] == rows[best][metric]]
        if len(tied) > 1:  # a tie is no win: e.g. every row predicting the same gender for every face
            lines.append(f"- `{metric}`: a tie of {', '.join(tied)} ({rows[best][metric]:.4g}).")
            continue
        wins += best == FULL
        lines.append(f"- `{metric}`: best **{best}** ({rows[best][metric]:.4g}; the full model {rows[FULL][metric]:.4g}).")
    held = (
        "holds on every metric here" if wins == len(record.metrics)
        else "holds on none of the metrics here" if wins == 0 else f"holds on {wins} of {len(record.metrics)} metrics only"
    )
    pairs = [
        f"{name} {r['vertex_error']:.3g} ({'the ablation is worse' if r['vertex_error'] > record.metrics['vertex_error'] else 'the ablation is as good or better'})"
        for name, r in rows.items() if name != FULL
    ]
    lines.append(f"- `vertex_error`, the full model ({record.metrics['vertex_error']:.3g}) against each ablation: " + "; ".join(pairs) + ".")
    verdict = (
        f"**The paper's claim (the full model is best) {held}.** The rows are single short CPU runs on procedural faces, "
        "so differences of this size are within what another seed could change."
    )
    untranslated = record.baselines.get("input unchanged (no translation)", {}).get("vertex_error")
    edit = _edit_sentence(record, rows)
    reads = _discriminator_sentence(record)
    if untranslated is not None and all(r["vertex_error"] >= untranslated for r in rows.values()):
        steps = getattr(record, "row_steps", {}).get(FULL, record.train_steps)
        errors = [r["vertex_error"] for r in rows.values()]
        recon = record.metrics.get("self_error")
        recon_text = f" (the full model's reconstruction G(x, c_org) is {recon:.3g} from x)" if recon is not None else ""
        return (
            "## The claim in small: not tested at this budget\n"
            + "\n".join(lines)
            + f"\n\n{verdict}\n\n**Limitation: after {steps} generator steps per row no row translates a face better "
            f"than leaving it unchanged.** Every row's vertex error ({min(errors):.3g} to {max(errors):.3g}) is above "
            f"leaving the face unchanged ({untranslated:.3g}, the size of the attribute change itself), and "
            + ("nearly all" if recon is not None and recon >= 0.8 * record.metrics["vertex_error"] else "much")
            + f" of it is reconstruction error{recon_text}. The probe is exact on true shapes (the last rows) but reads "
            "structured errors of this size as other attributes, so the rows' attribute accuracies say little about the "
            "paper's claim.\n\n"
            + _why(cfg)
            + (f"\n{edit}\n" if edit else "")
            + (f"\n{reads}\n" if reads else "")
        )
    beats = ""
    if untranslated is not None:
        beats = (
            f" The full model's vertex error is {record.metrics['vertex_error']:.4g} against {untranslated:.4g} for the input "
            f"left unchanged: the translation {'moves faces towards their targets' if record.metrics['vertex_error'] < untranslated else '**does not beat leaving the face as it is**'}."
        )
    return "## The claim in small\n" + "\n".join(lines) + f"\n\n{verdict}{beats}\n" + (f"\n{edit}\n" if edit else "") + (f"\n{reads}\n" if reads else "") + (
        "\n" + _why(cfg) if cfg is not None and cfg.normalisation != "none" else ""
    )


def _normalisation_note(cfg: Any) -> str:
    """The differences bullet for :attr:`SSGMapConfig.normalisation` ('' for the official ``"none"``)."""
    if cfg.normalisation == "face":
        return (
            "- `normalisation: face`: the generator sees each face centred on its own centroid and divided by its own "
            "spread along each axis, and its output is mapped back with the input's (the official data are normalised "
            "per axis once, over the training set; the network itself is unchanged). The discriminator sees the faces "
            "as they are.\n"
        )
    if cfg.normalisation == "mean_face":
        return "- `normalisation: mean_face`: both networks see each face minus the procedural faces' mean face.\n"
    return ""


def _why(cfg: Any) -> str:
    """Where the copy pilots (``tools/ssgmap_pilots.py``, embedded under "Further evaluations") explain the
    reconstruction error; the measured statements are the page's own (its summary is computed from its rows)."""
    face = cfg is not None and cfg.normalisation == "face"
    return (
        "**Why reconstruction is the bottleneck**: the copy pilots under *Further evaluations* "
        "(`python tools/ssgmap_pilots.py`: the generator trained only to reproduce its input, one setting changed per "
        "row) measure the candidate causes: the evaluation mode (zoo normalises each face by its own instance "
        "statistics at inference, as the official demo does, which never calls `eval()`), the width, the augmentation, "
        "the learning rate and its decay, and the coordinate normalisation. Instance norm removes every channel's "
        "per-face mean and spread, so the official generator (StarGAN's, no path from input to output) cannot follow a "
        "face's own position and extent; "
        + (
            "this recipe therefore normalises each face per axis by its own centroid and spread and maps the output back "
            "with the input's (`normalisation: face`: compare its row of the pilots with the previous recipe's). "
            if face else
            "`normalisation: face` (each face normalised per axis by its own centroid and spread) is the pilots' row "
            "for that. "
        )
        + "The paper trains 400,000 iterations at batch 32; the same command with larger `--model.init_args.config.num_iters` "
        "and `--data.init_args.train_length` trains longer. The GAN pilots under *Further evaluations* "
        "(`python tools/ssgmap_gan_pilot.py`: the full row with longer runs, wider networks, stronger classification "
        "weights or no augmentation) measure whether any of these makes the edits beat leaving the face unchanged.\n"
    )


def _edit_sentence(record: Any, rows: dict[str, dict[str, float]]) -> str:
    """The attribute edit with the reconstruction taken out (``edit_error``), against making no edit."""
    none = record.baselines.get("input unchanged (no translation)", {}).get("edit_error")
    if none is None or "edit_error" not in record.metrics:
        return ""
    better = [name for name, r in rows.items() if r["edit_error"] < none]
    full = record.metrics["edit_error"]
    return (
        f"With the reconstruction error taken out (`edit_error`: the change G(x, c_trg) - G(x, c_org) against the true "
        f"change x_trg - x), the full model scores {full:.4g} against {none:.4g} for making no change: its edit "
        + ("moves faces the right way" if full < none else "**does not move faces towards their targets**")
        + (f"; rows that beat making no change: {', '.join(better)}." if better else "; no row beats making no change.")
    )


def _discriminator_sentence(record: Any) -> str:
    """What each row's trained discriminator reads off the real held-out faces: the classification signal that G's
    attribute terms follow ('' for a record without it)."""
    accuracy = getattr(record, "row_discriminator_accuracy", None)
    if not accuracy:
        return ""
    def cell(d: dict[str, float]) -> str:
        text = f"expression {100 * d['expression_accuracy']:.0f} %, gender {100 * d['gender_accuracy']:.0f} %, age error {d['age_error_years']:.1f} years"
        if "expression_answers" in d:
            k = d["expression_answers"]
            text += ", the same expression answered for every face" if k == 1 else f", {k} different expressions answered over the faces"
        return text

    cells = {name: cell(d) for name, d in accuracy.items()}
    same = len(set(cells.values())) == 1 and len(cells) > 1
    listed = f"every row: {next(iter(cells.values()))}" if same else "; ".join(f"{name}: {c}" for name, c in cells.items())
    return (
        "What the trained discriminators' classification heads read off the real held-out faces (chance: expression "
        f"5 %, gender 50 %; G's attribute terms can only follow what D reads): {listed}."
    )


def _reasons(cfg: Any) -> str:
    """Why each setting in :data:`SHORT_RUN_REASONS` that differs from the official default was changed."""
    defaults = type(cfg)()
    lines = [f"- `{k}`: {why}" for k, why in SHORT_RUN_REASONS.items() if getattr(cfg, k) != getattr(defaults, k)]
    return ("\nWhy (the rest are the model's size and the data):\n" + "\n".join(lines) + "\n") if lines else ""


def _map_table(record: Any) -> str:
    stats = getattr(record, "map_stats", None)
    if not stats:
        return ""
    rows = [
        f"| {kind} | {s['round_trip_mean']:.4g} | {s['round_trip_max']:.4g} | {100 * s['coverage']:.1f} % | {s['mirror_position_error_px']:.2g} |"
        for kind, s in stats.items()
    ]
    return (
        "## The map (64 x 64), measured\n"
        "| map | round trip, mean per-vertex error | max | pixels on the mesh | mirror-position error (px) |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nRound trip: mesh -> map (barycentric, unmasked) -> mesh (bilinear `grid_sample`) over the held-out faces, in "
        "template units. zoo's table builder, given the official 2-D template, reproduces every pixel entry of the official "
        "`grid.hdf5` (`tests/test_ssgmap.py`, when `ZOO_SSGMAP_OFFICIAL` points at a checkout of the official repository).\n"
    )


def card_notes(spec: ModelSpec, config: Any, record: Any | None) -> str:
    """Markdown for the card: method, settings, the claim, the map, official checkpoints, differences, data.

    Args:
        spec: the registry spec.
        config: the model's :class:`~zoo.models.ssgmap.module.SSGMapConfig`.
        record: the measured checkpoint record, or None when no checkpoint is shipped.
    """
    cfg = config
    heads = "three real/fake heads (S/4, S/16, S/64; the coarser repeated to weigh equally)" if tuple(cfg.d_scales) == (1, 2, 3) else f"real/fake heads {tuple(cfg.d_scales)}"
    rows = ""
    if record is not None and getattr(record, "row_train_seconds", None):
        d_steps, lightning = getattr(record, "row_d_steps", {}), getattr(record, "lightning_global_steps", {})

        def steps(name: str) -> str:
            g = f"{record.row_steps.get(name, 0)} generator steps"
            if name in d_steps:
                g += f" and {d_steps[name]} discriminator steps"
            return g + (f" (Lightning's global_step {lightning[name]}: both optimisers)" if name in lightning else "")

        rows = (
            "Steps are counted as the official solver counts them: one iteration is one discriminator step, and the "
            f"generator steps {'every iteration' if cfg.n_critic == 1 else f'every {cfg.n_critic}th iteration'} "
            f"(n_critic {cfg.n_critic}). Rows trained (recipe "
            "overrides in `tools/weights/ssgmap.py`), "
            + ("one after another on one thread: " if getattr(record, "row_workers", 1) == 1 else f"{record.row_workers} at a time, each in its own one-thread process: ")
            + "; ".join(f"{name}: {steps(name)}, {seconds:.0f} s" for name, seconds in record.row_train_seconds.items())
            + ".\n\n"
        )
    return f"""## Method
The mesh (vertices on a fixed template topology) becomes a square {cfg.map_size} x {cfg.map_size} image of its xyz
coordinates, the **square and symmetric geometric map**: the template's holes are closed by fans, its outer boundary
laid on the square by arc length from the top of the mid-sagittal line, and each inner vertex placed as the
locally-linear-embedding (least-squares) combination of its one-ring, with weights and solution averaged with their
mirror images so that the map is exactly left-right symmetric about its middle row. Barycentric tables sample the map
from the mesh and `grid_sample` samples the mesh back from the map; hole pixels are zeroed in the network input.
{"Here the map is the naive cylindrical projection (`map_kind: cylindrical`)." if cfg.map_kind == "cylindrical" else ""}

Generator: StarGAN's (width {cfg.conv_dim}, {cfg.repeat_num} residual blocks, instance norm with running statistics,
linear output) on the map and the tiled 25-d label (20 FaceScape expressions, gender, symmetric-expression flag, age
from 17 to 70 years as [-1, 1]). Discriminator: hierarchical PatchGAN (width {cfg.d_conv_dim}, {cfg.d_repeat_num}
strided convs) with {heads} and a classification / age-regression head. Losses as the official `solver.py`:
WGAN-GP (penalty {cfg.lambda_gp:g} x (RMS of the gradient of the summed logits - {cfg.lambda_para:g})^2 at per-face
interpolates), cycle {cfg.lambda_rec:g}, identity {cfg.lambda_idn:g}, classification {cfg.lambda_cls:g}, age regression
{cfg.lambda_reg:g}, symmetry {cfg.lambda_sym:g} (the generated map rotated back by the augmentation rotation, masked,
against its mirror image, for symmetric-expression targets). Targets: the batch's labels permuted. D, then G, every
iteration; Adam {cfg.g_lr:g} / {cfg.d_lr:g}, betas {tuple(cfg.g_betas)}; StarGAN's decay schedule over the last
{cfg.num_iters_decay} of {cfg.num_iters} iterations (at the official settings a 0.1 % drop: effectively constant).

{rows}## Settings that differ from the official defaults
{settings_table(cfg, _NOT_TRAINING)}
{_reasons(cfg)}

{_claim(record, cfg) if record is not None else ""}
{_map_table(record) if record is not None else ""}
## Official checkpoints
`zoo.load("ssgmap", weights="saved_model/g_model.pth", official=True)` reads the official generator (StarGAN's
`main.N.*` keys; width, label size and blocks read from the tensors) and, when it lies beside the file or up to two
folders above it (the repository's layout), the official `grid.hdf5` (else pass `grid_file=`). Only the generator is
released. The official `g_model.pth` itself could not be checked here (it is not in the stored copy of the repository);
the converter is tested on a state_dict in the official layout against a forward pass written from the official code.

## Differences from the official code
{_normalisation_note(cfg)}- Inference normalises each face by its own instance statistics, as the official demo does (it never calls `eval()`);
  `use_running_stats: true` gives PyTorch's eval behaviour instead.
- The first conv's label part is computed once per label channel instead of on 25 tiled channels per face (equal up to
  float rounding; a test checks it); the fake that only feeds D is generated without a graph (same values).
- Maps built here normalise vertex positions exactly for `align_corners=False` (`(2 g + 1) / S - 1`); the official
  tables keep the official `2 g / 127 - 1`, which is applied when they are loaded.
- The target permutation, the penalty's interpolation weights and the augmentation are drawn from seeds (iteration,
  face index), so a resumed run is exact; a face's augmentation is the same every epoch (official: fresh draws).
- `c[20]` is taken as male and `c[21]` as female: the official code does not name them. `predict` assumes an input face
  is a neutral 30-year-old male unless `source=` says otherwise, and changes only the attributes given.
- No CUDA requirement (the official scripts raise without a GPU).

## Data
FaceScape (the paper's data) cannot be downloaded here. `zoo.data.faces3d` builds seeded procedural faces on a
mirror-symmetric template (2,076 vertices, eye and mouth holes): identity from a 10-d symmetric shape basis, the 20
FaceScape expressions as local blendshape-like fields (jaw_left, jaw_right, mouth_left and mouth_right one-sided), a
gender field and an age sag; the true shape of any person with any attributes is therefore known for evaluation.
`Faces3DDataModule(path=...)` reads the official `training_data.hdf5` layout (`shape` (M, 10857, 3), `label` (M, 25));
`crop_tu_model` clips FaceScape TU models with the official index file. `recipes/ssgmap_tiny/paper.yaml` has the paper's
sizes; the tiny recipe scales the map to 64 x 64, the networks to width {cfg.conv_dim}, the batch to 4 and the budget to
CPU minutes (see the settings table)."""
