"""Tiny diffusion models on 28x28 digits (diffusers UNets, DDPM training, DDPM/DDIM sampling, classifier-free
guidance): a class-conditional one and a text-conditioned one, the generators that the generative-unlearning methods
(SFD, concept domain correction, the UnlearnCanvas-style benchmark, T2UE) start from."""
