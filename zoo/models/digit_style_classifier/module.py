"""The digit/style classifier as a ZooModule: cross-entropy on both heads, ``predict`` -> both heads' probabilities.

    zoo train recipes/digit_style_classifier_tiny/tiny.yaml

It is the judge of the generative-unlearning family (what digit, in what style, a generator drew: UnlearnCanvas's
unlearning accuracy and in- / cross-domain retainability) and its pooled features are the family's FID / KID
feature network (:meth:`DigitStyleClassifier.feature_network`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.core import checks
from zoo.core.module import ZooModule
from zoo.models.digit_style_classifier.model import DigitStyleNet, FeatureExtractor

MAX_INPUT_VALUES = 2**26
"""The most values ``predict`` accepts in one call (about 28,000 RGB digits)."""


@dataclass
class DigitStyleClassifierConfig:
    """Architecture and optimisation of the digit/style classifier.

    Args:
        num_digits: classes of the digit head.
        num_styles: classes of the style head (``len(zoo.data.stylized_digits.STYLES)``).
        width: channels of the first conv blocks.
        image_size: the side inputs are resized to.
        lr: Adam learning rate, annealed to 0 with a cosine over the run.
        weight_decay: Adam's L2 weight decay.
        style_weight: weight of the style head's cross-entropy (the digit head's is 1).
    """

    num_digits: int = 10
    num_styles: int = 6
    width: int = 32
    image_size: int = 28
    lr: float = 2e-3
    weight_decay: float = 1e-4
    style_weight: float = 1.0


def images_to_batch(x: Any, image_size: int, what: str = "images") -> tuple[torch.Tensor, bool]:
    """User images -> a float (N, 3, image_size, image_size) batch in [0, 1]; grey input is broadcast to RGB.

    Args:
        x: a path, a PIL image, or a (H, W) / (C, H, W) / (N, C, H, W) array or tensor with C in {1, 3} (channels-last
            (H, W, C) arrays too): uint8 0..255 or floats in [0, 1].
        image_size: the network's input side (other sizes are resized, antialiased).
        what: the input's name in error messages.

    Returns:
        The batch and whether the input was batched.
    """
    if isinstance(x, (str, Path)):
        x = checks.open_image(x, what)
    if hasattr(x, "getbands"):
        x = np.array(x.convert("L" if x.mode in ("1", "L", "I", "F") else "RGB"))
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            raise ValueError(f"{what}: expected a uint8 or floating-point array, received {checks.describe(x)}")
        x = torch.from_numpy(np.ascontiguousarray(x))
        if x.ndim == 3 and x.shape[-1] in (1, 3) and x.shape[0] not in (1, 3):
            x = x.permute(2, 0, 1)
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{what}: expected an image path, PIL image, array or tensor, received {checks.describe(x)}")
    checks.check_max_numel(x, MAX_INPUT_VALUES, what)
    if x.ndim == 2:
        x = x[None]
    if x.ndim not in (3, 4) or x.shape[-3] not in (1, 3):
        raise ValueError(f"{what}: expected (H, W), (C, H, W) or (N, C, H, W) with C = 1 (grey) or 3 (RGB), received {checks.describe(x)}")
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    x, batched = checks.check_image_batch(x, x.shape[-3], what, "divide 0..255 floats by 255, or pass uint8")
    x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    return x.contiguous(), batched


class DigitStyleClassifier(ZooModule):
    """A small CNN with a digit head and a style head (:class:`~zoo.models.digit_style_classifier.model.DigitStyleNet`).

    Batches are :class:`~zoo.data.stylized_digits.StylizedDigits` dicts: ``image`` (N, 3, 28, 28), ``digit`` and
    ``style`` (N,) int64.
    """

    config_class = DigitStyleClassifierConfig
    progress_metrics = ("digit_accuracy", "style_accuracy")

    def __init__(self, config: DigitStyleClassifierConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self.net = DigitStyleNet(cfg.num_digits, cfg.num_styles, cfg.width)

    # --------------------------------------------------------------- training
    def _losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        digit_logits, style_logits = self.net.logits(batch["image"])
        out = {
            "digit_loss": F.cross_entropy(digit_logits, batch["digit"]),
            "style_loss": F.cross_entropy(style_logits, batch["style"]),
            "digit_accuracy": (digit_logits.argmax(1) == batch["digit"]).float().mean(),
            "style_accuracy": (style_logits.argmax(1) == batch["style"]).float().mean(),
        }
        out["loss"] = out["digit_loss"] + self.config.style_weight * out["style_loss"]
        return out

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        out = self._losses(batch)
        for key in ("loss", "digit_accuracy", "style_accuracy"):
            self.log(f"train/{key}", out[key], prog_bar=key == "loss", on_step=True, on_epoch=True, batch_size=len(batch["digit"]))
        return out["loss"]

    def evaluate_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``loss``, ``digit_accuracy`` and ``style_accuracy`` (fractions) of one batch."""
        return {k: v.detach() for k, v in self._losses(batch).items() if k in ("loss", "digit_accuracy", "style_accuracy")}

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)
        steps = max(int(self.trainer.estimated_stepping_batches), 1) if self._trainer is not None else 1
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}

    # -------------------------------------------------------------- inference
    def prepare_input(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """Validate and batch user images (:func:`images_to_batch`: grey or RGB, uint8 or [0, 1] floats)."""
        batch, batched = images_to_batch(x, self.config.image_size)
        return batch, {"batched": batched}

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> dict[str, Any]:
        """``{"digit": probabilities (N, num_digits), "style": probabilities (N, num_styles)}`` as tensors ((K,) each
        for an unbatched image)."""
        y = y.float()
        digit, style = y[:, : self.config.num_digits].softmax(1), y[:, self.config.num_digits :].softmax(1)
        return {"digit": digit, "style": style} if context["batched"] else {"digit": digit[0], "style": style[0]}

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        gen = torch.Generator().manual_seed(0)
        return torch.rand(batch_size, 3, self.config.image_size, self.config.image_size, generator=gen).to(self.device)

    @torch.no_grad()
    def features(self, images: Any) -> torch.Tensor:
        """Pooled trunk features of user images (the FID / KID features of the family).

        Args:
            images: what :meth:`predict` takes (grey or RGB).

        Returns:
            (N, num_features) float32 tensor (on the model's device).
        """
        batch, _ = images_to_batch(images, self.config.image_size)
        was_training = self.training
        self.eval()
        try:
            return self.inference_net.features(batch.to(self.device))
        finally:
            self.train(was_training)

    def feature_network(self):
        """The classifier's features as the :class:`zoo.metrics.fid.FeatureNetwork` of :func:`zoo.metrics.fid.fid_kid`
        (a copy in eval mode; grey images are broadcast to RGB), named as trained here."""
        import copy

        from zoo.metrics.fid import FeatureNetwork

        net = copy.deepcopy(self.inference_net).eval().requires_grad_(False)
        return FeatureNetwork(
            FeatureExtractor(net),
            f"the {net.num_features}-d pooled features of the digit/style classifier trained here on the stylised MNIST digits "
            "(not Inception: not comparable with published FID / KID)",
        )
