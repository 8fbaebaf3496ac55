"""Tiny causal LMs (a Llama and a sparse Mixture-of-Experts, Hugging Face transformers) trained here on the synthetic
TOFU-like corpus (:mod:`zoo.data.tofu`): the testbed of :mod:`zoo.unlearning.llm`."""
