"""The small feature backbone of the shipped UNEM checkpoint: a timm ResNet-10-T trained on base classes of
real MNIST digits (each digit x 4 rotations a class), frozen for the few-shot tasks."""

from __future__ import annotations

import lightning as L
import timm
import torch
import torch.nn.functional as F

from zoo.models.unem.specs import BACKBONE_NAME


def build_backbone(num_classes: int = 20) -> torch.nn.Module:
    """timm ``resnet10t`` for 1-channel 28x28 digits."""
    return timm.create_model("resnet10t", pretrained=False, in_chans=1, num_classes=num_classes)


@torch.no_grad()
def extract_features(backbone: torch.nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Pooled pre-logit features. Shape: (N, 1, 28, 28) -> (N, backbone.num_features)."""
    backbone.eval()
    device = next(backbone.parameters()).device
    chunks = [backbone.forward_head(backbone.forward_features(images[i : i + batch_size].to(device)), pre_logits=True) for i in range(0, len(images), batch_size)]
    return torch.cat(chunks).cpu()


class BackboneClassifier(L.LightningModule):
    """Cross-entropy training of the backbone on base classes.

    Args:
        num_classes: base classes.
        lr: Adam learning rate.
    """

    def __init__(self, num_classes: int = 20, lr: float = 1e-3) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.backbone = build_backbone(num_classes)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = F.cross_entropy(self.backbone(images), labels)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def load_backbone(name: str = "unem_gaussian", weights: str | None = None) -> torch.nn.Module:
    """The shipped (hash-checked) backbone of a UNEM checkpoint, in eval mode, for ``extract_features``.

    Args:
        name: the registered UNEM model whose weights folder holds the backbone (``BACKBONE_NAME``).
        weights: a local weights directory instead of the shipped / Hub copy.
    """
    from safetensors.torch import load_file

    from zoo.hub import resolve_weights, verify_files
    from zoo.registry import checkpoint_record

    directory, source = resolve_weights(name, weights, files=(BACKBONE_NAME,))
    record = checkpoint_record(name) if source != "local" else None
    if record:
        verify_files(directory, {BACKBONE_NAME: record.sha256[BACKBONE_NAME]})
    backbone = build_backbone()
    backbone.load_state_dict(load_file(str(directory / BACKBONE_NAME)), strict=True)
    return backbone.eval()
