"""DigitDDPM and DigitTextDDPM: tiny DDPMs on 28x28 digits with classifier-free guidance.

    zoo train recipes/digit_ddpm_tiny/tiny.yaml
    zoo train recipes/digit_text_ddpm_tiny/tiny.yaml

Training is DDPM's (Ho et al.): t ~ U{0, T-1}, x_t = sqrt(ᾱ_t) x_0 + sqrt(1 - ᾱ_t) ε, loss ||ε - ε_θ(x_t, t, c)||²,
with the condition replaced by the null one with probability ``cond_dropout`` (classifier-free guidance, Ho &
Salimans) and an EMA of the weights for sampling. Sampling is DDIM (deterministic, η = 0) or ancestral DDPM with
diffusers' schedulers, guided by w: ε = ε(x_t, ∅) + w (ε(x_t, c) − ε(x_t, ∅)).

The public API the generative-unlearning methods build on (SFD, concept domain correction, T2UE):

- ``model.eps(x_t, t, cond)``: the (EMA) noise prediction, with gradients; ``cond`` is labels (class model) or token
  ids / prompt embeddings (text model); ``model.null_condition(n)`` is the null condition.
- ``model.alphas_cumprod``, ``model.betas``, ``model.noise_scheduler`` (diffusers ``DDPMScheduler``): the training
  schedule, ``model.add_noise(x0, noise, t)``.
- ``model.sample(conditions, steps=, guidance=, generator=, sampler=)`` and ``model.predict(...)``: images in [0, 1].
- text model: ``model.encode_prompt(prompts)`` -> (N, L, D) per-token embeddings, ``model.tokenize(prompts)``.

The text model's encoder is ``config.text_encoder``: ``"digit_clip_tiny"`` (the shipped recipe) is the text tower of
the shipped tiny CLIP, loaded when training starts and kept frozen, as Stable Diffusion keeps its pretrained CLIP
(prompts go in as that tower's byte tokens, after the closed-vocabulary check); ``"joint"`` is a tiny
``CLIPTextModel`` over word tokens trained with the UNet from scratch.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from zoo.core.module import ZooModule
from zoo.models.digit_diffusion.model import (
    DIGIT_WORDS,
    NULL_LABEL,
    NUM_DIGITS,
    ClassConditionalUNet,
    TextConditionalUNet,
    WordTokenizer,
    guided_eps,
    make_scheduler,
    sample_loop,
)

FROZEN_TEXT_ENCODERS = ("digit_clip_tiny",)
"""Pretrained text towers ``config.text_encoder`` can name (kept frozen); ``"joint"`` trains one from scratch."""
MAX_SAMPLES = 1024
"""The most images one ``predict`` / ``sample`` call draws."""
TEMPLATE_WORDS = ("a", "an", "the", "digit", "number", "handwritten", "of", "in", "style", "written", "with", "stroke", "strokes")
ATTRIBUTE_WORDS = ("thick", "thin", "slanted", "upright", "bold", "light", "small", "large", "wide", "narrow", "drawn", "plain", "striped", "sunset")
"""Style and shape words: ``zoo.data.stylized_digits.STYLES`` and its caption templates among them."""
DEFAULT_VOCABULARY = DIGIT_WORDS + TEMPLATE_WORDS + ATTRIBUTE_WORDS
"""The text model's closed vocabulary by default (a recipe adds the style names of its training captions)."""


@dataclasses.dataclass
class DigitDiffusionConfig:
    """Configuration of :class:`DigitDDPM` and :class:`DigitTextDDPM`.

    Args:
        conditioning: ``"class"`` (the digit label) or ``"text"`` (a prompt).
        image_size: image side (28: MNIST; a multiple of ``2 ** (len(channels) - 1)``).
        image_channels: 1 (grey digits) or 3 (the colour styles of ``zoo.data.stylized_digits``).
        channels: UNet ``block_out_channels``.
        layers_per_block: ResNet blocks per level.
        attention: per level, self-attention (class model) or cross-attention (text model) in its blocks.
        norm_groups: GroupNorm groups.
        head_dim: channels per attention head.
        dropout: ResNet dropout (DDPM's CIFAR-10 setting: 0.1).
        num_train_timesteps: T.
        beta_start, beta_end, beta_schedule: the noise schedule (DDPM: linear 1e-4 .. 0.02 over 1,000 steps).
        cond_dropout: probability of training on the null condition (classifier-free guidance's p_uncond).
        sampler: ``"ddpm"`` (ancestral) or ``"ddim"``, the default of ``sample`` / ``predict`` (the tiny checkpoints'
            deterministic DDIM samples keep a speckled background that the judges misread: ancestral DDPM is the default).
        sample_steps: the default number of sampling steps.
        guidance: the default guidance weight w (1: conditional, 0: unconditional).
        eta: DDIM's η by default.
        lr: Adam learning rate (after a linear warm-up of ``warmup_steps``, constant, as DDPM).
        warmup_steps: warm-up steps.
        ema_decay: decay of the weights' EMA that samples (0: no EMA).
        seed: seed of the per-step noise, timestep and condition-dropout draws (a function of the step, so a resumed
            run draws what an uninterrupted one does).
        vocabulary: the text model's words (besides ``<pad>``, ``<bos>``, ``<eos>``).
        max_prompt_tokens: tokens per prompt, ``<bos>`` and ``<eos>`` included (a frozen tower: its context length, in
            bytes).
        text_width, text_layers, text_heads: the text encoder (a transformers ``CLIPTextModel``); a frozen tower's
            must be its own.
        text_encoder: ``"joint"`` (trained with the UNet on word tokens) or ``"digit_clip_tiny"`` (that model's text
            tower, frozen, on its byte tokens; its weights are copied in when training starts).
        pooled_text: also add an attention-pooled prompt embedding to the timestep embedding (Imagen / DeepFloyd IF;
            see :class:`~zoo.models.digit_diffusion.model.TextConditionalUNet`): the prompt then also reaches every
            resolution, as the class model's label does, not only the cross-attention levels.
    """

    conditioning: str = "class"
    image_size: int = 28
    image_channels: int = 1
    channels: tuple[int, ...] = (16, 32, 64)
    layers_per_block: int = 1
    attention: tuple[bool, ...] = (False, False, False)
    norm_groups: int = 8
    head_dim: int = 8
    dropout: float = 0.0
    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    beta_schedule: str = "linear"
    cond_dropout: float = 0.1
    sampler: str = "ddpm"
    sample_steps: int = 25
    guidance: float = 2.0
    eta: float = 0.0
    lr: float = 2e-3
    warmup_steps: int = 100
    ema_decay: float = 0.995
    seed: int = 0
    vocabulary: tuple[str, ...] = DEFAULT_VOCABULARY
    max_prompt_tokens: int = 12
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_encoder: str = "joint"
    pooled_text: bool = False


def _as_int(value: Any, what: str, low: int, high: int) -> int:
    """``value`` (an int, or a string from the command line) as an int in [low, high], else a ValueError by name."""
    try:
        number = int(value) if not isinstance(value, bool) and str(value).strip().lstrip("-").isdigit() else None
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise ValueError(f"{what}: expected an integer in {low}..{high}, received {value!r}")
    return number


def _as_float(value: Any, what: str, low: float, high: float) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise ValueError(f"{what}: expected a number in [{low:g}, {high:g}], received {value!r}")
    return number


class DigitDDPM(ZooModule):
    """A class-conditional DDPM on 28x28 grey digits (labels 0-9; 10 is the null label of classifier-free guidance).

    Args:
        config: a :class:`DigitDiffusionConfig` (or a dict of its fields).

    Shape:
        - ``forward(x_t, t, labels)``: x_t (N, 1, 28, 28) in about [-1, 1] (noisy), t (N,) int64 in 0..T-1, labels (N,)
          int64 in 0..10.
        - Output: (N, 1, 28, 28), the predicted noise ε.

    Example:
        >>> model = zoo.load("digit_ddpm_tiny")
        >>> sevens = model.predict(7, num_samples=8, seed=0)        # (8, 1, 28, 28) in [0, 1]
        >>> x = model.sample(torch.arange(10), steps=25, guidance=2.0, generator=torch.Generator().manual_seed(0))
    """

    config_class = DigitDiffusionConfig
    progress_metrics = ("diffusion_loss",)
    expected_conditioning = "class"

    def __init__(self, config: DigitDiffusionConfig | dict | None = None) -> None:
        super().__init__(config)
        c = self.config
        if c.conditioning != self.expected_conditioning:
            raise ValueError(f"config.conditioning: expected {self.expected_conditioning!r} for {type(self).__name__}, received {c.conditioning!r}")
        if not 0.0 <= c.cond_dropout < 1.0:
            raise ValueError(f"config.cond_dropout: expected a probability in [0, 1), received {c.cond_dropout}")
        make_scheduler(c.sampler)  # refuse an unknown sampler now
        self.net = self.build_net()
        self.net_ema = AveragedModel(self.net, multi_avg_fn=get_ema_multi_avg_fn(c.ema_decay), use_buffers=True) if c.ema_decay > 0 else None

    def build_net(self) -> torch.nn.Module:
        c = self.config
        return ClassConditionalUNet(c.image_size, c.channels, c.layers_per_block, c.attention, c.norm_groups, c.head_dim, c.dropout, c.image_channels)

    @property
    def inference_net(self) -> torch.nn.Module:
        """The EMA copy when kept (what is shipped and samples), else the trained network."""
        return self.net_ema.module if self.net_ema is not None else self.net

    # ------------------------------------------------------------- schedule
    @cached_property
    def noise_scheduler(self):
        """The training noise schedule, a diffusers ``DDPMScheduler`` (``add_noise``, ``alphas_cumprod``)."""
        c = self.config
        return make_scheduler("ddpm", c.num_train_timesteps, c.beta_start, c.beta_end, c.beta_schedule)

    @property
    def betas(self) -> torch.Tensor:
        """β_t, (T,) float32 on the model's device."""
        return self.noise_scheduler.betas.to(self.device)

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """ᾱ_t = Π_{s<=t} (1 − β_s), (T,) float32 on the model's device (x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε)."""
        return self.noise_scheduler.alphas_cumprod.to(self.device)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t from x_0 (in [-1, 1]), ε and t (N,)."""
        abar = self.alphas_cumprod[t].to(x0.dtype).view(-1, *([1] * (x0.ndim - 1)))
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    # ----------------------------------------------------------- conditions
    def condition(self, labels: Any) -> torch.Tensor:
        """Validate digit labels: an int, a list of ints or an int tensor, each in 0..9 (or 10, the null label).

        Returns:
            (N,) int64 on the model's device.
        """
        if isinstance(labels, torch.Tensor):
            if labels.is_floating_point() or labels.ndim > 1 or labels.numel() == 0:
                raise ValueError(f"labels: expected a (N,) integer tensor of digits 0..{NULL_LABEL}, received {labels.dtype} of shape {tuple(labels.shape)}")
            values = labels.reshape(-1).tolist()
        else:
            values = [labels] if not isinstance(labels, (list, tuple)) else list(labels)
            if not values:
                raise ValueError(f"labels: expected at least one digit 0..{NULL_LABEL}, received an empty {type(labels).__name__}")
        values = [_as_int(v, "label", 0, NULL_LABEL) for v in values]
        if len(values) > MAX_SAMPLES:
            raise ValueError(f"labels: expected at most {MAX_SAMPLES}, received {len(values)}")
        return torch.tensor(values, dtype=torch.long, device=self.device)

    def null_condition(self, n: int) -> torch.Tensor:
        """The null condition of ``n`` samples: the null label (N,)."""
        return torch.full((n,), NULL_LABEL, dtype=torch.long, device=self.device)

    def drop_condition(self, cond: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        """``cond`` with the rows where ``drop`` (N,) bool is True replaced by the null condition."""
        null = self.null_condition(len(cond))
        return torch.where(drop.view(-1, *([1] * (cond.ndim - 1))), null, cond)

    # -------------------------------------------------------------- network
    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return (self.net if self.training else self.inference_net)(x_t, t, cond)

    def eps(self, x_t: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor) -> torch.Tensor:
        """The sampling network's (EMA) noise prediction ε(x_t, t, c), with gradients (SFD's teacher score is
        −ε / sqrt(1 − ᾱ_t)).

        Args:
            x_t: (N, 1, 28, 28).
            t: (N,) or a scalar timestep in 0..T-1.
            cond: labels (N,) in 0..10 (text model: token ids (N, L) or prompt embeddings (N, L, D)).
        """
        t = torch.as_tensor(t, device=x_t.device).long().expand(len(x_t)) if not isinstance(t, torch.Tensor) or t.ndim == 0 else t
        return self.inference_net(x_t, t, cond)

    def guided_eps(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, guidance: float) -> torch.Tensor:
        """Classifier-free guided ε: ε(x_t, ∅) + w (ε(x_t, c) − ε(x_t, ∅)) (w = 1: conditional, 0: unconditional)."""
        return guided_eps(self.eps, x_t, t, cond, self.null_condition(len(x_t)), guidance)

    # ------------------------------------------------------------- sampling
    def _sampling_options(self, steps, guidance, sampler, eta) -> tuple[int, float, str, float]:
        c = self.config
        steps = c.sample_steps if steps is None else _as_int(steps, "steps", 1, c.num_train_timesteps)
        guidance = c.guidance if guidance is None else _as_float(guidance, "guidance", 0.0, 50.0)
        sampler = c.sampler if sampler is None else sampler
        if sampler not in ("ddim", "ddpm"):
            raise ValueError(f"sampler: expected 'ddim' or 'ddpm', received {sampler!r}")
        eta = c.eta if eta is None else _as_float(eta, "eta", 0.0, 1.0)
        return steps, guidance, sampler, eta

    @torch.no_grad()
    def sample(self, conditions: Any, steps: int | None = None, guidance: float | None = None, generator: torch.Generator | None = None,
               sampler: str | None = None, eta: float | None = None, noise: torch.Tensor | None = None, progress: bool = False) -> torch.Tensor:
        """Draw one image per condition.

        Args:
            conditions: labels (an int, list or (N,) tensor of 0..9; 10 draws unconditionally); text model: prompts.
            steps: sampling steps (default ``config.sample_steps``).
            guidance: classifier-free guidance weight w (default ``config.guidance``).
            generator: the randomness (x_T and the DDPM steps); the same seed gives the same images.
            sampler: ``"ddim"`` or ``"ddpm"`` (default ``config.sampler``).
            eta: DDIM's η (default ``config.eta``).
            noise: x_T (N, 1, H, W) instead of drawing it.
            progress: show a tqdm bar.

        Returns:
            (N, 1, H, W) images in [0, 1].
        """
        steps, guidance, sampler, eta = self._sampling_options(steps, guidance, sampler, eta)
        cond = self.condition(conditions)
        c = self.config
        shape = (len(cond), c.image_channels, c.image_size, c.image_size)
        if noise is None:
            device = generator.device if generator is not None else self.device
            noise = torch.randn(shape, generator=generator, device=device)
        elif tuple(noise.shape) != shape:
            raise ValueError(f"noise: expected shape {shape}, received {tuple(noise.shape)}")
        param = next(self.inference_net.parameters())
        scheduler = make_scheduler(sampler, c.num_train_timesteps, c.beta_start, c.beta_end, c.beta_schedule)
        was_training = self.training
        self.eval()
        try:
            x0 = sample_loop(lambda x, t: self.guided_eps(x, t, cond, guidance), noise.to(param), scheduler, steps, generator, eta, progress)
        finally:
            self.train(was_training)
        return (x0 + 1) / 2

    def predict(self, label: Any, num_samples: int | str = 1, steps: int | str | None = None, guidance: float | str | None = None,
                seed: int | str = 0, sampler: str | None = None) -> torch.Tensor:
        """Images of a digit (or of several).

        Args:
            label: a digit 0-9 (a string from the command line too), or a list of digits.
            num_samples: images per digit.
            steps: sampling steps (default ``config.sample_steps``).
            guidance: classifier-free guidance weight (default ``config.guidance``).
            seed: the seed of the draw (same seed, same images).
            sampler: ``"ddpm"`` (ancestral, the default) or ``"ddim"``.

        Returns:
            (N, 1, 28, 28) in [0, 1], N = digits x ``num_samples`` (digit-major); one digit and one sample: the
            image (1, 28, 28), which ``zoo predict ... -o x.png`` writes.
        """
        conditions, single = self._predict_conditions(label)
        n = _as_int(num_samples, "num_samples", 1, MAX_SAMPLES)
        seed = _as_int(seed, "seed", 0, 2**63 - 1)
        repeated = [c for c in conditions for _ in range(n)]
        if len(repeated) > MAX_SAMPLES:
            raise ValueError(f"num_samples: expected at most {MAX_SAMPLES} images in all, received {len(repeated)}")
        images = self.sample(repeated, steps, guidance, torch.Generator().manual_seed(seed), sampler).cpu()
        return images[0] if single and n == 1 else images

    def _predict_conditions(self, label: Any) -> tuple[list, bool]:
        values = label if isinstance(label, (list, tuple)) else [label]
        if not values:
            raise ValueError("label: expected a digit 0..9 or a list of them, received an empty list")
        return [_as_int(v, "label", 0, NUM_DIGITS - 1) for v in values], not isinstance(label, (list, tuple))

    def prepare_input(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        return self.condition(x), {}

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> torch.Tensor:
        return y

    # --------------------------------------------------------------- examples
    def example_input(self, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Noisy images, timesteps and labels: ``(x_t, t, labels)``."""
        g = torch.Generator().manual_seed(0)
        x = torch.randn(batch_size, self.config.image_channels, self.config.image_size, self.config.image_size, generator=g)
        t = torch.randint(0, self.config.num_train_timesteps, (batch_size,), generator=g)
        return x.to(self.device), t.to(self.device), (torch.arange(batch_size) % NUM_DIGITS).to(self.device)

    def example_predict_input(self) -> int:
        return 7

    def example_cli_args(self, folder: Path) -> tuple[list[str], str]:
        """``zoo predict digit_ddpm_tiny --label 7 --steps 5 -o seven.png``."""
        return ["--label", "7", "--steps", "5"], ".png"

    # -------------------------------------------------------------- training
    def batch_parts(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_0 in [-1, 1], condition) of a training batch: ``(images in [0, 1], labels)`` or ``{"image", "digit"}``."""
        images, labels = (batch["image"], batch["digit"]) if isinstance(batch, dict) else (batch[0], batch[1])
        return self._channels(images) * 2 - 1, labels.long()

    def _channels(self, images: torch.Tensor) -> torch.Tensor:
        """Images with the model's channel count: colour to grey by the channel mean, grey to colour repeated."""
        if images.shape[1] == self.config.image_channels:
            return images
        return images.mean(1, keepdim=True) if self.config.image_channels == 1 else images.expand(-1, self.config.image_channels, -1, -1)

    def diffusion_loss(self, x0: torch.Tensor, cond: torch.Tensor, generator: torch.Generator, dropout: float | None = None) -> torch.Tensor:
        """DDPM's simple loss: mean ||ε − ε_θ(x_t, t, c)||² with t, ε and the dropped conditions drawn from ``generator``."""
        n = len(x0)
        dropout = self.config.cond_dropout if dropout is None else dropout
        t = torch.randint(0, self.config.num_train_timesteps, (n,), generator=generator).to(x0.device)
        noise = torch.randn(x0.shape, generator=generator).to(x0)
        drop = (torch.rand(n, generator=generator) < dropout).to(x0.device)
        return F.mse_loss(self(self.add_noise(x0, noise, t), t, self.drop_condition(cond, drop)), noise)

    def _step_generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.global_step * 7 + offset)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x0, cond = self.batch_parts(batch)
        loss = self.diffusion_loss(x0, cond, self._step_generator())
        self.log("train/loss", loss, prog_bar=True, batch_size=len(x0))
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The optimiser step, then the EMA's, inside the step: a checkpoint saved every N steps (by a callback's
        ``on_train_batch_end``, which runs before the module's) then holds the EMA of the weights it holds."""
        super().optimizer_step(*args, **kwargs)
        if self.net_ema is not None:
            self.net_ema.update_parameters(self.net)

    def evaluate_batch(self, batch: Any) -> dict[str, torch.Tensor]:
        """The diffusion loss of the sampling network at fixed draws (seeded by the batch size and content sum)."""
        x0, cond = self.batch_parts(batch)
        g = torch.Generator().manual_seed(12345 + len(x0))
        was = self.training
        self.eval()
        try:
            loss = self.diffusion_loss(x0, cond, g, dropout=0.0)
        finally:
            self.train(was)
        return {"diffusion_loss": loss}

    def configure_optimizers(self):
        optimizer = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad], lr=self.config.lr)
        warmup = max(1, self.config.warmup_steps)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class DigitTextDDPM(DigitDDPM):
    """A text-conditioned DDPM on 28x28 digits: prompts such as ``"a seven in the thick style"`` through a tiny CLIP
    text encoder (``config.text_encoder``: the shipped model keeps ``digit_clip_tiny``'s text tower frozen); the empty
    prompt ``""`` is the null condition of classifier-free guidance.

    Shape:
        - ``forward(x_t, t, input_ids)``: x_t (N, C, 28, 28) (C = ``config.image_channels``, 3 for the shipped model),
          t (N,), input_ids (N, max_prompt_tokens) int64 (:meth:`tokenize`).
        - Output: (N, C, 28, 28), the predicted noise ε.

    Example:
        >>> model = zoo.load("digit_text_ddpm_tiny")
        >>> images = model.predict("a seven in the thick style", num_samples=4, seed=0)   # (4, 3, 28, 28)
        >>> states = model.encode_prompt(["a seven", ""])                                  # (2, L, D): DoCo / T2UE
    """

    expected_conditioning = "text"

    def build_net(self) -> torch.nn.Module:
        c = self.config
        geometry = (c.image_size, c.channels, c.layers_per_block, c.attention, c.norm_groups, c.head_dim, c.dropout, c.image_channels)
        if c.text_encoder == "joint":
            return TextConditionalUNet(len(self.tokenizer), c.max_prompt_tokens, c.text_width, c.text_layers, c.text_heads, *geometry, pooled_text=c.pooled_text)
        from zoo.models.digit_clip.model import BOS_ID, EOS_ID, PAD_ID, VOCAB_SIZE

        tower = self._frozen_tower_shape()
        return TextConditionalUNet(VOCAB_SIZE, *tower, *geometry, token_ids=(PAD_ID, BOS_ID, EOS_ID), frozen_text=True, pooled_text=c.pooled_text)

    def _frozen_tower_shape(self) -> tuple[int, int, int, int]:
        """(context length, width, layers, heads) of the frozen text tower, which the config must repeat."""
        c = self.config
        if c.text_encoder not in ("joint", *FROZEN_TEXT_ENCODERS):
            raise ValueError(f"config.text_encoder: expected 'joint' or one of {FROZEN_TEXT_ENCODERS}, received {c.text_encoder!r}")
        from zoo.registry import get_spec

        clip = get_spec(c.text_encoder).config
        tower = {"max_prompt_tokens": clip["context_length"], "text_width": clip["text_width"], "text_layers": clip["text_layers"], "text_heads": clip["text_heads"]}
        wrong = {k: (v, getattr(c, k)) for k, v in tower.items() if getattr(c, k) != v}
        if wrong:
            raise ValueError(f"config: expected the frozen {c.text_encoder} text tower's shape {tower}, received " + ", ".join(f"{k}={got}" for k, (_, got) in wrong.items()))
        return tuple(tower.values())

    def setup(self, stage: str) -> None:
        """Before training: copy the pretrained text tower into the (frozen) text encoder of both copies (idempotent:
        a resumed run restores the same values from its checkpoint)."""
        if stage == "fit" and self.config.text_encoder != "joint":
            self.load_frozen_text_encoder()

    def load_frozen_text_encoder(self) -> None:
        """The shipped ``config.text_encoder`` model's text tower -> ``net.text_encoder`` (and the EMA copy's)."""
        from zoo.hub import load

        tower = load(self.config.text_encoder).net.clip.text_model.state_dict()
        for net in (self.net, self.inference_net):
            # transformers 4 wraps the transformer in CLIPTextModel.text_model; 5 is the transformer itself
            getattr(net.text_encoder, "text_model", net.text_encoder).load_state_dict(tower)

    @cached_property
    def tokenizer(self) -> WordTokenizer:
        """The closed word-level tokenizer over ``config.vocabulary``."""
        return WordTokenizer(self.config.vocabulary, self.config.max_prompt_tokens)

    def tokenize(self, prompts: str | list[str]) -> torch.Tensor:
        """Token ids (N, max_prompt_tokens) of prompts (``""`` is the null prompt).

        Raises:
            ValueError: not a string or a list of 1..``MAX_SAMPLES`` strings, an unknown word, or too many words.
        """
        values = [prompts] if isinstance(prompts, str) else prompts
        if not isinstance(values, (list, tuple)) or not 1 <= len(values) <= MAX_SAMPLES or not all(isinstance(p, str) for p in values):
            from zoo.core.checks import describe

            raise ValueError(f"prompt: expected a string or a list of 1..{MAX_SAMPLES} strings, received {describe(prompts)}")
        ids = self.tokenizer(list(values))  # the closed vocabulary is checked in both modes
        if self.config.text_encoder == "joint":
            return ids.to(self.device)
        from zoo.models.digit_clip.model import tokenize

        limit = self.config.max_prompt_tokens - 2
        long = [p for p in values if len(p.encode("utf-8")) > limit]
        if long:
            raise ValueError(f"prompt: expected at most {limit} bytes (the {self.config.text_encoder} text tower's context), received {len(long[0].encode('utf-8'))} in {long[0]!r}")
        return tokenize(list(values), self.config.max_prompt_tokens).to(self.device)

    def encode_prompt(self, prompts: str | list[str]) -> torch.Tensor:
        """Prompt embeddings of the sampling (EMA) text encoder, with gradients: (N, max_prompt_tokens, text_width)."""
        return self.inference_net.encode(self.tokenize(prompts))

    def condition(self, prompts: Any) -> torch.Tensor:
        """Token ids of prompts, or token ids / prompt embeddings given as tensors, passed through."""
        if isinstance(prompts, torch.Tensor):
            if prompts.ndim == 2 and not prompts.is_floating_point() or prompts.ndim == 3 and prompts.is_floating_point():
                return prompts.to(self.device)
            raise ValueError(f"prompts: expected strings, token ids (N, L) or embeddings (N, L, D), received {prompts.dtype} of shape {tuple(prompts.shape)}")
        return self.tokenize(prompts)

    def null_condition(self, n: int) -> torch.Tensor:
        """The null condition of ``n`` samples: the empty prompt's token ids (N, max_prompt_tokens)."""
        return self.tokenize([""]).expand(n, -1)

    def eps(self, x_t: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor) -> torch.Tensor:
        """ε(x_t, t, c) of the sampling network with gradients; ``cond`` is token ids (N, L) or prompt embeddings (N, L, D)."""
        t = torch.as_tensor(t, device=x_t.device).long().expand(len(x_t)) if not isinstance(t, torch.Tensor) or t.ndim == 0 else t
        net = self.inference_net
        return net.denoise(x_t, t, cond) if cond.is_floating_point() else net(x_t, t, cond)

    def guided_eps(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, guidance: float) -> torch.Tensor:
        null = self.null_condition(len(x_t))
        if cond.is_floating_point():
            null = self.inference_net.encode(null)
        return guided_eps(self.eps, x_t, t, cond, null, guidance)

    def _predict_conditions(self, prompt: Any) -> tuple[list, bool]:
        values = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(values, (list, tuple)) or not values or not all(isinstance(p, str) and p.strip() for p in values):
            from zoo.core.checks import describe

            raise ValueError(f"prompt: expected a non-empty string or a list of them, received {describe(prompt)}")
        self.tokenize(list(values))  # unknown words are refused before sampling
        return list(values), isinstance(prompt, str)

    def predict(self, prompt: Any, num_samples: int | str = 1, steps: int | str | None = None, guidance: float | str | None = None,
                seed: int | str = 0, sampler: str | None = None) -> torch.Tensor:
        """Images of a prompt (or of several): ``"a seven"``, ``"a thick seven"``, ...

        Args:
            prompt: a non-empty prompt of the model's vocabulary, or a list of them.
            num_samples, steps, guidance, seed, sampler: as :meth:`DigitDDPM.predict`.

        Returns:
            (N, 1, 28, 28) in [0, 1] (prompt-major); one prompt and one sample: the image (1, 28, 28).
        """
        return super().predict(prompt, num_samples, steps, guidance, seed, sampler)

    def example_input(self, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Noisy images, timesteps and the token ids of ``"a seven"``, ``"a thick two"``, ...: ``(x_t, t, input_ids)``."""
        x, t, labels = super().example_input(batch_size)
        prompts = [f"a {'thick ' if i % 2 else ''}{DIGIT_WORDS[int(d)]}" for i, d in enumerate(labels)]
        return x, t, self.tokenize(prompts)

    def example_predict_input(self) -> str:
        return "a seven"

    def example_cli_args(self, folder: Path) -> tuple[list[str], str]:
        """``zoo predict digit_text_ddpm_tiny --prompt "a seven" --steps 5 -o seven.png``."""
        return ["--prompt", "a seven", "--steps", "5"], ".png"

    def batch_parts(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_0 in [-1, 1], token ids) of a batch of ``{"image": (N, C, 28, 28) in [0, 1], "caption": [str]}``
        (``zoo.data.stylized_digits``)."""
        return self._channels(batch["image"]) * 2 - 1, self.tokenize(list(batch["caption"]))
