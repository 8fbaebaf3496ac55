"""The tiny CLIP-style dual encoder's registered models: plain data, no torch."""

from zoo.registry import ModelSpec

TINY = {"image_size": 28, "patch_size": 7, "vision_width": 64, "vision_layers": 2, "vision_heads": 4, "text_width": 64,
        "text_layers": 2, "text_heads": 4, "context_length": 44, "embed_dim": 64}
"""The shipped setting: ViT 4x4 patches of 7 px and a byte-level causal text transformer, width 64, 2 layers each."""
PAPER = {"image_size": 224, "patch_size": 32, "vision_width": 768, "vision_layers": 12, "vision_heads": 12, "text_width": 512,
         "text_layers": 12, "text_heads": 8, "context_length": 77, "embed_dim": 512}
"""CLIP ViT-B/32 (Radford et al., 2021), T2UE's surrogate (its text tower here reads bytes, not CLIP's BPE)."""

LIMITATIONS = """- Trained on programmatic styles of 3,600 MNIST digits with template captions (60 digit x style concepts, 3
  templates): it retrieves those concepts, it is no general image-text model.
- Retrieval counts a hit when the retrieved item shows the same digit in the same style (captions repeat across items,
  so exact-item recall is not defined).
- The text tower reads UTF-8 bytes; the official CLIP checkpoints (`official=True`) need CLIP's BPE ids, passed to
  `forward` as tensors."""

SPECS = (
    ModelSpec(
        name="digit_clip_tiny",
        task="image-text-retrieval",
        paper="Learning Transferable Visual Models From Natural Language Supervision (Radford et al., ICML 2021)",
        paper_url="https://arxiv.org/abs/2103.00020",
        official_repo="openai/CLIP",
        official_license="MIT",
        module="zoo.models.digit_clip.module:DigitCLIP",
        config=TINY,
        hub_repo="zoo-models/digit_clip_tiny",
        tags=("clip", "contrastive", "image-text-retrieval", "dual-encoder", "unlearnable-examples"),
        headline_metric="i2t_recall@1",
        description="A width-64, 2+2-layer CLIP (transformers CLIPModel) trained with symmetric InfoNCE on stylised MNIST digits and their captions; T2UE's surrogate.",
        num_params=238465,
        pipeline_tag="zero-shot-image-classification",
        usage='out = model.predict(images, ["a seven in the thick style", "a two in the sunset style"])  # {"similarity": (N, 2), "probabilities": (N, 2)}',
        limitations=LIMITATIONS,
    ),
)
