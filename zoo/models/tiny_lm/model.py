"""The tiny causal LMs as plain transformers models (no Lightning): a Llama and a Mixtral-style sparse MoE.

    >>> net = build_causal_lm(variant="llama", vocab_size=1024, hidden_size=128, num_layers=4)
    >>> logits = net(input_ids=torch.tensor([[1, 5, 9]])).logits   # (1, 3, 1024)
"""

from __future__ import annotations

from torch import nn

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
"""The corpus tokenizer's special ids (``zoo.data.tofu.SPECIAL_TOKENS``)."""


def build_causal_lm(
    variant: str = "llama",
    vocab_size: int = 1024,
    hidden_size: int = 128,
    num_layers: int = 4,
    num_heads: int = 4,
    num_kv_heads: int = 4,
    intermediate_size: int = 384,
    num_experts: int = 4,
    experts_per_token: int = 2,
    router_aux_loss_coef: float = 0.01,
    max_position: int = 128,
) -> nn.Module:
    """A randomly initialised ``LlamaForCausalLM`` (``variant="llama"``) or ``MixtralForCausalLM`` (``"moe"``: every
    layer's MLP is ``num_experts`` experts of ``intermediate_size``, top-``experts_per_token`` routing).

    Embeddings and the LM head are separate matrices (safetensors refuses tensors that share memory).

    Returns:
        The transformers model (a ``PreTrainedModel``; ``save_pretrained`` writes a directory any transformers loads).
    """
    common = dict(
        vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads, intermediate_size=intermediate_size, max_position_embeddings=max_position,
        tie_word_embeddings=False, pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID,
    )
    if variant == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        return LlamaForCausalLM(LlamaConfig(**common))
    if variant == "moe":
        from transformers import MixtralConfig, MixtralForCausalLM

        if not 1 <= experts_per_token <= num_experts:
            raise ValueError(f"experts_per_token: expected 1..num_experts ({num_experts}), received {experts_per_token}")
        config = MixtralConfig(**common, num_local_experts=num_experts, num_experts_per_tok=experts_per_token, router_aux_loss_coef=router_aux_loss_coef, output_router_logits=False)
        return MixtralForCausalLM(config)
    raise ValueError(f"variant: expected 'llama' or 'moe', received {variant!r}")
