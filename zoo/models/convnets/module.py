"""Image classifiers / regressors (All-CNN, ResNet-18): the models the unlearning methods are measured on (``zoo unlearn``).

Trained as the Blindspot paper's official code trains its original and retrained models: Adam lr 0.01,
ReduceLROnPlateau(factor 0.1, patience 10) on the validation loss, L1 loss for regression, batch 256.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from zoo.core import checks
from zoo.core.module import ZooModule
from zoo.losses.supervised import check_task, task_loss
from zoo.models.convnets.model import AllCNN, resnet18_net


@dataclasses.dataclass
class ConvNetConfig:
    """Configuration of :class:`ConvNetModule` (defaults: the official AgeDB All-CNN regression setting).

    Args:
        arch: ``"allcnn"`` or ``"resnet18"``.
        task: ``"regression"`` (one output) or ``"classification"``.
        num_classes: outputs of a classifier.
        in_channels: image channels (1 for digits, 3 for faces).
        image_size: side of the square input the model was trained on (inputs of another size are resized).
        filters_percentage: width scale of All-CNN's 96/192 filters.
        regression_loss: ``"l1"`` (official for images) or ``"mse"``.
        lr: Adam learning rate.
        plateau_patience: ReduceLROnPlateau patience in epochs.
        plateau_factor: ReduceLROnPlateau factor.
    """

    arch: str = "allcnn"
    task: str = "regression"
    num_classes: int = 10
    in_channels: int = 3
    image_size: int = 32
    filters_percentage: float = 1.0
    regression_loss: str = "l1"
    lr: float = 0.01
    plateau_patience: int = 10
    plateau_factor: float = 0.1


ARCHS = ("allcnn", "resnet18")
MAX_INPUT_VALUES = 2**26
"""The most values ``predict`` takes in one call (64 M: e.g. 64 grey images of 1024 x 1024)."""


class ConvNetModule(ZooModule):
    """An image classifier or regressor (All-CNN or ResNet-18).

    Args:
        config: a :class:`ConvNetConfig` (or a dict of its fields).

    Shape:
        - forward: (N, in_channels, image_size, image_size) in [0, 1] -> (N, num_classes) logits or (N, 1) values.

    Example:
        >>> model = zoo.load("allcnn_mnist_regressor")
        >>> model.predict(image)  # -> float (regression) or {"label": int, "probabilities": array}
    """

    progress_metrics = ("loss",)
    config_class = ConvNetConfig

    def __init__(self, config: ConvNetConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        check_task(cfg.task)
        if cfg.arch not in ARCHS:
            raise ValueError(f"arch: expected one of {ARCHS}, received {cfg.arch!r}")
        outputs = cfg.num_classes if cfg.task == "classification" else 1
        if cfg.arch == "allcnn":
            self.net = AllCNN(cfg.in_channels, outputs, cfg.filters_percentage)
        else:
            self.net = resnet18_net(cfg.in_channels, outputs)

    # -------------------------------------------------------------- training
    def evaluate_batch(self, batch) -> dict[str, torch.Tensor]:
        """The training loss, and top-1 accuracy for the classifier, of one ``(images, targets)`` batch."""
        x, y = batch
        out = self.net(x)
        metrics = {"loss": task_loss(self.config.task, out, y, self.config.regression_loss)}
        if self.config.task == "classification":
            metrics["accuracy"] = (out.argmax(1) == y).float().mean()
        return metrics

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = task_loss(self.config.task, self.net(x), y, self.config.regression_loss)
        self.log("train/loss", loss, prog_bar=True, on_epoch=True, on_step=True)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.config.lr)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=self.config.plateau_factor, patience=self.config.plateau_patience)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "val/loss"}}

    # ------------------------------------------------------------- inference
    def prepare_input(self, x: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """Validate and batch user input.

        Args:
            x: an image path, a PIL image, or an (H, W) / (C, H, W) / (N, C, H, W) tensor or array (channels-last
                (H, W, C) arrays too): uint8 in 0..255, or float in [0, 1] (divide 0..255 floats by 255); other sizes
                are resized to ``image_size``; at most :data:`MAX_INPUT_VALUES` values.

        Returns:
            The (N, in_channels, image_size, image_size) float batch and ``{"batched": bool}``.

        Raises:
            ValueError: an unreadable file, or a wrong type, rank, channel count or dtype, an empty, oversized or
                non-finite input, or floats outside [0, 1], naming what was expected and what was received.
        """
        cfg = self.config
        batched = False
        if isinstance(x, (str, Path)):
            x = checks.open_image(x)
        if isinstance(x, Image.Image):
            x = np.array(x.convert("L" if cfg.in_channels == 1 else "RGB"))
        if isinstance(x, np.ndarray):
            if x.dtype.kind not in "biuf":
                raise ValueError(f"input: expected a uint8 or floating-point array, received {checks.describe(x)}")
            x = torch.from_numpy(np.ascontiguousarray(x))
            if x.ndim == 3 and x.shape[-1] in (1, 3) and x.shape[0] not in (1, 3):
                x = x.permute(2, 0, 1)
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"input: expected an image path, PIL image, array or tensor, received {checks.describe(x)}")
        if x.ndim not in (2, 3, 4):
            raise ValueError(f"input: expected (H, W), (C, H, W) or (N, C, H, W), received {checks.describe(x)}")
        checks.check_max_numel(x, MAX_INPUT_VALUES)
        if x.dtype != torch.uint8 and not x.is_floating_point():
            raise ValueError(f"input: expected uint8 (0..255) or floating-point values in [0, 1], received {checks.describe(x)}")
        if x.ndim == 2:
            x = x[None]
        if x.ndim == 4:
            batched = True
        else:
            x = x[None]
        checks.check_shape(x, ["N", str(cfg.in_channels), "H", "W"])
        checks.check_not_empty(x)
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        checks.check_finite(x)
        checks.check_range(x, 0.0, 1.0, hint="floats are intensities in [0, 1]: divide 0..255 values by 255, or pass uint8")
        x = x.float()
        if x.shape[-2:] != (cfg.image_size, cfg.image_size):
            x = torch.nn.functional.interpolate(x, size=(cfg.image_size, cfg.image_size), mode="bilinear", antialias=True, align_corners=False)
        return x, {"batched": batched}

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> Any:
        """Regression: a float (a (N,) array for batches). Classification: ``{"label", "probabilities"}``."""
        y = y.float().cpu()
        if self.config.task == "regression":
            values = y[:, 0].numpy()
            return values if context["batched"] else float(values[0])
        probs = y.softmax(1).numpy()
        labels = probs.argmax(1)
        return {"label": labels, "probabilities": probs} if context["batched"] else {"label": int(labels[0]), "probabilities": probs[0]}

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        gen = torch.Generator().manual_seed(0)
        cfg = self.config
        return torch.rand(batch_size, cfg.in_channels, cfg.image_size, cfg.image_size, generator=gen).to(self.device)

    def bench_cases(self, batch_size: int, size: int) -> list:
        """Op rows of ``zoo bench`` (the forward is its paths row): for classifiers, the Fisher-forgetting importance over
        256 samples, one backward pass per class (the official loop) vs one forward and the classes' backward passes
        batched with vmap."""
        from torch.utils.data import DataLoader, TensorDataset

        from zoo.bench import BenchCase
        from zoo.unlearning.importance import expected_fisher, expected_fisher_loop

        cases = []
        if self.config.task == "classification":
            samples = 256
            gen = torch.Generator().manual_seed(0)
            x = self.example_input(samples)
            y = torch.randint(0, self.config.num_classes, (samples,), generator=gen).to(self.device)
            loader = DataLoader(TensorDataset(x, y), batch_size=32)
            k = self.config.num_classes

            def with_grad(fn):
                def call():
                    with torch.enable_grad():  # zoo bench runs under no_grad; importances need gradients
                        return fn(self.net, loader, k)

                return call

            cases.append(BenchCase("Fisher importance (batches of 32)", "loop over classes", "batched backward (vmap)", with_grad(expected_fisher_loop), with_grad(expected_fisher), items=samples))
        return cases

    # ------------------------------------------------------------ unlearning
    def unlearning_dataset(self):
        """The dataset ``zoo unlearn`` splits for this model: ``(dataset, train indices, test indices)``."""
        from zoo.data.digits import digits_dataset

        cfg = self.config
        if cfg.in_channels != 1 or cfg.image_size != 28:
            raise ValueError(f"unlearning_dataset: the bundled digits are 1x28x28; this model expects {cfg.in_channels}x{cfg.image_size}x{cfg.image_size}")
        return digits_dataset("value" if cfg.task == "regression" else "class")
