"""Plain training loops of the surrogates and victims (small CNNs on a few thousand images: no Lightning needed)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.progress import quiet, trange
from zoo.unlearning.unlearnable.nets import SimpleCNN


def progress_enabled(progress: bool | None) -> bool:
    """Show a bar when asked, or by default as zoo's other loops do (:func:`zoo.core.progress.quiet`)."""
    return not quiet() if progress is None else bool(progress)


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int = 8,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    model: nn.Module | None = None,
    num_classes: int = 10,
    progress: bool | None = None,
) -> nn.Module:
    """Train a classifier with Adam and cross-entropy on in-memory tensors.

    Args:
        images: training images in [0, 1].
        labels: int64 class labels.
        epochs: passes over the data.
        lr: Adam's learning rate.
        batch_size: images per step.
        seed: seed of the initialisation and the shuffling.
        model: the network to train in place (default: a fresh :class:`SimpleCNN` for the images' shape).
        num_classes: classes of the default network.
        progress: show a tqdm bar (default: when stderr is a terminal).

    Returns:
        The trained network, in eval mode, on the images' device.

    Shape:
        - images: (N, C, H, W); labels: (N,).
    """
    generator = torch.Generator().manual_seed(seed)
    if model is None:
        torch.manual_seed(seed)
        model = SimpleCNN(images.shape[1], num_classes, images.shape[-1])
    model = model.to(images.device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in trange(epochs, "train", unit="epoch", enabled=progress_enabled(progress)):
        order = torch.randperm(len(images), generator=generator).to(images.device)
        for start in range(0, len(images), batch_size):
            index = order[start : start + batch_size]
            loss = F.cross_entropy(model(images[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy (fraction) of ``model`` on ``(images, labels)``."""
    model.eval()
    correct = sum(int((model(images[i : i + batch_size]).argmax(1) == labels[i : i + batch_size]).sum()) for i in range(0, len(images), batch_size))
    return correct / len(images)
