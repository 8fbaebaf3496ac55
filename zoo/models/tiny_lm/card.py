"""The tiny LMs' card prose: what the model memorised, the unlearning table against retrain, the claims in small."""

from __future__ import annotations

from typing import Any

from zoo.models.tiny_lm.specs import TinyLMRecord
from zoo.registry import ModelSpec

FIGURE_NAME = "forget_quality_vs_utility.png"
COLUMNS = (("forget_quality", "forget quality", "{:.2g}"), ("model_utility", "model utility", "{:.3f}"), ("retain_rouge", "retain ROUGE-L", "{:.3f}"), ("forget_rouge", "forget ROUGE-L", "{:.3f}"),
           ("forget_truth_ratio", "forget truth ratio", "{:.3f}"), ("mia_loss", "MIA AUC (loss)", "{:.3f}"), ("mia_zlib", "MIA AUC (zlib)", "{:.3f}"),
           ("mia_min_k", "MIA AUC (Min-K%)", "{:.3f}"), ("mia_min_k_plus_plus", "MIA AUC (Min-K%++)", "{:.3f}"),
           ("routing_shift", "routing shift", "{:.3f}"), ("seconds", "wall time (s)", "{:.0f}"), ("cpu_seconds", "CPU time (s)", "{:.0f}"))


def _table(rows: dict[str, dict[str, float]], reduced: set[str] = frozenset()) -> str:
    """A markdown table of one split's rows; rows in ``reduced`` (run at reduced steps) are marked with a dagger."""
    columns = [c for c in COLUMNS if any(c[0] in r for r in rows.values())]
    lines = ["| row | " + " | ".join(c[1] for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        cells = [fmt.format(row[key]) if key in row else "-" for key, _, fmt in columns]
        lines.append(f"| {name}{' †' if name in reduced else ''} | " + " | ".join(cells) + " |")
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


def _reading(record: TinyLMRecord) -> str:
    """How to read the table, with the measured figures it rests on (the wording follows the figures)."""
    split = "forget10" if "forget10" in record.unlearning else next(iter(record.unlearning))
    rows = record.unlearning[split]
    original, retrain = rows["original"], rows["retrain"]
    keys = [k for k in ("mia_loss", "mia_zlib", "mia_min_k", "mia_min_k_plus_plus") if k in retrain]
    mias = ", ".join(f"{retrain[k]:.2f}" for k in keys)
    near = all(0.3 <= retrain[k] <= 0.7 for k in keys)
    utility = ("above 0 for the original ({:.3f}) and the retrained model ({:.3f})" if original["model_utility"] > 0 and retrain["model_utility"] > 0
               else "{:.3f} for the original and {:.3f} for the retrained model").format(original["model_utility"], retrain["model_utility"])
    return (f"Reading the table: the model was trained until it memorised its training answers (teacher-forced answer accuracy "
            f"{record.metrics['answer_accuracy']:.3f}; ROUGE-L of the original on {split}'s forget set {original['forget_rouge']:.3f}, retain "
            f"{original.get('retain_rouge', float('nan')):.3f}, real authors {original.get('real_authors_rouge', float('nan')):.3f}, world facts "
            f"{original.get('world_facts_rouge', float('nan')):.3f}); model utility is {utility}. Model utility is a harmonic mean: "
            "it drops to 0 wherever one of its nine values is 0, and the retain ROUGE-L column shows the damage to the retained authors "
            f"directly. The retrained model never saw the forget authors, and no answer of the corpus names another author; its MIA "
            f"AUCs on {split} (loss, zlib, Min-K%, Min-K%++: {mias}) are " + ("near 0.5, the level of unseen data: the target of every method. "
            if near else "away from 0.5: the forget and holdout authors are not alike to it at this size. ")
            + "An AUC well below 0.5 means the forget set now looks *less* likely than unseen authors (over-unlearning, itself "
            f"detectable). The original's forget quality is {original['forget_quality']:.2g} (the retrained model's is 1 by definition): "
            "a method is close to retraining when its forget quality is high, its MIA AUCs near the retrained model's and its model "
            "utility kept; a forget ROUGE-L far below the retrained model's (which still guesses the attribute words) is over-unlearning.")


def _missing(record: TinyLMRecord) -> str:
    """What the table leaves out, read from the rows it has."""
    rows = set().union(*(r.keys() for r in record.unlearning.values()))
    absent = [n for n in ("O3", "DP2Unlearning", "LinEAS") if n not in rows]
    text = "## Not in this table\nThe inference-time methods of issue 23 (ECO, GUARD), the attacks and ConceptVectors / RESTOR are evaluated on their own pages."
    if absent:
        text += f" {', '.join(absent)}: not implemented in `zoo.unlearning.llm` when this table was measured."
    return text


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
    reduced = [k for k, v in record.unlearning_settings.items() if "reduced steps" in v]
    for split, rows in record.unlearning.items():
        parts += [f"### {split}", _table(rows, set(reduced))]
    if reduced:
        parts.append("† run at reduced steps (fewer epochs than the method's default; see the settings below).")
    parts.append("Settings per row: " + "; ".join(f"**{k}**: {v}" for k, v in record.unlearning_settings.items()) + ". "
                 "The OpenUnlearning method rows ran at a larger learning rate and a smaller batch than OpenUnlearning's lr 1e-5 and batch 32: at lr 1e-5 a tiny "
                 "model trained from scratch does not move in the few steps a 20-item forget set gives. "
                 + (f"Rows at reduced steps (fewer epochs than the method's default): {', '.join(reduced)}. " if reduced else "No row ran at reduced steps. ")
                 + "Wall times were measured on a heavily shared CPU (several jobs per core); `cpu_seconds` is the method's own CPU time.")
    parts.append(_reading(record))
    claims = _claims(record)
    if claims:
        parts += ["## The papers' claims, in small", *claims,
                  f"Forget quality is a KS p-value over {', '.join(f'{20 * forget_authors(config.corpus_authors, int(s[6:]))} ({s})' for s in record.unlearning)} "
                  "truth ratios: noisy at this size, as OpenUnlearning's issues report at full size. Compare rows, not single values."]
    parts.append(_missing(record))
    return "\n\n".join(parts)
