"""The tiny causal LMs' registered models and the shipped checkpoints' record: plain data, no torch."""

from dataclasses import dataclass

from zoo.records import CheckpointRecord
from zoo.registry import ModelSpec

UNLEARNING_SPLITS = ("forget01", "forget10")
"""The forget splits of the card's unlearning table."""
UNLEARNING_METRICS = ("forget_quality", "model_utility", "forget_rouge", "forget_truth_ratio", "mia_min_k", "seconds")
"""The unlearning table's columns (``seconds``: wall time of the method, or of the retraining)."""


@dataclass(frozen=True, kw_only=True)
class TinyLMRecord(CheckpointRecord):
    """A shipped tiny LM's record: the common fields and the unlearning comparison on the synthetic TOFU corpus.

    Args:
        unlearning: forget split -> row (``"original"``, ``"retrain"``, then each method) -> metric (TOFU's, from
            ``zoo.unlearning.llm.evaluate``; ``seconds`` of wall time).
        unlearning_settings: row -> the hyper-parameters it ran with, and ``"(reduced steps)"`` where fewer steps than
            the method's default were run.
    """

    unlearning: dict[str, dict[str, dict[str, float]]]
    unlearning_settings: dict[str, str]


_COMMON = dict(
    task="text-generation",
    paper="TOFU: A Task of Fictitious Unlearning for LLMs (Maini et al., 2024), as implemented by OpenUnlearning",
    paper_url="https://arxiv.org/abs/2401.06121",
    official_repo="locuslab/open-unlearning",
    official_license="mit",
    module="zoo.models.tiny_lm.module:TinyLM",
    tags=("causal-lm", "unlearning", "tofu", "transformers"),
    headline_metric="answer_accuracy",
    pipeline_tag="text-generation",
    record_type=TinyLMRecord,
    usage='text = model.predict("Where was Salo Mife born?")  # greedy answer; model.to_transformers(dir) for any transformers tool',
)

SPECS = (
    ModelSpec(
        name="tiny_llama",
        config={"variant": "llama"},
        hub_repo="zoo-models/tiny_llama",
        description="A tiny Llama (transformers LlamaForCausalLM, byte-level BPE) that memorised a synthetic TOFU-like corpus of fictitious authors.",
        num_params=787_072,
        **_COMMON,
    ),
    ModelSpec(
        name="tiny_moe",
        config={"variant": "moe", "intermediate_size": 256},
        hub_repo="zoo-models/tiny_moe",
        description="A tiny sparse Mixture-of-Experts LM (transformers MixtralForCausalLM, top-2 of 4 experts) trained on the same corpus, for UOE.",
        num_params=1_181_312,
        **_COMMON,
    ),
)
