"""Train a shipped checkpoint from its tiny recipe, evaluate it on held-out data and write its Hub folder.

    python tools/make_weights.py lightweight_isp_efficient [LightningCLI overrides ...]
    python tools/make_weights.py lightweight_isp_efficient --ckpt outputs/.../last.ckpt   # finish a run already trained

Writes ``weights/<name>/`` (model.safetensors, config.json, README.md card, before_after.png), records the
files' sha256, the parameter count and the measured metrics in ``zoo/checkpoints.json``, and regenerates the
model table of the top-level README. Every number in the card comes from this script's evaluation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Timer

ROOT = Path(__file__).resolve().parent.parent
TABLE_START, TABLE_END = "<!-- models-table:start -->", "<!-- models-table:end -->"


@torch.no_grad()
def evaluate(model, dataloader) -> tuple[dict[str, float], int]:
    """Sample-weighted mean of ``model.evaluate_batch`` over a dataloader, and the sample count."""
    totals: dict[str, float] = {}
    count = 0
    model.eval()
    for batch in dataloader:
        batch = {k: v.to(model.device) for k, v in batch.items()}
        n = batch["raw"].shape[0]
        for key, value in model.evaluate_batch(batch).items():
            totals[key] = totals.get(key, 0.0) + float(value) * n
        count += n
    return {key: value / count for key, value in totals.items()}, count


def update_readme_table() -> None:
    """Rewrite the model table between the README's markers from the registry and checkpoint records."""
    from zoo.registry import models_table, reload_checkpoint_records

    reload_checkpoint_records()
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    readme.write_text(text[:start] + "\n" + models_table() + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("--ckpt", default=None, help="skip training: take the weights of this checkpoint of the recipe's run")
    args, overrides = parser.parse_known_args()  # the rest are LightningCLI overrides

    from zoo.cards import BEFORE_AFTER_NAME, build_card
    from zoo.demo import before_after
    from zoo.hub import CARD_NAME, SHIPPED_WEIGHTS, load, sha256_file
    from zoo.registry import CHECKPOINTS_FILE, get_spec, reload_checkpoint_records
    from zoo.training import run_cli

    spec = get_spec(args.name)
    recipe = Path("recipes") / spec.name / "tiny.yaml"
    os.chdir(ROOT)
    sys.argv = sys.argv[:1]  # LightningCLI reads only the args given below
    if args.ckpt:
        cli = run_cli(["--config", str(recipe), *overrides], run=False)
        cli.model.build_training_parts()
        # A training checkpoint this recipe wrote here; it holds tensors and plain containers only.
        checkpoint = torch.load(args.ckpt, map_location="cpu", weights_only=True)
        cli.model.load_state_dict(checkpoint["state_dict"])
        timer_state = checkpoint.get("callbacks", {}).get("Timer", {})
    else:
        cli = run_cli(["fit", "--config", str(recipe), *overrides])
        timer_state = next((cb.state_dict() for cb in cli.trainer.callbacks if isinstance(cb, Timer)), {})
    seconds = timer_state.get("time_elapsed", {}).get("train")

    out_dir = SHIPPED_WEIGHTS / spec.name
    shutil.rmtree(out_dir, ignore_errors=True)
    cli.model.save_pretrained(out_dir)
    model = load(spec.name, weights=out_dir)
    datamodule = cli.datamodule
    datamodule.setup("test")
    scores, count = evaluate(model, datamodule.test_dataloader())
    metrics = {"psnr": scores["psnr"], "ssim": scores["ssim"]}
    baselines = {"classical pseudo-ISP (official formulation, bilinear demosaic)": {"psnr": scores["pseudo_isp_psnr"], "ssim": scores["pseudo_isp_ssim"]}}
    before_after(model, spec.name).save(out_dir / BEFORE_AFTER_NAME)

    data_args = datamodule.hparams
    record = {
        "num_params": model.num_params(),
        "metrics": metrics,
        "baselines": baselines,
        "eval_dataset": {
            "name": "synthetic RAW from held-out bundled photographs",
            "type": "zoo-synthetic-unprocessed",
            "split": "test",
            "num_samples": count,
            "description": (
                f"{data_args['crop']}x{data_args['crop']} crops of the photographs 'chelsea' (scikit-image) and 'flower' "
                "(scikit-learn), never seen in training, unprocessed to 10-bit RAW with sensor noise (Brooks et al. 2019, "
                f"profile '{data_args['profile']}'); PSNR/SSIM against the original sRGB, outputs clamped to [0, 1]."
            ),
        },
        "eval_command": f"python tools/make_weights.py {spec.name}",
        "train_dataset": "zoo-synthetic-unprocessed (scikit-image / scikit-learn photographs)",
        "recipe": str(recipe),
        "train_steps": int(cli.model.generator_steps),
        "train_seconds": seconds,
        "train_device": f"{platform.machine()} CPU, {torch.get_num_threads()} threads" if not torch.cuda.is_available() else torch.cuda.get_device_name(),
    }
    notes = model.card_notes()
    build_card(spec, record, notes, has_image=True).save(out_dir / CARD_NAME)
    record["sha256"] = {p.name: sha256_file(p) for p in sorted(out_dir.iterdir()) if p.is_file()}

    records = json.loads(CHECKPOINTS_FILE.read_text()) if CHECKPOINTS_FILE.exists() else {}
    records[spec.name] = record
    CHECKPOINTS_FILE.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    reload_checkpoint_records()
    update_readme_table()
    print(json.dumps({"metrics": metrics, "baselines": baselines, "train_seconds": seconds}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
