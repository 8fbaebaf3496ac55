"""Training-only parts of the unpaired ISP method: frozen feature networks and the three discriminators.

The official code uses pretrained networks that it downloads (VGG-19 from a MatConvNet file, the AlexNet of
pyiqa's LPIPS+, ``google/vit-base-patch16-224``). Here each is built with torchvision / timm and loads its
weights only from a local file the user names; without one it is randomly initialised from a fixed seed and
frozen (random-feature perceptual losses), which is what the offline tiny recipe uses and what the card says.
"""

from __future__ import annotations

import kornia
import timm
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from zoo.nets.frozen import build_frozen, vgg19_features

ALEXNET_SLICE_ENDS = (2, 5, 8, 10, 12)
"""LPIPS AlexNet slices of ``torchvision.models.alexnet().features``: relu1..relu5 (64, 192, 384, 256, 256 ch)."""

_VGG_MEAN_255 = (123.68, 116.779, 103.939)


class LumaContentFeatures(nn.Module):
    """Content features: Lab L / 100 replicated to 3 channels, MatConvNet VGG preprocessing, VGG-19 up to ``layer``.

    Args:
        layer: a key of :data:`zoo.nets.frozen.VGG19_LAYER_INDEX` (``"relu5_4"`` in the paper).
        weights: torchvision VGG-19 state_dict file (``features.*`` keys); None: seeded random init.
        seed: seed of the random init.
    """

    def __init__(self, layer: str = "relu5_4", weights: str | None = None, seed: int = 0) -> None:
        super().__init__()
        self.features = vgg19_features(layer, weights, seed)
        self.register_buffer("mean", torch.tensor(_VGG_MEAN_255).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        lum = kornia.color.rgb_to_lab(rgb)[:, :1] / 100.0
        return self.features(lum.expand(-1, 3, -1, -1) * 255.0 - self.mean)


def content_loss(features: nn.Module, generated: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``2 * sum((phi(g) - phi(r))^2) / (numel / N)``, the official content loss on frozen features."""
    fg, fr = features(generated), features(reference)
    return 2.0 * (fg - fr).square().sum() / (fg.numel() / generated.shape[0])


class LumaTextureFeatures(nn.Module):
    """Texture features: BT.601 luma replicated to 3 channels through the LPIPS AlexNet slices.

    Args:
        weights: torchvision AlexNet state_dict file; None: seeded random init.
        seed: seed of the random init.
    """

    def __init__(self, weights: str | None = None, seed: int = 1) -> None:
        super().__init__()
        alex = build_frozen(lambda: torchvision.models.alexnet(weights=None), weights, seed)
        starts = (0,) + ALEXNET_SLICE_ENDS[:-1]
        self.slices = nn.ModuleList(alex.features[s:e] for s, e in zip(starts, ALEXNET_SLICE_ENDS))

    @staticmethod
    def luma(rgb: torch.Tensor) -> torch.Tensor:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
        return (rgb * weights).sum(1, keepdim=True)

    def forward(self, rgb: torch.Tensor, layers: tuple[int, ...]) -> dict[int, torch.Tensor]:
        """Features of every slice in ``layers``, from one pass through the network."""
        if not layers or max(layers) >= len(self.slices) or min(layers) < 0:
            raise ValueError(f"texture layers: expected values in 0..{len(self.slices) - 1}, received {layers}")
        x, out = self.luma(rgb).expand(-1, 3, -1, -1), {}
        for index, block in enumerate(self.slices[: max(layers) + 1]):
            x = block(x)
            if index in layers:
                out[index] = x
        return out


class BlurredColorFeatures(nn.Module):
    """Colour features: 21x21 Gaussian blur (sigma 3), resize to the ViT's size, patch tokens of a frozen ViT.

    Args:
        vit: timm model name (``vit_base_patch16_224`` in the paper).
        img_size: ViT input size (224 in the paper).
        weights: timm state_dict file for ``vit``; None: seeded random init.
        seed: seed of the random init.
    """

    def __init__(self, vit: str = "vit_base_patch16_224", img_size: int = 224, weights: str | None = None, seed: int = 2) -> None:
        super().__init__()
        self.vit = build_frozen(
            lambda: timm.create_model(vit, pretrained=False, img_size=img_size, num_classes=0), weights, seed
        )
        self.img_size = img_size

    @property
    def dim(self) -> int:
        return self.vit.num_features

    @staticmethod
    def blur(rgb: torch.Tensor) -> torch.Tensor:
        return kornia.filters.gaussian_blur2d(rgb, (21, 21), (3.0, 3.0), border_type="constant")

    def forward(self, blurred: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(blurred, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False)
        tokens = self.vit.forward_features(x)
        return tokens[:, self.vit.num_prefix_tokens :]


class TextureDiscriminator(nn.Module):
    """Conv discriminator on frozen texture features: five convs (LeakyReLU 0.2), then Linear(flat, 1024), Linear(1024, 1).

    Args:
        in_channels: channels of the feature map it judges.
        in_size: (H, W) of that feature map; fixes the first Linear layer (built lazily in the official code).
    """

    def __init__(self, in_channels: int, in_size: tuple[int, int]) -> None:
        super().__init__()
        specs = [(in_channels, 48, 5, 2), (48, 128, 3, 2), (128, 192, 3, 1), (192, 192, 3, 1), (192, 128, 3, 2)]
        layers: list[nn.Module] = []
        for c_in, c_out, k, s in specs:
            layers += [nn.Conv2d(c_in, c_out, k, stride=s, padding=k // 2), nn.LeakyReLU(0.2)]
        self.convs = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, in_channels, *in_size)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(features))


class ColorDiscriminator(nn.Module):
    """MLP over ViT patch tokens (dim -> 512 -> 512 -> 1, ReLU), averaged over tokens."""

    def __init__(self, dim: int = 768, hidden: int = 512) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.mlp(tokens).mean(dim=1)
