"""LightGCN (He et al., SIGIR 2020) and SGL (Wu et al., SIGIR 2021): graph recommenders trained with BPR, the
backbones of UnlearnRec's recommendation unlearning (zoo.unlearning.recommendation)."""
