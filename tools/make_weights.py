"""Train a shipped checkpoint from its tiny recipe, evaluate it on held-out data and write its Hub folder.

    python tools/make_weights.py lightweight_isp_efficient [LightningCLI overrides ...]
    python tools/make_weights.py lightweight_isp_efficient --ckpt outputs/.../last.ckpt   # finish a run already trained
    python tools/make_weights.py rawformer --ckpt last   # multi-stage recipes: resume / reuse each run's last.ckpt
    python tools/make_weights.py rawformer --card-only   # rewrite the card from the recorded evaluation, no training

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


def save_record(name: str, record: dict, out_dir: Path) -> None:
    """Record the files' sha256 with ``record`` in zoo/checkpoints.json and regenerate the README's model table."""
    from zoo.hub import sha256_file
    from zoo.registry import CHECKPOINTS_FILE, reload_checkpoint_records

    record["sha256"] = {p.name: sha256_file(p) for p in sorted(out_dir.iterdir()) if p.is_file()}
    records = json.loads(CHECKPOINTS_FILE.read_text()) if CHECKPOINTS_FILE.exists() else {}
    records[name] = record
    CHECKPOINTS_FILE.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    reload_checkpoint_records()
    update_readme_table()


def rewrite_card(name: str) -> None:
    """Rebuild a shipped card from its recorded evaluation (no training, no new numbers), after a change to the
    card's text. The package's ``weights.card_notes(model, record)`` writes the notes; the shipped weights must
    verify against their recorded sha256."""
    import zoo
    from zoo.cards import BEFORE_AFTER_NAME, build_card
    from zoo.hub import CARD_NAME, SHIPPED_WEIGHTS
    from zoo.registry import checkpoint_record, get_spec, model_package

    spec = get_spec(name)
    record = dict(checkpoint_record(spec.name) or {})
    if not record:
        raise SystemExit(f"{name}: no recorded evaluation in zoo/checkpoints.json; run make_weights.py {name} first")
    card_notes = getattr(importlib.import_module(f"{model_package(spec)}.weights"), "card_notes", None)
    if card_notes is None:
        raise SystemExit(f"{name}: --card-only needs card_notes(model, record) in {model_package(spec)}.weights; rerun make_weights.py {name}")
    model = zoo.load(spec.name)  # verifies the shipped files against the recorded hashes
    out_dir = SHIPPED_WEIGHTS / spec.name
    build_card(spec, record, card_notes(model, record), has_image=(out_dir / BEFORE_AFTER_NAME).exists()).save(out_dir / CARD_NAME)
    save_record(spec.name, record, out_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("--ckpt", default=None, help="skip training: take the weights of this checkpoint of the recipe's run")
    parser.add_argument("--card-only", action="store_true", help="rewrite README.md from the recorded evaluation and the model's card notes")
    args, overrides = parser.parse_known_args()  # the rest are LightningCLI overrides
    if args.card_only:
        return rewrite_card(args.name)

    from zoo.cards import build_card
    from zoo.hub import CARD_NAME, SHIPPED_WEIGHTS
    from zoo.registry import get_spec, model_package

    spec = get_spec(args.name)
    os.chdir(ROOT)
    out_dir = SHIPPED_WEIGHTS / spec.name
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    record, notes, has_image = importlib.import_module(f"{model_package(spec)}.weights").make_checkpoint(spec, out_dir, args.ckpt, overrides)
    build_card(spec, record, notes, has_image=has_image).save(out_dir / CARD_NAME)
    save_record(spec.name, record, out_dir)
    print(json.dumps({k: record.get(k) for k in ("metrics", "baselines", "train_seconds")}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
