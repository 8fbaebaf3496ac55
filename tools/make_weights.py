"""Train a shipped checkpoint from its tiny recipe, evaluate it on held-out data and write its Hub folder.

    python tools/make_weights.py lightweight_isp_efficient [LightningCLI overrides ...]
    python tools/make_weights.py lightweight_isp_efficient --ckpt outputs/.../last.ckpt   # finish a run already trained

Each model package's ``weights.py`` says how its checkpoint is made (``make_checkpoint``). Writes
``weights/<name>/`` (model.safetensors, config.json, README.md card, images), records the
files' sha256, the parameter count and the measured metrics in ``zoo/checkpoints.json``, and regenerates the
model table of the top-level README. Every number in the card comes from this script's evaluation.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE_START, TABLE_END = "<!-- models-table:start -->", "<!-- models-table:end -->"


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

    from zoo.cards import build_card
    from zoo.hub import CARD_NAME, SHIPPED_WEIGHTS, sha256_file
    from zoo.registry import CHECKPOINTS_FILE, get_spec, model_package, reload_checkpoint_records

    spec = get_spec(args.name)
    os.chdir(ROOT)
    out_dir = SHIPPED_WEIGHTS / spec.name
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    record, notes, has_image = importlib.import_module(f"{model_package(spec)}.weights").make_checkpoint(spec, out_dir, args.ckpt, overrides)
    build_card(spec, record, notes, has_image=has_image).save(out_dir / CARD_NAME)
    record["sha256"] = {p.name: sha256_file(p) for p in sorted(out_dir.iterdir()) if p.is_file()}

    records = json.loads(CHECKPOINTS_FILE.read_text()) if CHECKPOINTS_FILE.exists() else {}
    records[spec.name] = record
    CHECKPOINTS_FILE.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    reload_checkpoint_records()
    update_readme_table()
    print(json.dumps({k: record.get(k) for k in ("metrics", "baselines", "train_seconds")}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
