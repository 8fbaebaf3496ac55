"""CycleGAN: unpaired image-to-image translation (Zhu, Park, Isola, Efros; ICCV 2017).

Train (CPU, minutes; the paper's setting in ``paper.yaml``)::

    zoo train recipes/cyclegan_resnet9/tiny.yaml

Training as the official ``cycle_gan_model.py`` has it: G_A (A -> B) and G_B (B -> A), ResNet generators; D_A
judges domain B (real B against G_A's fakes) and D_B domain A, both 70x70 PatchGANs. Generator loss: LSGAN (MSE to
1) through D_A and D_B, cycle L1 ``|G_B(G_A(a)) - a|`` and ``|G_A(G_B(b)) - b|`` at lambda_A = lambda_B = 10, identity
L1 ``|G_A(b) - b|`` and ``|G_B(a) - a|`` at 0.5 of lambda. Discriminator loss: MSE of real to 1 and of a fake drawn
from a 50-image history pool to 0, halved. Adam 2e-4, betas (0.5, 0.999); the rate is constant for 100 epochs and
decays linearly to zero over 100 more.

Images are in [0, 1] in and out (the zoo's convention); the official code works in [-1, 1]: the generators map
inside, the discriminators are fed ``2x - 1`` and the L1 terms are taken in [-1, 1], so every loss value and gradient
is the official one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from zoo.core import checks
from zoo.core.adversarial import AdversarialConfig, AdversarialModule
from zoo.core.tiling import pad_to_multiple
from zoo.losses.adversarial import least_squares_loss
from zoo.models.cyclegan.model import ImagePool, build_discriminator, build_generator_pair, linear_decay_rule
from zoo.nets.cyclegan import NORMS

GAN_MODES = ("lsgan", "vanilla")
DISCRIMINATOR_DOMAINS = {"D_A": "b", "D_B": "a"}
"""Each discriminator and the domain it judges (the official naming: D_A judges G_A's output domain, B)."""
MULTIPLE, MIN_SIDE = 4, 8
"""The generator needs sides divisible by 4 and at least 8 (reflection padding and instance norm at 1/4 scale)."""
PIL_MODES = {1: "L", 3: "RGB"}
MAX_IMAGE_VALUES = 2**26
"""The most values ``predict`` takes in one call (67 M: e.g. one 4,700 x 4,700 RGB image; the ResNet generator is not
tiled, and holds 64 to 256 feature maps of the image's size)."""


def signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1], the official code's image range."""
    return 2.0 * x - 1.0


@dataclasses.dataclass
class CycleGANConfig(AdversarialConfig):
    """Configuration of :class:`CycleGAN` (defaults: the official ``train.py`` options for ``--model cycle_gan``).

    Args:
        g_lr, d_lr: Adam learning rates (official ``--lr`` 2e-4 for both; the neutral defaults of AdversarialConfig are CycleGAN's).
        g_betas, d_betas: Adam betas (``--beta1`` 0.5, 0.999).
        channels: image channels (``--input_nc`` = ``--output_nc`` 3).
        ngf: generator filters of the first conv (64).
        n_blocks: residual blocks (9: ``resnet_9blocks``, 256 px; 6: ``resnet_6blocks``, 128 px).
        norm: ``"instance"`` (official default), ``"batch"`` or None, for generators and discriminators.
        ndf: discriminator filters of the first conv (64).
        n_layers_d: PatchGAN strided layers (3: ``basic``, the 70x70 PatchGAN).
        gan_mode: ``"lsgan"`` (MSE, the paper) or ``"vanilla"`` (binary cross-entropy on logits).
        lambda_a: weight of the A -> B -> A cycle L1 (10).
        lambda_b: weight of the B -> A -> B cycle L1 (10).
        lambda_identity: identity L1 weight relative to lambda (0.5; 0 disables it).
        pool_size: history pool of generated images per discriminator (50; 0 disables it).
        pool_seed: seed of the pools' draws (each process of a multi-device run adds its rank).
        n_epochs: epochs at the initial learning rate (100).
        n_epochs_decay: epochs of linear decay to zero after them (100); 0 keeps the rate constant.
        init_type: ``"normal"`` (N(0, init_gain), official default) or ``"xavier"``.
        init_gain: the std, or the Xavier gain (0.02).
    """

    channels: int = 3
    ngf: int = 64
    n_blocks: int = 9
    norm: str | None = "instance"
    ndf: int = 64
    n_layers_d: int = 3
    gan_mode: str = "lsgan"
    lambda_a: float = 10.0
    lambda_b: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
    pool_seed: int = 0
    n_epochs: int = 100
    n_epochs_decay: int = 100
    init_type: str = "normal"
    init_gain: float = 0.02


class CycleGAN(AdversarialModule):
    """Domain A <-> domain B, both directions, images in [0, 1].

    Args:
        config: a :class:`CycleGANConfig` (or a dict of its fields).

    Shape:
        - ``forward`` input: (N, C, H, W) in [0, 1], H and W divisible by 4 and at least 8 (``predict`` takes any
          size); ``forward(x, reverse=True)`` runs B -> A.
        - ``forward`` output: (N, C, H, W) in [0, 1].

    Example:
        >>> import zoo
        >>> model = zoo.load("cyclegan_resnet9", weights="checkpoints/horse2zebra", official=True)
        >>> zebra = model.predict("horse.jpg")                 # a PIL image back
        >>> horse = model.predict(zebra, direction="ba")
    """

    config_class = CycleGANConfig
    progress_metrics = ("psnr",)

    def __init__(self, config: CycleGANConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode: expected one of {GAN_MODES}, received {cfg.gan_mode!r}")
        if cfg.norm not in NORMS:
            raise ValueError(f"norm: expected one of {NORMS}, received {cfg.norm!r}")
        if cfg.pool_size < 0 or cfg.n_epochs < 0 or cfg.n_epochs_decay < 0:
            raise ValueError(
                f"pool_size, n_epochs, n_epochs_decay: expected integers >= 0, received {cfg.pool_size}, {cfg.n_epochs}, {cfg.n_epochs_decay}"
            )
        self.net = build_generator_pair(cfg.channels, cfg.ngf, cfg.n_blocks, cfg.norm, cfg.init_type, cfg.init_gain)
        self.setup_ema()
        self.pools: dict[str, ImagePool] = {}
        self._pool_rank = 0
        self._pending_pools: dict[str, Any] | None = None

    # ---------------------------------------------------------------- training
    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.build_training_parts()

    def build_training_parts(self) -> None:
        """Build D_A, D_B and their image pools (training only; not in the shipped weights). Idempotent."""
        cfg = self.config
        for name in DISCRIMINATOR_DOMAINS:
            if name not in self.discriminators:
                disc = build_discriminator(cfg.channels, cfg.ndf, cfg.n_layers_d, cfg.norm, cfg.init_type, cfg.init_gain)
                self.discriminators[name] = disc.to(self.device)
        rank = self.trainer.global_rank if self._trainer is not None else 0
        # Empty pools built before a trainer was attached (e.g. by the official loader) are re-seeded for this process.
        if not self.pools or (self._pool_rank != rank and not any(len(pool) for pool in self.pools.values())):
            self.pools = {name: ImagePool(cfg.pool_size, cfg.pool_seed + 2 * rank + i) for i, name in enumerate(DISCRIMINATOR_DOMAINS)}
            self._pool_rank = rank
        if self._pending_pools is not None:
            self._restore_pools(self._pending_pools)

    def _restore_pools(self, states: dict[str, Any]) -> None:
        for name, state in states.items():
            self.pools[name].load_state_dict(state)
        self._pending_pools = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The official pools live in memory only; keeping them makes a resumed run draw as an uninterrupted one.
        checkpoint["image_pools"] = {name: pool.state_dict() for name, pool in self.pools.items()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        states = checkpoint.get("image_pools")
        if states:
            self._pending_pools = states
            if self.pools:
                self._restore_pools(states)

    def on_train_epoch_start(self) -> None:
        # Set from the epoch index rather than stepped, so a run resumed from any checkpoint is at the right rate.
        cfg = self.config
        factor = linear_decay_rule(cfg.n_epochs, cfg.n_epochs_decay)(self.current_epoch)
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        for opt, base in zip(optimizers, [cfg.g_lr] + [cfg.d_lr] * len(self.discriminators)):
            for group in opt.param_groups:
                group["lr"] = base * factor
        self.log("lr_factor", factor, on_step=False, on_epoch=True)

    def gan_loss(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        """The official ``GANLoss``: MSE to 1 / 0 (``lsgan``) or BCE on logits (``vanilla``), mean over patches."""
        target = 1.0 if real else 0.0
        if self.config.gan_mode == "lsgan":
            return least_squares_loss(logits, target)
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    def _check_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batch, dict) or "a" not in batch or "b" not in batch:
            raise ValueError(f"batch: expected a dict with images 'a' and 'b', received {checks.describe(batch)}")
        return batch["a"], batch["b"]

    def generator_step_terms(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        cfg = self.config
        real_a, real_b = self._check_batch(batch)
        fake_b, fake_a = self.net.ab(real_a), self.net.ba(real_b)
        rec_a, rec_b = self.net.ba(fake_b), self.net.ab(fake_a)
        self._fakes = {"D_A": fake_b.detach(), "D_B": fake_a.detach()}
        terms = {
            "G_A": self.gan_loss(self.discriminators["D_A"](signed(fake_b)), True),
            "G_B": self.gan_loss(self.discriminators["D_B"](signed(fake_a)), True),
            "cycle_A": F.l1_loss(signed(rec_a), signed(real_a)),
            "cycle_B": F.l1_loss(signed(rec_b), signed(real_b)),
        }
        weights = {"G_A": 1.0, "G_B": 1.0, "cycle_A": cfg.lambda_a, "cycle_B": cfg.lambda_b}
        if cfg.lambda_identity > 0:
            terms["idt_A"] = F.l1_loss(signed(self.net.ab(real_b)), signed(real_b))
            terms["idt_B"] = F.l1_loss(signed(self.net.ba(real_a)), signed(real_a))
            weights.update(idt_A=cfg.lambda_b * cfg.lambda_identity, idt_B=cfg.lambda_a * cfg.lambda_identity)
        return terms, weights

    def discriminator_loss(self, name: str, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        disc = self.discriminators[name]
        real = batch[DISCRIMINATOR_DOMAINS[name]]
        fake = self.pools[name].query(self._fakes[name])
        loss = 0.5 * (self.gan_loss(disc(signed(real)), True) + self.gan_loss(disc(signed(fake)), False))
        return {"adv": loss}

    # -------------------------------------------------------------- evaluation
    def evaluate_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """PSNR / SSIM of G_A(a) against ``b`` (meaningful for paired evaluation data, e.g. the synthetic cameras) and
        PSNR of the cycle G_B(G_A(a)) against ``a`` (meaningful for any data)."""
        a, b = self._check_batch(batch)
        fake_b = self(a).clamp(0.0, 1.0)
        rec_a = self(fake_b, reverse=True).clamp(0.0, 1.0)
        return {
            "psnr": peak_signal_noise_ratio(fake_b, b, data_range=1.0, dim=(1, 2, 3)),
            "ssim": structural_similarity_index_measure(fake_b, b, data_range=1.0),
            "cycle_psnr": peak_signal_noise_ratio(rec_a, a, data_range=1.0, dim=(1, 2, 3)),
        }

    # ------------------------------------------------------------ input/output
    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        return torch.rand(batch_size, self.config.channels, 32, 32, generator=torch.Generator().manual_seed(0)).to(self.device)

    def example_calls(self, batch_size: int = 1) -> list[tuple[tuple, dict[str, Any]]]:
        x = self.example_input(batch_size)
        return [((x,), {}), ((x,), {"reverse": True})]

    def forward(self, x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
        return (self.net if self.training else self.inference_net)(x, reverse)

    def _from_pil(self, image: Image.Image) -> torch.Tensor:
        channels = self.config.channels
        if channels not in PIL_MODES:
            raise ValueError(f"image: expected a tensor or array for a {channels}-channel model, received a PIL image")
        if image.mode != PIL_MODES[channels]:
            raise ValueError(f"image: expected a PIL image of mode {PIL_MODES[channels]!r}, received mode {image.mode!r}")
        checks.check_max_numel(image, MAX_IMAGE_VALUES, "image")
        array = np.asarray(image, dtype=np.float32) / 255.0
        return torch.from_numpy(array.reshape(*array.shape[:2], channels)).permute(2, 0, 1)[None]

    def prepare_input(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """Validate user input and batch it.

        Accepts an image file path (read with PIL and converted to RGB, or to L for 1-channel models, as the official
        loader does), a PIL image of that mode, an (H, W, C) numpy array (uint8, uint16, or float in [0, 1]), or a
        float tensor (C, H, W) / (N, C, H, W) in [0, 1]; at most :data:`MAX_IMAGE_VALUES` values.

        Returns:
            A (N, C, H, W) float tensor in [0, 1] and the context :meth:`postprocess` needs to return the same kind.

        Raises:
            ValueError: an unreadable file, a wrong type, mode, shape or dtype, an empty, oversized or non-finite input,
                or values outside [0, 1], naming what was expected and what was received.
        """
        channels = self.config.channels
        if isinstance(x, (str, Path)):
            if channels not in PIL_MODES:
                raise ValueError(f"image file: expected a {channels}-channel model to take tensors or arrays, received a path")
            converted = checks.open_image(x, "image").convert(PIL_MODES[channels])
            return self._from_pil(converted), {"kind": "pil", "mode": converted.mode}
        if isinstance(x, Image.Image):
            return self._from_pil(x), {"kind": "pil", "mode": x.mode}
        if isinstance(x, np.ndarray):
            if x.ndim != 3 or x.shape[-1] != channels:
                raise ValueError(f"image array: expected shape (H, W, {channels}), received {checks.describe(x)}")
            checks.check_max_numel(x, MAX_IMAGE_VALUES, "image array")
            if x.dtype in (np.uint8, np.uint16):
                scaled = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
            elif x.dtype.kind == "f":
                scaled = x.astype(np.float32)
            else:
                raise ValueError(f"image array: expected dtype uint8, uint16 or float, received {checks.describe(x)}")
            tensor, _ = self.prepare_input(torch.from_numpy(np.ascontiguousarray(scaled)).permute(2, 0, 1))
            return tensor, {"kind": "numpy", "dtype": x.dtype}
        batch, batched = checks.check_image_batch(x, channels, "image", max_values=MAX_IMAGE_VALUES)
        return batch, {"kind": "tensor", "batched": batched, "dtype": x.dtype, "device": x.device}

    @torch.no_grad()
    def predict(self, x: Any, direction: str = "ab") -> Any:
        """Translate user-level input from domain A to B (``direction="ab"``: G_A) or back (``"ba"``: G_B), at any size
        (padded by reflection to a multiple of 4, at least 8, and cropped back).

        Args:
            x: a (C, H, W) or (N, C, H, W) float tensor in [0, 1], an (H, W, C) numpy array, a PIL image or a path.
            direction: ``"ab"`` or ``"ba"``.

        Returns:
            The same kind: a tensor of the input's shape and dtype on its device, an array of the input's dtype, or a
            PIL image (also for a path).

        Raises:
            ValueError: bad input or direction, naming what was expected and what was received.
        """
        if direction not in ("ab", "ba"):
            raise ValueError(f"direction: expected 'ab' or 'ba', received {direction!r}")
        prepared, context = self.prepare_input(x)
        param = next(self.inference_net.parameters())
        prepared = prepared.to(device=param.device, dtype=param.dtype)
        h, w = prepared.shape[-2:]
        was_training = self.training
        self.eval()
        try:
            y = self(pad_to_multiple(prepared, MULTIPLE, MIN_SIDE), direction == "ba")[..., :h, :w]
        finally:
            self.train(was_training)
        return self.postprocess(y, context)

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> Any:
        """Clamp to [0, 1] and return the input's kind (see :meth:`predict`)."""
        y = y.clamp(0.0, 1.0)
        if context["kind"] == "tensor":
            y = y.to(device=context["device"], dtype=context["dtype"])
            return y if context["batched"] else y[0]
        array = y[0].permute(1, 2, 0).float().cpu().numpy()
        if context["kind"] == "pil":
            array = (array * 255.0 + 0.5).astype(np.uint8)
            return Image.fromarray(array[..., 0] if context["mode"] == "L" else array)
        dtype = context["dtype"]
        if np.issubdtype(dtype, np.integer):
            return (array * float(np.iinfo(dtype).max) + 0.5).astype(dtype)
        return array.astype(dtype)
