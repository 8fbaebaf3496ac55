"""GradAscent (OpenUnlearning ``GradAscent``): maximise the forget set's mean answer NLL, ``L = -NLL(D_f)``."""

from __future__ import annotations

from zoo.unlearning.llm.base import LMUnlearner, mean_nll, register


@register("grad_ascent")
class GradAscent(LMUnlearner):
    """Gradient ascent on the forget set (no retain term)."""

    needs_retain = False

    def loss(self, model, forget, retain):
        return -mean_nll(model, forget)
