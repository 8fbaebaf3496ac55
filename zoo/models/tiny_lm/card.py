"""The tiny LMs' card prose: what the model memorised, the unlearning table against retrain, the claims in small."""

from __future__ import annotations

from typing import Any

from zoo.models.tiny_lm.specs import TinyLMRecord
from zoo.registry import ModelSpec

FIGURE_NAME = "forget_quality_vs_utility.png"
COLUMNS = (("forget_quality", "forget quality", "{:.2g}"), ("model_utility", "model utility", "{:.3f}"), ("retain_rouge", "retain ROUGE-L", "{:.3f}"), ("forget_rouge", "forget ROUGE-L", "{:.3f}"),
           ("forget_truth_ratio", "forget truth ratio", "{:.3f}"), ("mia_min_k", "MIA AUC (Min-K%)", "{:.3f}"), ("mia_loss", "MIA AUC (loss)", "{:.3f}"),
           ("routing_shift", "routing shift", "{:.3f}"), ("seconds", "wall time (s)", "{:.0f}"), ("cpu_seconds", "CPU time (s)", "{:.0f}"))


def _table(rows: dict[str, dict[str, float]]) -> str:
    columns = [c for c in COLUMNS if any(c[0] in r for r in rows.values())]
    lines = ["| row | " + " | ".join(c[1] for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        cells = [fmt.format(row[key]) if key in row else "-" for key, _, fmt in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _claims(record: TinyLMRecord) -> list[str]:
    out = []
    for split, rows in record.unlearning.items():
        for base in ("GradDiff", "NPO"):
            wagle = rows.get(f"WAGLE+{base}")
            if wagle and base in rows:
                better = wagle["forget_quality"] >= rows[base]["forget_quality"] and wagle["model_utility"] >= rows[base]["model_utility"]
                out.append(f"- WAGLE improves {base} ({split}): {'holds' if better else 'does not hold on both axes'} here — forget quality "
                           f"{rows[base]['forget_quality']:.2g} -> {wagle['forget_quality']:.2g}, model utility {rows[base]['model_utility']:.3f} -> {wagle['model_utility']:.3f}.")
        for base in ("GradAscent", "NPO"):
            uoe = rows.get(f"UOE ({base})")
            if uoe and base in rows:
                kept = uoe["model_utility"] >= rows[base]["model_utility"]
                out.append(f"- UOE keeps utility on the MoE ({split}, {base}): {'holds' if kept else 'does not hold'} — model utility "
                           f"{rows[base]['model_utility']:.3f} (plain) vs {uoe['model_utility']:.3f} (UOE), routing shift on retain tokens "
                           f"{rows[base].get('routing_shift', float('nan')):.3f} vs {uoe.get('routing_shift', float('nan')):.3f}; but forget ROUGE-L "
                           f"{rows[base]['forget_rouge']:.3f} (plain) vs {uoe['forget_rouge']:.3f} (UOE, original {rows['original']['forget_rouge']:.3f}): "
                           f"{'UOE forgot little at these steps' if uoe['forget_rouge'] > 0.8 * rows['original']['forget_rouge'] else 'UOE forgot too'}.")
    return out


def forget_authors(n_authors: int, percent: int) -> int:
    """Authors of a forget split (``zoo.data.tofu.forget_authors``, restated here: cards import no torch)."""
    return max(1, round(n_authors * percent / 100))


def card_notes(spec: ModelSpec, config: Any, record: TinyLMRecord | None) -> str:
    """Markdown for a tiny LM's card.

    Args:
        spec: the model's spec.
        config: its ``TinyLMConfig``.
        record: the measured record (None: no shipped checkpoint).
    """
    arch = (f"transformers `MixtralForCausalLM`: {config.num_layers} layers of {config.hidden_size}, {config.num_experts} experts of "
            f"{config.intermediate_size} per layer, top-{config.experts_per_token} routing" if config.variant == "moe"
            else f"transformers `LlamaForCausalLM`: {config.num_layers} layers of {config.hidden_size}, MLP {config.intermediate_size}, {config.num_heads} heads")
    setting = f"""## Model and data
- {arch}; byte-level BPE of {config.vocab_size} tokens trained with `tokenizers` on the corpus (`zoo.data.tofu.corpus_tokenizer`).
- Trained from scratch on the synthetic TOFU-like corpus (`zoo.data.tofu.make_corpus({config.corpus_authors}, {config.corpus_seed})`): fictitious authors
  with 20 facts each as QA, answer-only loss, plus the real-author and world-fact sets. TOFU fine-tunes a pretrained
  chat model instead; the corpus keeps TOFU's layout (paraphrased and 5 perturbed answers, nested forget01/05/10 with
  retain and holdout sets) so that `zoo.data.tofu.load_tofu` feeds the real TOFU json to the same evaluation.
- `model.to_transformers(dir)` writes a transformers directory (`AutoModelForCausalLM` / `AutoTokenizer` read it)."""
    if record is None:
        return setting
    parts = [setting, "## Unlearning on the synthetic corpus (measured by `tools/make_weights.py`)",
             "Metrics as OpenUnlearning computes them (`zoo.unlearning.llm.evaluate`): forget quality = KS-test p-value of the forget truth "
             "ratios against the retrained model's; model utility = harmonic mean of probability, ROUGE-L and truth ratio on the retain, "
             "real-author and world-fact sets; MIA AUC: forget vs holdout authors (1 = forget set still looks memorised, 0.5 = like unseen).",
             f"![forget quality vs model utility]({FIGURE_NAME})"]
    for split, rows in record.unlearning.items():
        parts += [f"### {split}", _table(rows)]
    reduced = [k for k, v in record.unlearning_settings.items() if "reduced steps" in v]
    parts.append("Settings per row: " + "; ".join(f"**{k}**: {v}" for k, v in record.unlearning_settings.items()) + ". "
                 "The method rows ran at a larger learning rate and a smaller batch than OpenUnlearning's lr 1e-5 and batch 32: at lr 1e-5 a tiny "
                 "model trained from scratch does not move in the few steps a 20-item forget set gives. "
                 + (f"Rows at reduced steps (fewer epochs than OpenUnlearning's 10): {', '.join(reduced)}. " if reduced else "No row ran at reduced steps. ")
                 + "Wall times were measured on a heavily shared CPU (several jobs per core); `cpu_seconds` is the method's own CPU time.")
    parts.append("Reading the table: the tiny model learned the 20 real-author QA poorly in its short training (their ROUGE-L is near 0), "
                 "and model utility is a harmonic mean, so it is 0 wherever one of its nine values is 0; the retain ROUGE-L column shows the "
                 "damage to the retained authors directly. The paraphrased and perturbed answers are new sentences to the model, so the "
                 "truth ratios of the original and the retrained model are close (the original's forget quality is high): at this size, "
                 "forget quality separates over-unlearning (GradAscent, NPO) from the rest more than it rewards forgetting. Known corpus issue: "
                 "the `mentor` attribute names other corpus authors, so forget authors' names occur in the retain set, and the retrained "
                 "model's MIA AUC is above 0.5 (forget authors look more familiar than the holdout ones).")
    claims = _claims(record)
    if claims:
        parts += ["## The papers' claims, in small", *claims,
                  f"Forget quality is a KS p-value over {', '.join(f'{20 * forget_authors(config.corpus_authors, int(s[6:]))} ({s})' for s in record.unlearning)} "
                  "truth ratios: noisy at this size, as OpenUnlearning's issues report at full size. Compare rows, not single values."]
    parts.append("## Not in this table\nULD is implemented (`zoo.unlearn(model, \"uld\", ...)` returns the base-minus-assistant model) but was not "
                 "run here for lack of CPU time; O3, DP2Unlearning and LinEAS are not implemented yet; ECO and GUARD are issue 23.")
    return "\n\n".join(parts)
