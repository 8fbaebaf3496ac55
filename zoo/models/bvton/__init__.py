"""BVTON (Yang, Zang, Liu, arXiv 2411.01593): high-fidelity virtual try-on with large-scale unpaired learning, built
from the paper and its public anchors (HR-VITON, VITON-HD, GP-VTON): a compositional canonicalizing flow (stage 1),
a layered try-on condition generator (stage 2) and an unpaired SPADE/ALIAS synthesizer (stage 3)."""
