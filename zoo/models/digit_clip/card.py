"""The tiny CLIP's card prose, from the measured record."""

from __future__ import annotations

from typing import Any

from zoo.registry import ModelSpec


def card_notes(spec: ModelSpec, config: Any, record: Any | None) -> str:
    """Markdown for the dual encoder's card.

    Args:
        spec: the model's spec.
        config: its ``DigitCLIPConfig``.
        record: the measured record (None: no shipped checkpoint).

    Returns:
        The architecture, and with a record the retrieval results both ways against the untrained baseline.
    """
    about = (
        f"## Model\nCLIP (transformers `CLIPModel`): a ViT over {config.image_size}x{config.image_size} images in {config.patch_size}-px "
        f"patches (width {config.vision_width}, {config.vision_layers} layers, {config.vision_heads} heads) and a causal text "
        f"transformer over UTF-8 bytes (width {config.text_width}, {config.text_layers} layers, {config.text_heads} heads, "
        f"{config.context_length} tokens, pooled at the end token), projected to {config.embed_dim}-d and L2-normalised; trained "
        "with the symmetric InfoNCE (`zoo.losses.ranking.symmetric_info_nce`) and a learned temperature, AdamW with warm-up and "
        "cosine decay, as CLIP. `predict(images, texts)` returns the cosine similarities and the softmax over the texts. It is the "
        "surrogate and the victim architecture of T2UE (`zoo.unlearning.unlearnable.t2ue`)."
    )
    if record is None:
        return f"{about}\n\nTrain it: `zoo train recipes/digit_clip_tiny/tiny.yaml`."
    m = record.metrics
    base = next(iter(record.baselines.values()), {})
    rows = ["| model | I2T R@1 | I2T R@5 | T2I R@1 | T2I R@5 |", "|---|---|---|---|---|"]
    for name, values in (("this checkpoint", m), *record.baselines.items()):
        rows.append(f"| {name} | " + " | ".join(f"{values[k]:.3f}" for k in ("i2t_recall@1", "i2t_recall@5", "t2i_recall@1", "t2i_recall@5")) + " |")
    chance = record.baselines.get("random ranking (expected)", {}).get("i2t_recall@1", float("nan"))
    return f"""## Retrieval on the held-out split
{record.eval_dataset.description}

{chr(10).join(rows)}

Image-to-text R@1 {m['i2t_recall@1']:.3f} and text-to-image R@1 {m['t2i_recall@1']:.3f}, against {base.get('i2t_recall@1', float('nan')):.3f} /
{base.get('t2i_recall@1', float('nan')):.3f} for the untrained network and {chance:.3f} for a random ranking (60 digit x style concepts).

{about}"""
