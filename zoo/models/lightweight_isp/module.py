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
from typing import Any

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from zoo.core.adversarial import AdversarialConfig, AdversarialModule
from zoo.data.raw import pseudo_isp, unpack_bayer
from zoo.losses.adversarial import relativistic_pairing_loss
from zoo.losses.tv import l2_total_variation
from zoo.models.lightweight_isp.pipeline import GENERATOR_WIDTHS, MAX_RAW_VALUES, RAW_PIL_MODES, build_generator, raw_to_net_input, to_output, to_packed  # noqa: F401 (constants re-exported)


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
        self.net = build_generator(cfg.generator, cfg.rmfa_blocks, cfg.rmfa_width)
        if cfg.content_reference not in ("pseudo_isp", "target"):
            raise ValueError(f"content_reference: expected 'pseudo_isp' or 'target', received {cfg.content_reference!r}")
        self.setup_ema()
        self._training_parts_built = False

    # ------------------------------------------------------------ input/output
    def raw_to_net_input(self, packed: torch.Tensor) -> torch.Tensor:
        """Packed RAW (N, 4, h, w) -> the generator's input layout."""
        return raw_to_net_input(packed, self.config.generator)

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        packed = torch.rand(batch_size, 4, 16, 16, generator=torch.Generator().manual_seed(0))
        return self.raw_to_net_input(packed).to(self.device)

    def example_predict_input(self) -> torch.Tensor:
        """Packed RAW planes (1, 4, 16, 16) in [0, 1], as ``predict`` takes them for every generator."""
        return torch.rand(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))

    def to_packed(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """User-level RAW (see :meth:`prepare_input`) -> validated packed RAW (N, 4, h, w) and an output context."""
        return to_packed(x, self.config.black_level, self.config.white_level)

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
        return to_output(y, context)

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
            *self._int8_bench_cases(packed),
            BenchCase(
                f"pseudo-ISP colour stage (op, {n}x3x{size}x{size})", "eager", "compiled twin",
                lambda: white_balance_normalize_gamma(rgb, gains), lambda: white_balance_normalize_gamma_fused(rgb, gains), items=n,
            ),
            BenchCase(
                f"RAW counts -> sRGB ({n}x{size}x{size} mosaics)", "official (per image, numpy packing)", "zoo (batched tensor packing)",
                lambda: official_from_counts(self, mosaics), lambda: zoo_from_counts(self, mosaics), items=n,
            ),
        ]

    def _int8_bench_cases(self, packed: torch.Tensor) -> list:
        """The int8 row (``zoo.models.lightweight_isp.int8``; CPU, the ``int8`` extra, packed-conv generators): the generator compiled
        in fp32 (= the official formulation compiled) against int8, on the paths row's input."""
        import importlib.util

        from zoo.bench import BenchCase
        from zoo.models.lightweight_isp.int8 import int8_generator

        if self.device.type != "cpu" or importlib.util.find_spec("torchao") is None or self.config.generator == "rmfa":
            return []  # RMFA-Net: torchao 0.18's X86InductorQuantizer fails on its conv + add partitions (docs/isp_int8.md)
        x, net = self.raw_to_net_input(packed), self.inference_net.eval()
        compiled, fast = torch.compile(net), int8_generator(self)
        shape = "x".join(map(str, x.shape))
        return [BenchCase(f"generator {shape}: int8 (PT2E x86, frozen) vs fp32", "reference compiled (fp32)", "zoo int8", lambda: compiled(x), lambda: fast(x), items=len(x))]

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
