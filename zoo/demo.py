"""``zoo demo``: the shipped ISP on the bundled RAW sample, written as a before/after picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ASSETS = Path(__file__).resolve().parent / "assets"
SAMPLE_RAW = ASSETS / "sample_raw.png"
SAMPLE_SRGB = ASSETS / "sample_srgb.png"
DEMO_MODEL = "lightweight_isp_efficient"


def _to_image(rgb: torch.Tensor) -> Image.Image:
    array = rgb.clamp(0.0, 1.0)[0].permute(1, 2, 0).cpu().numpy()
    return Image.fromarray((array * 255.0 + 0.5).astype(np.uint8))


def before_after(model, label: str, raw_path: Path = SAMPLE_RAW, srgb_path: Path | None = SAMPLE_SRGB) -> Image.Image:
    """Side by side: the classical pseudo-ISP of the RAW, the model's rendering, and the true sRGB if known.

    Args:
        model: a loaded ISP model (``zoo.pipeline(...)`` or ``zoo.load(...)``).
        label: caption of the model's panel.
        raw_path: 16-bit Bayer PNG.
        srgb_path: the photograph the RAW was made from, or None.

    Returns:
        One RGB image with a caption above each panel.
    """
    packed, _ = model.to_packed(raw_path)
    panels = [("classical pseudo-ISP", _to_image(model.pseudo_isp(packed))), (label, model.predict(raw_path))]
    if srgb_path is not None and Path(srgb_path).is_file():
        panels.append(("ground truth sRGB", Image.open(srgb_path).convert("RGB")))
    width, height = panels[0][1].size
    caption = 18
    canvas = Image.new("RGB", (width * len(panels), height + caption), "white")
    draw = ImageDraw.Draw(canvas)
    for index, (label, image) in enumerate(panels):
        canvas.paste(image.resize((width, height)), (index * width, caption))
        draw.text((index * width + 4, 3), label, fill="black")
    return canvas


def run_demo(name: str = DEMO_MODEL, output: str | Path = "zoo_demo.png") -> Path:
    """Load ``name`` (its light pipeline: no Lightning), render the bundled sample and write the before/after PNG to
    ``output``."""
    import zoo

    model = zoo.pipeline(name)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    before_after(model, name).save(output)
    return output.resolve()
