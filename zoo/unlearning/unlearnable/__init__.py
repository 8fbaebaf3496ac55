"""Unlearnable examples: data protection by imperceptible perturbations, so that a model trained on the data learns
little from it (not an unlearning *method* of ``zoo.unlearn``: the data owner applies it before release).

- :func:`protect` ``(images, labels, method="bayes_error" | "error_min", eps=8/255, steps=...)``: the protected images.
- ``bayes_error``: Bayes-error optimisation (BEO; Zhang, Sun, Lim, Zhang, AAAI 2026, arXiv 2511.08191): projected
  gradient ascent on a kernel estimate of the Bayes error of a surrogate's features (:mod:`.bayes_error`).
- ``error_min``: sample-wise error-minimising noise (Huang et al., ICLR 2021): the bi-level min-min (:mod:`.error_min`).
- :mod:`.t2ue`: T2UE (Ma et al., arXiv 2508.03091): a generator mapping text descriptions to unlearnable noise for
  image-text pairs, trained against a frozen dual encoder, so the protector never sees the images.
- :mod:`.evaluate`: train a victim on protected / mixed data and measure it (what ``tools/unlearnable_examples.py``
  writes to ``docs/unlearning/unlearnable/``).
"""

from zoo.unlearning.unlearnable.api import METHODS, protect

__all__ = ["METHODS", "protect"]
