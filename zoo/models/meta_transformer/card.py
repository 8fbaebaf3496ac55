"""Meta-Transformer's card prose: the per-modality table against from-scratch models, usage, deviations."""

from __future__ import annotations

from typing import Any

from zoo.models.meta_transformer.specs import SCRATCH_BASELINE, MetaTransformerRecord
from zoo.registry import ModelSpec

DATA_NOTES = {
    "image": "scikit-learn digits (8x8, real), 10 classes",
    "tabular": "scikit-learn diabetes (real), disease progression, standardised",
    "time_series": "synthetic two-season series, 48 -> 12 steps",
    "imu": "synthetic 6-axis IMU windows, 4 activities",
    "point_cloud": "synthetic shapes, 256 points, 5 classes",
    "graph": "networkx random-graph families, 4 classes",
    "audio": "synthetic sounds (tone, chirps, AM, noise), 5 classes",
}
"""The shipped checkpoint's data per modality (``zoo/data/modalities.py``)."""

OFFICIAL_FILES = {768: "Meta-Transformer_base_patch16_encoder.pth", 1024: "Meta-Transformer_large_patch14_encoder.pth"}
"""The official encoder files, by width (B/16, L/14)."""
OFFICIAL_ENCODER = """- The official encoder is the OpenCLIP LAION-2B ViT trunk, which cannot be downloaded here; this one is pretrained on
  MNIST digits. `zoo.load("meta_transformer_b16", weights="Meta-Transformer_base_patch16_encoder.pth", official=True)`
  loads the official file (or an OpenCLIP checkpoint) into the B/16 encoder."""
ARCHITECTURE = """- Every tokenizer ends in a class token the heads read; the point-cloud positions are added once before the encoder
  (the official point-cloud code adds them before every block); text uses byte-level ids (CLIP's BPE vocabulary is
  not bundled offline).
- The official point-cloud and graph code re-initialise the "frozen" blocks after loading them, and the graph code
  builds them with 32 heads; here the loaded blocks are the ones used (tested).
"""


def card_notes(spec: ModelSpec, config: Any, record: MetaTransformerRecord | None) -> str:
    """Markdown for the card of a Meta-Transformer.

    Args:
        spec: the model's spec.
        config: its ``MetaTransformerConfig`` (encoder size and modalities).
        record: the measured record (None: no shipped checkpoint, so no table).

    Returns:
        With a record, the per-modality table against from-scratch models and a usage snippet; the deviations
        from the official code always.
    """
    if record is None:
        filename = OFFICIAL_FILES.get(config.dim, "encoder.pth")
        encoder = (f"- `zoo.load(\"{spec.name}\", weights=\"{filename}\", official=True)` loads an official encoder file "
                   "(or an OpenCLIP checkpoint) of this size into the encoder; tokenizers and heads are trained with `zoo train`.")
        return f"## Deviations from the official code\n{encoder}\n{ARCHITECTURE}"
    return f"{_results(spec, config, record)}\n\n## Deviations from the official code\n{OFFICIAL_ENCODER}\n{ARCHITECTURE}"


def _results(spec: ModelSpec, config: Any, record: MetaTransformerRecord) -> str:
    scratch = record.baselines[SCRATCH_BASELINE]
    rows = ["| modality | data | metric | frozen shared encoder | from scratch, this modality only | trained parameters (shared / scratch) |", "|---|---|---|---|---|---|"]
    for modality in config.modalities:
        key = next(k for k in record.metrics if k.startswith(modality + "_"))
        metric = "accuracy (%) ↑" if key.endswith("accuracy") else "MSE ↓"
        rows.append(f"| {modality} | {DATA_NOTES.get(modality, modality)} | {metric} | {record.metrics[key]:.3f} | {scratch[key]:.3f} | "
                    f"{record.trained_params[modality]:,} / {record.scratch_params[modality]:,} |")
    return f"""## One frozen encoder, seven modalities (measured by `{record.eval_command}`)
The encoder ({config.depth} blocks, width {config.dim}, {config.num_heads} heads; timm blocks in the official layout) was pretrained
for {record.pretrain_seconds:.0f} s on real MNIST digits and then frozen; each modality trains only its tokenizer and head,
{record.train_steps} batches of 64. The baseline is the same architecture trained from random initialisation on that modality alone,
encoder included, for the same number of batches.

{chr(10).join(rows)}

```python
import zoo
model = zoo.load("{spec.name}")
model.predict(points, modality="point_cloud")          # (256, 3) -> {{"label", "probabilities"}}
model.predict(nx.barabasi_albert_graph(16, 2), modality="graph")
model.predict(series, modality="time_series")          # (48, 1) -> (12, 1) forecast
```"""
