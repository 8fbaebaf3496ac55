"""Partial (scribble) supervision: cross-entropy on the annotated pixels only, with per-batch class weights."""

from __future__ import annotations

import torch


def scribble_class_weights(scribbles: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """The dynamic class weights of MAAG's weighted partial cross-entropy: ``n_tot / n_c`` over the batch.

    Args:
        scribbles: one-hot scribbles, unlabelled pixels all zero. Shape: (N, C, H, W).
        eps: added to each count (a class absent from the batch gets a huge weight, multiplied by no pixel).

    Returns:
        ``n_tot / (n_c + eps)``, where ``n_c`` counts the pixels scribbled as class c and ``n_tot`` all scribbled
        pixels. Shape: (C,).
    """
    counts = scribbles.float().sum(dim=(0, 2, 3))
    return counts.sum() / (counts + eps)


def weighted_partial_cross_entropy(probabilities: torch.Tensor, scribbles: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """MAAG's WPCE (official ``weighted_cross_entropy(pred_soft * scribbles, scribbles)``).

    ``-mean over all pixels of sum_c w_c * s_c * log(p_c * s_c + eps)`` with ``w = scribble_class_weights(s)``:
    unlabelled pixels (all-zero scribble) add nothing to the sum but count in the mean, as in the official code.

    Args:
        probabilities: softmax output. Shape: (N, C, H, W).
        scribbles: one-hot scribbles, unlabelled pixels all zero. Shape: (N, C, H, W).
        eps: inside the log and in the weights.

    Returns:
        Scalar loss.
    """
    if probabilities.shape != scribbles.shape:
        raise ValueError(f"scribbles: expected the shape of the probabilities {tuple(probabilities.shape)}, received {tuple(scribbles.shape)}")
    scribbles = scribbles.to(probabilities.dtype)
    weights = scribble_class_weights(scribbles, eps).view(1, -1, 1, 1)
    per_pixel = -(weights * scribbles * torch.log(probabilities * scribbles + eps)).sum(1)
    return per_pixel.mean()
