"""One short SSGMap GAN run of the tiny recipe's full row, scored as the card scores it (a planning pilot, not a card
figure): does a longer run or a stronger classification weight make the edits beat leaving the face unchanged?

    python tools/ssgmap_gan_pilot.py --iterations 6000 --lambda-cls 1.0 [--record]
    python tools/ssgmap_gan_pilot.py --render                   # docs/ssgmap/gan_pilots.{json,md} from the recorded runs

Prints the card's metrics for the held-out faces (``tools/weights/ssgmap.py``'s evaluation) and how well the trained
discriminator's classification head reads the real faces (``d_real_*``), with the wall time. ``--record`` adds the run
to ``docs/ssgmap/gan_pilot_runs.json`` (a run of the same setting replaces it) and renders the page, which the
ssgmap_tiny card embeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "ssgmap" / "gan_pilot_runs.json"
PAGE = ROOT / "docs" / "ssgmap" / "gan_pilots"
METRICS = ("vertex_error", "gender_accuracy", "expression_accuracy", "age_error_years", "identity_cosine", "self_error", "edit_error",
           "d_real_expression_accuracy", "d_real_gender_accuracy", "d_real_age_error_years", "d_real_expression_answers")
SETTING_KEYS = ("iterations", "lambda_cls", "lambda_idn", "conv_dim", "d_conv_dim", "no_augment", "normalisation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=6000, help="G and D iterations (tiny.yaml's 6000; linear decay over the last half, as tiny.yaml)")
    parser.add_argument("--lambda-idn", type=float, default=10.0, help="identity weight (tiny.yaml 10, official 0.1)")
    parser.add_argument("--lambda-cls", type=float, default=0.02, help="classification weight (official 0.02; StarGAN's 1)")
    parser.add_argument("--normalisation", default="face", help="SSGMapConfig.normalisation")
    parser.add_argument("--conv-dim", type=int, default=8, help="generator width (tiny.yaml 8, official 64)")
    parser.add_argument("--d-conv-dim", type=int, default=8, help="discriminator width (tiny.yaml 8, official 64)")
    parser.add_argument("--no-augment", action="store_true", help="train without the official scale and rotation augmentation")
    parser.add_argument("--record", action="store_true", help=f"add the run to {RUNS.relative_to(ROOT)} and render the page")
    parser.add_argument("--render", action="store_true", help="only render the page from the recorded runs")
    args = parser.parse_args()
    if args.render:
        return render()
    if args.iterations < 2:
        raise SystemExit(f"--iterations: expected at least 2, received {args.iterations}")

    import lightning as L
    import torch

    import weights.ssgmap as evaluation
    from zoo.data.faces3d import Faces3DDataModule
    from zoo.models.ssgmap.module import SSGMap, SSGMapConfig

    torch.set_num_threads(1)
    config = SSGMapConfig(map_size=64, conv_dim=args.conv_dim, repeat_num=2, d_conv_dim=args.d_conv_dim, g_lr=1e-3, d_lr=1e-3, lambda_idn=args.lambda_idn, lambda_cls=args.lambda_cls,
                          num_iters=args.iterations, num_iters_decay=args.iterations // 2, lr_update_step=1, normalisation=args.normalisation)
    L.seed_everything(0)
    model = SSGMap(config)
    data = Faces3DDataModule(train_length=args.iterations, eval_length=8, batch_size=4, seed=0, augment=not args.no_augment)
    start = time.perf_counter()
    L.Trainer(max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
              limit_val_batches=0).fit(model, data)
    model.eval()
    faces, batch, identity = evaluation.held_out()
    with torch.no_grad():
        translated, reproduced = model(batch["shape"], batch["target_label"]), model(batch["shape"], batch["label"])
    scores = evaluation.scores(faces, batch, identity, translated, model.template.mirror, reproduced)
    scores.update({f"d_real_{k}": v for k, v in evaluation.discriminator_accuracy(model, batch).items()})
    setting = {k: getattr(args, k) for k in SETTING_KEYS}
    run = {"setting": setting, "seconds": round(time.perf_counter() - start), **{k: round(v, 4) for k, v in scores.items()}}
    print(json.dumps(run))
    if args.record:
        runs = [r for r in (json.loads(RUNS.read_text()) if RUNS.is_file() else []) if r["setting"] != setting]
        RUNS.parent.mkdir(parents=True, exist_ok=True)
        RUNS.write_text(json.dumps([*runs, run], indent=1))
        render()


def _label(setting: dict) -> str:
    parts = [f"{setting['iterations']} its", f"cls {setting['lambda_cls']:g}" + (" (official)" if setting["lambda_cls"] == 0.02 else ""),
             f"identity {setting['lambda_idn']:g}"]
    if (setting["conv_dim"], setting["d_conv_dim"]) != (8, 8):
        parts.append(f"widths G {setting['conv_dim']} / D {setting['d_conv_dim']}")
    if setting.get("no_augment"):
        parts.append("no augmentation")
    if setting.get("normalisation", "face") != "face":
        parts.append(f"normalisation {setting['normalisation']}")
    return ", ".join(parts)


def _summary(runs: list[dict], unchanged: dict[str, float]) -> str:
    """What the recorded runs show, each sentence computed from them."""
    none = unchanged["edit_error"]
    best = min(runs, key=lambda r: r["edit_error"])
    text = (
        f"Across {len(runs)} GAN runs of the full row, the best edit error is {best['edit_error']:.4g} ({_label(best['setting'])}) against "
        f"{none:.4g} for making no change: "
        + ("no setting tried moves faces towards their targets." if best["edit_error"] >= none else "that setting moves faces towards their targets.")
    )
    official = [r for r in runs if r["setting"]["lambda_cls"] == 0.02]
    stronger = [r for r in runs if r["setting"]["lambda_cls"] > 0.02]
    if official and stronger:
        top, base = max(stronger, key=lambda r: r["gender_accuracy"]), max(official, key=lambda r: r["gender_accuracy"])
        text += (
            f" With a stronger classification weight the translations read as the target gender up to {100 * top['gender_accuracy']:.0f} % "
            f"({_label(top['setting'])}; at the official weight at most {100 * base['gender_accuracy']:.0f} %, the unchanged input "
            f"{100 * unchanged['gender_accuracy']:.0f} %), with edit error {top['edit_error']:.4g} against {base['edit_error']:.4g}"
            + (": the edits grow noisier." if top["edit_error"] > base["edit_error"] else ".")
        )
    read = [r for r in runs if "d_real_expression_accuracy" in r]
    if read:
        lo, hi = min(r["d_real_expression_accuracy"] for r in read), max(r["d_real_expression_accuracy"] for r in read)
        text += (
            f" The discriminators' classification heads read the real faces' expression at {100 * lo:.0f}-{100 * hi:.0f} % "
            f"(chance 5 %) in the {len(read)} runs that measured it, against up to {100 * max(r['d_real_gender_accuracy'] for r in read):.0f} % "
            "for gender: "
            + ("G's classification term has only a weak expression signal to follow." if hi < 0.5 else "D does learn expressions in some runs.")
        )
        counted = [r for r in read if "d_real_expression_answers" in r]
        constant = [r for r in counted if r["d_real_expression_answers"] == 1]
        if constant:
            text += (
                f" In {len(constant)} of the {len(counted)} runs that counted its answers ({'; '.join(_label(r['setting']) for r in constant)}) "
                "the head answers the same expression for every face, whatever the input."
            )
    return text


def render() -> None:
    """The page from the recorded runs, with leaving the face unchanged as the reference row."""
    import weights.ssgmap as evaluation
    from zoo.cards import write_evaluation_page

    if not RUNS.is_file():
        raise SystemExit(f"--render: expected recorded runs in {RUNS} (run the tool with --record first), found none")
    runs = sorted(json.loads(RUNS.read_text()), key=lambda r: (r["setting"]["iterations"], r["setting"]["lambda_cls"], r["setting"]["conv_dim"], bool(r["setting"].get("no_augment"))))
    faces, batch, identity = evaluation.held_out()
    x = batch["shape"]
    unchanged = evaluation.scores(faces, batch, identity, x, faces.faces.template.mirror, x)  # the data's own template: no model to build
    rows = [[_label(r["setting"]), r["seconds"], *(r.get(k, "–") for k in METRICS)] for r in runs]
    rows.append(["input unchanged (no translation)", 0, *(unchanged.get(k, "–") for k in METRICS)])
    summary = _summary(runs, unchanged)
    unread = len([r for r in runs if "d_real_expression_accuracy" not in r])
    columns = ("setting", "seconds", "vertex error", "gender acc.", "expression acc.", "age error (years)", "identity cos", "self error",
               "edit error", "D reads expression", "D reads gender", "D age error (years)", "D's distinct expression answers")
    write_evaluation_page(
        PAGE, title="SSGMap GAN pilots: does a longer run or a stronger classification term translate attributes?",
        command="python tools/ssgmap_gan_pilot.py --iterations N --lambda-cls W [--conv-dim C --d-conv-dim C --no-augment] --record",
        models=("ssgmap_tiny",), columns=columns, rows=rows, summary=summary,
        notes=(
            "Each row is one run of the tiny recipe's full row (64 x 64 map, lr 1e-3 with linear decay over the last half, batch 4, "
            "each face normalised by its own centroid and spread) from seed 0 on one CPU thread, with the settings of its label; "
            "scored on the card's 96 held-out faces by tools/weights/ssgmap.py. They are planning pilots: the card's table is the "
            "shipped make_weights run.",
            "'D reads expression / gender': the trained discriminator's classification head on the real held-out faces (argmax "
            "of the 20 expression logits, chance 5 %; the larger gender logit; the age regression's error in years; how many "
            "different expressions it answers over the 96 faces, 1 meaning the same answer for every face)"
            + "; '–': not measured by the version of the tool that made the run"
            + (f" ({unread} runs were made by its first version, with the same training and scoring, and their printed "
               "figures entered here)." if unread else "."),
            "seconds: wall-clock training time, two runs at a time on the machine's two cores.",
        ),
    )
    print(f"wrote {PAGE}.md")


if __name__ == "__main__":
    main()
