"""BVTON's card prose: the method as built here, what is inferred (no official code), and what the measurement shows."""

from __future__ import annotations

from typing import Any

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

METHOD = """## Method as built here (no official code exists)

BVTON (arXiv 2411.01593) has no released code or weights; only the abstract and introduction could be read. The
"official code" link above is HR-VITON, the anchor whose condition generator and image generator this follows, not
BVTON's. This package composes the paper's three stages from their public anchors:

1. **Compositional canonicalizing flow** (stage 1): one coarse-to-fine flow network per garment part (torso, right
   sleeve, left sleeve), GP-VTON's local flows run in reverse, warps the on-model part into the in-shop frame; the
   warped parts are composed with their warped masks into the **canonical proxy**. Paired samples: L1 + VGG on the
   proxy and L1 on its mask against the visible in-shop garment, TV on the flows. Unpaired samples: a cycle through
   the forward warp (the condition generator's flow, trained on the paired samples in the same stage with HR-VITON's
   10 L1 mask + VGG + 2 TV, and held fixed on the cycle term): proxy -> forward warp -> the person's garment.
2. **Layered mask generation** (stage 2): HR-VITON's try-on condition generator (garment and person pyramids, one
   flow cascade, a segmentation decoder) predicts the layout with its occlusion order; HR-VITON's losses (10 CE,
   10 L1 on the warped mask after removing what the layout puts over it, VGG, 2 TV, LSGAN with a multi-scale
   PatchGAN). BVTON trains it on canonical proxies instead of in-shop garments (`use_proxy`).
3. **Unpaired synthesizer** (stage 3): a SPADE generator with ALIAS's misalignment channel, trained on pseudo pairs:
   the person's own garment after a random affine + sine-bend misalignment, the person's layout, and the person as
   the target; hinge GAN + 10 feature matching + 10 VGG (HR-VITON's image generator), multi-scale D with spectral norm.

Inferred, because no code confirms it: the per-part split (the doll's exact part maps; for real photographs the arm
keypoints), the cycle through the stage-1 forward warp, that every stage-2 sample uses a proxy, the misalignment
ranges (8 degrees, 10 % scale, 8 % shift, 3 % bend), the pyramid depths, and all widths of the paper preset.
Inference: `predict(person, garment, parsing=..., pose=...)`; the parsing (8 classes, or VITON-HD CIHP PNGs) and
OpenPose keypoints are required and a missing one is refused by name, since no parser or pose estimator ships here.
"""

TINY = """## The tiny checkpoint

Trained here on CPU on synthetic **paper dolls** (`zoo.data.tryon`): bodies from ellipses and capsules, textured
T-shirts with torso and sleeve parts put on by per-part smooth warps with analytic inverses, occluded by arms and
tucked or untucked trousers. Paired dolls and unpaired on-model dolls are different bodies. The VGG-19 and the
LPIPS AlexNet are frozen random-init networks (no pretrained weights offline), so LPIPS is a random-feature LPIPS
and comparable only between the rows here. FID / KID use the feature network named in the evaluation description.
The table's rows: the **paired-only baseline** (condition generator on in-shop garments, synthesizer on the
stage-2-warped in-shop garments of the paired dolls only), **BVTON without the canonical proxy** (condition
generator on in-shop garments, pseudo-pair synthesizer on all dolls) and **BVTON** (this checkpoint).
"""


def _claim(record: CheckpointRecord) -> str:
    base = next((v for k, v in record.baselines.items() if k.startswith("paired-only")), None)
    noproxy = next((v for k, v in record.baselines.items() if "without" in k), None)
    if not base or not noproxy:
        return ""
    m = record.metrics

    def wins(a: dict, b: dict) -> list[str]:
        return [k for k in ("ssim",) if a[k] > b[k]] + [k for k in ("lpips", "fid", "kid") if k in a and a[k] < b[k]]

    def verdict(a: dict, b: dict) -> str:
        won = wins(a, b)
        return f"better on {', '.join(won)}" if won else "better on none"

    def holds(claim: str, a: dict, b: dict) -> str:
        won, lost = wins(a, b), [k for k in ("ssim", "lpips", "fid", "kid") if k in a and k not in wins(a, b)]
        if not lost:
            return f"- {claim}: **holds** here, on all four metrics."
        if not won:
            return f"- {claim}: **does not hold** here, on any of the four metrics."
        return f"- {claim}: **holds only in part** here: on {', '.join(won)}, not on {', '.join(lost)}."

    lines = [
        "## The paper's claim in small",
        "",
        f"- BVTON vs the paired-only baseline: {verdict(m, base)} (SSIM {m['ssim']:.4f} vs {base['ssim']:.4f}, "
        f"LPIPS {m['lpips']:.4f} vs {base['lpips']:.4f}, FID {m['fid']:.2f} vs {base['fid']:.2f}, KID {m['kid']:.4f} vs {base['kid']:.4f}).",
        f"- The canonical proxy (BVTON vs BVTON without it): {verdict(m, noproxy)} (SSIM {m['ssim']:.4f} vs {noproxy['ssim']:.4f}, "
        f"LPIPS {m['lpips']:.4f} vs {noproxy['lpips']:.4f}, FID {m['fid']:.2f} vs {noproxy['fid']:.2f}, KID {m['kid']:.4f} vs {noproxy['kid']:.4f}).",
        "",
        holds("BVTON beats the paired-only baseline", m, base),
        holds("The canonical proxy helps", m, noproxy),
        "",
        "One training run per row (seed 0) on 64 held-out dolls; no seed-to-seed spread was measured, so small "
        "differences between the rows may not be significant. KID is the unbiased estimate, which falls below zero when "
        "two sets are indistinguishable at this sample size. Minutes of CPU training at 64x48 are far from the paper's setting; the "
        "figures above are what was measured.",
    ]
    steps, seconds = getattr(record, "stage_steps", {}), getattr(record, "stage_seconds", {})
    if steps:
        runs = ", ".join(f"{k} {steps[k]} optimiser steps ({seconds.get(k, 0):.0f} s)" for k in steps)
        lines += ["", f"Runs (LightningCLI global steps: generator + discriminator steps for stages 2 and 3): {runs}. These are tiny "
                  "budgets (HR-VITON trains each generator for hundreds of thousands of steps), set by the shared CPU this was "
                  "trained on; the ranking of the rows can change with more training."]
    if "layout_acc" in m and "layout_acc" in noproxy:
        lines += ["", f"Layout (stage 2): pixel accuracy of the predicted layout of a person in its own garment against the exact "
                  f"parsing, {m['layout_acc']:.3f} with the condition generator trained on canonical proxies (BVTON) and "
                  f"{noproxy['layout_acc']:.3f} with the one trained on in-shop garments (the other two rows)."]
    curves = getattr(record, "step_curves", {})
    for run, label in (("stage3", "BVTON's synthesizer"), ("baseline", "the paired-only baseline's")):
        c = curves.get(run)
        if c and c.get("generator_steps"):
            points = ", ".join(f"{int(g)}: {a:.4f} / {b:.4f}" for g, a, b in zip(c["generator_steps"], c["ssim"], c["lpips"]))
            lines += ["", f"Held-out SSIM / LPIPS of {label} by generator step ({points})."]
    losses = getattr(record, "loss_curves", {})
    if losses:
        quarters = "; ".join(f"{k} " + " -> ".join(f"{v:.4g}" for v in values) for k, values in losses.items() if values)
        lines += ["", f"Generator losses, mean of each quarter of the run (a run's name alone: its weighted total; with a "
                  f"term: that term unweighted): {quarters}. In stages 2 and 3 the total includes the adversarial terms, "
                  "which rise as the discriminator learns, while the reconstruction terms fall or level off."]
    proxy = getattr(record, "proxy_metrics", {})
    if proxy:
        lines += ["", f"Stage 1 on held-out dolls: proxy L1 {proxy.get('proxy_l1', float('nan')):.4f} against the visible in-shop garment "
                  f"(no warp: {proxy.get('proxy_l1_identity', float('nan')):.4f}); flow end-point error {proxy.get('flow_epe', float('nan')):.2f} px "
                  f"against the doll's analytic flows (no warp: {proxy.get('flow_epe_identity', float('nan')):.2f} px)."]
    return "\n".join(lines) + "\n"


def card_notes(spec: ModelSpec, config: Any, record: CheckpointRecord | None) -> str:
    """Markdown for a BVTON card.

    Args:
        spec: the model's spec.
        config: its ``BVTONConfig``.
        record: the measured record (None: no shipped checkpoint).

    Returns:
        The method, the tiny checkpoint's data and rows, and the claim as measured.
    """
    if record is None:
        return METHOD
    return METHOD + "\n" + TINY + "\n" + _claim(record)
