"""T2UE: unlearnable examples generated from text descriptions (Ma, Huang, Song, Sun, Gao, Jiang, arXiv 2508.03091).

A generator maps a caption's embedding (a frozen CLIP text encoder) and a latent ``z`` to a perturbation bounded by
``eps``; it is trained once on public image-text pairs to *minimise* the surrogate CLIP's symmetric InfoNCE between
the perturbed images and their captions (paper Eq. 4: only the generator learns, the pre-trained surrogate is frozen,
so there is no inner/outer alternation). The protector then needs only the text: ``noise_for_texts`` never reads an
image, and the noise of a caption is a function of that caption alone (its ``z`` is seeded by the caption).

Architecture (paper Sec. 3.1, at 28x28): ``FC(z)`` -> (C, 7, 7) -> up-sampling residual SSACN blocks whose batch
norms are SSCBN, ``gamma(e) * (h - mu) / sigma + beta(e)`` with small MLPs of the text embedding ``e`` -> conv ->
``eps * tanh``. The paper has 7 blocks from 4x4 to 224x224 (SSA-GAN's); two blocks reach 28x28 here. The paper's
SSA-GAN text encoder is CLIP's; here it is ``digit_clip_tiny``'s text tower (``text_encoder`` takes any callable, e.g.
a text-conditioned diffusion model's prompt encoder).
"""

from __future__ import annotations

import math
import zlib
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.progress import bar as progress_bar
from zoo.losses.ranking import symmetric_info_nce
from zoo.unlearning.unlearnable.training import progress_enabled


class SSCBN(nn.Module):
    """Semantic conditional batch norm: a parameter-free BatchNorm whose scale and shift are MLPs of the text.

    Args:
        channels: feature channels.
        text_dim: width of the text embedding.
        hidden: width of the MLPs.

    Shape:
        - h: (N, channels, H, W); e: (N, text_dim); output: like h.
    """

    def __init__(self, channels: int, text_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Sequential(nn.Linear(text_dim, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.beta = nn.Sequential(nn.Linear(text_dim, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        # 1 + gamma: starts as the identity scale, as an affine BatchNorm does
        return (1 + self.gamma(e))[:, :, None, None] * self.norm(h) + self.beta(e)[:, :, None, None]


class SSACNBlock(nn.Module):
    """Residual up-sampling block with SSCBN (SSA-GAN's SSACN without its predicted spatial mask).

    Shape:
        - h: (N, in_channels, H, W); e: (N, text_dim); output: (N, out_channels, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int, text_dim: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = SSCBN(in_channels, text_dim), SSCBN(out_channels, text_dim)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(h, scale_factor=2, mode="nearest")
        x = self.conv1(F.interpolate(F.relu(self.norm1(h, e)), scale_factor=2, mode="nearest"))
        return self.shortcut(up) + self.conv2(F.relu(self.norm2(x, e)))


class T2UEGenerator(nn.Module):
    """Text embedding + latent -> perturbation with ``|delta|_inf < eps``.

    Args:
        text_dim: width of the text embedding.
        eps: the L-infinity bound (the output is ``eps * tanh``).
        z_dim: width of the latent.
        channels: feature channels.
        image_size: output side (a multiple of ``2 ** blocks``).
        out_channels: image channels.
        blocks: up-sampling blocks.

    Shape:
        - text_embeddings: (N, text_dim); z: (N, z_dim); output: (N, out_channels, image_size, image_size).
    """

    def __init__(self, text_dim: int, eps: float = 8 / 255, z_dim: int = 32, channels: int = 64, image_size: int = 28, out_channels: int = 3, blocks: int = 2) -> None:
        super().__init__()
        if image_size % 2**blocks:
            raise ValueError(f"image_size: expected a multiple of 2 ** blocks = {2**blocks}, received {image_size}")
        self.eps, self.z_dim, self.channels, self.base = float(eps), z_dim, channels, image_size // 2**blocks
        self.fc = nn.Linear(z_dim, channels * self.base * self.base)
        self.blocks = nn.ModuleList(SSACNBlock(channels, channels, text_dim) for _ in range(blocks))
        self.out = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, out_channels, 3, padding=1))

    def forward(self, text_embeddings: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(len(z), self.channels, self.base, self.base)
        for block in self.blocks:
            h = block(h, text_embeddings)
        return self.eps * torch.tanh(self.out(h))


def caption_latents(texts: list[str], z_dim: int, seed: int = 0) -> torch.Tensor:
    """One latent per caption, seeded by the caption's text (CRC-32) and ``seed``: equal captions get equal noise."""
    return torch.stack([torch.randn(z_dim, generator=torch.Generator().manual_seed(zlib.crc32(t.encode("utf-8")) ^ seed)) for t in texts])


@torch.no_grad()
def noise_for_texts(generator: T2UEGenerator, text_encoder: Callable[[list[str]], torch.Tensor], texts: list[str], seed: int = 0, batch_size: int = 512) -> torch.Tensor:
    """The unlearnable noise of each caption, from the text alone (the generator in eval mode: running statistics).

    Args:
        generator: a trained :class:`T2UEGenerator`.
        text_encoder: captions -> embeddings (N, text_dim) (the frozen surrogate's text tower).
        texts: the captions of the pairs to protect.
        seed: seed of the captions' latents.
        batch_size: captions per call.

    Returns:
        The perturbations (N, C, H, W); add them to the images and clamp to [0, 1].
    """
    generator.eval()
    param = next(generator.parameters())
    out = []
    for i in range(0, len(texts), batch_size):
        chunk = list(texts[i : i + batch_size])
        out.append(generator(text_encoder(chunk).to(param), caption_latents(chunk, generator.z_dim, seed).to(param)))
    return torch.cat(out)


def train_t2ue_generator(
    surrogate,
    images: torch.Tensor,
    texts: list[str],
    *,
    eps: float = 8 / 255,
    epochs: int = 2,
    batch_size: int = 128,
    lr: float = 1e-4,
    weight_decay: float = 0.01,
    channels: int = 64,
    seed: int = 0,
    progress: bool | None = None,
    history: list | None = None,
) -> T2UEGenerator:
    """Train the generator to minimise the frozen surrogate's symmetric InfoNCE on perturbed public pairs (Eq. 4).

    Args:
        surrogate: the frozen dual encoder (``encode_image``, ``encode_text``, ``logit_scale``, ``config.context_length``;
            a ``digit_clip`` network).
        images: the public images in [0, 1] (the generator's training data, not the data to protect).
        texts: their captions.
        eps: the L-infinity bound of the noise.
        epochs: passes over the pairs (the paper trains 300-500 epochs on MSCOCO).
        batch_size: pairs per step (paper 128).
        lr, weight_decay: AdamW with a cosine schedule (paper: lr 1e-4).
        channels: the generator's feature channels.
        seed: seed of the generator's initialisation, the shuffling and the training latents.
        progress: show a tqdm bar (default: when stderr is a terminal).
        history: when a list, receives each step's loss.

    Returns:
        The trained generator (eval mode).
    """
    from zoo.models.digit_clip.model import tokenize

    if len(images) != len(texts):
        raise ValueError(f"images, texts: expected one caption per image, received {len(images)} images and {len(texts)} captions")
    surrogate.eval().requires_grad_(False)
    param = next(surrogate.parameters())
    with torch.no_grad():
        ids = tokenize(list(texts), surrogate.config.context_length).to(param.device)
        embeddings = torch.cat([surrogate.encode_text(ids[i : i + 512]) for i in range(0, len(ids), 512)])
    torch.manual_seed(seed)
    generator = T2UEGenerator(embeddings.shape[1], eps, channels=channels, image_size=images.shape[-1], out_channels=images.shape[1]).to(param)
    optimizer = torch.optim.AdamW(generator.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(images) / batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    order_gen = torch.Generator().manual_seed(seed)
    scale = surrogate.logit_scale().detach()
    bar = progress_bar(steps, "T2UE generator", unit="step", enabled=progress_enabled(progress), leave=True)
    generator.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=order_gen)
        for start in range(0, len(images), batch_size):
            index = order[start : start + batch_size]
            if len(index) < 2:
                continue
            e = embeddings[index.to(embeddings.device)]
            z = torch.randn(len(index), generator.z_dim, generator=order_gen).to(param)
            x = (images[index].to(param) + generator(e, z)).clamp(0, 1)
            loss = symmetric_info_nce(surrogate.encode_image(x), e, scale)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update()
            if history is not None:
                history.append(float(loss.detach()))
    bar.close()
    return generator.eval()
