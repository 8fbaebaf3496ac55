"""How ``tools/make_weights.py rawformer`` makes the shipped checkpoint: pre-train the autoencoder, train the
translation from it, train the plain CycleGAN baseline with the same budget, and evaluate all three (and the
identity mapping) against camera B's paired captures of held-out scenes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from weights.common import device_name, fit_or_restore
from zoo.core.files import BEFORE_AFTER_NAME
from zoo.core.progress import progress
from zoo.data.raw_datamodule import HELD_OUT_PHOTOS
from zoo.data.raw_to_raw import SyntheticCameraPairDataset
from zoo.models.rawformer.specs import RawformerRecord
from zoo.records import EvalDataset

PRETRAINED_DIR = Path("outputs/rawformer/pretrained")
EVAL_SIZES = (64, 128)  # raw-image sides: the training crop, and twice it (the position grid is rebuilt)
EVAL_SAMPLES = 32


def held_out_pairs(size: int, count: int = EVAL_SAMPLES) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera A and camera B captures of ``count`` crops of the held-out photographs. Shape: (count, 3, size, size) each."""
    data = SyntheticCameraPairDataset(HELD_OUT_PHOTOS, count, crop=2 * size, paired=True, augment=False, seed=1)
    pairs = [data[i] for i in range(count)]
    return torch.stack([p["a"] for p in pairs]), torch.stack([p["b"] for p in pairs])


@torch.no_grad()
def translated(translate, a: torch.Tensor) -> torch.Tensor:
    """``translate(a)`` in batches of 8, clamped to [0, 1]. Shape: as ``a``."""
    return torch.cat([translate(a[i : i + 8]) for i in range(0, len(a), 8)]).clamp(0.0, 1.0)


def scores(translate, a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Mean PSNR / SSIM of ``translate(a)`` (clamped to [0, 1]) against ``b``."""
    out = translated(translate, a)
    return {
        "psnr": float(peak_signal_noise_ratio(out, b, data_range=1.0, dim=(1, 2, 3))),
        "ssim": float(structural_similarity_index_measure(out, b, data_range=1.0)),
    }


def comparison_strip(a: torch.Tensor, panels: dict[str, torch.Tensor], b: torch.Tensor) -> Image.Image:
    """Camera A | each model | camera B, brightened for display (raw images are linear and dark): every panel is
    divided by the same 99th percentile of camera B's image and shown with gamma 1/2.2."""
    scale = float(torch.quantile(b.flatten(), 0.99)) or 1.0
    row = [("camera A (input)", a), *panels.items(), ("camera B (ground truth)", b)]
    tiles = []
    for label, image in row:
        array = ((image.clamp(0, 1) / scale).clamp(0, 1) ** (1 / 2.2)).permute(1, 2, 0).numpy()
        tile = Image.fromarray((array * 255 + 0.5).astype(np.uint8)).resize((256, 256), Image.NEAREST)
        canvas = Image.new("RGB", (256, 276), "white")
        canvas.paste(tile, (0, 20))
        ImageDraw.Draw(canvas).text((4, 4), label, fill="black")
        tiles.append(canvas)
    strip = Image.new("RGB", (256 * len(tiles) + 8 * (len(tiles) - 1), 276), "white")
    for i, tile in enumerate(tiles):
        strip.paste(tile, (i * 264, 0))
    return strip


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> RawformerRecord:
    """Train the three stages, write ``out_dir``, and return the measured record."""
    from zoo.hub import load

    if ckpt not in (None, "last"):
        raise ValueError(
            f"rawformer: --ckpt expected 'last' (resume each of the three runs from its last checkpoint; finished runs are "
            f"reused, not retrained), received {ckpt!r}"
        )
    recipes = Path("recipes/rawformer")
    pretrain = fit_or_restore(recipes / "pretrain_tiny.yaml", [], ckpt)
    pretrain.model.save_pretrained(PRETRAINED_DIR)
    run = fit_or_restore(recipes / "tiny.yaml", [f"--model.init_args.config.pretrained={PRETRAINED_DIR / 'model.safetensors'}", *overrides], ckpt)
    baseline = fit_or_restore(recipes / "cyclegan_tiny.yaml", [], ckpt)

    run.model.save_pretrained(out_dir, card=False, manifest=False)  # make_weights writes the card; the record holds the hashes
    model = load(spec.name, weights=out_dir)
    cyclegan = baseline.model.eval()
    results: dict[str, dict[str, float]] = {"rawformer": {}, "identity": {}, "cyclegan": {}}
    pairs = {size: held_out_pairs(size) for size in EVAL_SIZES}
    for size, (a, b) in pairs.items():
        suffix = "" if size == EVAL_SIZES[-1] else f"_{size}px"
        rows = (("rawformer", model.predict), ("identity", lambda x: x), ("cyclegan", lambda x: cyclegan(x)))
        for name, translate in progress(rows, f"held-out pairs at {size} px", unit="model"):
            for key, value in scores(translate, a, b).items():
                results[name][key + suffix] = value
    a, b = pairs[EVAL_SIZES[-1]]
    # Stage 1's unmasked reconstruction of held-out camera-A images bounds how sharp stage 2 starts.
    reconstruction = scores(pretrain.model.net.eval(), a, a)
    # The camera difference is mostly colour and exposure, to which SSIM is nearly blind: record where the output's
    # colour lands between the two cameras'.
    channel_means = {"camera A (input)": a, "Rawformer": translated(model.predict, a), "camera B (ground truth)": b}
    a, b = a[:4], b[:4]
    with torch.no_grad():
        panels = {"plain CycleGAN": cyclegan(a[3:4])[0], "Rawformer (this model)": model.predict(a[3])}
    comparison_strip(a[3], panels, b[3]).save(out_dir / BEFORE_AFTER_NAME)

    side = EVAL_SIZES[-1]
    return RawformerRecord(
        num_params=model.num_params(),
        channel_means={k: [round(float(m), 4) for m in v.mean((0, 2, 3))] for k, v in channel_means.items()},
        metrics=results["rawformer"],
        baselines={
            "identity (camera A's image as is)": results["identity"],
            f"plain CycleGAN (ResNet generator, {cyclegan.num_params():,} parameters, same data, batch and steps)": results["cyclegan"],
        },
        eval_dataset=EvalDataset(
            name="two simulated cameras, held-out scenes",
            type="zoo-synthetic-camera-pairs",
            split="test",
            num_samples=EVAL_SAMPLES,
            description=(
                f"{EVAL_SAMPLES} crops of the photographs 'chelsea' (scikit-image) and 'flower' (scikit-learn), never seen in "
                "training, unprocessed (Brooks et al. 2019) into the raw images of camera A ('sim_dslr_14bit') and camera B "
                "('sim_phone_12bit'): different colour matrices, white-balance ranges, sensitivity (B records 1.6x the signal), "
                "bit depths, black levels and noise, the same scene and illuminant draw, each sensor its own noise realisation; "
                "3-channel raw (R, mean G, B), "
                "normalised. PSNR / SSIM of the A -> B "
                f"translation against camera B's capture, at {side}x{side} (keys without suffix; the model was trained on 64x64 "
                "crops and rebuilds its position grid) and at 64x64 (`_64px`)."
            ),
        ),
        eval_command=f"python tools/make_weights.py {spec.name}" + (" --ckpt last" if ckpt else ""),
        train_dataset="zoo-synthetic-camera-pairs (scikit-image / scikit-learn photographs), unpaired",
        recipe="recipes/rawformer/tiny.yaml",
        train_steps=int(run.model.generator_steps),
        train_seconds=run.seconds,
        pretrain_seconds=pretrain.seconds,
        pretrain_steps=pretrain.steps,
        pretrain_reconstruction=reconstruction,
        baseline_seconds=baseline.seconds,
        train_device=device_name(),
    )
