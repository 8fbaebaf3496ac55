"""Unlearning for causal language models (any transformers ``PreTrainedModel``, and the zoo's tiny LMs).

    >>> import zoo
    >>> model = zoo.load("tiny_llama")
    >>> unlearned = zoo.unlearn(model, "npo", forget=corpus["forget10"], retain=corpus["retain90"])

Methods (one file each in ``methods/``): ``grad_ascent``, ``grad_diff``, ``npo``, ``simnpo``, ``rmu`` (OpenUnlearning's
baselines), ``wagle_grad_diff`` / ``wagle_npo`` (WAGLE), ``uoe`` (MoE models), ``uld`` (returns a logit-difference model). Evaluation: :mod:`zoo.unlearning.llm.evaluate` (TOFU as OpenUnlearning computes it); the retrained reference:
:mod:`zoo.unlearning.llm.reference`.
"""
