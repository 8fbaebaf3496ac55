"""Train a shipped checkpoint from its tiny recipe, evaluate it on held-out data and write its Hub folder.

    python tools/make_weights.py lightweight_isp_efficient [LightningCLI overrides ...]
    python tools/make_weights.py lightweight_isp_efficient --ckpt last   # resume an interrupted run (or restore a finished one)
    python tools/make_weights.py rawformer --ckpt last                   # multi-stage: each run resumed or reused
    python tools/make_weights.py rawformer --card-only                   # rewrite the card from the recorded evaluation

``tools/weights/<pkg>.py`` (the model's package) says how its checkpoint is made (``make_checkpoint``); the
package's ``card.py`` writes the card's prose from the measured record. Writes ``weights/<name>/``
(model.safetensors, config.json, README.md card, images), records the files' sha256, the parameter count and the
measured metrics in ``zoo/checkpoints.json`` (a typed record, :mod:`zoo.records`), and regenerates the model table
of the top-level README. Every number in the card comes from this script's evaluation.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE_START, TABLE_END = "<!-- models-table:start -->", "<!-- models-table:end -->"
sys.path.insert(0, str(ROOT / "tools"))


def checkpoint_script(spec):
    """The ``tools/weights/<pkg>.py`` module of a spec's package."""
    return importlib.import_module(f"weights.{spec.package.rsplit('.', 1)[-1]}")


def update_readme_table() -> None:
    """Rewrite the model table between the README's markers from the registry and checkpoint records."""
    from zoo.registry import models_table, reload_checkpoint_records

    reload_checkpoint_records()
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    readme.write_text(text[:start] + "\n" + models_table() + "\n" + text[end:])


def save_record(name: str, record, out_dir: Path) -> None:
    """Record the files' sha256 with ``record`` in zoo/checkpoints.json and regenerate the README's model table."""
    from zoo.hub import sha256_file
    from zoo.registry import CHECKPOINTS_FILE, reload_checkpoint_records

    record = dataclasses.replace(record, sha256={p.name: sha256_file(p) for p in sorted(out_dir.iterdir()) if p.is_file()})
    record.validate()
    records = json.loads(CHECKPOINTS_FILE.read_text()) if CHECKPOINTS_FILE.exists() else {}
    records[name] = record.to_dict()
    # Models sorted by name; within a record the order is the evaluation's (metric columns and baseline rows of the card).
    CHECKPOINTS_FILE.write_text(json.dumps({k: records[k] for k in sorted(records)}, indent=2) + "\n")
    reload_checkpoint_records()
    update_readme_table()


def write_card(spec, record, out_dir: Path) -> None:
    """``README.md`` of ``out_dir`` from the record and the package's ``card.py`` (config read from ``config.json``)."""
    from zoo.cards import build_card, package_card_notes
    from zoo.core.files import BEFORE_AFTER_NAME, CARD_NAME
    from zoo.hub import read_config
    from zoo.registry import resolve_class

    config = resolve_class(spec).config_from_dict(read_config(out_dir, spec))
    notes = package_card_notes(spec, config, record)
    build_card(spec, record, notes, has_image=(out_dir / BEFORE_AFTER_NAME).exists()).save(out_dir / CARD_NAME)


def rewrite_card(name: str) -> None:
    """Rebuild a shipped card from its recorded evaluation (no training, no new numbers), after a change to the
    card's text. The shipped files other than the card must verify against their recorded sha256."""
    from zoo.core.files import CARD_NAME
    from zoo.hub import SHIPPED_WEIGHTS, verify_files
    from zoo.registry import checkpoint_record, get_spec

    spec = get_spec(name)
    record = checkpoint_record(spec.name)
    if record is None:
        raise SystemExit(f"{name}: no recorded evaluation in zoo/checkpoints.json; run make_weights.py {name} first")
    out_dir = SHIPPED_WEIGHTS / spec.name
    verify_files(out_dir, {k: v for k, v in record.sha256.items() if k != CARD_NAME})
    write_card(spec, record, out_dir)
    save_record(spec.name, record, out_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("--ckpt", default=None, help="resume the recipe's run from this checkpoint ('last' or a path); a finished run is reused")
    parser.add_argument("--card-only", action="store_true", help="rewrite README.md from the recorded evaluation and the package's card.py")
    args, overrides = parser.parse_known_args()  # the rest are LightningCLI overrides
    if args.card_only:
        return rewrite_card(args.name)

    from zoo.hub import SHIPPED_WEIGHTS
    from zoo.registry import get_spec

    spec = get_spec(args.name)
    os.chdir(ROOT)
    out_dir = SHIPPED_WEIGHTS / spec.name
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    record = checkpoint_script(spec).make_checkpoint(spec, out_dir, args.ckpt, overrides)
    write_card(spec, record, out_dir)
    save_record(spec.name, record, out_dir)
    print(json.dumps({"metrics": record.metrics, "baselines": record.baselines, "train_seconds": record.train_seconds}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
