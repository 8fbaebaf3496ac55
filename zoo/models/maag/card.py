"""MAAG's card prose: the four-row Dice table, the claim in small, the method and the differences from the code."""

from __future__ import annotations

from typing import Any

from zoo.registry import ModelSpec

METRICS = (("dice_lv", "LV"), ("dice_myo", "MYO"), ("dice_rv", "RV"), ("dice_mean", "mean"))


def _results(record: Any) -> str:
    from zoo.models.maag.specs import ROWS

    rows_data = {**record.baselines, ROWS[-1]: record.metrics}
    lines = ["| model | " + " | ".join(f"Dice {label}" for _, label in METRICS) + " | train steps | train seconds |", "|---|" + "---|" * (len(METRICS) + 2)]
    for name in ROWS:
        values = rows_data[name]
        lines.append(f"| {name} | " + " | ".join(f"{values[key]:.3f}" for key, _ in METRICS)
                     + f" | {record.row_steps.get(name, 0)} | {record.row_seconds.get(name, 0.0):.0f} |")
    full, scribbles, prior = (record.baselines[name]["dice_mean"] for name in ROWS[:3])
    maag = record.metrics["dice_mean"]
    beats = "beats" if maag > scribbles else "does not beat"
    gap = full - maag
    prior_note = "above" if maag > prior else "not above"
    claim = (f"The paper's claim in small: MAAG {beats} scribbles alone ({maag:.3f} vs {scribbles:.3f} mean Dice) and is "
             f"{gap:.3f} below the full-mask upper bound ({full:.3f}); it is {prior_note} the single-scale mask prior without "
             f"attention gates ({prior:.3f}).")
    if maag <= scribbles:
        claim += " At this size and training length the claim does not hold."
    return f"""## Results on held-out phantoms ({record.eval_dataset.num_samples} slices)
{chr(10).join(lines)}

{claim} All four rows share the recipe (architecture width, data, schedule, seed); only the supervision, the
adversarial prior and the attention gates differ. The baselines are not shipped. Steps are grouped updates
(one supervised + adversarial step each); seconds are wall-clock on a shared CPU."""


def card_notes(spec: ModelSpec, config: Any, record: Any | None) -> str:
    """Markdown for the card of a MAAG model.

    Args:
        spec: the model's spec.
        config: its ``MAAGConfig``.
        record: the measured record (None: nothing shipped for this preset).

    Returns:
        The results (with a record), the method, the official checkpoints and the differences from the official code.
    """
    cfg = config
    gates = "with attention gates" if cfg.attention_gates else "without attention gates (plain UNet)"
    results = "" if record is None else _results(record) + "\n\n"
    trained = "" if record is None else (
        f"The shipped weights were trained with `{record.recipe}` on synthetic short-axis phantoms "
        f"({cfg.input_size} px, `zoo.data.cardiac_phantoms`: LV pool, myocardium ring and RV crescent with a smooth "
        "deformation, bias field, blur and Rician noise; scribbles from the official generators' two ideas, a skeleton "
        "of each eroded structure or a random walk inside it, plus a background ring around the heart).\n\n")
    return f"""{results}## Method
{trained}SAUNet ({gates}): {cfg.n_filters} filters doubling over 4 levels of [conv3 + BN + ReLU] x 2 and max-pool, a
1x1 bottleneck of {16 * cfg.n_filters}, and decoder levels of nearest-neighbour upsampling + conv3 + BN (no
activation), concatenation with the skip, two conv3 + BN + ReLU (c2, c3); each attention gate outputs
c3 * sum_(k>=1) softmax(conv1x1(c2))_k. The multi-resolution discriminator ({cfg.d_filters} filters, spectral-norm
convs with tanh, one linear LSGAN score) sees the softmax foreground maps at full size and the attention maps at 1/2,
1/4 and 1/8; real masks are unpaired one-hot masks resized (bilinear) to every level. Training as the official code:
WPCE on the scribbled pixels with per-batch weights n_tot / n_c; adv_disc = 0.5 E(D(real)-1)^2 + 0.5 E(D(fake)+1)^2
on unlabelled images, adv_gen = 0.5 E(D(fake)-1)^2, both at w_adv {cfg.w_adv:g}; sup_loss = w_dyn WPCE +
{cfg.w_sup_disc:g} sup_disc with w_dyn = |stopgrad(sup_disc / WPCE)|; instance noise N(0, {cfg.instance_noise:g}) on
D's input and score flips with p {cfg.label_flip:g}; Adam (peak {cfg.g_lr:g}) with the official cyclic rate
(triangle from {cfg.lr_min:g}, half-period {cfg.clr_half_period} epochs) divided by 1 + {cfg.lr_decay:g} epoch; the
official augmentation (rotation +-90 deg, translation +-10 %, brightness, contrast, noise 0.02).

`predict` takes a 2-D slice, a 3-D volume array, a NIfTI file or a nibabel image (raw intensities: clipped to the 5th-95th
percentiles and standardised by median and IQR per volume, as the official preprocessing), resamples NIfTI volumes to
{cfg.pixel_spacing:g} mm in-plane from their header, and returns labels 0 BG, 1 RV, 2 MYO, 3 LV of the input's
geometry (`zoo predict {spec.name} volume.nii.gz -o mask.nii.gz` keeps the affine).

## Official checkpoints
No weights are released. `zoo.load("{spec.name}", weights="model.npz", official=True)` reads a TF checkpoint of the
official code (with `tensorflow` installed: the `checkpoint-<step>` prefix or its folder; otherwise a name -> array
`.npz` export of it): kernels HWIO -> OIHW, batch-norm gamma/beta/moving statistics, and the discriminator (its
spectral-norm `u` after one power iteration) for further training. Filters, classes, gates and the training size are
read from the shapes. The parity test checks the segmentor against a NHWC reference forward written from the TF
semantics ('same' padding, BN epsilon 1e-3).

## Differences from the official code
- The official rate is a cyclic triangle: `cyclic_learning_rate(..., learning_rate=FLAGS.lr // 10, max_lr=FLAGS.lr)`
  where `1e-4 // 10` is 0.0, so it runs from 0 to 1e-4 and back every 40 epochs (epoch 0 has rate 0), divided by
  1 + 1e-4 epoch; the paper and the research note give only the decay. Here the code's schedule is kept.
- The official `sup_loss` is minimised over all variables, D's included, and its `sup_disc` term pushes the scribbled
  images' predictions towards D's "fake" side; the code is followed. The three grouped official updates (D step, G
  adversarial step, supervised step) take their gradients at the same point and apply in that order (TF leaves the
  order of the supervised step free); the generator Adam is shared by the last two, as officially, but keeps PyTorch's
  per-parameter bias correction (TF's Adam shares one beta power per optimiser and puts epsilon outside the correction).
- Augmentation draws one transform per slice (official: one per patient volume); kornia's warp replaces
  `tf.contrib.image`.
- ACDC slices are resized with torch (bicubic, a = -0.75 as OpenCV's INTER_CUBIC; nearest) instead of `cv2.resize`.
- The official run keeps the best validation checkpoint after epoch 225 (early stopping on Dice); the recipes
  checkpoint every epoch (`paper.yaml` monitors `val/dice_mean`). Dice here is per slice (the ACDC challenge's is
  per volume).

## Data
`recipes/{spec.name}/paper.yaml` reads ACDC with `zoo.data.acdc.ACDCScribbleDataModule` (1.51 mm, 224 x 224, the
official perc25 split0 patients; the expert scribbles are the official repository's `DATA/acdc_scribbles.zip`).
`tiny.yaml` trains on `zoo.data.cardiac_phantoms.CardiacPhantomDataModule` (no download): scribbled, unlabelled and
unpaired-mask streams from separate seeds."""
