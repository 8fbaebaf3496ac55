"""GradDiff (OpenUnlearning ``GradDiff``): ``L = gamma * (-NLL(D_f)) + alpha * L_ret``, ``L_ret`` the retain set's NLL
or the KL to the frozen original (``retain_loss_type``)."""

from __future__ import annotations

from zoo.unlearning.llm.base import LMUnlearner, mean_nll, register, retain_loss


@register("grad_diff")
class GradDiff(LMUnlearner):
    """Gradient difference.

    Args:
        gamma: weight of the forget term (1).
        alpha: weight of the retain term (1).
        retain_loss_type: ``"NLL"`` or ``"KL"``.
    """

    def __init__(self, gamma: float = 1.0, alpha: float = 1.0, retain_loss_type: str = "NLL", **kwargs) -> None:
        super().__init__(**kwargs)
        if retain_loss_type not in ("NLL", "KL"):
            raise ValueError(f"retain_loss_type: expected 'NLL' or 'KL', received {retain_loss_type!r}")
        self.gamma, self.alpha, self.retain_loss_type = gamma, alpha, retain_loss_type
        self.needs_reference = retain_loss_type == "KL"

    def forget_loss(self, model, forget):
        return -mean_nll(model, forget)

    def loss(self, model, forget, retain):
        return self.gamma * self.forget_loss(model, forget) + self.alpha * retain_loss(model, self.reference, retain, self.retain_loss_type)
