"""A tiny CLIP-style dual encoder (Radford et al., ICML 2021) on stylised digits and their captions: the image-text
retrieval model of the T2UE experiments (``zoo.unlearning.unlearnable.t2ue``)."""
