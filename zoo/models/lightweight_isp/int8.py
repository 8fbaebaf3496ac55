"""int8 inference of the ISP generators (the paper targets phones): :func:`zoo.ops.quantize.int8_inference` on the
generator, calibrated on synthetic training crops (never the held-out photographs the card evaluates on).

    import zoo
    from zoo.models.lightweight_isp.int8 import int8_generator
    isp = zoo.load("lightweight_isp_efficient")
    fast = int8_generator(isp)                    # generator input (isp.raw_to_net_input(packed)) -> sRGB
    with torch.no_grad():
        rgb = fast(isp.raw_to_net_input(packed))

Its accuracy cost (PSNR of int8 against fp32 on the held-out set) and speed are on ``docs/isp_int8.md``
(``python tools/isp_int8.py``). It is not the default path: see that page for why.
"""

from __future__ import annotations

from typing import Callable

import torch

CALIBRATION_SAMPLES = 32
"""Training crops the activation ranges are estimated on."""


def calibration_batches(model, samples: int = CALIBRATION_SAMPLES, crop: int = 64, seed: int = 0) -> list[torch.Tensor]:
    """``samples`` synthetic RAW crops of the *training* photographs, in the generator's input layout, as one batch.

    Args:
        model: a :class:`~zoo.models.lightweight_isp.module.LightweightISP`.
        samples: how many crops.
        crop: their sRGB side (the packed RAW is half).
        seed: the data's seed.
    """
    from zoo.data.raw_datamodule import TRAIN_PHOTOS, SyntheticRawDataset

    data = SyntheticRawDataset(TRAIN_PHOTOS, samples, crop, paired=True, augment=True, seed=seed)
    packed = torch.stack([data[i]["raw"] for i in range(samples)]).to(model.device)
    return [model.raw_to_net_input(packed)]


def int8_generator(model, calibration: list | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model's generator quantised to int8 (x86 oneDNN kernels through Inductor), any batch and image size.

    Args:
        model: a :class:`~zoo.models.lightweight_isp.module.LightweightISP` (its weights final).
        calibration: generator inputs to estimate activation ranges on (default :func:`calibration_batches`).

    Returns:
        A callable: generator input (see ``raw_to_net_input``) -> sRGB, like ``model.inference_net``; call it under
        ``torch.no_grad()``.
    """
    from zoo.ops.quantize import int8_inference

    return int8_inference(model.inference_net.eval(), calibration or calibration_batches(model))


def held_out_psnr(model, fast: Callable, samples: int = 64, batch_size: int = 16) -> dict[str, float]:
    """PSNR of ``fast``'s outputs against the fp32 generator's (both clamped to [0, 1]) and against the ground truth,
    on the held-out set the card evaluates on (the data module of the model's tiny recipe: ``samples`` 64 px crops of
    the held-out photographs).

    Returns:
        ``{"int8_vs_fp32_db", "int8_vs_fp32_min_db"`` (worst sample), ``"fp32_vs_gt_db", "int8_vs_gt_db"}`` (means over
        samples of per-sample PSNR).
    """
    from torchmetrics.functional.image import peak_signal_noise_ratio as psnr

    from zoo.data.raw_datamodule import SyntheticRawDataModule

    data = SyntheticRawDataModule(crop=64, eval_length=samples, seed=0)
    data.setup("test")
    vs_fp32, fp32_gt, int8_gt = [], [], []
    with torch.no_grad():
        for batch in data.test_dataloader():
            x, gt = model.raw_to_net_input(batch["raw"].to(model.device)), batch["gt"].to(model.device)
            ref, out = model.inference_net(x).clamp(0, 1), fast(x).clamp(0, 1)
            per_sample = dict(data_range=1.0, dim=(1, 2, 3), reduction="none")
            vs_fp32.append(psnr(out, ref, **per_sample))
            fp32_gt.append(psnr(ref, gt, **per_sample))
            int8_gt.append(psnr(out, gt, **per_sample))
    vs_fp32, fp32_gt, int8_gt = (torch.cat(v) for v in (vs_fp32, fp32_gt, int8_gt))
    return {
        "int8_vs_fp32_db": float(vs_fp32.mean()), "int8_vs_fp32_min_db": float(vs_fp32.min()),
        "fp32_vs_gt_db": float(fp32_gt.mean()), "int8_vs_gt_db": float(int8_gt.mean()),
    }
