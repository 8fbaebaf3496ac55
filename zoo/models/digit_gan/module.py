"""The digit GAN as an AdversarialModule: StyleGAN2's losses (non-saturating logistic, R1) on a DCGAN with a mapping
network, trained on real MNIST digits.

    zoo train recipes/digit_gan_tiny/tiny.yaml

The generator is ``self.net`` (its EMA copy is what ships); the discriminator is ``self.discriminators["d"]``, kept
for fine-tuning (Adapt-then-Unlearn adapts and unlearns with it): it ships beside the generator as
``discriminator.safetensors``, training-only (not the inference network, not in ``num_params``), and
``zoo.load`` restores it when the folder holds it. The noise of step ``k`` is drawn from ``seed`` and ``k``, so a
resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from zoo.core import checks
from zoo.core.adversarial import AdversarialConfig, AdversarialModule
from zoo.losses.adversarial import logistic_discriminator_loss, nonsaturating_generator_loss
from zoo.models.digit_gan.model import DigitDiscriminator, DigitGenerator

DISCRIMINATOR_NAME = "discriminator.safetensors"
MAX_SAMPLES = 65_536
"""The most images one ``predict`` / ``sample`` call draws."""


@dataclass
class DigitGANConfig(AdversarialConfig):
    """Architecture and optimisation of the digit GAN (defaults: the shipped tiny setting; ``paper.yaml`` holds
    Adapt-then-Unlearn's StyleGAN2 settings mapped onto this network).

    Args:
        latent_dim: size of z.
        w_dim: size of w (the mapping network's output).
        mapping_layers: linear layers of the mapping network (StyleGAN2: 8).
        width: generator channels at 28x28 (doubled at 14x14 and 7x7).
        d_width: discriminator channels of its first conv (doubled twice).
        seed: seed of the training noise (with the step count).
        (and :class:`~zoo.core.adversarial.AdversarialConfig`'s optimisation fields.)
    """

    latent_dim: int = 64
    w_dim: int = 64
    mapping_layers: int = 4
    width: int = 16
    d_width: int = 16
    seed: int = 0
    g_lr: float = 5e-4
    g_betas: tuple[float, float] = (0.5, 0.99)
    d_lr: float = 5e-4
    d_betas: tuple[float, float] = (0.5, 0.99)
    r1_gamma: float = 1.0
    ema_decay: float = 0.995


def _count(value: Any, what: str, low: int, high: int) -> int:
    """An int from an int or a decimal string (``zoo predict --n 16``), within [low, high]."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what}: expected an int in {low}..{high:,}, received {value!r}")
    return value


class DigitGAN(AdversarialModule):
    """DCGAN + mapping network on 28x28 grey digits. Batches: ``(images (N, 1, 28, 28) in [0, 1], labels)`` as
    :class:`~zoo.data.digits.DigitsDataModule` yields them (labels unused), or a bare image tensor."""

    config_class = DigitGANConfig

    def __init__(self, config: DigitGANConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.net = DigitGenerator(cfg.latent_dim, cfg.w_dim, cfg.mapping_layers, cfg.width)
        self.discriminators["d"] = DigitDiscriminator(cfg.d_width)
        self.setup_ema()

    # ------------------------------------------------- what fine-tuning uses
    @property
    def generator(self) -> nn.Module:
        """The shipped generator (the EMA copy when kept): ``z (N, latent_dim) -> (N, 1, 28, 28)`` in [-1, 1]."""
        return self.inference_net

    @property
    def discriminator(self) -> nn.Module:
        """The trained discriminator: ``(N, 1, 28, 28)`` in [-1, 1] -> logits (N,)."""
        return self.discriminators["d"]

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    # --------------------------------------------------------------- training
    def _noise(self, n: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + int(self.generator_steps) * 131 + self.global_rank)
        return torch.randn(n, self.config.latent_dim, generator=gen).to(self.device)

    @staticmethod
    def _real(batch: Any) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch["image"] if isinstance(batch, dict) else batch
        return x * 2 - 1

    def generator_step_terms(self, batch: Any) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        self._real_batch = self._real(batch)
        self._fake = self.net(self._noise(len(self._real_batch)))
        return {"adv": nonsaturating_generator_loss(self.discriminator(self._fake))}, {"adv": 1.0}

    def discriminator_loss(self, name: str, batch: Any) -> dict[str, torch.Tensor]:
        return self.penalized_discriminator_loss(self.discriminators[name], self._real_batch, self._fake, logistic_discriminator_loss)

    @torch.no_grad()
    def evaluate_batch(self, batch: Any) -> dict[str, torch.Tensor]:
        """The discriminator's mean logit on the batch's real digits and on as many samples (fixed noise), and the
        generator's non-saturating loss on those samples."""
        real = self._real(batch)
        z = torch.randn(len(real), self.latent_dim, generator=torch.Generator().manual_seed(12345)).to(self.device)
        fake_logits = self.discriminator(self.generator(z))
        return {"d_real_logit": self.discriminator(real).mean(), "d_fake_logit": fake_logits.mean(), "g_adv": nonsaturating_generator_loss(fake_logits)}

    # -------------------------------------------------------------- inference
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, batch_size: int = 512) -> torch.Tensor:
        """``n`` digits from z ~ N(0, I) drawn with ``generator`` (default: seed 0), deterministic under it.

        Args:
            n: how many.
            generator: a CPU ``torch.Generator`` for z.
            batch_size: images per forward pass.

        Returns:
            (n, 1, 28, 28) float32 in [0, 1], on the model's device.
        """
        n = _count(n, "n", 1, MAX_SAMPLES)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator: expected a torch.Generator or None, received {checks.describe(generator)}")
        z = torch.randn(n, self.latent_dim, generator=generator if generator is not None else torch.Generator().manual_seed(0))
        net = self.generator
        was_training = net.training
        net.eval()
        try:
            return torch.cat([net(chunk.to(self.device)) for chunk in z.split(batch_size)]).add(1).div(2).clamp(0, 1)
        finally:
            net.train(was_training)

    def predict(self, n: int | str = 16, seed: int | str = 0, grid: bool | str = False) -> torch.Tensor:
        """``n`` generated digits, deterministic under ``seed``.

        Args:
            n: how many (1..65,536; a decimal string too, as ``zoo predict --n 16`` passes it).
            seed: the seed of z (an int >= 0, or its decimal string).
            grid: return one image, the samples tiled 8 to a row with a 1-pixel grey border (``zoo predict ... -o
                samples.png --grid true``); ``"true"`` / ``"false"`` strings too.

        Returns:
            (n, 1, 28, 28) float32 tensor in [0, 1]; with ``grid``, an (H, W) one.
        """
        seed = _count(seed, "seed", 0, 2**63 - 1)
        if isinstance(grid, str) and grid.lower() in ("true", "false", "1", "0", "yes", "no"):
            grid = grid.lower() in ("true", "1", "yes")
        if not isinstance(grid, bool):
            raise ValueError(f"grid: expected a bool (or 'true' / 'false'), received {grid!r}")
        images = self.sample(n, torch.Generator().manual_seed(seed))
        if not grid:
            return images
        from torchvision.utils import make_grid

        return make_grid(images.cpu(), nrow=8, padding=1, pad_value=0.5)[0]

    def prepare_input(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """z for ``forward``: a (latent_dim,) or (N, latent_dim) finite float tensor."""
        if not isinstance(x, torch.Tensor) or x.ndim not in (1, 2) or x.shape[-1] != self.latent_dim:
            raise ValueError(f"z: expected a tensor (N, {self.latent_dim}), received {checks.describe(x)}")
        checks.check_floating(x, "z")
        checks.check_finite(x, "z")
        return (x if x.ndim == 2 else x[None]).float(), {}

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> torch.Tensor:
        return y.add(1).div(2).clamp(0, 1)

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        return torch.randn(batch_size, self.latent_dim, generator=torch.Generator().manual_seed(0)).to(self.device)

    def example_predict_input(self) -> int:
        return 4

    def example_cli_args(self, folder: Path) -> tuple[list[str], str]:
        """``zoo predict digit_gan_tiny -o samples.npz --n 4 --seed 0``: no input file, the samples as an array."""
        return ["--n", "4", "--seed", "0"], ".npz"

    # ------------------------------------------------- the training-only file
    def save_pretrained(self, save_directory: str | Path, *, repo_id: str | None = None, push_to_hub: bool = False,
                        card: bool = True, manifest: bool = True, **push_to_hub_kwargs: Any) -> Path:
        """:meth:`ZooModule.save_pretrained`, plus ``discriminator.safetensors`` (listed in the manifest)."""
        from zoo.hub import write_manifest

        directory = super().save_pretrained(save_directory, card=card, manifest=False)
        state = {k: v.detach().cpu().contiguous() for k, v in self.discriminator.state_dict().items()}
        save_file(state, str(directory / DISCRIMINATOR_NAME), metadata={"format": "pt", "role": "training-only discriminator"})
        if manifest:
            write_manifest(directory)
        if push_to_hub:
            self.push_to_hub(repo_id or directory.name, **push_to_hub_kwargs)
        return directory

    def load_net_weights(self, path: str | Path) -> None:
        """The generator from ``model.safetensors``; the discriminator from ``discriminator.safetensors`` beside it
        when present, checked against the folder's manifest or the shipped record."""
        super().load_net_weights(path)
        d_path = Path(path).with_name(DISCRIMINATOR_NAME)
        if d_path.is_file():
            self._verify_discriminator(d_path)
            state = load_file(str(d_path))
            checks.check_state_dict(self.discriminator, state, type(self).__name__ + " discriminator")
            self.discriminator.load_state_dict(state, strict=True)

    @staticmethod
    def _verify_discriminator(path: Path) -> None:
        from zoo.core.files import MANIFEST_NAME
        from zoo.hub import SHIPPED_WEIGHTS, verify_files
        from zoo.registry import checkpoint_record

        manifest = path.parent / MANIFEST_NAME
        if manifest.is_file():
            digests = json.loads(manifest.read_text())
            if DISCRIMINATOR_NAME in digests:
                verify_files(path.parent, {DISCRIMINATOR_NAME: digests[DISCRIMINATOR_NAME]})
        elif path.parent.parent.resolve() == SHIPPED_WEIGHTS.resolve():
            record = checkpoint_record(path.parent.name)
            if record is not None and DISCRIMINATOR_NAME in record.sha256:
                verify_files(path.parent, {DISCRIMINATOR_NAME: record.sha256[DISCRIMINATOR_NAME]})
