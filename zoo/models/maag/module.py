"""MAAG: segmentation from scribbles with multi-scale adversarial attention gates (Valvano, Leo, Tsaftaris; TMI 2021).

Train (CPU, minutes; the official ACDC setting in ``paper.yaml``)::

    zoo train recipes/maag/tiny.yaml

Training as the official ``experiments/acdc/model.py``: every step runs SAUNet on a batch of scribbled images and on
a batch of unlabelled images, and the multi-resolution discriminator D on unpaired real masks and on both batches'
multi-scale foreground maps (instance noise N(0, 0.2) on D's full-size input, D's score negated with p 0.1). Losses:

- ``WPCE``: weighted partial cross-entropy on the scribbled pixels, class weights n_tot / n_c of the batch;
- ``adv_disc = 0.5 E(D(real) - 1)^2 + 0.5 E(D(fake_unlabelled) + 1)^2``, ``adv_gen = 0.5 E(D(fake_unlabelled) - 1)^2``;
- ``sup_disc``: ``adv_disc`` with the scribbled batch's maps as fakes;
- ``sup_loss = w_dyn * WPCE + 0.1 * sup_disc`` with ``w_dyn = |stopgrad(sup_disc / WPCE)|``.

One grouped update (:meth:`~zoo.core.adversarial.AdversarialModule.grouped_step`, the official ``tf.group``): D's
Adam on ``0.2 adv_disc`` (D's variables), then the generator Adam on ``0.2 adv_gen`` (G's variables) and on
``sup_loss`` (all variables, D's included, as the official ``gen_optimizer.minimize(sup_loss)``), every gradient
taken at the step's starting point. Adam 1e-4; per epoch e the rate is the official cyclic triangle (0 to 1e-4 and
back, half-period 20 epochs) divided by ``1 + 1e-4 e``.

``supervision="masks"``, ``adversarial=False`` and ``attention_gates=False`` give the card's baselines (full-mask
UNet, scribbles only, scribbles + a single-scale mask prior).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from zoo.core import checks
from zoo.core.adversarial import AdversarialConfig, AdversarialModule
from zoo.core.tiling import pad_to_multiple
from zoo.data.acdc import load_nifti, standardize_and_clip
from zoo.losses.adversarial import least_squares_loss
from zoo.losses.partial import weighted_partial_cross_entropy
from zoo.models.maag.augment import augment_masks, augment_pair
from zoo.models.maag.discriminator import MultiResDiscriminator
from zoo.models.maag.model import DEPTH, SAUNet

CLASS_NAMES = ("background", "RV", "MYO", "LV")
"""ACDC's label order (the official one-hot channels)."""
SUPERVISION = ("scribbles", "masks")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
MAX_PREDICT_VALUES = 2**27
"""The most voxels one ``predict`` call takes (134 M: e.g. 60 slices of 1,500 x 1,500)."""
PREDICT_CHUNK = 16
"""Slices per forward pass in ``predict``."""


@dataclasses.dataclass
class MAAGConfig(AdversarialConfig):
    """Configuration of :class:`MAAG` (defaults: the official ACDC experiment).

    Args:
        g_lr, d_lr: Adam learning rates, the peak of the cyclic schedule (official ``--lr`` 1e-4).
        g_betas, d_betas: Adam betas (TF's defaults, 0.9 and 0.999).
        in_channels: image channels (1: cine MR).
        num_classes: classes, background first (4: BG, RV, MYO, LV).
        n_filters: SAUNet filters of the first level (32).
        input_size: the training side (224); D's output conv is built for it.
        attention_gates: SAUNet's attention gates and multi-scale maps for D (False: plain UNet, single-scale D).
        supervision: ``"scribbles"`` (WPCE on scribbles) or ``"masks"`` (the same loss on full masks).
        adversarial: train against the mask discriminator (False: the supervised loss alone).
        d_filters: discriminator filters of level 0 (32).
        d_blocks: discriminator levels (4).
        w_adv: weight of the adversarial D and G losses (0.2).
        w_sup_disc: weight of ``sup_disc`` in the supervised loss (0.1).
        instance_noise: std of the noise added to D's full-size input in training (0.2; 0 disables).
        label_flip: probability of negating D's scores in training (0.1; 0 disables).
        lr_min: low end of the cyclic rate (official ``FLAGS.lr // 10``, which is 0.0 for 1e-4).
        clr_half_period: epochs from the low to the high end of the cyclic rate (20; 0: constant rate).
        lr_decay: the rate is divided by ``1 + lr_decay * epoch`` (1e-4).
        augment: the official augmentation of every training stream.
        pixel_spacing: in-plane resolution in mm the training data were resampled to (1.51); ``predict`` resamples
            volumes whose spacing it knows to it.
        seed: seed of the training draws (augmentation, instance and label noise), combined with the step.
    """

    g_lr: float = 1e-4
    g_betas: tuple[float, float] = (0.9, 0.999)
    d_lr: float = 1e-4
    d_betas: tuple[float, float] = (0.9, 0.999)
    in_channels: int = 1
    num_classes: int = 4
    n_filters: int = 32
    input_size: int = 224
    attention_gates: bool = True
    supervision: str = "scribbles"
    adversarial: bool = True
    d_filters: int = 32
    d_blocks: int = 4
    w_adv: float = 0.2
    w_sup_disc: float = 0.1
    instance_noise: float = 0.2
    label_flip: float = 0.1
    lr_min: float = 0.0
    clr_half_period: int = 20
    lr_decay: float = 1e-4
    augment: bool = True
    pixel_spacing: float = 1.51
    seed: int = 0


def learning_rate(epoch: int, peak: float, low: float, half_period: int, decay: float) -> float:
    """The official rate of an epoch: ``cyclic_learning_rate(epoch, low, peak, half_period, 'triangular')`` divided by
    ``1 + decay * epoch``; a constant ``peak`` before the decay when ``half_period`` is 0."""
    rate = peak
    if half_period > 0:
        cycle = math.floor(1 + epoch / (2 * half_period))
        x = abs(epoch / half_period - 2 * cycle + 1)
        rate = low + (peak - low) * max(0.0, 1.0 - x)
    return rate / (1.0 + decay * epoch)


class MAAG(AdversarialModule):
    """Segments short-axis cardiac MR slices (BG, RV, MYO, LV), trained from scribbles.

    Args:
        config: a :class:`MAAGConfig` (or a dict of its fields).

    Shape:
        - ``forward`` input: (N, 1, H, W) standardised slices ((x - median) / IQR), H and W divisible by 16.
        - ``forward`` output: (N, 4, H, W) logits.

    Example:
        >>> import zoo
        >>> model = zoo.load("maag_tiny")
        >>> labels = model.predict(slice_2d)                      # (H, W) uint8 in 0..3
        >>> volume = model.predict("patient001_frame01.nii.gz")   # (X, Y, Z) uint8, the image's geometry
    """

    config_class = MAAGConfig
    progress_metrics = ("dice_mean",)
    OUTPUT_SUFFIXES: ClassVar[tuple[str, ...]] = (".gz", ".nii")
    """``zoo predict ... -o mask.nii.gz`` writes a NIfTI with the input's affine through :meth:`predict_to_file`."""

    def __init__(self, config: MAAGConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.supervision not in SUPERVISION:
            raise ValueError(f"supervision: expected one of {SUPERVISION}, received {cfg.supervision!r}")
        if cfg.input_size % 2**DEPTH or cfg.input_size < 2**DEPTH:
            raise ValueError(f"input_size: expected a positive multiple of {2**DEPTH}, received {cfg.input_size}")
        if cfg.ema_decay or cfg.normalize_terms or cfg.r1_gamma or cfg.r2_gamma or cfg.d_every != 1 or cfg.d_grad_clip:
            raise ValueError("ema_decay, normalize_terms, r1_gamma, r2_gamma, d_grad_clip, d_every: expected the official "
                             f"0, False, 0, 0, 0, 1 (MAAG uses none of them), received {cfg.ema_decay}, {cfg.normalize_terms}, "
                             f"{cfg.r1_gamma}, {cfg.r2_gamma}, {cfg.d_grad_clip}, {cfg.d_every}")
        self.net = SAUNet(cfg.in_channels, cfg.num_classes, cfg.n_filters, cfg.attention_gates)

    # ---------------------------------------------------------------- training
    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.build_training_parts()

    def build_training_parts(self) -> None:
        """Build the mask discriminator (training only; not in the shipped weights). Idempotent."""
        cfg = self.config
        if cfg.adversarial and "mask" not in self.discriminators:
            disc = MultiResDiscriminator(cfg.num_classes - 1, cfg.input_size, cfg.d_filters, cfg.d_blocks)
            self.discriminators["mask"] = disc.to(self.device)

    def configure_optimizers(self):
        cfg = self.config
        if not cfg.adversarial:
            return torch.optim.Adam(self.net.parameters(), lr=cfg.g_lr, betas=tuple(cfg.g_betas))
        # The official generator optimiser also minimises sup_loss over D's variables: one Adam over both.
        every = [*self.net.parameters(), *self.discriminators.parameters()]
        return [torch.optim.Adam(every, lr=cfg.g_lr, betas=tuple(cfg.g_betas)),
                torch.optim.Adam(self.discriminators.parameters(), lr=cfg.d_lr, betas=tuple(cfg.d_betas))]

    def on_train_epoch_start(self) -> None:
        # Set from the epoch index (the official g_epoch), so a resumed run is at the right rate.
        cfg = self.config
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        for opt, peak in zip(optimizers, [cfg.g_lr, cfg.d_lr]):
            low = cfg.lr_min * peak / cfg.g_lr if cfg.g_lr else 0.0
            for group in opt.param_groups:
                group["lr"] = learning_rate(self.current_epoch, peak, low, cfg.clr_half_period, cfg.lr_decay)
        self.log("lr", optimizers[0].param_groups[0]["lr"], on_step=False, on_epoch=True)

    def _step_generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(1_000_003 * self.config.seed + int(self.generator_steps))

    def _levels(self, logits: torch.Tensor, attentions: list[torch.Tensor]) -> list[torch.Tensor]:
        """The foreground maps D sees: softmax at full size, then the attention softmaxes (background dropped)."""
        return [torch.softmax(logits, 1)[:, 1:]] + [a[:, 1:] for a in attentions]

    def _discriminate(self, levels: list[torch.Tensor], gen: torch.Generator) -> torch.Tensor:
        """D in training: fresh instance noise and a fresh label-flip draw per call, as each official ``build``."""
        cfg = self.config
        noise = cfg.instance_noise * torch.randn(levels[0].shape, generator=gen).to(levels[0]) if cfg.instance_noise else None
        flip = bool(torch.rand((), generator=gen) <= cfg.label_flip) if cfg.label_flip else False
        return self.discriminators["mask"](levels, noise, flip)

    def _check_batch(self, batch: Any) -> None:
        keys = {"image", "scribble", "mask"} | ({"unlabelled", "real_mask"} if self.config.adversarial else set())
        if not isinstance(batch, dict) or not keys <= set(batch):
            raise ValueError(f"batch: expected a dict with {sorted(keys)}, received {checks.describe(batch) if not isinstance(batch, dict) else sorted(batch)}")

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        cfg = self.config
        self._check_batch(batch)
        gen = self._step_generator()
        target = batch["scribble"] if cfg.supervision == "scribbles" else batch["mask"]
        image = batch["image"]
        if cfg.augment:
            image, (target,) = augment_pair(image, [target], gen)
        logits, attentions = self.net.multiscale(image)
        wpce = weighted_partial_cross_entropy(torch.softmax(logits, 1), target)
        self.log("train/wpce", wpce.detach(), on_step=True, on_epoch=True, prog_bar=True)
        if not cfg.adversarial:
            opt = self.optimizers()
            opt.zero_grad(set_to_none=True)
            self.manual_backward(wpce)
            opt.step()
            self.generator_steps += 1
            return

        unlabelled, real = batch["unlabelled"], batch["real_mask"]
        if cfg.augment:
            unlabelled, _ = augment_pair(unlabelled, [], gen)
            real = augment_masks(real, gen)
        u_logits, u_attentions = self.net.multiscale(unlabelled)
        real_levels = [real[:, 1:]]
        sup_real = self._discriminate(real_levels, gen)
        sup_fake = self._discriminate(self._levels(logits, attentions), gen)
        d_real = self._discriminate(real_levels, gen)
        d_fake = self._discriminate(self._levels(u_logits, u_attentions), gen)
        adv_disc = 0.5 * least_squares_loss(d_real, 1.0) + 0.5 * least_squares_loss(d_fake, -1.0)
        adv_gen = 0.5 * least_squares_loss(d_fake, 1.0)
        sup_disc = 0.5 * least_squares_loss(sup_real, 1.0) + 0.5 * least_squares_loss(sup_fake, -1.0)
        w_dyn = (sup_disc / wpce).detach().abs()
        sup_loss = w_dyn * wpce + cfg.w_sup_disc * sup_disc

        opt_g, opt_d = self.optimizers()
        g_params, d_params = list(self.net.parameters()), list(self.discriminators.parameters())
        self.grouped_step([(opt_d, cfg.w_adv * adv_disc, d_params), (opt_g, cfg.w_adv * adv_gen, g_params), (opt_g, sup_loss, g_params + d_params)])
        self.generator_steps += 1
        for name, value in {"adv_disc": adv_disc, "adv_gen": adv_gen, "sup_disc": sup_disc, "w_dyn": w_dyn, "sup_loss": sup_loss}.items():
            self.log(f"train/{name}", value.detach(), on_step=True, on_epoch=True)

    # -------------------------------------------------------------- evaluation
    def evaluate_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Dice of the argmax prediction against the full mask, per class (LV, MYO, RV) and their mean; a slice where a
        class is absent from both prediction and mask does not count for that class."""
        from torchmetrics.functional.segmentation import dice_score

        if not isinstance(batch, dict) or not {"image", "mask"} <= set(batch):
            raise ValueError(f"batch: expected a dict with 'image' and 'mask', received {checks.describe(batch)}")
        predicted = self(batch["image"]).argmax(1)
        dice = dice_score(predicted, batch["mask"].argmax(1), num_classes=self.config.num_classes, include_background=False, average="none", input_format="index")
        per_class = dice.nanmean(0)
        out = {f"dice_{name.lower()}": per_class[i - 1] for i, name in enumerate(CLASS_NAMES) if i and name in ("LV", "MYO", "RV")}
        out["dice_mean"] = per_class.mean()
        return out

    # ------------------------------------------------------------ input/output
    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        side = self.config.input_size
        return torch.randn(batch_size, self.config.in_channels, side, side, generator=torch.Generator().manual_seed(0)).to(self.device)

    def example_predict_input(self) -> np.ndarray:
        side = self.config.input_size
        return np.random.default_rng(0).normal(100.0, 20.0, (side, side)).astype(np.float32)

    def _read(self, x: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """User input -> (slices (Z, H, W) float32, context). See :meth:`predict`."""
        if isinstance(x, (str, Path)):
            name = str(x).lower()
            if name.endswith(NIFTI_SUFFIXES):
                slices, context = self._read(load_nifti(checks.check_path(x, "volume"), "volume"))
                return slices, {**context, "kind": "nifti_path"}
            gray = checks.open_image(x, "image").convert("F")
            return self._check_values(np.asarray(gray, dtype=np.float32)[None], "image"), {"kind": "numpy", "ndim": 2, "spacing": None}
        if hasattr(x, "affine") and hasattr(x, "header") and hasattr(x, "dataobj"):
            data = np.asanyarray(x.dataobj)
            if data.ndim == 4 and data.shape[-1] == 1:
                data = data[..., 0]
            if data.ndim not in (2, 3):
                raise ValueError(f"volume: expected a 2-D slice or a 3-D volume (X, Y, Z), received a NIfTI of shape {data.shape}; pass one frame (e.g. patientXXX_frameYY.nii.gz)")
            checks.check_max_numel(data, MAX_PREDICT_VALUES, "volume")
            slices = np.moveaxis(data.reshape(*data.shape[:2], -1), -1, 0)
            zooms = tuple(float(z) for z in x.header.get_zooms()[:2])
            return self._check_values(slices, "volume"), {"kind": "nifti", "image": x, "shape": data.shape, "spacing": zooms}
        if isinstance(x, np.ndarray):
            if x.ndim not in (2, 3):
                raise ValueError(f"array: expected a 2-D slice (H, W) or a volume (X, Y, Z) of slices along the last axis, received {checks.describe(x)}"
                                 + ("; a 4-D array (e.g. a cine volume with time) must be split into 3-D frames" if x.ndim == 4 else ""))
            if x.dtype.kind not in "biuf":
                raise ValueError(f"array: expected a numeric array, received {checks.describe(x)}")
            checks.check_max_numel(x, MAX_PREDICT_VALUES, "array")
            slices = x[None] if x.ndim == 2 else np.moveaxis(x, -1, 0)
            return self._check_values(slices.astype(np.float32), "array"), {"kind": "numpy", "ndim": x.ndim, "spacing": None}
        if isinstance(x, torch.Tensor):
            channels = self.config.in_channels
            if x.ndim not in (3, 4) or x.shape[-3] != channels:
                raise ValueError(f"image: expected shape ({channels}, H, W) or (N, {channels}, H, W) ({channels} modality: cine MR), received {checks.describe(x)}")
            checks.check_max_numel(x, MAX_PREDICT_VALUES, "image")
            checks.check_floating(x, "image")
            batch = (x if x.ndim == 4 else x[None]).detach().float().cpu().numpy()[:, 0]
            return self._check_values(batch, "image"), {"kind": "tensor", "batched": x.ndim == 4, "device": x.device, "spacing": None, "per_slice": True}
        raise ValueError(f"input: expected a NIfTI path or image, an image path, a numpy array or a tensor, received {checks.describe(x)}")

    @staticmethod
    def _check_values(slices: np.ndarray, what: str) -> np.ndarray:
        checks.check_not_empty(slices, what)
        if min(slices.shape[-2:]) < 2:
            raise ValueError(f"{what}: expected slices of at least 2 x 2 pixels, received slices of {slices.shape[-2]} x {slices.shape[-1]}")
        if not np.isfinite(slices).all():
            raise ValueError(f"{what}: expected finite values, received {int((~np.isfinite(slices)).sum())} NaN/Inf entries")
        return slices.astype(np.float32)

    def _segment(self, slices: np.ndarray, spacing: tuple[float, float] | None, per_slice: bool) -> np.ndarray:
        """(Z, H, W) raw intensities -> (Z, H, W) int64 labels at the same size."""
        normalised = np.stack([standardize_and_clip(s) for s in slices]) if per_slice else standardize_and_clip(slices)
        param = next(self.inference_net.parameters())
        h, w = slices.shape[-2:]
        labels = []
        for start in range(0, len(normalised), PREDICT_CHUNK):
            x = torch.from_numpy(normalised[start : start + PREDICT_CHUNK, None]).to(device=param.device, dtype=param.dtype)
            if spacing is not None:
                size = (max(int(h * spacing[0] / self.config.pixel_spacing), 1), max(int(w * spacing[1] / self.config.pixel_spacing), 1))
                x = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
            rh, rw = x.shape[-2:]
            probabilities = torch.softmax(self(pad_to_multiple(x, 2**DEPTH, 2**DEPTH))[..., :rh, :rw], 1)
            if (rh, rw) != (h, w):
                probabilities = F.interpolate(probabilities, size=(h, w), mode="bilinear", align_corners=False)
            labels.append(probabilities.argmax(1).cpu())
        return torch.cat(labels).numpy()

    @torch.no_grad()
    def predict(self, x: Any, spacing: float | str | None = None) -> Any:
        """Segment a slice or a volume; the masks have the input's geometry.

        Intensities are raw: each volume (or slice, or tensor sample) is clipped to its 5th-95th percentiles and
        standardised by its median and IQR, as the official preprocessing. A NIfTI volume is resampled in-plane to
        the model's ``pixel_spacing`` from its header's voxel size and the labels come back at the original size.

        Args:
            x: a NIfTI path (``.nii`` / ``.nii.gz``, 2-D or 3-D) or nibabel image; a 2-D array (H, W) or a 3-D array
                (X, Y, Z) of slices along the last axis; a tensor (1, H, W) / (N, 1, H, W); or a grayscale image path.
            spacing: in-plane pixel size in mm of an array, tensor or image input (None: already at the model's
                ``pixel_spacing``); a NIfTI's header gives its own.

        Returns:
            Labels 0..3 (BG, RV, MYO, LV): for a NIfTI path an (X, Y, Z) (or (X, Y)) uint8 array; for a nibabel
            image a nibabel image of the same affine; for an array a uint8 array of its shape; for a tensor an int64
            tensor (H, W) / (N, H, W) on its device.

        Raises:
            ValueError: a 4-D array, a channel (modality) count other than one, non-finite values, a bad spacing or an
                unreadable file, naming what was expected and what was received.
        """
        slices, context = self._read(x)
        if spacing is not None:
            try:
                value = float(spacing)
            except ValueError:
                raise ValueError(f"spacing: expected a pixel size in mm, received {spacing!r}") from None
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"spacing: expected a positive pixel size in mm, received {spacing!r}")
            context["spacing"] = (value, value)
        was_training = self.training
        self.eval()
        try:
            labels = self._segment(slices, context.get("spacing"), context.get("per_slice", False))
        finally:
            self.train(was_training)
        return self.postprocess(labels, context)

    def postprocess(self, y: np.ndarray, context: dict[str, Any]) -> Any:
        """(Z, H, W) labels -> the input's kind and geometry (see :meth:`predict`)."""
        kind = context["kind"]
        if kind == "tensor":
            out = torch.from_numpy(y).to(context["device"])
            return out if context["batched"] else out[0]
        if kind == "numpy":
            return y[0].astype(np.uint8) if context["ndim"] == 2 else np.moveaxis(y, 0, -1).astype(np.uint8)
        volume = np.moveaxis(y, 0, -1).reshape(context["shape"]).astype(np.uint8)
        if kind == "nifti_path":
            return volume
        import nibabel as nib

        image = context["image"]
        header = image.header.copy()
        header.set_data_dtype(np.uint8)
        return nib.Nifti1Image(volume, image.affine, header)

    def predict_to_file(self, x: Any, path: str | Path, spacing: float | str | None = None) -> Path:
        """Segment ``x`` (see :meth:`predict`) and write the labels as NIfTI (``.nii`` / ``.nii.gz``), with the input
        NIfTI's affine and header, or an identity affine (pixel size ``spacing``) for other inputs."""
        import nibabel as nib

        path = Path(path)
        if not str(path).lower().endswith(NIFTI_SUFFIXES):
            raise ValueError(f"path: expected a file name ending in .nii or .nii.gz, received {str(path)!r}")
        if isinstance(x, (str, Path)) and str(x).lower().endswith(NIFTI_SUFFIXES):
            x = load_nifti(checks.check_path(x, "volume"), "volume")
        out = self.predict(x, spacing)
        if not hasattr(out, "affine"):
            labels = out.cpu().numpy() if isinstance(out, torch.Tensor) else out
            labels = np.moveaxis(labels, 0, -1) if isinstance(out, torch.Tensor) and labels.ndim == 3 else labels
            size = float(spacing) if spacing is not None else self.config.pixel_spacing
            out = nib.Nifti1Image(labels.astype(np.uint8), np.diag([size, size, 1.0, 1.0]))
        nib.save(out, str(path))
        return path
