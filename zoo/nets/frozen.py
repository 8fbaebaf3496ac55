"""Frozen feature networks (torchvision VGG-19 slices and taps, any torchvision/timm trunk), loaded only from
local files: the shared trunks of the perceptual losses, the ISP's discriminators and TecoGAN's feature loss.

The official codes download ImageNet weights; zoo never downloads at run time. A network loads its weights from a
file the user names (torchvision state_dict, ``.safetensors`` or a ``weights_only`` pickle); without one it is
randomly initialised from a fixed seed and frozen (random-feature losses), which is what the offline tiny recipes use
and what their cards say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torchvision
from safetensors.torch import load_file
from torch import nn

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

VGG19_LAYER_INDEX = {
    "conv2_2": 8, "relu1_2": 4, "relu2_2": 9, "relu3_1": 12, "relu3_4": 18, "relu4_4": 27, "relu5_4": 36,
}
"""End index (exclusive) in ``torchvision.models.vgg19().features`` of the named activation."""


def build_frozen(factory: Callable[[], nn.Module], weights: str | None, seed: int) -> nn.Module:
    """Build ``factory()`` under ``seed`` (without touching the global RNG), load ``weights`` if given, freeze."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = factory()
    if weights:
        if Path(weights).suffix == ".safetensors":
            state = load_file(weights)
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        missing, _ = module.load_state_dict(state, strict=False)
        if missing:
            raise ValueError(f"feature network weights {weights!r}: expected all keys of the network, missing {missing[:5]}")
    return module.eval().requires_grad_(False)


def vgg19_features(layer: str, weights: str | None = None, seed: int = 0) -> nn.Sequential:
    """``torchvision.models.vgg19().features`` up to ``layer`` (a key of :data:`VGG19_LAYER_INDEX`), frozen.

    Args:
        layer: e.g. ``"relu5_4"``; ``"conv2_2"`` is the official Rawformer / EDSR ``VggLoss('22')`` cut.
        weights: torchvision VGG-19 state_dict file (``features.*`` keys); None: seeded random init.
        seed: seed of the random init.
    """
    if layer not in VGG19_LAYER_INDEX:
        raise ValueError(f"VGG-19 layer: expected one of {sorted(VGG19_LAYER_INDEX)}, received {layer!r}")
    vgg = build_frozen(lambda: torchvision.models.vgg19(weights=None), weights, seed)
    return vgg.features[: VGG19_LAYER_INDEX[layer]]


class VGG19Taps(nn.Module):
    """Frozen VGG-19 activations at several ``features`` indices, after ImageNet normalisation.

    Args:
        layers: indices in ``torchvision.models.vgg19().features`` whose outputs are returned.
        weights: torchvision VGG-19 state_dict file; None: seeded random init.
        seed: seed of the random init.

    Shape:
        - input: (N, 3, H, W) RGB in [0, 1].
        - output: one (N, C_l, H_l, W_l) tensor per layer, in ``features`` order.
    """

    def __init__(self, layers: tuple[int, ...], weights: str | None = None, seed: int = 0) -> None:
        super().__init__()
        vgg = build_frozen(lambda: torchvision.models.vgg19(weights=None), weights, seed)
        self.features = vgg.features[: max(layers) + 1]
        self.layers = set(layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, taps = (x - self.mean) / self.std, []
        for i, layer in enumerate(self.features):
            out = layer(out)
            if i in self.layers:
                taps.append(out)
        return taps
