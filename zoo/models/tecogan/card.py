"""TecoGAN's and FRVSR's card prose: the method and where zoo follows the PyTorch port or the TensorFlow code."""

from __future__ import annotations

from typing import Any

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

METHOD_NOTES = """## Method and deviations

- Generator: FRNet (FNet + SRNet) as the paper and both official codes; SRNet with `nb` residual blocks and two
  stride-2 transposed convolutions; the BD residual and flow upsampling use the TF-like bicubic of the official code.
  The PyTorch port's checkpoints load unchanged (`zoo.load(name, weights=..., official=True)`), reproduced to
  1.8e-7 on the port's parity fixture; the official TensorFlow checkpoint loads once exported to a variable
  dictionary (`conventions="tf"`: TF1 resizes, `upscale_four` flow, SAME transposed convolutions, flow sign and
  channel order, FNet input order).
- Training follows the PyTorch port where the two codes differ: Charbonnier (not L2) pixel, warping and ping-pong
  losses, BCE on a dense head (the TF D has a patch head), D updated when `mean log D(real) - mean log D(fake) < 0.4`
  (the port's adaptive rule; TF uses a running average of its `t_balance`). The official TF feature-matching
  ("layer") loss is added (weight 0.02 per layer over the TF layer norms 12/14/24/100); the port does not use it.
  Within one step zoo updates G before D (the port updates D first), from zoo's shared adversarial loop.
- No pretrained VGG-19 is available offline: the cosine feature loss uses a frozen random-init VGG-19 (seed 0)
  unless `vgg_weights` names a local file; the shipped tiny model uses relu2_2 only.
- LPIPS: torchmetrics' v0.1 AlexNet linear heads on a frozen random-init AlexNet trunk (seed 0), because the
  ImageNet AlexNet cannot be downloaded here. It ranks methods measured alike but is NOT comparable to published
  LPIPS values; tLP uses the same network. tOF uses OpenCV's Farneback flow with the port's parameters.
- The shipped models are tiny (0.22 M parameters, FNet at a quarter width) and trained for minutes on 2 CPU cores on
  two real clips, so they are far from the paper's quality; the table compares methods under the same budget.
"""


def card_notes(spec: ModelSpec, config: Any, record: CheckpointRecord | None) -> str:
    """Markdown for a TecoGAN / FRVSR card.

    Args:
        spec: the model's spec.
        config: its ``TecoGANConfig``.
        record: the measured record (the figures are in the card's evaluation table).

    Returns:
        The method-and-deviations section.
    """
    return METHOD_NOTES
