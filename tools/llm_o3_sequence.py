"""O3's continual unlearning on the shipped tiny Llama: three requests, no retain data; writes docs/unlearning/llm/o3_sequence.

    python tools/llm_o3_sequence.py                 # the shipped tiny_llama (weights/tiny_llama)
    python tools/llm_o3_sequence.py --weights DIR   # a weights folder of it (config.json + model.safetensors)
    python tools/llm_o3_sequence.py --ckpt PATH     # a Lightning checkpoint of it instead (development)
    python tools/llm_o3_sequence.py --quick         # 1 epoch per request, writes nothing
    python tools/llm_o3_sequence.py --from-json outputs/llm_o3_sequence.json   # the page from a previous run's rows

Requests 1, 2, 3 are the corpus's last three fictitious authors, one at a time (forget01-sized groups: one author of
20 each). After each request the page reports the forget ROUGE-L of every request's author (requested or not yet),
the retain ROUGE-L and the model utility (TOFU's, on the 17 other authors, real authors and world facts), and the
detectors' mean soft weight on the requested authors' prompts and on the retain prompts. Two controls run the same
sequence: O3 with the soft weight forced to 1 (the adapters always on: what the OOD detector buys), and sequential
gradient ascent (no retain data either). Settings: ``zoo.unlearning.llm.methods.o3.TINY`` (O3's official TOFU settings but the learning rate).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import zoo
from zoo.data.tofu import make_corpus
from zoo.unlearning.llm.evaluate import evaluate_lm, generate_answers, rouge_l_recall
from zoo.unlearning.llm.methods.o3 import TINY

OUT = Path("docs/unlearning/llm/o3_sequence")
ROWS = Path("outputs/llm_o3_sequence.json")
"""The measured rows, saved before the page is written (``--from-json`` writes the page from them)."""
GA = {"lr": 2e-4, "epochs": 5, "batch_size": 8}
"""The gradient-ascent control (the tiny LM table's TINY settings)."""
N_REQUESTS = 3


def author_groups(corpus: dict) -> list[list[dict]]:
    """The last ``N_REQUESTS`` authors' items, last author first (request 1 = the forget01 author)."""
    authors = list(dict.fromkeys(it["author"] for it in corpus["authors"]))
    return [[it for it in corpus["authors"] if it["author"] == a] for a in reversed(authors[-N_REQUESTS:])]


def evaluation_corpus(corpus: dict, requested: list[dict], groups: list[list[dict]]) -> dict:
    """The corpus with ``forget01`` = the requested items and ``retain99`` = every author outside all requests."""
    excluded = {it["author"] for g in groups for it in g}
    out = dict(corpus)
    out["forget01"] = requested
    out["retain99"] = [it for it in corpus["authors"] if it["author"] not in excluded]
    out.pop("holdout01", None)  # no MIAs on this page
    return out


def measure(model, tok, corpus, groups, step: int, gate=None) -> dict:
    """ROUGE-L of every group, TOFU's utility, and (O3) the mean soft weights."""
    requested = [it for g in groups[: max(step, 1)] for it in g]
    result = evaluate_lm(model, tok, evaluation_corpus(corpus, requested, groups), "forget01", None, retain_items=80)
    row = {f"author {i + 1} ROUGE-L": float(rouge_l_recall(generate_answers(model, tok, g), [it["answer"] for it in g]).mean()) for i, g in enumerate(groups)}
    row.update(retain_rouge=result["retain_rouge"], model_utility=result["model_utility"])
    if gate is not None:
        row.update(gate)
    return row


def soft_weight_means(model, tok, corpus, groups, step: int) -> dict:
    """Mean O3 soft weight on the requested authors' prompts and on 80 retain prompts."""
    from zoo.data.tofu import QADataset

    def mean_weight(items):
        ds = QADataset(items, tok)
        batch = ds.collate(ds.encoded)
        return float(model.soft_weights(batch["input_ids"], batch["attention_mask"]).mean())

    retain = evaluation_corpus(corpus, [], groups)["retain99"][:80]
    return {"w on requested": mean_weight([it for g in groups[:step] for it in g]), "w on retain": mean_weight(retain)}


def run(model, tok, corpus, groups, quick: bool) -> dict[str, list[dict]]:
    o3 = {**TINY, "epochs": 1} if quick else TINY
    ga = {**GA, "epochs": 1} if quick else GA
    rows: dict[str, list[dict]] = {"O3": [], "O3, weight forced to 1": [], "GradAscent (sequential)": []}
    original = measure(model.net, tok, corpus, groups, 0)
    for name in rows:
        rows[name].append({"step": "original", **original})
    served, ga_model = model, model
    for t, group in enumerate(groups, start=1):
        start = time.perf_counter()
        served = zoo.unlearn(served, "o3", forget=group, tokenizer=tok, **o3)
        seconds = time.perf_counter() - start
        served.gate_override = None
        rows["O3"].append({"step": f"after request {t}", **measure(served, tok, corpus, groups, t, soft_weight_means(served, tok, corpus, groups, t)), "seconds": seconds})
        served.gate_override = 1.0
        rows["O3, weight forced to 1"].append({"step": f"after request {t}", **measure(served, tok, corpus, groups, t)})
        served.gate_override = None
        start = time.perf_counter()
        ga_model = zoo.unlearn(ga_model, "grad_ascent", forget=group, **ga)
        rows["GradAscent (sequential)"].append({"step": f"after request {t}", **measure(ga_model.net, tok, corpus, groups, t), "seconds": time.perf_counter() - start})
        print(f"request {t}: O3 {rows['O3'][-1]}", flush=True)
    return rows


def plot(rows: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, series in rows.items():
        x = np.arange(len(series))
        forgotten = [np.mean([r[f"author {i + 1} ROUGE-L"] for i in range(max(t, 1))]) if t else r["author 1 ROUGE-L"] for t, r in enumerate(series)]
        axes[0].plot(x, forgotten, marker="o", label=name)
        axes[1].plot(x, [r["model_utility"] for r in series], marker="o", label=name)
    for ax, title in zip(axes, ("forget ROUGE-L of the requested authors", "model utility")):
        ax.set_xticks(range(N_REQUESTS + 1), ["original", *[f"req {t}" for t in range(1, N_REQUESTS + 1)]])
        ax.set_title(title)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_model(ckpt: str | None = None, weights: str | None = None):
    """The shipped tiny_llama, a weights folder of it (``config.json`` + ``model.safetensors``), or the TinyLM of a
    Lightning checkpoint (eval mode)."""
    if ckpt:
        from zoo.models.tiny_lm.module import TinyLM

        return TinyLM.load_from_checkpoint(ckpt, map_location="cpu").eval()
    return zoo.load("tiny_llama", weights=weights).eval()


def weights_sha(weights: str | None) -> str:
    """The sha256 (first 12) of the weights the page measured."""
    import hashlib

    path = Path(weights or "weights/tiny_llama") / "model.safetensors"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", help="a Lightning checkpoint of tiny_llama instead of the shipped weights")
    parser.add_argument("--weights", help="a weights folder of tiny_llama (config.json + model.safetensors) instead of the shipped one")
    parser.add_argument("--quick", action="store_true", help="1 epoch per request; writes nothing")
    parser.add_argument("--from-json", help="write the page from the rows a previous run saved (outputs/llm_o3_sequence.json)")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        rows, sha = saved["rows"], saved["weights_sha256"]
    else:
        torch.manual_seed(0)
        model = load_model(args.ckpt, args.weights)
        tok = model.tokenizer
        corpus = make_corpus(model.config.corpus_authors, model.config.corpus_seed)
        rows, sha = run(model, tok, corpus, author_groups(corpus), args.quick), weights_sha(args.weights)
        if args.quick:
            return
        ROWS.parent.mkdir(parents=True, exist_ok=True)
        ROWS.write_text(json.dumps({"weights_sha256": sha, "rows": rows}, indent=1))
    from zoo.cards import write_evaluation_page

    OUT.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, OUT.parent / "o3_sequence.png")
    columns = ("method", "step", *[f"author {i + 1} ROUGE-L" for i in range(N_REQUESTS)], "retain_rouge", "model_utility", "w on requested", "w on retain", "seconds")
    table = [(name, *[r.get(c, float("nan")) for c in columns[1:]]) for name, series in rows.items() for r in series]
    o3, forced, ga = rows["O3"][-1], rows["O3, weight forced to 1"][-1], rows["GradAscent (sequential)"][-1]
    first = rows["O3"][0]
    forgotten = float(np.mean([o3[f"author {i + 1} ROUGE-L"] for i in range(N_REQUESTS)]))
    kept = o3["model_utility"] / max(first["model_utility"], 1e-12)
    verdict = "holds" if forgotten <= 0.3 and kept >= 0.9 else "does not hold"
    why = f"mean forget ROUGE-L of the requested authors {forgotten:.2f} (criterion <= 0.30), utility {100 * kept:.0f} % of the original's (criterion >= 90 %)"
    summary = (
        f"Three unlearning requests (one fictitious author each) in sequence, without retain data. After the third, O3's "
        f"forget ROUGE-L on the three authors is {o3['author 1 ROUGE-L']:.2f} / {o3['author 2 ROUGE-L']:.2f} / {o3['author 3 ROUGE-L']:.2f} "
        f"(original {first['author 1 ROUGE-L']:.2f} / {first['author 2 ROUGE-L']:.2f} / {first['author 3 ROUGE-L']:.2f}) at model utility "
        f"{o3['model_utility']:.3f} (original {first['model_utility']:.3f}); with the detectors' weight forced to 1 utility is "
        f"{forced['model_utility']:.3f}, and sequential gradient ascent ends at ROUGE-L {ga['author 1 ROUGE-L']:.2f} / {ga['author 2 ROUGE-L']:.2f} / "
        f"{ga['author 3 ROUGE-L']:.2f} with utility {ga['model_utility']:.3f}. The paper's claim (continual requests handled without "
        f"retain data, utility kept by the OOD gate) {verdict} in small: {why}."
    )
    write_evaluation_page(
        str(OUT),
        title="O3: three continual unlearning requests without retain data",
        command="python tools/llm_o3_sequence.py",
        models=("tiny_llama",),
        columns=columns,
        rows=table,
        summary=summary,
        notes=(
            f"O3 per request: {TINY} (the official TOFU settings but lr: 1e-3 instead of 2e-4), LoRA r 8 / alpha 32 on every projection, orthogonality weight 0.1, "
            "the refusal (CL+FT) objective, an OOD detector per request (1 epoch, lr 1e-4).",
            f"GradAscent control: {GA} per request (reduced steps: 5 of OpenUnlearning's 10 epochs).",
            "w: the detectors' soft weight (max over requests), averaged over the requested authors' and 80 retain prompts.",
            "Evaluation: zoo.unlearning.llm.evaluate (OpenUnlearning's formulas); retain = the 17 authors outside the three requests.",
            f"Measured on tiny_llama weights sha256 {sha}... (model.safetensors).",
        ),
        figures=("o3_sequence.png",),
    )


if __name__ == "__main__":
    main()
