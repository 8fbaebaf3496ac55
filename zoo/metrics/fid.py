"""FID and KID, one pinned implementation: torchmetrics' ``FrechetInceptionDistance`` and ``KernelInceptionDistance``
with the feature network passed in, and named with it.

- With an Inception weights file (torch-fidelity's ``pt_inception-2015-12-05`` FID Inception, as torchmetrics and
  clean-fid use), the features are the standard 2048-d pool features: the published FID / KID.
- Offline there is no Inception: :class:`SmallFeatureNet`, a small CNN trained here on the task's own synthetic data
  (:func:`train_feature_network`), gives the features. Its FID / KID rank methods measured with the same network and
  are **not** comparable with published numbers; :attr:`FeatureNetwork.kind` says which one was used.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.optional import require


class SmallFeatureNet(nn.Module):
    """A four-block CNN whose global-average-pooled features stand in for Inception's offline.

    Args:
        classes: labels of the training task.
        width: channels of the first block (doubled twice).

    Shape:
        - x: (N, 3, H, W) in [0, 1].
        - output of ``forward``: features (N, num_features); of ``logits``: (N, classes).
    """

    def __init__(self, classes: int, width: int = 16) -> None:
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 4 * width]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, 2, 1), nn.BatchNorm2d(cout), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(chans[-1], classes)
        self.num_features = chans[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.float()).mean((2, 3))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self(x))


def train_feature_network(images: torch.Tensor, labels: torch.Tensor, steps: int = 200, batch_size: int = 32, seed: int = 0, lr: float = 2e-3) -> SmallFeatureNet:
    """Train :class:`SmallFeatureNet` to classify ``images`` (cross-entropy, Adam), then freeze it.

    Args:
        images: (N, 3, H, W) in [0, 1].
        labels: (N,) int64 classes.
        steps, batch_size, seed, lr: the optimisation (the draws come from ``seed``; the global RNG is untouched).

    Returns:
        The trained network in eval mode, without gradients.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SmallFeatureNet(int(labels.max()) + 1)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        g = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            idx = torch.randint(0, len(images), (batch_size,), generator=g)
            loss = F.cross_entropy(net.logits(images[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval().requires_grad_(False)


@dataclass
class FeatureNetwork:
    """The feature network of an FID / KID and how to name it in a card.

    Attributes:
        module: maps (N, 3, H, W) images in [0, 1] to (N, D) features; has ``num_features``.
        kind: the name that goes with the figures.
    """

    module: nn.Module
    kind: str


class _Inception(nn.Module):
    """torchmetrics' FID Inception-v3 (torch-fidelity's port) on [0, 1] images: quantised to uint8 as the metric does."""

    num_features = 2048

    def __init__(self, weights: str) -> None:
        super().__init__()
        require("torch_fidelity", "tryon", package="torch-fidelity")
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x.clamp(0, 1) * 255).byte()).reshape(len(x), -1)


def inception_network(weights: str) -> FeatureNetwork:
    """The standard FID Inception-v3 from a local weights file (torch-fidelity's ``pt_inception-2015-12-05-6726825d.pth``)."""
    return FeatureNetwork(_Inception(weights), f"FID Inception-v3 pool3 (2048-d, weights {weights})")


def small_network(module: SmallFeatureNet, trained_on: str) -> FeatureNetwork:
    """A :class:`SmallFeatureNet` trained here, named with what it was trained on."""
    return FeatureNetwork(module, f"a {module.num_features}-d SmallFeatureNet trained here on {trained_on} (not Inception: not comparable with published FID / KID)")


@torch.no_grad()
def fid_kid(real: torch.Tensor, fake: torch.Tensor, features: FeatureNetwork, kid_subset_size: int = 50, kid_subsets: int = 100) -> dict[str, float]:
    """FID and KID of ``fake`` against ``real`` with torchmetrics and the given feature network.

    Args:
        real, fake: images (N, 3, H, W) in [0, 1] (any N of at least 2, ``kid_subset_size`` at most N).
        features: the feature network.
        kid_subset_size, kid_subsets: KID's subset size and count.

    Returns:
        ``fid``, ``kid`` (mean over subsets) and ``kid_std``.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    if real.ndim != 4 or fake.ndim != 4 or real.shape[1] != 3 or fake.shape[1] != 3:
        raise ValueError(f"fid_kid: expected two (N, 3, H, W) image batches, received {tuple(real.shape)} and {tuple(fake.shape)}")
    subset = min(kid_subset_size, len(real), len(fake))
    fid = FrechetInceptionDistance(features.module, normalize=True)
    kid = KernelInceptionDistance(features.module, subsets=kid_subsets, subset_size=subset, normalize=True)
    for metric in (fid, kid):
        metric.update(real.clamp(0, 1), real=True)
        metric.update(fake.clamp(0, 1), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # KID draws its subsets from the global RNG
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std)}
