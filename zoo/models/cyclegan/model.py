"""CycleGAN's paper-level composition (Zhu, Park, Isola, Efros; ICCV 2017), usable without Lightning.

The networks themselves are shared (:mod:`zoo.nets.cyclegan`: the ResNet generator and the PatchGAN) and the
two-direction wrapper is the one Rawformer already uses (:class:`~zoo.models.rawformer.model.CycleGenerators`);
this module adds what is CycleGAN's own: the generator pair and discriminators built and initialised as the
official ``networks.define_G`` / ``define_D`` do, the image history pool the discriminators train on, and the
linear learning-rate rule.

Example:
    >>> pair = build_generator_pair(channels=3, ngf=64, n_blocks=9)
    >>> b = pair(torch.rand(1, 3, 256, 256))                # A -> B, images in [0, 1]
    >>> a = pair(torch.rand(1, 3, 256, 256), reverse=True)  # B -> A
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from zoo.models.rawformer.model import CycleGenerators
from zoo.nets.cyclegan import PatchGAN, ResnetGenerator, init_weights

__all__ = ["CycleGenerators", "ImagePool", "build_discriminator", "build_generator_pair", "linear_decay_rule"]


def build_generator_pair(
    channels: int = 3, ngf: int = 64, n_blocks: int = 9, norm: str | None = "instance", init_type: str = "normal",
    init_gain: float = 0.02,
) -> CycleGenerators:
    """G_A (``ab``: A -> B) and G_B (``ba``: B -> A), two ResNet generators initialised as ``define_G`` does.

    Args:
        channels: image channels (in and out).
        ngf: filters of the first conv.
        n_blocks: residual blocks (9: ``resnet_9blocks``, the 256 px setting; 6: ``resnet_6blocks``, 128 px).
        norm: ``"instance"`` (CycleGAN), ``"batch"`` or None.
        init_type: ``"normal"`` (N(0, init_gain), the official default) or ``"xavier"``.
        init_gain: the std, or the Xavier gain.

    Returns:
        The pair; ``pair(x)`` runs A -> B and ``pair(x, reverse=True)`` B -> A.

    Shape:
        - x: (N, channels, H, W) in [0, 1], H and W divisible by 4 and at least 8.
        - output: (N, channels, H, W) in [0, 1].
    """
    ab, ba = (init_weights(ResnetGenerator(channels, ngf, n_blocks, norm), init_type, init_gain) for _ in range(2))
    return CycleGenerators(ab, ba)


def build_discriminator(
    channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str | None = "instance", init_type: str = "normal",
    init_gain: float = 0.02,
) -> PatchGAN:
    """The official ``basic`` (n_layers 3: 70x70) / ``n_layers`` PatchGAN with its logit conv, initialised as ``define_D``.

    Args:
        channels: image channels.
        ndf: filters of the first conv.
        n_layers: strided layers.
        norm: the generators' norm.
        init_type, init_gain: as :func:`build_generator_pair`.

    Returns:
        The discriminator; it takes images in [-1, 1], as the official code feeds it.

    Shape:
        - x: (N, channels, H, W).
        - output: (N, 1, H', W'), one logit per overlapping patch.
    """
    return init_weights(PatchGAN(channels, ndf, n_layers, norm, logits=True), init_type, init_gain)


def linear_decay_rule(n_epochs: int, n_epochs_decay: int, epoch_count: int = 1) -> Callable[[int], float]:
    """The official ``linear`` policy: the factor of the initial rate for an epoch, 1 for ``n_epochs`` epochs, then a
    linear decay towards zero over ``n_epochs_decay`` more (the official ``LambdaLR`` rule, stepped after each epoch).

    Args:
        n_epochs: epochs at the initial rate (100).
        n_epochs_decay: epochs of decay (100); 0 keeps the rate constant.
        epoch_count: the official ``--epoch_count`` (1: a run that starts from scratch).

    Returns:
        ``factor(epoch)`` for the 0-based epoch index.
    """

    def factor(epoch: int) -> float:
        if n_epochs_decay <= 0:
            return 1.0
        return 1.0 - max(0, epoch + epoch_count - n_epochs) / float(n_epochs_decay + 1)

    return factor


class ImagePool:
    """The history of generated images the discriminators train on (Shrivastava et al. 2017; official ``ImagePool``).

    Until ``size`` images are stored, each query image is stored and returned. Once the pool is full, each image is,
    with probability 0.5, returned as it is (the pool unchanged), or else swapped with a uniformly drawn stored one,
    which is returned instead. ``size`` 0 returns the query unchanged.

    The draws come from the pool's own ``torch.Generator`` (seeded), not from the global RNG, and the pool's content
    and generator state round-trip through :meth:`state_dict`, so a resumed run draws as an uninterrupted one.

    Args:
        size: images kept (50 in the paper).
        seed: seed of the pool's draws.

    Shape:
        - images: (N, C, H, W); output: (N, C, H, W), detached.

    Example:
        >>> pool = ImagePool(50, seed=0)
        >>> fake_for_d = pool.query(fake.detach())
    """

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"pool size: expected an integer >= 0, received {size}")
        self.size = int(size)
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch for the discriminator: each image, or a stored past one in its place (see the class)."""
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand((), generator=self.generator)) > 0.5:
                index = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[index].to(image))
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        """The stored images (on the CPU) and the generator state."""
        return {"size": self.size, "images": [t.cpu() for t in self.images], "rng": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Raises:
            ValueError: the state is of a pool of another size.
        """
        if int(state["size"]) != self.size or len(state["images"]) > self.size:
            raise ValueError(f"image pool state: expected a pool of size {self.size}, received one of size {state['size']}")
        self.images = [t.clone() for t in state["images"]]
        self.generator.set_state(state["rng"])
