"""RMU (Li et al., 2024; OpenUnlearning ``RMU``): push a middle layer's forget activations to a fixed random direction
and hold its retain activations to the original's.

``u = c * r / ||r||`` with ``r ~ U(0, 1)^d`` drawn once (``steering_coeff`` c); ``L_f`` = answer-token MSE between the
layer's output and ``u``, ``L_ret`` = the same between the model's and the frozen original's outputs on the retain
set ("EMBED_DIFF"); ``L = gamma * L_f + alpha * L_ret``. Every parameter is trained, as OpenUnlearning's TOFU config
does (the WMDP original trains only layers 5-7's ``mlp.down_proj``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.unlearning.llm.base import LMUnlearner, decoder_layers, layer_output, register


def masked_activation_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``mean_batch( sum_tokens(mask * mean_dim((a - b)^2)) / sum_tokens(mask) )`` (OpenUnlearning's activation loss).

    Shape:
        a, b: (B, L, D) (b may broadcast); mask: (B, L) bool.
    """
    per_token = F.mse_loss(a, b.expand_as(a), reduction="none").mean(-1)
    m = mask.float()
    return ((per_token * m).sum(-1) / m.sum(-1).clamp_min(1)).mean()


@register("rmu")
class RMU(LMUnlearner):
    """Representation misdirection.

    Args:
        layer: the decoder block whose output is steered (None: the middle one; OpenUnlearning's 1B Llama uses 7 of 16).
        steering_coeff: the norm c of the random target (2 in OpenUnlearning's TOFU config).
        gamma: forget weight (1).
        alpha: retain weight (1).
    """

    needs_reference = True

    def __init__(self, layer: int | None = None, steering_coeff: float = 2.0, gamma: float = 1.0, alpha: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.layer, self.steering_coeff, self.gamma, self.alpha = layer, steering_coeff, gamma, alpha

    def prepare(self, model, forget, retain) -> None:
        n = len(decoder_layers(model))
        self.layer_index = n // 2 if self.layer is None else self.layer
        if not 0 <= self.layer_index < n:
            raise ValueError(f"layer: expected 0..{n - 1}, received {self.layer}")
        width = model.config.hidden_size
        gen = torch.Generator().manual_seed(self.seed)
        r = torch.rand(1, 1, width, generator=gen)
        self.control = (r / r.norm() * self.steering_coeff).to(next(model.parameters()).device)

    def loss(self, model, forget, retain):
        mask_f = forget["labels"] != -100
        loss = self.gamma * masked_activation_mse(layer_output(model, self.layer_index, forget), self.control, mask_f)
        if retain is not None:
            with torch.no_grad():
                ref = layer_output(self.reference, self.layer_index, retain)
            loss = loss + self.alpha * masked_activation_mse(layer_output(model, self.layer_index, retain), ref, retain["labels"] != -100)
        return loss
