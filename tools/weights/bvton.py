"""How ``tools/make_weights.py bvton_tiny`` makes the shipped checkpoint and its card.

Five recipe runs (recipes/bvton_tiny/), each from the previous one's weights:

- ``stage1`` (stage1_tiny.yaml): the canonicalizing flow and the paired forward warp;
- ``stage2`` (stage2_tiny.yaml): the condition generator on canonical proxies;   ``stage2_noproxy``: on in-shop garments;
- ``stage3`` (tiny.yaml): the pseudo-pair synthesizer, from ``stage2``: **the shipped BVTON**;
- ``baseline`` (baseline_tiny.yaml): the paired-only synthesizer, from ``stage2_noproxy``.

The row "BVTON without the canonical proxy" is ``stage3``'s network with ``stage2_noproxy``'s condition generator.
Evaluation on held-out paper dolls (bodies never trained on) dressed in another held-out doll's garment, against the
exact image of that body wearing it: SSIM, LPIPS, FID and KID (features: a small CNN trained here on other dolls),
and SSIM of the paired reconstruction; stage 1's proxy L1 and flow end-point error against the analytic flows.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file, save_file

from weights.common import device_name, fit_or_restore
from zoo.core.files import BEFORE_AFTER_NAME
from zoo.core.progress import progress
from zoo.records import EvalDataset

RUN_DIR = Path("outputs/bvton_tiny")
RECIPES = Path("recipes/bvton_tiny")
RUNS = (  # name, recipe, the run whose weights it starts from
    ("stage1", "stage1_tiny.yaml", None),
    ("stage2", "stage2_tiny.yaml", "stage1"),
    ("stage2_noproxy", "stage2_noproxy_tiny.yaml", "stage1"),
    ("stage3", "tiny.yaml", "stage2"),
    ("baseline", "baseline_tiny.yaml", "stage2_noproxy"),
)
EVAL_SEED, EVAL_COUNT, FEATURE_SEED, FEATURE_COUNT = 200_000, 64, 300_000, 256
INCEPTION_ENV = "ZOO_FID_INCEPTION"
"""Environment variable naming a local FID Inception weights file: then FID / KID are the standard ones."""
ROWS = {
    "bvton": "BVTON (this checkpoint)",
    "noproxy": "BVTON without the canonical proxy (condition generator on in-shop garments of the 64 paired dolls)",
    "baseline": "paired-only baseline (no canonical proxy, no pseudo pairs: the synthesizer on stage-2-warped in-shop garments of the 64 paired dolls)",
}
PALETTE = np.array([[255, 255, 255], [230, 180, 140], [220, 40, 40], [40, 60, 200], [240, 200, 40], [40, 190, 90], [120, 80, 160], [250, 140, 200]], np.uint8)


TERMS = {"stage1": ("l1", "mask"), "stage2": ("ce", "mask"), "stage2_noproxy": ("ce", "mask"), "stage3": ("vgg", "fm", "gan"), "baseline": ("vgg", "fm", "gan")}
"""The terms whose curves the card shows besides each run's total: the reconstruction terms, and stage 3's adversarial ones."""


def _loss_curves(runs) -> dict[str, list[float]]:
    """Each run's total (``name``) and :data:`TERMS` (``"name term"``) curves (:func:`_loss_curve`)."""
    curves = {}
    for name in runs:
        curves[name] = _loss_curve(name)
        curves.update({f"{name} {term}": _loss_curve(name, term=term) for term in TERMS.get(name, ())})
    return curves


def _loss_curve(name: str, parts: int = 4, term: str = "total") -> list[float]:
    """A logged generator term ``g/<term>_step`` of a run (its CSV logs), averaged over each of ``parts`` equal
    stretches of training: whether it still falls at the end."""
    values, key = [], f"g/{term}_step"
    for path in sorted((RUN_DIR / name).glob("version_*/metrics.csv")):
        with open(path) as f:
            values += [float(r[key]) for r in csv.DictReader(f) if r.get(key)]
    if len(values) < parts:
        return [round(v, 5) for v in values]
    size = len(values) // parts
    return [round(sum(values[i * size : (i + 1) * size]) / size, 5) for i in range(parts)]


@torch.no_grad()
def _step_curve(name: str, batches, lpips) -> dict[str, list[float]]:
    """Held-out SSIM / LPIPS of a synthesizer run at each checkpoint it kept (``save_top_k: -1``), by generator step."""
    import zoo
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    model, curve = zoo.create("bvton_tiny"), {"generator_steps": [], "ssim": [], "lpips": []}
    kept = [p for p in (RUN_DIR / name / "checkpoints").glob("*step=*.ckpt") if "-v" not in p.stem]
    for path in progress(sorted(kept, key=lambda p: int(p.stem.rsplit("step=", 1)[-1])), f"{name} by step", unit="checkpoint"):
        state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
        model.load_net_state({k[len("net.") :]: v for k, v in state.items() if k.startswith("net.")})
        model.eval()
        fake = torch.cat([model.tryon_batch(b, "swap_garment")["image"].clamp(0, 1) for b in batches])
        real = torch.cat([b["swap_person"] for b in batches])
        curve["generator_steps"].append(float(state["generator_steps"]))
        curve["ssim"].append(round(float(ssim(fake, real, data_range=1.0)), 5))
        curve["lpips"].append(round(float(lpips(fake, real).mean()), 5))
    return curve


def _fit_all(ckpt: str | None, overrides: list[str]) -> dict:
    runs = {}
    for name, recipe, init in RUNS:
        extra = [f"--model.init_args.config.init_weights={RUN_DIR / init / 'model.safetensors'}"] if init else []
        run = fit_or_restore(RECIPES / recipe, [*extra, *(overrides if name == "stage3" else [])], ckpt)
        run.model.save_pretrained(RUN_DIR / name, card=False, manifest=False)
        runs[name] = run
    return runs


def _eval_batches(batch_size: int = 16) -> list[dict[str, torch.Tensor]]:
    from torch.utils.data import DataLoader

    from zoo.data.tryon import PaperDollDataset

    return list(DataLoader(PaperDollDataset(EVAL_COUNT, (64, 48), EVAL_SEED, paired=True, swap=True), batch_size=batch_size))


def _feature_network():
    """The FID / KID feature network: the standard FID Inception-v3 when ``ZOO_FID_INCEPTION`` names its weights file
    (torch-fidelity's ``pt_inception-2015-12-05-6726825d.pth``), else a SmallFeatureNet trained to tell the texture and
    the dressing style of other dolls (offline: no Inception weights ship with any package)."""
    from zoo.data.tryon import render_doll
    from zoo.metrics.fid import inception_network, small_network, train_feature_network

    if os.environ.get(INCEPTION_ENV):
        return inception_network(os.environ[INCEPTION_ENV])

    dolls = [render_doll(FEATURE_SEED + i, size=(64, 48)) for i in range(FEATURE_COUNT)]
    images = torch.stack([torch.from_numpy(d["person"]).permute(2, 0, 1) for d in dolls])
    labels = torch.tensor([int(d["texture"]) * 2 + int(d["tucked"]) for d in dolls])
    net = train_feature_network(images, labels, steps=200, seed=0)
    return small_network(net, f"{FEATURE_COUNT} other paper dolls (texture x dressing style, 6 classes, 200 Adam steps)")


@torch.no_grad()
def _score(model, batches, features, lpips) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    from zoo.metrics.fid import fid_kid

    model.eval()
    swaps, owns, outs, hits = [], [], {"layout": [], "image": []}, []
    for batch in progress(batches, "try-on", unit="batch"):
        swap = model.tryon_batch(batch, "swap_garment")
        swaps.append(swap["image"].clamp(0, 1))
        outs["layout"].append(swap["layout"].argmax(1))
        own = model.tryon_batch(batch, "garment")
        owns.append(own["image"].clamp(0, 1))
        hits.append((own["logits"].argmax(1) == batch["parsing"]).float().flatten(1).mean(1))
    fake, own = torch.cat(swaps), torch.cat(owns)
    real, person = torch.cat([b["swap_person"] for b in batches]), torch.cat([b["person"] for b in batches])
    scores = {
        "ssim": float(ssim(fake, real, data_range=1.0)), "lpips": float(lpips(fake, real).mean()),
        **{k: v for k, v in fid_kid(real, fake, features, kid_subset_size=32).items() if k != "kid_std"},
        "ssim_paired": float(ssim(own, person, data_range=1.0)),
        "layout_acc": float(torch.cat(hits).mean()),
    }
    return scores, {"image": fake, "layout": torch.cat(outs["layout"])}


@torch.no_grad()
def _proxy_metrics(model, batches) -> tuple[dict[str, float], torch.Tensor]:
    """Stage 1 on held-out dolls: the proxy's L1 against the visible in-shop garment and the flows' end-point error
    against the analytic ones, each beside the no-warp value."""
    from zoo.models.bvton.conditioning import UPPER, pose_maps
    from zoo.data.tryon import PaperDollDataset

    data = PaperDollDataset(EVAL_COUNT, (64, 48), EVAL_SEED, paired=True, references=True)
    l1 = l1_id = epe = epe_id = count = 0.0
    proxies = []
    for start in progress(range(0, EVAL_COUNT, 16), "proxy metrics", unit="batch"):
        items = [data[i] for i in range(start, min(start + 16, EVAL_COUNT))]
        b = {k: torch.stack([it[k] for it in items]) for k in items[0]}
        garment = b["person"] * (b["parsing"] == UPPER)[:, None]
        out = model.inference_net.canonicalize(garment, b["onmodel_parts"], pose_maps(b["keypoints"], (64, 48)))
        vis = b["garment_visible"]
        target = b["garment"] * vis + (1 - vis)
        union = b["onmodel_parts"].sum(1, keepdim=True).clamp(0, 1)
        l1 += float((out["proxy"] - target).abs().mean((1, 2, 3)).sum())
        l1_id += float((garment * union + (1 - union) - target).abs().mean((1, 2, 3)).sum())
        mask = b["inshop_parts"] * vis  # (N, 3, H, W): each part's visible in-shop pixels
        err = (out["flows"] - b["part_flows"]).norm(dim=2)
        epe += float((err * mask).sum())
        epe_id += float((b["part_flows"].norm(dim=2) * mask).sum())
        count += float(mask.sum())
        proxies.append(out["proxy"])
    n = float(EVAL_COUNT)
    return {"proxy_l1": l1 / n, "proxy_l1_identity": l1_id / n, "flow_epe": epe / count, "flow_epe_identity": epe_id / count}, torch.cat(proxies)


def _grid(batches, proxies, rows: dict[str, dict[str, torch.Tensor]], path: Path, count: int = 4) -> None:
    """person | garment | canonical proxy (of the person's own garment) | layout | BVTON | paired-only | ground truth."""
    first = {k: torch.cat([b[k] for b in batches])[:count] for k in ("person", "swap_garment", "swap_person")}

    def rgb(t: torch.Tensor) -> np.ndarray:
        return (t.permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)

    columns = [
        ("person", [rgb(t) for t in first["person"]]), ("garment", [rgb(t) for t in first["swap_garment"]]),
        ("proxy (own)", [rgb(t) for t in proxies[:count]]), ("layout", [PALETTE[l.numpy()] for l in rows["bvton"]["layout"][:count]]),
        ("BVTON", [rgb(t) for t in rows["bvton"]["image"][:count]]), ("paired-only", [rgb(t) for t in rows["baseline"]["image"][:count]]),
        ("ground truth", [rgb(t) for t in first["swap_person"]]),
    ]
    scale, (h, w) = 3, first["person"].shape[-2:]
    tile_w, tile_h = w * scale, h * scale
    canvas = Image.new("RGB", (len(columns) * (tile_w + 4), count * (tile_h + 4) + 14), "white")
    draw = ImageDraw.Draw(canvas)
    for c, (label, tiles) in enumerate(columns):
        draw.text((c * (tile_w + 4) + 2, 1), label, fill="black")
        for r, tile in enumerate(tiles):
            canvas.paste(Image.fromarray(tile).resize((tile_w, tile_h), Image.NEAREST), (c * (tile_w + 4), 14 + r * (tile_h + 4)))
    canvas.save(path)


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]):
    """Train the five runs, write ``out_dir`` (the shipped BVTON, its before/after grid, the FID feature network) and
    return the measured record."""
    import zoo
    from zoo.hub import load
    from zoo.metrics.video import LPIPS
    from zoo.models.bvton.specs import BVTONRecord

    if ckpt not in (None, "last"):
        raise ValueError(f"bvton_tiny: --ckpt expected 'last' (resume or reuse each of the five runs), received {ckpt!r}")
    runs = _fit_all(ckpt, overrides)
    runs["stage3"].model.save_pretrained(out_dir, card=False, manifest=False)
    model = load(spec.name, weights=out_dir)
    shipped = load_file(str(out_dir / "model.safetensors"))
    noproxy_layout = load_file(str(RUN_DIR / "stage2_noproxy" / "model.safetensors"))
    nets = {"bvton": model, "noproxy": zoo.create(spec.name), "baseline": zoo.create(spec.name)}
    nets["noproxy"].load_net_state({k: (noproxy_layout[k] if k.startswith("layout.") else v) for k, v in shipped.items()})
    nets["baseline"].load_net_state(load_file(str(RUN_DIR / "baseline" / "model.safetensors")))

    batches = _eval_batches()
    features, lpips = _feature_network(), LPIPS()
    if not os.environ.get(INCEPTION_ENV):  # the small network is trained here: ship it so the figures can be re-measured
        save_file({k: v.contiguous() for k, v in features.module.state_dict().items()}, str(out_dir / "fid_features.safetensors"))
    scores, outputs = {}, {}
    for key, net in progress(nets.items(), "try-on rows", total=len(nets), unit="row"):
        scores[key], outputs[key] = _score(net, batches, features, lpips)
    proxy, proxies = _proxy_metrics(model, batches)
    _grid(batches, proxies, outputs, out_dir / BEFORE_AFTER_NAME)
    return BVTONRecord(
        num_params=model.num_params(),
        metrics=scores["bvton"],
        baselines={ROWS[k]: scores[k] for k in ("baseline", "noproxy")},
        eval_dataset=EvalDataset(
            name="held-out paper dolls, swapped garments",
            type="zoo-paper-dolls",
            split="test",
            num_samples=EVAL_COUNT,
            description=(
                f"{EVAL_COUNT} paper dolls at 64x48 (body seeds {EVAL_SEED}..{EVAL_SEED + EVAL_COUNT - 1}, never trained on), each "
                "dressed in the next doll's in-shop garment; the reference is the exact render of that body wearing it. SSIM "
                "(torchmetrics, 11x11 Gaussian) and LPIPS (" + lpips.kind + ") against it; FID and KID (torchmetrics; KID subsets "
                "of 32, 100 subsets) of the try-ons against the references, with features from " + features.kind + ("" if os.environ.get(INCEPTION_ENV) else " (saved as "
                "fid_features.safetensors)") + "; ssim_paired: the person re-dressed in its own garment. Lower is better for LPIPS, FID, KID."
            ),
        ),
        eval_command=f"python tools/make_weights.py {spec.name}" + (" --ckpt last" if ckpt else ""),
        train_dataset="zoo-paper-dolls: 64 paired dolls + 512 unpaired on-model dolls of other bodies (64x48)",
        recipe="recipes/bvton_tiny/tiny.yaml (stage 3; stages 1-2: stage1_tiny.yaml, stage2_tiny.yaml)",
        train_steps=sum(r.steps for r in runs.values()),
        train_seconds=sum(r.seconds for r in runs.values()),
        train_device=device_name(),
        stage_seconds={k: round(r.seconds, 1) for k, r in runs.items()},
        stage_steps={k: r.steps for k, r in runs.items()},
        proxy_metrics=proxy,
        loss_curves=_loss_curves(runs),
        step_curves={k: _step_curve(k, batches, lpips) for k in ("stage3", "baseline")},
        feature_network=features.kind,
    )
