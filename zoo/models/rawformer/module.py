"""Rawformer: unpaired raw-to-raw translation between cameras (Perevozchikov, Mehta, Afifi, Timofte; ECCV 2024).

Train the shipped checkpoint (CPU, minutes)::

    zoo train recipes/rawformer/pretrain_tiny.yaml   # masked-autoencoder pre-training of the generator
    zoo train recipes/rawformer/tiny.yaml            # CycleGAN-style translation, initialised from it

Training as the official code (a UVCGAN v2 fork) has it: two generators (A -> B, B -> A), LSGAN against two
batch-head discriminators that judge each batch next to a queue of cached past features, cycle loss
``L1 + VGG + 0.15 (1 - SSIM)`` at weight 10, identity L1 at half of it, a zero-centred gradient penalty at
real/fake interpolations (0.01), generator EMA, Adam 5e-5 / 1e-4 with betas (0.5, 0.99).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from zoo.core import checks
from zoo.core.adversarial import AdversarialConfig, AdversarialModule
from zoo.core.tiling import tiled_apply
from zoo.data.camera_raw import is_camera_raw, read_camera_raw_packed
from zoo.data.raw_to_raw import packed_to_rgb_planes
from zoo.losses.adversarial import interpolated_gradient_penalty, least_squares_loss
from zoo.nets.cyclegan import PatchGAN, ResnetGenerator, init_weights
from zoo.models.rawformer.model import CycleGenerators, RawformerGenerator

MAX_IMAGE_VALUES = 2**27
"""The most values ``predict`` takes in one call (134 M: e.g. one 6,600 x 6,600 RGB image); larger images are tiled
but their output alone would take gigabytes."""
GENERATOR_FIELDS = (
    "channels", "unet_features", "unet_act", "unet_norm", "downsample", "upsample", "unet_rezero", "demod", "style_rezero",
    "style_bias", "token", "vit_dim", "vit_heads", "vit_blocks", "vit_ffn", "vit_embed", "vit_act", "vit_norm", "vit_rezero",
    "n_ext", "output_act",
)


@dataclasses.dataclass
class RawformerConfig(AdversarialConfig):
    """Configuration of :class:`Rawformer` (defaults: the official ``rawformer`` preset and training script).

    Args:
        channels: image channels (3: the official loader's RGB-packed raw images).
        image_size: training crop side; the bottleneck's position buffers are built for it (other sizes are
            rebuilt on the fly) and it sizes the discriminators' feature queues.
        generator: ``"rawformer"`` or ``"resnet"`` (CycleGAN's ResNet generator: the plain CycleGAN baseline).
        unet_features .. output_act: the ``vit-rawnet`` generator (official ``modnet_*`` / ViT arguments).
        resnet_filters, resnet_blocks: the ResNet generator.
        disc_filters, disc_layers, disc_norm, spectral_norm: the PatchGAN body.
        batch_head: the batch-head discriminator with feature queues (False: CycleGAN's PatchGAN logits).
        queue_size: cached rows per queue.
        w_cycle: cycle-consistency weight (lambda_a = lambda_b).
        w_identity: identity weight, relative to ``w_cycle``.
        cycle_loss: ``"pixelwise"`` (L1 + VGG + SSIM, official) or ``"l1"`` (CycleGAN).
        w_cycle_vgg, w_cycle_ssim: the pixel-wise loss's VGG and ``1 - SSIM`` weights.
        cycle_vgg_grad: let the VGG term train (the official code computes it under ``no_grad``).
        vgg_weights: local torchvision VGG-19 weights; None: frozen random init.
        gp_lambda, gp_center: gradient penalty weight and centre.
        init: ``"normal"`` (N(0, init_gain), the official training scripts) or ``"xavier"`` (Xavier-normal with gain
            ``init_gain``) for convs and linears.
        init_gain: the std, or the Xavier gain.
        pretrained: ``model.safetensors`` of a masked-autoencoder pre-trained generator, copied into both at the
            start of training (``fit``); inference never reads it.
        tile, tile_overlap: inference tiling (``predict``) for large images.
    """

    g_lr: float = 5e-5
    g_betas: tuple[float, float] = (0.5, 0.99)
    d_lr: float = 1e-4
    d_betas: tuple[float, float] = (0.5, 0.99)
    ema_decay: float = 0.9999
    channels: int = 3
    image_size: int = 256
    generator: str = "rawformer"
    unet_features: tuple[int, ...] = (24, 48, 96, 192)
    unet_act: str | None = "leakyrelu"
    unet_norm: str | None = None
    downsample: str = "conv"
    upsample: str = "upsample-conv"
    unet_rezero: bool = False
    demod: bool = True
    style_rezero: bool = True
    style_bias: bool = True
    token: int = 4
    vit_dim: int = 192
    vit_heads: int = 6
    vit_blocks: int = 12
    vit_ffn: int = 768
    vit_embed: int = 192
    vit_act: str | None = "gelu"
    vit_norm: str | None = "layer"
    vit_rezero: bool = True
    n_ext: int = 1
    output_act: str | None = "sigmoid"
    resnet_filters: int = 64
    resnet_blocks: int = 9
    disc_filters: int = 64
    disc_layers: int = 3
    disc_norm: str | None = "instance"
    spectral_norm: bool = True
    batch_head: bool = True
    queue_size: int = 3
    w_cycle: float = 10.0
    w_identity: float = 0.5
    cycle_loss: str = "pixelwise"
    w_cycle_vgg: float = 1.0
    w_cycle_ssim: float = 0.15
    cycle_vgg_grad: bool = False
    vgg_weights: str | None = None
    gp_lambda: float = 0.01
    gp_center: float = 0.0
    init: str = "normal"
    init_gain: float = 0.02
    pretrained: str | None = None
    tile: int = 512
    tile_overlap: int = 64


def build_generator(cfg: RawformerConfig) -> torch.nn.Module:
    """One generator (``vit-rawnet`` or CycleGAN's ResNet) as ``cfg`` describes, initialised as ``cfg.init`` says."""
    if cfg.generator == "rawformer":
        net = RawformerGenerator(image_size=(cfg.image_size, cfg.image_size), **{k: getattr(cfg, k) for k in GENERATOR_FIELDS})
    elif cfg.generator == "resnet":
        net = ResnetGenerator(cfg.channels, cfg.resnet_filters, cfg.resnet_blocks)
    else:
        raise ValueError(f"generator: expected 'rawformer' or 'resnet', received {cfg.generator!r}")
    return init_weights(net, cfg.init, cfg.init_gain)


class Rawformer(AdversarialModule):
    """Camera A raw -> camera B raw (and back), both as 3-channel raw images in [0, 1].

    Args:
        config: a :class:`RawformerConfig` (or a dict of its fields).

    Shape:
        - ``forward`` input: (N, C, H, W), sides multiples of 64 for the Rawformer generator (``predict`` takes
          any size); ``forward(x, reverse=True)`` runs B -> A.
        - ``forward`` output: (N, C, H, W).

    Example:
        >>> import zoo
        >>> model = zoo.load("rawformer")
        >>> b = model.predict(a)                      # (3, H, W) tensor in [0, 1], camera A -> camera B
        >>> a2 = model.predict(b, direction="ba")     # and back
    """

    progress_metrics = ("psnr", "ssim")
    config_class = RawformerConfig

    def __init__(self, config: RawformerConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.generator == "rawformer" and cfg.vit_dim % cfg.vit_heads:
            raise ValueError(
                f"vit_heads: expected a divisor of vit_dim = {cfg.vit_dim}, received {cfg.vit_heads} "
                "(for an official run without its config.json, pass vit_heads=... to zoo.load)"
            )
        if cfg.cycle_loss not in ("pixelwise", "l1"):
            raise ValueError(f"cycle_loss: expected 'pixelwise' or 'l1', received {cfg.cycle_loss!r}")
        self.net = CycleGenerators(build_generator(cfg), build_generator(cfg))
        self.setup_ema()
        self._training_parts_built = False

    @property
    def multiple(self) -> int:
        """Side divisor the generator needs (64 for the 4-level Rawformer, 4 for the ResNet)."""
        return getattr(self.net.ab, "multiple", 4)

    def load_pretrained_generator(self, path: str | Path) -> None:
        """Copy a pre-trained generator (``RawformerAutoencoder``'s ``model.safetensors``) into both directions
        (and their EMA copies)."""
        state = load_file(str(checks.check_path(path, "pretrained generator")))
        for gen in (self.net.ab, self.net.ba):
            gen.load_state_dict(state, strict=True)
        if self.net_ema is not None:
            self.net_ema.module.load_state_dict(self.net.state_dict())

    # ------------------------------------------------------------ input/output
    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        side = max(64, self.multiple)
        return torch.rand(batch_size, self.config.channels, side, side, generator=torch.Generator().manual_seed(0)).to(self.device)

    def example_calls(self, batch_size: int = 1) -> list[tuple[tuple, dict[str, Any]]]:
        x = self.example_input(batch_size)
        return [((x,), {}), ((x,), {"reverse": True})]

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        return (self.net if self.training else self.inference_net)(x, reverse)

    def prepare_input(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """Validate and batch user input.

        Args:
            x: a camera RAW file (DNG, CR2, NEF, ... through rawpy: its packed planes as R, (G + G) / 2, B, normalised
                by the file's black and white levels), an RGB image file path (read with PIL, 8 bits per channel as the official loader reads its PNGs; an
                alpha channel is dropped), a PIL RGB image, an (H, W, C) numpy array (uint8, uint16 for 16-bit data,
                or float in [0, 1]), or a float tensor (C, H, W) / (N, C, H, W) in [0, 1]; at most
                :data:`MAX_IMAGE_VALUES` values.

        Returns:
            The (N, C, H, W) float batch and the context :meth:`postprocess` needs.

        Raises:
            ValueError: an unreadable file, or a wrong type, mode, shape or dtype, an empty, oversized or non-finite
                input, or values outside [0, 1], naming what was expected and what was received.
        """
        channels = self.config.channels
        if is_camera_raw(x):  # DNG, CR2, NEF, ...: normalised by the file's levels, then R, mean G, B at half size
            tensor, _ = self.prepare_input(packed_to_rgb_planes(read_camera_raw_packed(x)).clamp(0.0, 1.0))
            return tensor, {"kind": "pil"}
        if isinstance(x, (str, Path)):
            image = checks.open_image(x, "raw image")
            tensor, _ = self.prepare_input(image.convert("RGB") if image.mode == "RGBA" else image)
            return tensor, {"kind": "pil"}
        if isinstance(x, Image.Image):
            if x.mode != "RGB":
                raise ValueError(f"raw image: expected a PIL image of mode 'RGB', received mode {x.mode!r}")
            tensor, _ = self.prepare_input(np.asarray(x))
            return tensor, {"kind": "pil"}
        if isinstance(x, np.ndarray):
            if x.ndim != 3 or x.shape[-1] != channels:
                raise ValueError(f"raw image array: expected shape (H, W, {channels}), received {checks.describe(x)}")
            checks.check_max_numel(x, MAX_IMAGE_VALUES, "raw image array")
            if x.dtype.kind in "iu":
                scale = 65535.0 if x.dtype == np.uint16 else 255.0
                x = x.astype(np.float32) / scale
            elif x.dtype.kind != "f":
                raise ValueError(f"raw image array: expected dtype uint8, uint16 or float, received {checks.describe(x)}")
            tensor, _ = self.prepare_input(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(2, 0, 1))
            return tensor, {"kind": "numpy"}
        batch, batched = checks.check_image_batch(x, channels, "raw image", "normalised by black and white level", MAX_IMAGE_VALUES)
        return batch, {"kind": "tensor", "batched": batched}

    @torch.no_grad()
    def predict(self, x: Any, direction: str = "ab") -> Any:
        """Translate user-level input from camera A to B (``direction="ab"``) or back (``"ba"``), at any size:
        padded to a multiple of 64, and tiled with overlap beyond ``config.tile`` pixels.

        Bad input raises ``ValueError`` naming what was expected and what was received.
        """
        if direction not in ("ab", "ba"):
            raise ValueError(f"direction: expected 'ab' or 'ba', received {direction!r}")
        prepared, context = self.prepare_input(x)
        param = next(self.inference_net.parameters())
        prepared = prepared.to(device=param.device, dtype=param.dtype)
        was_training = self.training
        self.eval()
        try:
            tile = max(self.multiple, self.config.tile // self.multiple * self.multiple)
            y = tiled_apply(lambda t: self(t, direction == "ba"), prepared, tile, min(self.config.tile_overlap, tile // 2), self.multiple)
        finally:
            self.train(was_training)
        return self.postprocess(y, context)

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> Any:
        """Clamp to [0, 1]; a tensor for tensor input, an (H, W, C) float array for arrays, an 8-bit PIL image otherwise."""
        y = y.clamp(0.0, 1.0).float().cpu()
        if context["kind"] == "pil":
            return Image.fromarray((y[0].permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8))
        if context["kind"] == "numpy":
            return y[0].permute(1, 2, 0).numpy()
        return y if context["batched"] else y[0]

    def bench_cases(self, batch_size: int | None, size: int | None) -> list:
        """Op rows of ``zoo bench`` (the generator is the paths row, ``reference.py``), at the level-0 shapes of the
        generator on ``batch_size`` (default 1) images of ``size`` px (default 256): condensed-query attention
        (explicit matrices vs two SDPA calls, and SDPA eager vs its compiled twin), demodulation and the ReZero
        residual + LayerNorm (eager vs compiled twins)."""
        from zoo.bench import BenchCase
        from zoo.ops import attention, modulation, norm

        if not isinstance(self.inference_net.ab, RawformerGenerator):
            return []
        n = batch_size or 1
        side = max(self.multiple, (size or 256) // self.multiple * self.multiple)
        gen = torch.Generator().manual_seed(1)
        c = self.config.unet_features[0]
        q, k, v = (torch.randn(n, c, side, side, generator=gen).to(self.device) for _ in range(3))
        r = torch.randn(n, c, side // 2, side // 2, generator=gen).to(self.device)
        style, weight = torch.randn(n, c, generator=gen).to(self.device), torch.randn(c, c, 1, 1, generator=gen).to(self.device)
        d = self.config.vit_dim
        tokens, update = (torch.randn(n, (side // 16) ** 2, d, generator=gen).to(self.device) for _ in range(2))
        ln_w, ln_b, alpha = torch.ones(d, device=self.device), torch.zeros(d, device=self.device), torch.full((1,), 0.5, device=self.device)
        what = f"level 0, {n}x{c}x{side}x{side}"
        return [
            BenchCase(
                f"condensed-query attention (op, {what})", "explicit matrices (official)", "two SDPA calls (zoo, eager)",
                lambda: attention.condensed_query_attention_reference(q, k, v, r, 4, 0.2), lambda: attention.condensed_query_attention(q, k, v, r, 4, 0.2), items=n,
            ),
            BenchCase(
                f"condensed-query attention (op, {what})", "two SDPA calls, eager", "compiled twin",
                lambda: attention.condensed_query_attention(q, k, v, r, 4, 0.2), lambda: attention.condensed_query_attention_fused(q, k, v, r, 4, 0.2), items=n,
            ),
            BenchCase(f"demodulation (op, {what})", "eager", "compiled twin", lambda: modulation.demodulate(q, style, weight), lambda: modulation.demodulate_fused(q, style, weight), items=n),
            BenchCase(
                f"ReZero residual + LayerNorm (op, {n}x{(side // 16) ** 2}x{d} tokens)", "eager", "compiled twin",
                lambda: norm.rezero_residual_layer_norm(tokens, update, alpha, ln_w, ln_b),
                lambda: norm.rezero_residual_layer_norm_fused(tokens, update, alpha, ln_w, ln_b), items=n,
            ),
        ]

    # ---------------------------------------------------------------- training
    def setup(self, stage: str) -> None:
        if stage == "fit":
            # A resumed run restores its own weights after this; a fresh one starts from the pre-trained generator.
            if self.config.pretrained and int(self.generator_steps) == 0:
                self.load_pretrained_generator(self.config.pretrained)
            self.build_training_parts()

    def build_training_parts(self) -> None:
        """Build the two discriminators and the cycle loss (training only; not in the shipped weights)."""
        if self._training_parts_built:
            return
        from zoo.losses.reconstruction import PixelWiseLoss
        from zoo.models.rawformer.discriminator import BatchHeadDiscriminator

        cfg = self.config
        for domain in ("a", "b"):
            if cfg.batch_head:
                disc = BatchHeadDiscriminator(
                    cfg.channels, cfg.image_size, cfg.disc_filters, cfg.disc_layers, cfg.disc_norm, cfg.spectral_norm, cfg.queue_size
                )
            else:
                disc = PatchGAN(cfg.channels, cfg.disc_filters, cfg.disc_layers, cfg.disc_norm, logits=True, spectral_norm=cfg.spectral_norm)
            self.discriminators[domain] = init_weights(disc, cfg.init, cfg.init_gain)
        if cfg.cycle_loss == "pixelwise":
            self.cycle_criterion = PixelWiseLoss(cfg.w_cycle_vgg, cfg.w_cycle_ssim, vgg_weights=cfg.vgg_weights, vgg_grad=cfg.cycle_vgg_grad)
        else:
            self.cycle_criterion = torch.nn.L1Loss()
        self.to(self.device)
        self._training_parts_built = True

    def _judge(self, domain: str, x: torch.Tensor, kind: str, update: bool) -> torch.Tensor:
        disc = self.discriminators[domain]
        return disc.judge(x, kind, update) if self.config.batch_head else disc(x)

    def _check_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batch, dict) or "a" not in batch or "b" not in batch:
            raise ValueError(f"batch: expected a dict with images 'a' and 'b', received {checks.describe(batch)}")
        a, b = batch["a"], batch["b"]
        if self.config.batch_head and (a.shape[-1] != self.config.image_size or b.shape[-1] != self.config.image_size):
            raise ValueError(
                f"training crops: expected sides of image_size={self.config.image_size}, received {tuple(a.shape[-2:])} and "
                f"{tuple(b.shape[-2:])}; set the model's image_size to the data's crop"
            )
        return a, b

    def generator_step_terms(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        cfg = self.config
        real_a, real_b = self._check_batch(batch)
        fake_b, fake_a = self.net.ab(real_a), self.net.ba(real_b)
        self._fakes = {"a": fake_a.detach(), "b": fake_b.detach()}
        terms = {
            "gan_ab": least_squares_loss(self._judge("b", fake_b, "fake", update=False), 1.0),
            "gan_ba": least_squares_loss(self._judge("a", fake_a, "fake", update=False), 1.0),
            "cycle_a": self.cycle_criterion(self.net.ba(fake_b), real_a),
            "cycle_b": self.cycle_criterion(self.net.ab(fake_a), real_b),
        }
        weights = {"gan_ab": 1.0, "gan_ba": 1.0, "cycle_a": cfg.w_cycle, "cycle_b": cfg.w_cycle}
        if cfg.w_identity > 0:
            terms["idt_a"] = F.l1_loss(self.net.ba(real_a), real_a)
            terms["idt_b"] = F.l1_loss(self.net.ab(real_b), real_b)
            weights.update(idt_a=cfg.w_cycle * cfg.w_identity, idt_b=cfg.w_cycle * cfg.w_identity)
        return terms, weights

    def discriminator_loss(self, name: str, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        real, fake = batch[name], self._fakes[name]
        terms = {}
        if cfg.gp_lambda > 0:
            disc = self.discriminators[name]
            extra = (disc.queued("real"), disc.queued("fake")) if cfg.batch_head else (None, None)
            # Drawn from the step count, not the global RNG, so a resumed run mixes exactly as an uninterrupted one.
            step_gen = torch.Generator().manual_seed(2 * int(self.generator_steps) + (name == "b"))
            alpha = float(torch.rand((), generator=step_gen))
            terms["gp"] = cfg.gp_lambda * interpolated_gradient_penalty(disc, real, fake, alpha, cfg.gp_center, *extra)
        real_loss = least_squares_loss(self._judge(name, real, "real", update=True), 1.0)
        fake_loss = least_squares_loss(self._judge(name, fake, "fake", update=True), 0.0)
        terms["adv"] = 0.5 * (real_loss + fake_loss)
        return terms

    # -------------------------------------------------------------- evaluation
    def evaluate_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """PSNR / SSIM of A -> B against camera B's paired capture, and of the identity mapping."""
        a, b = batch["a"], batch["b"]
        out = self(a).clamp(0.0, 1.0)
        return {
            "psnr": peak_signal_noise_ratio(out, b, data_range=1.0, dim=(1, 2, 3)),
            "ssim": structural_similarity_index_measure(out, b, data_range=1.0),
            "identity_psnr": peak_signal_noise_ratio(a, b, data_range=1.0, dim=(1, 2, 3)),
            "identity_ssim": structural_similarity_index_measure(a, b, data_range=1.0),
        }
