"""The dual encoder as a plain transformers ``CLIPModel`` (no Lightning), with a byte-level tokenizer.

    >>> net = DigitCLIPNet(DigitCLIPConfig())
    >>> ids = tokenize(["a seven in the thick style"], net.config.context_length)
    >>> logits = net(torch.rand(1, 3, 28, 28), ids)      # (1, 1): logit_scale * cosine similarity
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

PAD_ID, BOS_ID, EOS_ID = 0, 257, 258
"""Token ids: 0 pads, byte b is b + 1, then start and end (``CLIPTextModel`` pools the hidden state at ``EOS_ID``)."""
VOCAB_SIZE = 259


@dataclass
class DigitCLIPConfig:
    """The architecture (transformers' CLIP vision and text towers) and the training settings.

    Args:
        image_size: the vision tower's input side; other sizes are resized to it (bilinear).
        patch_size: ViT patch side.
        vision_width, vision_layers, vision_heads: the vision transformer.
        text_width, text_layers, text_heads: the text transformer (causal, as CLIP's).
        context_length: tokens per caption (bytes + start + end; longer captions are cut).
        embed_dim: the shared embedding width (both projections).
        logit_scale_init: initial log of the similarity scale (CLIP: log(1 / 0.07)).
        lr, weight_decay, warmup_steps: AdamW with linear warm-up then cosine decay (CLIP's recipe).
        max_steps: the schedule's length (cosine to zero at it).
    """

    image_size: int = 28
    patch_size: int = 7
    vision_width: int = 64
    vision_layers: int = 2
    vision_heads: int = 4
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    context_length: int = 44
    embed_dim: int = 64
    logit_scale_init: float = 2.6592
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 50
    max_steps: int = 1000


def tokenize(texts: list[str], context_length: int) -> torch.Tensor:
    """Byte-level ids ``[BOS, b_1 + 1, ..., EOS, PAD, ...]`` padded to ``context_length``.

    Args:
        texts: the captions.
        context_length: tokens per row (a longer caption keeps its first ``context_length - 2`` bytes).

    Returns:
        int64 ids of shape (len(texts), context_length).
    """
    ids = torch.full((len(texts), context_length), PAD_ID, dtype=torch.long)
    for i, text in enumerate(texts):
        row = [BOS_ID, *[b + 1 for b in text.encode("utf-8")][: context_length - 2], EOS_ID]
        ids[i, : len(row)] = torch.tensor(row)
    return ids


def clip_config(config: DigitCLIPConfig):
    """The transformers ``CLIPConfig`` of a :class:`DigitCLIPConfig`."""
    from transformers import CLIPConfig

    text = dict(
        vocab_size=VOCAB_SIZE, hidden_size=config.text_width, intermediate_size=4 * config.text_width, num_hidden_layers=config.text_layers,
        num_attention_heads=config.text_heads, max_position_embeddings=config.context_length, pad_token_id=PAD_ID, bos_token_id=BOS_ID,
        eos_token_id=EOS_ID, projection_dim=config.embed_dim,
    )
    vision = dict(
        hidden_size=config.vision_width, intermediate_size=4 * config.vision_width, num_hidden_layers=config.vision_layers,
        num_attention_heads=config.vision_heads, image_size=config.image_size, patch_size=config.patch_size, num_channels=3,
        projection_dim=config.embed_dim,
    )
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=config.embed_dim, logit_scale_init_value=config.logit_scale_init)


class DigitCLIPNet(nn.Module):
    """CLIP's two towers and the similarity scale; images are standardised ((x - 0.5) / 0.5) and resized here.

    Args:
        config: the architecture.

    Shape:
        - images: (N, 3, H, W) in [0, 1]; ids: (M, context_length) int64 (:func:`tokenize`).
        - Output of ``forward``: (N, M) logits, ``logit_scale.exp()`` times the cosine similarities.
    """

    def __init__(self, config: DigitCLIPConfig) -> None:
        super().__init__()
        from transformers import CLIPModel

        self.config = config
        self.clip = CLIPModel(clip_config(config))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings (N, embed_dim)."""
        side = self.config.image_size
        if images.shape[-2:] != (side, side):
            images = F.interpolate(images, size=(side, side), mode="bilinear", align_corners=False)
        return F.normalize(self._features(self.clip.get_image_features(pixel_values=(images - 0.5) / 0.5)), dim=-1)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        """L2-normalised text embeddings (M, embed_dim)."""
        return F.normalize(self._features(self.clip.get_text_features(input_ids=ids, attention_mask=(ids != PAD_ID).long())), dim=-1)

    @staticmethod
    def _features(out):
        # transformers 5 returns a model output whose pooler_output is the projected embedding; 4.x a tensor.
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    def logit_scale(self) -> torch.Tensor:
        """The similarity multiplier ``exp(logit_scale)``, clamped at 100 as CLIP's training does."""
        return self.clip.logit_scale.exp().clamp(max=100.0)

    def forward(self, images: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.logit_scale() * self.encode_image(images) @ self.encode_text(ids).T
