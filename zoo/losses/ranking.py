"""Pairwise ranking and contrastive losses (recommenders, dual encoders)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(positive_scores: torch.Tensor, negative_scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking (Rendle et al., UAI 2009): mean of -log sigmoid(s_pos - s_neg).

    Args:
        positive_scores: scores of observed (user, item) pairs.
        negative_scores: scores of the sampled unobserved pairs, one per positive.

    Returns:
        The scalar loss (softplus form, stable for large score gaps).

    Shape:
        - positive_scores, negative_scores: (B,)
        - Output: ()
    """
    if positive_scores.shape != negative_scores.shape:
        raise ValueError(f"bpr_loss: expected scores of one shape, received {tuple(positive_scores.shape)} and {tuple(negative_scores.shape)}")
    return F.softplus(negative_scores - positive_scores).mean()


def embedding_l2(*embeddings: torch.Tensor) -> torch.Tensor:
    """LightGCN's regulariser: half the squared L2 norm of the batch's layer-0 embeddings, divided by the batch size.

    Shape:
        - embeddings: each (B, D)
        - Output: ()
    """
    return sum(e.square().sum() for e in embeddings) / (2 * embeddings[0].shape[0])


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE between two views of the same nodes (row k of each is a positive pair; other rows are negatives).

    Args:
        anchor, positive: the two views' embeddings (L2-normalised here).
        temperature: softmax temperature.

    Shape:
        - anchor, positive: (N, D)
        - Output: ()
    """
    a, p = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)
    logits = a @ p.T / temperature
    return F.cross_entropy(logits, torch.arange(len(a), device=a.device))


def symmetric_info_nce(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """CLIP's contrastive loss (Radford et al., 2021): the mean of the image-to-text and text-to-image InfoNCE over a
    batch of N pairs, row k of each being a positive pair and the other rows its negatives.

    Args:
        image_embeddings, text_embeddings: the two towers' embeddings (L2-normalised here).
        logit_scale: the multiplier of the cosine similarities (CLIP's ``logit_scale.exp()``, 1 / temperature).

    Shape:
        - image_embeddings, text_embeddings: (N, D)
        - Output: ()
    """
    temperature = 1.0 / logit_scale
    return 0.5 * (info_nce(image_embeddings, text_embeddings, temperature) + info_nce(text_embeddings, image_embeddings, temperature))
