"""The digit diffusion networks as plain modules (no Lightning), and their sampler.

- :class:`ClassConditionalUNet`: a diffusers ``UNet2DModel`` whose class embedding has one row per digit and one
  null row (:data:`NULL_LABEL`) for classifier-free guidance.
- :class:`TextConditionalUNet`: a diffusers ``UNet2DConditionModel`` (cross-attention) over the per-token hidden states
  of a tiny transformers ``CLIPTextModel``: either trained with it on word-level tokens (:class:`WordTokenizer`), or a
  pretrained text tower kept frozen (``frozen_text``, as Stable Diffusion keeps CLIP's), on that tower's own tokens.
- :func:`guided_eps` and :func:`sample_loop`: classifier-free guidance and DDPM / DDIM sampling with diffusers'
  schedulers, deterministic under a ``torch.Generator``.

Both networks map ``(x_t, t, condition)`` to the predicted noise ε (the DDPM parameterisation), on images in [-1, 1].

    >>> net = ClassConditionalUNet()
    >>> eps = net(torch.randn(2, 1, 28, 28), torch.tensor([10, 500]), torch.tensor([3, NULL_LABEL]))   # (2, 1, 28, 28)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
from torch import nn

NUM_DIGITS = 10
NULL_LABEL = NUM_DIGITS
"""The class-embedding row of "no label": what the null condition of classifier-free guidance is."""
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def _blocks(levels: Sequence[bool], plain: str, attention: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """diffusers block names, down and up: ``attention`` where ``levels`` is True (level 0 = full resolution)."""
    down = tuple(f"{attention if a else plain}DownBlock2D" for a in levels)
    up = tuple(f"{attention if a else plain}UpBlock2D" for a in reversed(levels))
    return down, up


class ClassConditionalUNet(nn.Module):
    """Class-conditional noise predictor: ``UNet2DModel`` with ``num_class_embeds = 11`` (10 digits + the null label).

    Args:
        image_size: side of the (square) images; a multiple of ``2 ** (len(channels) - 1)``.
        channels: output channels of each resolution level (``block_out_channels``).
        layers_per_block: ResNet blocks per level on the way down (one more on the way up, as diffusers does).
        attention: per level, whether its blocks carry self-attention (``AttnDownBlock2D`` / ``AttnUpBlock2D``); the
            middle block at the lowest resolution always has it.
        norm_groups: GroupNorm groups.
        head_dim: channels per attention head.
        dropout: dropout inside the ResNet blocks.
        image_channels: image channels C (1: grey digits).

    Shape:
        - x_t: (N, C, H, W) noisy images; t: (N,) or () integer timesteps; labels: (N,) int64 in 0..10.
        - Output: (N, C, H, W), the predicted noise.
    """

    def __init__(self, image_size: int = 28, channels: Sequence[int] = (16, 32, 64), layers_per_block: int = 1, attention: Sequence[bool] = (False, False, False),
                 norm_groups: int = 8, head_dim: int = 8, dropout: float = 0.0, image_channels: int = 1) -> None:
        super().__init__()
        from diffusers import UNet2DModel

        _check_geometry(image_size, channels, attention, norm_groups)
        down, up = _blocks(attention, "", "Attn")
        self.unet = UNet2DModel(sample_size=image_size, in_channels=image_channels, out_channels=image_channels, block_out_channels=tuple(channels), layers_per_block=layers_per_block,
                                down_block_types=down, up_block_types=up, num_class_embeds=NUM_DIGITS + 1, norm_num_groups=norm_groups,
                                attention_head_dim=head_dim, dropout=dropout)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.unet(x_t, t, class_labels=labels).sample


class WordTokenizer:
    """Word-level tokens of short prompts: lower-cased words (punctuation dropped) between ``<bos>`` and ``<eos>``,
    padded with ``<pad>`` to ``max_length``. The vocabulary is closed: an unknown word is an error, not a silent
    ``<unk>``, so a prompt the model was never taught is refused by name.

    Args:
        vocabulary: the words (after the three special tokens, in this order).
        max_length: tokens per prompt, ``<bos>`` and ``<eos>`` included.
    """

    def __init__(self, vocabulary: Sequence[str], max_length: int) -> None:
        self.words = SPECIAL_TOKENS + tuple(vocabulary)
        self.ids = {w: i for i, w in enumerate(self.words)}
        if len(self.ids) != len(self.words):
            raise ValueError(f"vocabulary: expected distinct words, received duplicates {sorted({w for w in vocabulary if list(vocabulary).count(w) > 1})}")
        self.max_length = max_length

    @staticmethod
    def split(prompt: str) -> list[str]:
        """The words of a prompt: lower case, split on spaces, commas, full stops, hyphens and quotes."""
        return [w for w in re.split(r"[\s,.;:!?\"'()-]+", prompt.lower()) if w]

    def __len__(self) -> int:
        return len(self.words)

    def __call__(self, prompts: Sequence[str]) -> torch.Tensor:
        """Token ids of ``prompts``: (N, max_length) int64.

        Raises:
            ValueError: a prompt with a word outside the vocabulary, or too many words.
        """
        rows = []
        for prompt in prompts:
            words = self.split(prompt)
            unknown = [w for w in words if w not in self.ids or w in SPECIAL_TOKENS]
            if unknown:
                raise ValueError(f"prompt: expected words of the model's vocabulary ({' '.join(self.words[3:])}), received unknown {unknown} in {prompt!r}")
            if len(words) > self.max_length - 2:
                raise ValueError(f"prompt: expected at most {self.max_length - 2} words, received {len(words)} in {prompt!r}")
            ids = [BOS_ID, *(self.ids[w] for w in words), EOS_ID]
            rows.append(ids + [PAD_ID] * (self.max_length - len(ids)))
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), self.max_length)


class TextConditionalUNet(nn.Module):
    """Text-conditioned noise predictor: a tiny ``CLIPTextModel`` (causal transformer over tokens) whose last hidden
    states, one per token, are the keys and values of a ``UNet2DConditionModel``'s cross-attention.

    Args:
        vocab_size: tokens of the tokenizer (special tokens included).
        max_length: tokens per prompt (the text encoder's positions).
        text_width, text_layers, text_heads: the text transformer (hidden size, layers, heads); its width is the
            UNet's ``cross_attention_dim``.
        token_ids: the tokenizer's (pad, bos, eos) ids; padding is masked out of the text transformer's attention.
        frozen_text: keep the text encoder out of training (``requires_grad`` off): a pretrained tower loaded into
            ``text_encoder`` afterwards, as Stable Diffusion keeps CLIP's frozen.
        image_size, channels, layers_per_block, norm_groups, head_dim, dropout, image_channels: as :class:`ClassConditionalUNet`.
        attention: per level, whether its blocks carry cross-attention (``CrossAttnDownBlock2D`` / ``CrossAttnUpBlock2D``);
            the middle block always has it.
        pooled_text: also add an attention-pooled summary of the prompt states to the timestep embedding, as Imagen
            and DeepFloyd IF do (diffusers' ``addition_embed_type="text"``, with ``text_heads`` heads). The summary is
            computed inside the UNet from the same per-token states, so :meth:`denoise` keeps its signature.

    Shape:
        - x_t: (N, C, H, W); t: (N,) or (); input_ids: (N, max_length) int64.
        - Output: (N, C, H, W), the predicted noise.
    """

    def __init__(self, vocab_size: int, max_length: int = 12, text_width: int = 64, text_layers: int = 2, text_heads: int = 4, image_size: int = 28,
                 channels: Sequence[int] = (16, 32, 64), layers_per_block: int = 1, attention: Sequence[bool] = (False, False, True), norm_groups: int = 8,
                 head_dim: int = 8, dropout: float = 0.0, image_channels: int = 1, token_ids: tuple[int, int, int] = (PAD_ID, BOS_ID, EOS_ID),
                 frozen_text: bool = False, pooled_text: bool = False) -> None:
        super().__init__()
        from diffusers import UNet2DConditionModel
        from transformers import CLIPTextConfig, CLIPTextModel

        _check_geometry(image_size, channels, attention, norm_groups)
        pad, bos, eos = token_ids
        text = CLIPTextConfig(vocab_size=vocab_size, hidden_size=text_width, intermediate_size=4 * text_width, num_hidden_layers=text_layers,
                              num_attention_heads=text_heads, max_position_embeddings=max_length, pad_token_id=pad, bos_token_id=bos, eos_token_id=eos)
        self.pad_id = pad
        self.text_encoder = CLIPTextModel(text).requires_grad_(not frozen_text)
        down, up = _blocks(attention, "", "CrossAttn")
        self.unet = UNet2DConditionModel(sample_size=image_size, in_channels=image_channels, out_channels=image_channels, block_out_channels=tuple(channels), layers_per_block=layers_per_block,
                                         down_block_types=down, up_block_types=up, cross_attention_dim=text_width, norm_num_groups=norm_groups,
                                         attention_head_dim=head_dim, dropout=dropout,
                                         addition_embed_type="text" if pooled_text else None, addition_embed_type_num_heads=text_heads)

    def encode(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Prompt embeddings: the text encoder's last hidden states, (N, max_length, text_width) (padding masked out of
        its attention, as CLIP's training does; the padded positions' states, which summarise the prompt, stay keys)."""
        return self.text_encoder(input_ids=input_ids, attention_mask=(input_ids != self.pad_id).long()).last_hidden_state

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """The noise prediction from prompt embeddings (what concept-erasure methods edit around)."""
        return self.unet(x_t, t, encoder_hidden_states=states).sample

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        return self.denoise(x_t, t, self.encode(input_ids))


def _check_geometry(image_size: int, channels: Sequence[int], attention: Sequence[bool], norm_groups: int) -> None:
    if len(attention) != len(channels):
        raise ValueError(f"attention: expected one flag per level ({len(channels)}), received {len(attention)}")
    factor = 2 ** (len(channels) - 1)
    if image_size % factor:
        raise ValueError(f"image_size: expected a multiple of {factor} for {len(channels)} levels, received {image_size}")
    if any(c % norm_groups for c in channels):
        raise ValueError(f"channels: expected multiples of norm_groups ({norm_groups}), received {tuple(channels)}")


def make_scheduler(kind: str, num_train_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02, beta_schedule: str = "linear"):
    """A diffusers scheduler over the training noise schedule: ``"ddpm"`` (ancestral, also the training one) or
    ``"ddim"``; both clip the predicted x_0 to [-1, 1] and space the sampling steps ``"trailing"`` (the first step
    starts at t = T - 1, which matters with few steps)."""
    from diffusers import DDIMScheduler, DDPMScheduler

    common = dict(num_train_timesteps=num_train_timesteps, beta_start=beta_start, beta_end=beta_end, beta_schedule=beta_schedule,
                  clip_sample=True, prediction_type="epsilon", timestep_spacing="trailing")
    if kind == "ddpm":
        return DDPMScheduler(variance_type="fixed_small", **common)
    if kind == "ddim":
        return DDIMScheduler(set_alpha_to_one=False, **common)
    raise ValueError(f"sampler: expected 'ddim' or 'ddpm', received {kind!r}")


def guided_eps(eps_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor], x_t: torch.Tensor, t: torch.Tensor,
               cond: torch.Tensor, null: torch.Tensor, guidance: float) -> torch.Tensor:
    """Classifier-free guidance: ε_null + w (ε_cond − ε_null) (Ho & Salimans), both in one batch.

    ``guidance`` 1 is the conditional prediction (computed alone), 0 the unconditional one.

    Args:
        eps_fn: ``(x_t, t, condition) -> ε``.
        x_t: (N, C, H, W); t: (N,); cond, null: the conditions (N, ...) and the null conditions (N, ...).
        guidance: w.
    """
    if guidance == 1.0:
        return eps_fn(x_t, t, cond)
    both = eps_fn(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([cond, null]))
    eps_c, eps_u = both.chunk(2)
    return eps_u + guidance * (eps_c - eps_u)


@torch.no_grad()
def sample_loop(eps_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], noise: torch.Tensor, scheduler, steps: int,
                generator: torch.Generator | None = None, eta: float = 0.0, progress: bool = False) -> torch.Tensor:
    """Run a diffusers scheduler from ``noise`` to x_0.

    Args:
        eps_fn: ``(x_t, t) -> ε`` (guidance already inside), with t a (N,) int64 tensor.
        noise: x_T, (N, C, H, W).
        scheduler: from :func:`make_scheduler`.
        steps: sampling steps.
        generator: the randomness of the DDPM steps (and of DDIM's when ``eta`` > 0).
        eta: DDIM's η (0: deterministic DDIM).
        progress: show a progress bar (on a terminal, unless ``ZOO_QUIET=1``: :mod:`zoo.core.progress`).

    Returns:
        x_0 in [-1, 1], (N, C, H, W).
    """
    from diffusers import DDIMScheduler

    from zoo.core.progress import progress as bar

    scheduler.set_timesteps(steps, device=noise.device)
    x = noise
    extra = {"eta": eta} if isinstance(scheduler, DDIMScheduler) else {}
    for t in bar(scheduler.timesteps, "sampling", unit="step", enabled=None if progress else False):
        eps = eps_fn(x, t.expand(len(x)).to(noise.device))
        x = scheduler.step(eps, t, x, generator=generator, **extra).prev_sample
    return x.clamp(-1, 1)
