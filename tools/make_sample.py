"""Write the bundled demo sample: zoo/assets/sample_raw.png (16-bit RGGB Bayer counts) and sample_srgb.png.

The RAW is made by unprocessing scikit-learn/scikit-image's held-out photograph "chelsea" (never in the
training crops) with the ``mediatek_10bit`` camera profile and seed 0.

    python tools/make_sample.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from zoo.data.raw import camera_profiles, unpack_bayer, unprocess
from zoo.data.raw_datamodule import bundled_photograph

ASSETS = Path(__file__).resolve().parent.parent / "zoo" / "assets"


def main() -> None:
    photo = bundled_photograph("chelsea")[:296, :448]
    srgb = torch.from_numpy(photo).permute(2, 0, 1).float() / 255.0
    result = unprocess(srgb, camera_profiles()["mediatek_10bit"], torch.Generator().manual_seed(0))
    mosaic = unpack_bayer(result.packed_counts)[0].numpy().astype(np.uint16)
    ASSETS.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mosaic).save(ASSETS / "sample_raw.png")
    Image.fromarray(photo).save(ASSETS / "sample_srgb.png")
    print(ASSETS / "sample_raw.png", mosaic.shape, mosaic.dtype, int(mosaic.min()), int(mosaic.max()))


if __name__ == "__main__":
    main()
