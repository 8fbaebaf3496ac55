"""How ``tools/make_weights.py`` makes the shipped ``maag_tiny`` checkpoint and its four-row card.

1. Fit ``recipes/maag_tiny/tiny.yaml`` (MAAG on synthetic cardiac phantoms): the shipped weights.
2. Fit the same recipe three more times, in parallel processes, with the baselines' overrides (``zoo.models.maag.specs.ROW_CONFIGS``): the
   UNet (no attention gates) on full masks, on scribbles alone, and on scribbles with the single-scale mask prior.
3. Evaluate every row on the held-out test phantoms (the data module's ``test`` set, its own seed): Dice of LV, MYO,
   RV and their mean, and draw ``before_after.png``: image, its scribbles, the true mask and each row's prediction.

Training runs on one thread (the machine's cores are shared; a second thread only adds contention).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from weights.common import device_name, evaluate, fit_or_restore
from zoo.core.files import BEFORE_AFTER_NAME
from zoo.records import EvalDataset

RECIPE = Path("recipes/maag_tiny/tiny.yaml")
ROW_DIR = Path("outputs/maag_tiny/rows")
COLOURS = np.array([[0, 0, 0], [60, 120, 255], [60, 220, 60], [255, 70, 70], [255, 220, 0]], np.float32)
"""Overlay colours of BG (unused), RV (blue), MYO (green), LV (red) and the background scribble (yellow, drawn as 4)."""
FIGURE_SLICES = (0, 1, 2)
SCALE = 3
WRAP = 24
TIMER = '[{"class_path": "lightning.pytorch.callbacks.Timer", "init_args": {"interval": "epoch", "verbose": false}}]'


def _overrides(config: dict) -> list[str]:
    return [f"--model.init_args.config.{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in config.items()]


def _overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A grey image with labels 1..4 blended in colour (0 and 255: none), upscaled ``SCALE`` times."""
    grey = (image - image.min()) / (np.ptp(image) + 1e-8)
    rgb = np.repeat(grey[..., None] * 255, 3, -1)
    coloured = (labels >= 1) & (labels <= 4)
    rgb[coloured] = (1 - alpha) * rgb[coloured] + alpha * COLOURS[labels[coloured]]
    return np.kron(rgb.astype(np.uint8), np.ones((SCALE, SCALE, 1), np.uint8))


def _background_as_4(scribbles: np.ndarray) -> np.ndarray:
    return np.where(scribbles == 0, 4, scribbles).astype(np.uint8)


def overlay_figure(data, models: dict, path: Path) -> None:
    """Rows: held-out slices; columns: image, scribbles drawn on it (the generator's, for illustration), true mask,
    each model's prediction."""
    from zoo.data.cardiac_phantoms import scribbles_from_mask

    rng = np.random.default_rng(0)
    columns = ["image", "scribbles", "true mask", *models]
    tiles = []
    for i in FIGURE_SLICES:
        item = data.test_set[i]
        image, mask = item["image"][0].numpy(), item["mask"].argmax(0).numpy().astype(np.uint8)
        row = [_overlay(image, np.zeros_like(mask)), _overlay(image, _background_as_4(scribbles_from_mask(mask, rng, "mixed")), 0.9), _overlay(image, mask)]
        for model in models.values():
            with torch.no_grad():
                row.append(_overlay(image, model(item["image"][None].to(model.device)).argmax(1)[0].cpu().numpy().astype(np.uint8)))
        tiles.append(row)
    h, w = tiles[0][0].shape[:2]
    header = 12 * max(len(textwrap.wrap(c, WRAP)) for c in columns) + 2
    canvas = Image.new("RGB", (len(columns) * (w + 4), header + len(tiles) * (h + 4)), "white")
    draw = ImageDraw.Draw(canvas)
    for c, name in enumerate(columns):
        draw.multiline_text((c * (w + 4) + 2, 1), "\n".join(textwrap.wrap(name, WRAP)), fill="black")
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            canvas.paste(Image.fromarray(tile), (c * (w + 4), header + r * (h + 4)))
    canvas.save(path)


def _train_row(index: int, overrides: list[str]) -> None:
    """Train baseline row ``index`` of ``ROWS`` from the recipe; write its weights and timing to ``ROW_DIR / index``."""
    from zoo.models.maag.specs import ROW_CONFIGS, ROWS

    torch.set_num_threads(1)
    extra = ["--trainer.logger=false", "--trainer.enable_checkpointing=false", f"--trainer.callbacks={TIMER}"]
    run = fit_or_restore(RECIPE, [*overrides, *_overrides(ROW_CONFIGS[ROWS[index]]), *extra])
    folder = run.model.save_pretrained(ROW_DIR / str(index), card=False)
    (folder / "run.json").write_text(json.dumps({"seconds": run.seconds, "steps": int(run.model.generator_steps)}))


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]):
    """Train MAAG and its three baselines, write ``out_dir`` and return the measured record.

    The baselines train in their own processes (one thread each) while this one trains MAAG; every row is then
    evaluated here, from its saved weights.

    Args:
        spec: the ``maag_tiny`` spec.
        out_dir: the weights folder.
        ckpt: resume the MAAG run (``"last"`` or a path); the baselines are retrained.
        overrides: LightningCLI overrides applied to every row.
    """
    import zoo
    from zoo.models.maag.specs import ROWS, MAAGRecord

    torch.set_num_threads(1)
    shutil.rmtree(ROW_DIR, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    workers = [subprocess.Popen([sys.executable, __file__, str(i), json.dumps(list(overrides))], env=env) for i in range(len(ROWS) - 1)]
    run = fit_or_restore(RECIPE, list(overrides), ckpt)
    run.model.save_pretrained(out_dir, card=False, manifest=False)  # make_weights writes the card; the record holds the hashes
    data = run.cli.datamodule
    data.setup("test")
    models = {ROWS[-1]: zoo.load(spec.name, weights=out_dir)}
    seconds, steps = {ROWS[-1]: run.seconds}, {ROWS[-1]: int(run.model.generator_steps)}
    for i, worker in enumerate(workers):
        if worker.wait() != 0:
            raise RuntimeError(f"baseline row {ROWS[i]!r}: its training process exited with {worker.returncode}")
        timing = json.loads((ROW_DIR / str(i) / "run.json").read_text())
        models[ROWS[i]] = zoo.load(spec.name, weights=ROW_DIR / str(i))
        seconds[ROWS[i]], steps[ROWS[i]] = timing["seconds"], timing["steps"]
    results = {}
    for name in ROWS:
        results[name], count = evaluate(models[name], data.test_dataloader())
        print(name, results[name], f"{seconds[name]:.0f} s", flush=True)
    overlay_figure(data, {name: models[name] for name in ROWS}, out_dir / BEFORE_AFTER_NAME)
    order = ("dice_lv", "dice_myo", "dice_rv", "dice_mean")
    ordered = {name: {k: float(results[name][k]) for k in order} for name in ROWS}
    maag = models[ROWS[-1]]
    size = data.size
    return MAAGRecord(
        num_params=maag.num_params(),
        metrics=ordered[ROWS[-1]],
        baselines={name: ordered[name] for name in ROWS[:-1]},
        row_seconds={name: float(seconds[name]) for name in ROWS},
        row_steps={name: int(steps[name]) for name in ROWS},
        eval_dataset=EvalDataset(
            name="synthetic cardiac phantoms (held out)",
            type="zoo-cardiac-phantoms",
            split="test",
            num_samples=count,
            unit="slices",
            description=(
                f"{count} short-axis phantom slices of {size} x {size} px from their own seed (zoo.data.cardiac_phantoms), "
                "never seen in training, with full masks. Dice (0-1) of the argmax prediction per class, averaged over "
                "slices; dice_mean is the mean of LV, MYO and RV."
            ),
        ),
        eval_command=f"python tools/make_weights.py {spec.name}",
        train_dataset="synthetic cardiac phantoms: scribbled, unlabelled and unpaired-mask streams (zoo.data.cardiac_phantoms)",
        recipe=str(RECIPE),
        train_steps=int(steps[ROWS[-1]]),
        train_seconds=float(seconds[ROWS[-1]]),
        train_device=device_name(),
    )


if __name__ == "__main__":  # one baseline row: python tools/weights/maag.py INDEX OVERRIDES_JSON (run by make_checkpoint)
    _train_row(int(sys.argv[1]), json.loads(sys.argv[2]))
