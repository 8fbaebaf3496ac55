"""The ``generative`` family of :func:`zoo.unlearn`: diffusion models and GANs.

    >>> one_step = zoo.unlearn(ddpm, "sfd", forget=3, iterations=300)                       # a OneStepGenerator
    >>> erased = zoo.unlearn(text_ddpm, "doco", forget=["a three"], retain=["a one", "a five"], anchor=["an eight"])
    >>> erased = zoo.unlearn(ddpm, "concept_ablation", forget=[3], retain=[0, 1, 2], anchor=[8])
    >>> gan2 = zoo.unlearn(gan, "adapt_then_unlearn", forget=7, classifier=digit_classifier)

``forget`` is a class label (SFD, Adapt-then-Unlearn) or the target conditions, labels or prompts (DoCo);
``retain`` the conditions DoCo preserves. DoCo and Adapt-then-Unlearn return a copy of the model with the unlearned
network in place of the original (the input is untouched); SFD returns its one-step generator
(:class:`~zoo.unlearning.generative.sfd.OneStepGenerator`).
"""

from __future__ import annotations

import copy
from typing import Any

METHODS = ("sfd", "doco", "concept_ablation", "adapt_then_unlearn")
_PACKAGES = ("zoo.models.digit_diffusion", "zoo.models.digit_gan")


def method_names() -> list[str]:
    """The family's methods."""
    return list(METHODS)


def accepts(model: Any) -> bool:
    """A :class:`~zoo.unlearning.generative.base.Diffusion` / ``Gan``, or a zoo digit diffusion model or GAN (by module: no import)."""
    names = [c.__module__ for c in type(model).__mro__]
    return "zoo.unlearning.generative.base" in names and type(model).__name__ in ("Diffusion", "Gan") or any(n.startswith(_PACKAGES) for n in names)


def _with(owner: Any, old: Any, new: Any, fallback: Any) -> Any:
    """A deep copy of ``owner`` in which ``old`` (a network inside it) is ``new``; ``fallback`` when there is no owner."""
    if owner is None:
        return fallback
    return copy.deepcopy(owner, memo={id(old): new})


def unlearn(model: Any, method: str, forget: Any, retain: Any = None, **hparams: Any) -> Any:
    """Unlearn ``forget`` from ``model`` with ``method`` (see the module docstring).

    Args:
        model: a diffusion model (SFD, DoCo, Concept Ablation) or a GAN (Adapt-then-Unlearn).
        method: one of :func:`method_names`.
        forget: the class (SFD, Adapt-then-Unlearn) or the target conditions (DoCo).
        retain: DoCo's preserved conditions.
        hparams: the method's hyper-parameters; DoCo takes ``anchor`` (conditions paired with ``forget``),
            Adapt-then-Unlearn ``classifier`` (images in [0, 1] -> logits).

    Returns:
        The unlearned model (see the module docstring).
    """
    from zoo.unlearning.generative.base import Diffusion, Gan, as_diffusion, as_gan

    if method not in METHODS:
        raise ValueError(f"method: expected one of {list(METHODS)}, received {method!r}")
    if method == "sfd":
        from zoo.unlearning.generative.sfd import SFD

        if not isinstance(forget, int):
            raise ValueError(f"forget: expected the class label (int) to forget, received {type(forget).__name__}")
        return SFD(**hparams).run(as_diffusion(model), forget)
    if method in ("doco", "concept_ablation"):
        from zoo.unlearning.generative.doco import DoCo

        anchor = hparams.pop("anchor", None)
        if anchor is None:
            raise ValueError(f"{method}: expected anchor=<conditions the forget conditions are mapped to>, received none")
        if method == "concept_ablation":
            hparams = {"alignment": "mse", **hparams}
        as_list = lambda v: [v] if isinstance(v, (int, str)) else list(v)  # noqa: E731
        diffusion = as_diffusion(model)
        unet = DoCo(**hparams).run(diffusion, as_list(forget), as_list(anchor), as_list(retain if retain is not None else []))
        return _with(diffusion.owner, diffusion.unet, unet, diffusion.copy(unet) if isinstance(model, Diffusion) else unet)
    from zoo.unlearning.generative.adapt_then_unlearn import AdaptThenUnlearn

    classifier = hparams.pop("classifier", None)
    if classifier is None:
        raise ValueError("adapt_then_unlearn: expected classifier=<images in [0, 1] -> class logits>, received none")
    if not isinstance(forget, int):
        raise ValueError(f"forget: expected the class label (int) to forget, received {type(forget).__name__}")
    gan = as_gan(model)
    generator = AdaptThenUnlearn(forget_class=forget, **hparams).run(gan, classifier)
    return _with(gan.owner, gan.generator, generator, Gan(generator, gan.discriminator, gan.latent_dim) if isinstance(model, Gan) else generator)
