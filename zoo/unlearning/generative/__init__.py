"""The ``generative`` unlearning family: erase a class, a style or a concept from a diffusion model or a GAN.

Methods (one file each): :mod:`.sfd` (Score Forgetting Distillation into a one-step generator), :mod:`.doco`
(concept domain correction with the concept-preserving gradient, and its Concept-Ablation-style MSE baseline),
:mod:`.adapt_then_unlearn` (negative adaptation with EWC, then repulsion from the adapted parameters). The models they
take are described in :mod:`.base`; :mod:`.canvas` is the UnlearnCanvas-style benchmark over the stylised digits.
"""
