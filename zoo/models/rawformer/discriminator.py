"""Rawformer's discriminator (from UVCGAN v2): a PatchGAN body, a batch head that sees the current batch next to
a queue of past batches' body features, and the queue itself.

The queue is a module with buffers, so it is saved in Lightning checkpoints and an interrupted run resumes with
the same cached features.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.nets.cyclegan import PatchGAN


class FeatureQueue(nn.Module):
    """A ring buffer of the last ``size`` feature maps (detached), oldest overwritten first.

    Args:
        size: rows kept (the official ``head_queue_size``; with batch size 1, the last ``size`` batches).
        shape: shape of one row, (C, H, W).
    """

    def __init__(self, size: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("rows", torch.zeros(size, *shape))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self.register_buffer("cursor", torch.zeros((), dtype=torch.long))

    def query(self) -> torch.Tensor | None:
        """The cached rows (None while empty). Shape: (min(pushed, size), C, H, W)."""
        count = int(self.filled)
        return self.rows[:count] if count else None

    @torch.no_grad()
    def push(self, x: torch.Tensor) -> None:
        """Append the rows of ``x`` (N, C, H, W), wrapping around; only the last ``size`` rows of ``x`` matter."""
        x = x.detach()[-self.size :]
        if x.shape[1:] != self.rows.shape[1:]:
            raise ValueError(
                f"feature queue: expected rows of shape {tuple(self.rows.shape[1:])} (the discriminator was built for "
                f"image_size crops), received {tuple(x.shape[1:])}"
            )
        index = (int(self.cursor) + torch.arange(x.shape[0], device=x.device)) % self.size
        self.rows[index] = x.to(self.rows.dtype)
        self.cursor.fill_((int(self.cursor) + x.shape[0]) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + x.shape[0]))


class BatchHead(nn.Module):
    """BatchNorm2d over [current batch, queued rows], then conv3x3-LeakyReLU-conv3x3 to one logit per patch.

    Shape:
        - x: (N, C, H, W) -> (N, 1, H, W).
    """

    def __init__(self, channels: int = 512, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or channels
        self.norm = nn.BatchNorm2d(channels)
        self.net = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.LeakyReLU(inplace=True), nn.Conv2d(hidden, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))


class BatchHeadDiscriminator(nn.Module):
    """PatchGAN body + batch head, with one feature queue for real and one for generated images.

    Args:
        in_channels: image channels.
        image_size: training crop side (sizes the queues).
        filters, layers, norm, spectral_norm: PatchGAN body options (64, 3, instance, True in the paper).
        queue_size: rows per queue (3); 0 disables the queues.

    Shape:
        - x: (N, in_channels, image_size, image_size); extra: (M, C, h, w) body features or None.
        - output: ``(logits, body)``, logits (N, 1, h, w) for the current batch only and its body features.
    """

    def __init__(
        self, in_channels: int = 3, image_size: int = 256, filters: int = 64, layers: int = 3,
        norm: str | None = "instance", spectral_norm: bool = True, queue_size: int = 3,
    ) -> None:
        super().__init__()
        self.body = PatchGAN(in_channels, filters, layers, norm, logits=False, spectral_norm=spectral_norm)
        self.head = BatchHead(self.body.out_channels)
        side = PatchGAN.output_size(image_size, layers, logits=False)
        shape = (self.body.out_channels, side, side)
        self.queues = nn.ModuleDict({kind: FeatureQueue(queue_size, shape) for kind in ("real", "fake")}) if queue_size else None

    def queued(self, kind: str) -> torch.Tensor | None:
        """The cached body features of ``kind`` (``"real"`` or ``"fake"``), or None."""
        return self.queues[kind].query() if self.queues is not None else None

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        body = self.body(x)
        rows = body if extra is None else torch.cat([body, extra], 0)
        return self.head(rows)[: x.shape[0]], body

    def judge(self, x: torch.Tensor, kind: str, update: bool) -> torch.Tensor:
        """Logits for ``x`` judged next to the ``kind`` queue; with ``update``, push ``x``'s features afterwards."""
        logits, body = self(x, self.queued(kind))
        if update and self.queues is not None:
            self.queues[kind].push(body)
        return logits
