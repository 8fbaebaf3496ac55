"""The digit GAN's networks (no Lightning): mapping network, DCGAN synthesis modulated by w, discriminator.

Images are in [-1, 1] (the generator ends in tanh); ``zoo.models.digit_gan.module.DigitGAN.sample`` maps them to [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn


class MappingNetwork(nn.Module):
    """StyleGAN's mapping network: pixel-normalised z through ``layers`` Linear + LeakyReLU(0.2) to w.

    Args:
        latent_dim: size of z.
        w_dim: size of w.
        layers: linear layers (StyleGAN2: 8).

    Shape:
        - z: (N, latent_dim) -> w: (N, w_dim).
    """

    def __init__(self, latent_dim: int, w_dim: int, layers: int) -> None:
        super().__init__()
        dims = [latent_dim] + [w_dim] * layers
        self.net = nn.Sequential(*[m for a, b in zip(dims[:-1], dims[1:]) for m in (nn.Linear(a, b), nn.LeakyReLU(0.2))])
        for layer in self.net[::2]:  # variance-preserving (StyleGAN's N(0, 1) with He scaling): PyTorch's default init
            nn.init.kaiming_normal_(layer.weight, a=0.2)  # shrinks z's spread ~6x per layer, so w barely depends on z
            nn.init.zeros_(layer.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        return self.net(z)


class StyleModulation(nn.Module):
    """Per-channel scale and bias as affine functions of w (StyleGAN's style input, without normalisation), initialised
    to the identity (scale 1, bias 0) so that training starts from a plain DCGAN.

    Shape:
        - x: (N, C, H, W), w: (N, w_dim) -> (N, C, H, W).
    """

    def __init__(self, channels: int, w_dim: int) -> None:
        super().__init__()
        self.style = nn.Linear(w_dim, 2 * channels)
        nn.init.zeros_(self.style.weight)
        with torch.no_grad():
            self.style.bias.copy_(torch.cat([torch.ones(channels), torch.zeros(channels)]))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, bias = self.style(w)[:, :, None, None].chunk(2, 1)
        return scale * x + bias


class DigitGenerator(nn.Module):
    """z -> w (mapping network) -> DCGAN synthesis: Linear to (4c, 7, 7), a 4x4 transposed conv to (2c, 14, 14), a 4x4
    transposed conv to (1, 28, 28), tanh; the two hidden blocks are modulated by w (per-channel scale and bias) before
    their LeakyReLU.

    Args:
        latent_dim: size of z.
        w_dim: size of w.
        mapping_layers: layers of the mapping network.
        width: ``c`` (4c channels at 7x7, 2c at 14x14).

    Shape:
        - z: (N, latent_dim) -> images (N, 1, 28, 28) in [-1, 1].
    """

    def __init__(self, latent_dim: int = 64, w_dim: int = 64, mapping_layers: int = 4, width: int = 16) -> None:
        super().__init__()
        self.latent_dim, self.width = latent_dim, width
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers)
        self.stem = nn.Linear(w_dim, 4 * width * 7 * 7)
        self.styles = nn.ModuleList([StyleModulation(4 * width, w_dim), StyleModulation(2 * width, w_dim)])
        self.up = nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1)
        self.to_image = nn.ConvTranspose2d(2 * width, 1, 4, 2, 1)
        self.act = nn.LeakyReLU(0.2)

    def synthesis(self, w: torch.Tensor) -> torch.Tensor:
        """w (N, w_dim) -> images (N, 1, 28, 28) in [-1, 1]."""
        x = self.act(self.styles[0](self.stem(w).view(len(w), 4 * self.width, 7, 7), w))
        x = self.act(self.styles[1](self.up(x), w))
        return torch.tanh(self.to_image(x))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.mapping(z))


class MinibatchStd(nn.Module):
    """StyleGAN's minibatch standard deviation: the mean over features of the per-group standard deviation, appended as
    one more channel, so that the discriminator sees how varied a batch is (against mode collapse).

    Args:
        group: samples per group (a divisor of the batch is used when it does not divide it).

    Shape:
        - x: (N, C, H, W) -> (N, C + 1, H, W).
    """

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = next(k for k in range(min(self.group, n), 0, -1) if n % k == 0)
        std = x.view(g, n // g, c, h, w).var(0, unbiased=False).add(1e-8).sqrt().mean((1, 2, 3))  # (N / g,)
        return torch.cat([x, std.repeat(g)[:, None, None, None].expand(n, 1, h, w)], 1)


class DigitDiscriminator(nn.Module):
    """DCGAN discriminator: 4x4 stride-2 convs (28 -> 14 -> 7), StyleGAN's minibatch standard deviation, a 3x3
    stride-2 conv (-> 4), LeakyReLU(0.2), no normalisation (R1 regularises it), a linear logit.

    Args:
        width: channels of the first conv (doubled twice).

    Shape:
        - images (N, 1, 28, 28) in [-1, 1] -> logits (N,).
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            MinibatchStd(),
            nn.Conv2d(2 * width + 1, 4 * width, 3, 2, 1), nn.LeakyReLU(0.2),
        )
        self.logit = nn.Linear(4 * width * 4 * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit(self.features(x).flatten(1))[:, 0]
