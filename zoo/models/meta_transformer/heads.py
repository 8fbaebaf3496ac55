"""Task heads on the encoder's output tokens."""

from __future__ import annotations

import torch
from torch import nn

HEADS = ("classification", "regression", "forecasting")


class TokenHead(nn.Module):
    """LayerNorm + Linear on the class token (classification logits or regression values).

    Shape:
        - Input: (N, 1 + T, dim). Output: (N, outputs).
    """

    def __init__(self, dim: int, outputs: int) -> None:
        super().__init__()
        self.norm, self.fc = nn.LayerNorm(dim), nn.Linear(dim, outputs)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(tokens[:, 0]))


class ForecastHead(nn.Module):
    """LayerNorm + Linear on the flattened time-step tokens (a linear decoder): the next ``horizon`` x ``channels`` values.

    Shape:
        - Input: (N, 1 + length, dim). Output: (N, horizon, channels).
    """

    def __init__(self, dim: int, length: int, horizon: int, channels: int) -> None:
        super().__init__()
        self.horizon, self.channels, self.length = horizon, channels, length
        self.norm, self.fc = nn.LayerNorm(dim), nn.Linear(length * dim, horizon * channels)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        steps = self.norm(tokens[:, 1:])
        if steps.shape[1] != self.length:
            raise ValueError(f"forecasting: expected {self.length} input steps, received {steps.shape[1]}")
        return self.fc(steps.flatten(1)).view(tokens.shape[0], self.horizon, self.channels)  # not len(): it would fix a traced batch
