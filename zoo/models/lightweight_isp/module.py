"""LightweightISP: the learned lightweight smartphone ISP trained on unpaired data (Arhire & Timofte, CVPRW 2025).

Train the shipped checkpoint (CPU, minutes)::

    zoo train recipes/lightweight_isp_efficient/tiny.yaml

The generator loss, as the official code computes it: a content loss between frozen luma features of the
output and of a classical pseudo-ISP rendering of the *same* RAW (so no paired target is needed), an L2
total-variation loss, and relativistic-pairing adversarial losses from two texture discriminators (on frozen
AlexNet features of luma) and one colour discriminator (on frozen ViT tokens of blurred images). Each term
is divided by the norm of its own gradient before the config weights apply. Discriminators use R1 + R2
penalties and are updated every 10 generator steps.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from zoo.core import checks
from zoo.core.adversarial import AdversarialConfig, AdversarialModule
from zoo.data.camera_raw import is_camera_raw, read_camera_raw_packed
from zoo.data.raw import normalize_packed, pack_bayer, pseudo_isp, three_channel_split, unpack_bayer
from zoo.losses.adversarial import relativistic_pairing_loss
from zoo.losses.tv import l2_total_variation
from zoo.models.lightweight_isp.model import PackedConvISP, RMFANet

GENERATOR_WIDTHS = {"efficient": (12, 12), "robust": (16, 4)}
RAW_PIL_MODES = ("I;16", "I;16B", "I;16L", "I")
"""PIL modes of RAW files: 16- or 32-bit single-channel sensor counts."""
MAX_RAW_VALUES = 2**27
"""The most RAW values ``predict`` takes in one call (134 M: e.g. an 11,000 x 12,000 mosaic)."""


@dataclasses.dataclass
class LightweightISPConfig(AdversarialConfig):
    """Configuration of :class:`LightweightISP` (defaults: the paper / official code).

    Args:
        generator: ``"efficient"`` (EfficientISP), ``"robust"`` (RobustISP) or ``"rmfa"`` (RMFA-Net).
        rmfa_blocks: RMFA blocks (2 tiny, 8 medium, 20 large).
        rmfa_width: RMFA feature width.
        black_level: black level per packed plane, for RAW given in sensor counts.
        white_level: white level, for RAW given in sensor counts.
        train_size: side of the training output crops (fixes the texture discriminators' first Linear).
        content_reference: ``"pseudo_isp"`` (unpaired: the classical rendering of the same RAW) or ``"target"`` (paired).
        content_layer: VGG-19 activation of the content loss.
        content_net_weights: local torchvision VGG-19 weights; None: frozen random init.
        texture_layers: LPIPS-AlexNet slices judged by the texture discriminators.
        texture_net_weights: local torchvision AlexNet weights; None: frozen random init.
        color_vit: timm ViT of the colour discriminator's features.
        color_img_size: input size of that ViT.
        color_net_weights: local timm weights for ``color_vit``; None: frozen random init.
        adversarial: use the discriminators (False: the paper's "w/o adversarial losses" ablation).
        pretrain_steps: first generator steps trained to reproduce the pseudo-ISP pixel-wise (MSE; no target
            used), standing in for the official run's pretrained generator initialisation; 0 disables.
        pseudo_isp_gains: white-balance gains of the pseudo-ISP.
        feature_seed: seed of the random-init feature networks.
        w_content, w_tv, w_texture, w_color: loss weights, applied after gradient-norm normalisation.
    """

    generator: str = "efficient"
    rmfa_blocks: int = 2
    rmfa_width: int = 16
    black_level: tuple[float, float, float, float] = (62.0, 60.0, 58.0, 61.0)
    white_level: float = 1023.0
    train_size: int = 256
    content_reference: str = "pseudo_isp"
    content_layer: str = "relu5_4"
    content_net_weights: str | None = None
    texture_layers: tuple[int, ...] = (0, 3)
    texture_net_weights: str | None = None
    color_vit: str = "vit_base_patch16_224"
    color_img_size: int = 224
    color_net_weights: str | None = None
    adversarial: bool = True
    pretrain_steps: int = 0
    pseudo_isp_gains: tuple[float, float, float] = (1.6, 1.2, 1.4)
    feature_seed: int = 0
    g_lr: float = 5e-4
    g_betas: tuple[float, float] = (0.5, 0.9)
    d_lr: float = 1e-5
    d_betas: tuple[float, float] = (0.5, 0.9)
    d_every: int = 10
    d_grad_clip: float = 1.0
    normalize_terms: bool = True
    r1_gamma: float = 1000.0
    r2_gamma: float = 1000.0
    w_content: float = 1.0
    w_tv: float = 1.0
    w_texture: float = 1.0
    w_color: float = 1.0


class LightweightISP(AdversarialModule):
    """Packed RAW -> sRGB at twice the packed resolution.

    Args:
        config: a :class:`LightweightISPConfig` (or a dict of its fields).

    Shape:
        - ``forward`` input: (N, 4, h, w) packed RAW for EfficientISP / RobustISP; (N, 3, 2h, 2w) three-channel
          split for RMFA-Net (see :meth:`raw_to_net_input`).
        - ``forward`` output: (N, 3, 2h, 2w).

    Example:
        >>> import zoo
        >>> isp = zoo.load("lightweight_isp_efficient")
        >>> rgb = isp.predict("sample_raw.png")  # 16-bit Bayer PNG -> PIL image
    """

    progress_metrics = ("psnr", "ssim")
    config_class = LightweightISPConfig

    def __init__(self, config: LightweightISPConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.generator in GENERATOR_WIDTHS:
            self.net = PackedConvISP(GENERATOR_WIDTHS[cfg.generator])
        elif cfg.generator == "rmfa":
            self.net = RMFANet(cfg.rmfa_blocks, cfg.rmfa_width)
        else:
            raise ValueError(f"generator: expected one of {sorted(GENERATOR_WIDTHS) + ['rmfa']}, received {cfg.generator!r}")
        if cfg.content_reference not in ("pseudo_isp", "target"):
            raise ValueError(f"content_reference: expected 'pseudo_isp' or 'target', received {cfg.content_reference!r}")
        self.setup_ema()
        self._training_parts_built = False

    # ------------------------------------------------------------ input/output
    def raw_to_net_input(self, packed: torch.Tensor) -> torch.Tensor:
        """Packed RAW (N, 4, h, w) -> the generator's input layout."""
        if self.config.generator == "rmfa":
            return three_channel_split(unpack_bayer(packed))
        return packed

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        packed = torch.rand(batch_size, 4, 16, 16, generator=torch.Generator().manual_seed(0))
        return self.raw_to_net_input(packed).to(self.device)

    def example_predict_input(self) -> torch.Tensor:
        """Packed RAW planes (1, 4, 16, 16) in [0, 1], as ``predict`` takes them for every generator."""
        return torch.rand(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))

    def to_packed(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """User-level RAW (see :meth:`prepare_input`) -> validated packed RAW (N, 4, h, w) and an output context."""
        cfg = self.config
        if is_camera_raw(x):  # DNG, CR2, NEF, ...: levels and CFA pattern from the file
            return self.to_packed(read_camera_raw_packed(x))[0], {"kind": "pil"}
        if isinstance(x, (str, Path)):
            return self.to_packed(checks.open_image(x, "RAW file"))[0], {"kind": "pil"}
        if isinstance(x, Image.Image):
            if x.mode not in RAW_PIL_MODES:
                note = " (8-bit greyscale is a picture, not sensor counts)" if x.mode == "L" else ""
                raise ValueError(
                    f"RAW image: expected a single-channel Bayer image of sensor counts (mode {' or '.join(RAW_PIL_MODES)}), "
                    f"received mode {x.mode!r}{note}"
                )
            return self.to_packed(np.array(x).astype(np.int32))[0], {"kind": "pil"}
        if isinstance(x, np.ndarray):
            if x.dtype.kind in "iu":
                if x.ndim != 2:
                    raise ValueError(f"RAW counts: expected an (H, W) integer Bayer mosaic, received {checks.describe(x)}")
                checks.check_max_numel(x, MAX_RAW_VALUES, "RAW counts")
                counts = torch.from_numpy(x.astype(np.float32))[None, None]
                checks.check_not_empty(counts, "RAW counts")
                checks.check_divisible(counts, 2, "RAW counts")
                checks.check_range(
                    counts, 0.0, cfg.white_level, f"RAW counts (white level {cfg.white_level:g})",
                    hint="counts above the white level would saturate: pass this sensor's counts, or build the model with its white_level and black_level",
                )
                packed = normalize_packed(pack_bayer(counts), cfg.black_level, cfg.white_level)
                return packed, {"kind": "numpy", "batched": False}
            if x.dtype.kind != "f":
                raise ValueError(f"RAW: expected an integer or floating-point array, received {checks.describe(x)}")
            return self.to_packed(torch.from_numpy(np.ascontiguousarray(x)))[0], {"kind": "numpy", "batched": x.ndim == 4}
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"RAW: expected a tensor, numpy array, PIL image or file path, received {checks.describe(x)}")
        if x.ndim not in (2, 3, 4):
            raise ValueError(f"RAW: expected shape (H, W), (C, H, W) or (N, C, H, W) with C = 1 (mosaic) or 4 (packed), received {checks.describe(x)}")
        checks.check_max_numel(x, MAX_RAW_VALUES, "RAW")
        checks.check_floating(x, "RAW")
        checks.check_not_empty(x, "RAW")
        batched = x.ndim == 4
        x = x.reshape(1, 1, *x.shape) if x.ndim == 2 else (x[None] if x.ndim == 3 else x)
        if x.shape[1] not in (1, 4):
            raise ValueError(f"RAW: expected 1 channel (Bayer mosaic) or 4 channels (packed RAW), received {checks.describe(x)}")
        checks.check_finite(x, "RAW")
        checks.check_range(x, -0.5, 2.0, "RAW (normalised by black and white level)", hint="pass integer sensor counts as an integer array")
        if x.shape[1] == 1:
            checks.check_divisible(x, 2, "Bayer mosaic")
            x = pack_bayer(x)
        return x.float(), {"kind": "tensor", "batched": batched}

    def prepare_input(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """Validate user-level RAW and lay it out for the generator.

        Args:
            x: a camera RAW file (DNG, CR2, NEF, ... through rawpy: black and white levels and the CFA from the
                file), a 16-bit Bayer PNG path or PIL image (mode ``I;16`` or ``I``; not 8-bit ``L``), an integer (H, W) array
                of sensor counts in [0, ``white_level``], or a float tensor / array normalised by black and white
                level, values in [-0.5, 2]: mosaic (H, W), (1, H, W), (N, 1, H, W) or packed (4, h, w),
                (N, 4, h, w); H and W even, at most :data:`MAX_RAW_VALUES` values.

        Returns:
            The generator's input and the context :meth:`postprocess` needs.

        Raises:
            ValueError: naming what was expected and what was received.
        """
        packed, context = self.to_packed(x)
        return self.raw_to_net_input(packed), context

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> Any:
        """Clamp to [0, 1]; a tensor for tensor input, an (H, W, 3) float array for arrays, a PIL image otherwise."""
        y = y.clamp(0.0, 1.0).float().cpu()
        if context["kind"] == "pil":
            return Image.fromarray((y[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8))
        if context["kind"] == "numpy":
            out = y.permute(0, 2, 3, 1).numpy()
            return out if context["batched"] else out[0]
        return y if context["batched"] else y[0]

    def bench_cases(self, batch_size: int | None, size: int | None) -> list:
        """Op rows of ``zoo bench`` (the generator is the paths row, ``reference.py``) on ``batch_size`` (default 1)
        images of ``size`` px (default: the paths row's): the pseudo-ISP colour op eager vs its compiled twin, and RAW counts ->
        sRGB in the official formulation (per image, numpy packing, eager) vs zoo's (batched tensor pipeline, eager)."""
        from zoo.bench import BenchCase
        from zoo.models.lightweight_isp.reference import bench_size, official_from_counts, zoo_from_counts
        from zoo.ops.color import white_balance_normalize_gamma, white_balance_normalize_gamma_fused

        n, size = batch_size or 1, size or bench_size(self)
        gen = torch.Generator().manual_seed(0)
        packed = torch.rand(n, 4, size // 2, size // 2, generator=gen).to(self.device)
        rgb = torch.rand(n, 3, size, size, generator=gen).to(self.device)
        gains = torch.tensor(self.config.pseudo_isp_gains, device=self.device)
        mosaics = [(unpack_bayer(p[None].cpu())[0, 0].numpy() * 900 + 62).astype(np.uint16) for p in packed]
        return [
            BenchCase(
                f"pseudo-ISP colour stage (op, {n}x3x{size}x{size})", "eager", "compiled twin",
                lambda: white_balance_normalize_gamma(rgb, gains), lambda: white_balance_normalize_gamma_fused(rgb, gains), items=n,
            ),
            BenchCase(
                f"RAW counts -> sRGB ({n}x{size}x{size} mosaics)", "official (per image, numpy packing)", "zoo (batched tensor packing)",
                lambda: official_from_counts(self, mosaics), lambda: zoo_from_counts(self, mosaics), items=n,
            ),
        ]

    def pseudo_isp(self, packed: torch.Tensor) -> torch.Tensor:
        """The classical pseudo-ISP rendering of packed RAW (the content reference and the baseline)."""
        return pseudo_isp(unpack_bayer(packed).clamp(0.0, 1.0), self.config.pseudo_isp_gains)

    # ---------------------------------------------------------------- training
    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.build_training_parts()

    def build_training_parts(self) -> None:
        """Build the frozen feature networks and the discriminators (training only; not in the shipped weights)."""
        if self._training_parts_built:
            return
        from zoo.models.lightweight_isp.discriminators import (
            BlurredColorFeatures,
            ColorDiscriminator,
            LumaContentFeatures,
            LumaTextureFeatures,
            TextureDiscriminator,
        )

        cfg = self.config
        self.content_features = LumaContentFeatures(cfg.content_layer, cfg.content_net_weights, cfg.feature_seed)
        if cfg.adversarial:
            self.texture_features = LumaTextureFeatures(cfg.texture_net_weights, cfg.feature_seed + 1)
            self.color_features = BlurredColorFeatures(cfg.color_vit, cfg.color_img_size, cfg.color_net_weights, cfg.feature_seed + 2)
            probe = torch.zeros(1, 3, cfg.train_size, cfg.train_size)
            for layer, feat in self.texture_features(probe, tuple(cfg.texture_layers)).items():
                self.discriminators[f"texture{layer}"] = TextureDiscriminator(feat.shape[1], tuple(feat.shape[-2:]))
            self.discriminators["color"] = ColorDiscriminator(self.color_features.dim)
        self.to(self.device)
        self._training_parts_built = True

    def _judged(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        """What each discriminator sees of an RGB batch (one pass per frozen feature network)."""
        texture = self.texture_features(rgb, tuple(self.config.texture_layers))
        judged = {f"texture{layer}": feat for layer, feat in texture.items()}
        judged["color"] = self.color_features(self.color_features.blur(rgb))
        return judged

    def generator_step_terms(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        cfg = self.config
        packed, target = batch["raw"], batch["target"]
        fake = self.net(self.raw_to_net_input(packed))
        if fake.shape[-1] != cfg.train_size or target.shape[-1] != cfg.train_size:
            raise ValueError(
                f"training crops: expected outputs and targets of side train_size={cfg.train_size}, received "
                f"{tuple(fake.shape[-2:])} and {tuple(target.shape[-2:])}; set the model's train_size to the data's crop"
            )
        self._fake = fake
        if self.pretraining:
            return {"pretrain_mse": torch.nn.functional.mse_loss(fake, self.pseudo_isp(packed))}, {"pretrain_mse": 1.0}
        reference = self.pseudo_isp(packed) if cfg.content_reference == "pseudo_isp" else target
        terms = {"content": self._content(fake, reference), "tv": l2_total_variation(fake)}
        weights = {"content": cfg.w_content, "tv": cfg.w_tv}
        if not self.discriminators:
            return terms, weights
        with torch.no_grad():
            real = self._judged(target)
        fake_judged = self._judged(fake)
        # The discriminator steps of this batch judge the same fake batch: keep its features, detached.
        self._judged_pair = (real, {name: f.detach() for name, f in fake_judged.items()})
        for name, disc in self.discriminators.items():
            with torch.no_grad():
                real_logits = disc(real[name])
            terms[f"adv_{name}"] = relativistic_pairing_loss(real_logits, disc(fake_judged[name]), for_generator=True)
            weights[f"adv_{name}"] = cfg.w_color if name == "color" else cfg.w_texture
        return terms, weights

    @property
    def pretraining(self) -> bool:
        """True during the first ``pretrain_steps`` generator steps."""
        return int(self.generator_steps) < self.config.pretrain_steps

    def discriminators_active(self) -> bool:
        return not self.pretraining

    def _content(self, fake: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        # Imported here so that inference never imports timm / torchvision models.
        from zoo.models.lightweight_isp.discriminators import content_loss

        return content_loss(self.content_features, fake, reference)

    def discriminator_loss(self, name: str, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        real, fake = self._judged_pair
        return self.penalized_discriminator_loss(
            self.discriminators[name], real[name], fake[name], lambda r, f: relativistic_pairing_loss(r, f, for_generator=False)
        )

    # -------------------------------------------------------------- evaluation
    def evaluate_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """PSNR / SSIM of this model and of the pseudo-ISP against the ground truth of a batch."""
        packed, gt = batch["raw"], batch["gt"]
        out = self(self.raw_to_net_input(packed)).clamp(0.0, 1.0)
        base = self.pseudo_isp(packed)
        return {
            "psnr": peak_signal_noise_ratio(out, gt, data_range=1.0, dim=(1, 2, 3)),
            "ssim": structural_similarity_index_measure(out, gt, data_range=1.0),
            "pseudo_isp_psnr": peak_signal_noise_ratio(base, gt, data_range=1.0, dim=(1, 2, 3)),
            "pseudo_isp_ssim": structural_similarity_index_measure(base, gt, data_range=1.0),
        }
