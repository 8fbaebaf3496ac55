"""DP2Unlearning on the shipped tiny Llama: the DP base's epsilon, and the cost of unlearning against retraining.

    python tools/llm_dp2unlearning_cost.py                  # weights/tiny_llama, forget01 and forget10
    python tools/llm_dp2unlearning_cost.py --weights DIR    # a weights folder of it
    python tools/llm_dp2unlearning_cost.py --ckpt PATH      # a Lightning checkpoint instead (development)
    python tools/llm_dp2unlearning_cost.py --from-json outputs/dp2unlearning_cost.json   # rewrite the page only

Measures, on one CPU thread, prints as JSON (to ``--out`` too) and writes the evaluation page
docs/unlearning/llm/dp2unlearning (embedded in the tiny_llama card):

- the DP base (DP-SGD via opacus on every training item, ``zoo.unlearning.llm.methods.dp2unlearning.TINY``): the accountant's epsilon at delta, the noise
  multiplier, its wall seconds (trained here, not read from the cache);
- the served model (the DP base fine-tuned on everything) and, per split, the unlearned model (the DP base fine-tuned
  on the retain items): wall seconds and TOFU's forget ROUGE-L, model utility and forget quality (against the shipped
  model's retrained reference, read from the card's cache);
- retraining from scratch with the same fine-tuning steps (a fresh initialisation instead of the DP base): its wall
  seconds and the same metrics, and the recipe's own retraining seconds (the reference's).

The "retain items" are what the retrained reference trains on: the retain authors plus the real-author and world-fact
sets (``zoo.data.tofu.training_items``).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from llm_o3_sequence import load_model, weights_sha

from zoo.data.tofu import QADataset, make_corpus, training_items
from zoo.unlearning.llm.evaluate import evaluate_lm
from zoo.unlearning.llm.methods.dp2unlearning import TINY, DP2Unlearning

METRICS = ("forget_rouge", "model_utility", "forget_quality", "forget_truth_ratio")


def reference(model, split: str):
    """The shipped model's retrained reference of ``split`` and its training seconds, through the card's own cache
    (``tools/weights/tiny_lm.py``; trained there if it is not cached yet)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from weights.tiny_lm import _reference
    except ImportError as error:  # the card's script and the corpus module are edited together; say so, go on
        print(f"no recipe reference ({error}); forget quality against the same-steps retrain instead", flush=True)
        return None, None
    return _reference(model, Path("recipes/tiny_llama/tiny.yaml"), split, model.config.corpus_authors, model.config.corpus_seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", help="a Lightning checkpoint of tiny_llama instead of the shipped weights")
    parser.add_argument("--weights", help="a weights folder of tiny_llama instead of the shipped one")
    parser.add_argument("--splits", default="forget01,forget10")
    parser.add_argument("--out", default="outputs/dp2unlearning_cost.json")
    parser.add_argument("--from-json", help="write the page from this earlier --out file, measuring nothing")
    args = parser.parse_args()
    if args.from_json:
        write_page(json.loads(Path(args.from_json).read_text()))
        return
    torch.manual_seed(0)
    model = load_model(args.ckpt, args.weights)
    tok, cfg = model.tokenizer, model.config
    corpus = make_corpus(cfg.corpus_authors, cfg.corpus_seed)
    method = DP2Unlearning(cache=False, **TINY)
    everything = QADataset(training_items(corpus), tok)
    start = time.perf_counter()
    base, info = method.dp_base(model.net, everything)
    report: dict = {"weights_sha256": weights_sha(args.weights), "settings": {**TINY, "target_epsilon": 0.5, "target_delta": 1e-12, "max_grad_norm": 1.0}, "dp_base": {**info, "dp_base_seconds": time.perf_counter() - start}}
    start = time.perf_counter()
    served = method.finetune(copy.deepcopy(model.net), base, everything)
    report["served"] = {"seconds": time.perf_counter() - start, **{k: evaluate_lm(served, tok, corpus, "forget10", None)[k] for k in ("forget_rouge", "model_utility")}}
    print(json.dumps(report, default=float), flush=True)
    for split in args.splits.split(","):
        retain = QADataset(training_items(corpus, split), tok)
        ref_net, ref_seconds = reference(model, split)
        ratios = evaluate_lm(ref_net, tok, corpus, split)["forget_truth_ratios"] if ref_net is not None else None
        start = time.perf_counter()
        unlearned = method.finetune(copy.deepcopy(model.net), base, retain)
        seconds = time.perf_counter() - start
        result = evaluate_lm(unlearned, tok, corpus, split, ratios)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            fresh = type(model.net)(copy.deepcopy(model.net.config))
        start = time.perf_counter()
        scratch = DP2Unlearning(cache=False, **TINY)
        scratch.finetune(fresh, fresh, retain)  # the same loop and steps from a fresh initialisation
        scratch_seconds = time.perf_counter() - start
        if ratios is None:
            ratios = evaluate_lm(fresh, tok, corpus, split)["forget_truth_ratios"]
            result = evaluate_lm(unlearned, tok, corpus, split, ratios)
        scratch_result = evaluate_lm(fresh, tok, corpus, split, ratios)
        report[split] = {
            "dp2unlearning": {"seconds": seconds, **{k: result[k] for k in METRICS}},
            "retrain_same_steps": {"seconds": scratch_seconds, **{k: scratch_result[k] for k in METRICS}},
            "recipe_retrain_seconds": ref_seconds,
            "forget_quality_against": "the recipe's retrained reference" if ref_net is not None else "the same-steps retrain",
        }
        print(json.dumps({split: report[split]}, default=float), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=float))
    write_page(report)


def write_page(report: dict) -> None:
    """The evaluation page of ``report`` (what :func:`main` measured)."""
    from zoo.cards import write_evaluation_page

    dp, rows = report["dp_base"], []
    for split in ("forget01", "forget10"):
        if split not in report:
            continue
        r = report[split]
        for label, key in (("DP2Unlearning (fine-tune the DP base on D_r)", "dp2unlearning"), ("retrain from scratch, same steps", "retrain_same_steps")):
            m = r[key]
            rows.append((split, label, m["forget_quality"], m["model_utility"], m["forget_rouge"], m["seconds"]))
        rows.append((split, "the recipe's retrain (40 epochs, cached time)", None, None, None, r["recipe_retrain_seconds"]))
    write_evaluation_page(
        "docs/unlearning/llm/dp2unlearning",
        title="DP2Unlearning: unlearning as fine-tuning a DP-SGD base",
        command="python tools/llm_dp2unlearning_cost.py",
        models=("tiny_llama",),
        columns=("split", "row", "forget quality", "model utility", "forget ROUGE-L", "wall s"),
        rows=rows,
        summary=(f"The DP base is trained with DP-SGD (opacus, RDP accountant): epsilon {dp['epsilon']:.4f} at delta "
                 f"{dp['delta']:g} (noise multiplier {dp['noise_multiplier']:.3f}, {dp['steps']} steps, {dp['dp_base_seconds']:.1f} s), "
                 f"trained once and shared by every request. The served model is that base fine-tuned on D (forget ROUGE-L "
                 f"{report['served']['forget_rouge']:.3f}, model utility {report['served']['model_utility']:.3f}); "
                 "unlearning fine-tunes the base on the retain items. In small the saving against the recipe's retrain "
                 "comes from running half its epochs: at equal steps, retraining from scratch costs the same time."),
        notes=(f"Settings (reduced, the method's TINY): {report['settings']}.",
               "Forget quality is against the recipe's retrained reference; the recipe-retrain seconds are its cached "
               "timing, measured at another time and load. DP runs are not bit-reproducible (opacus's Poisson sampler "
               "draws from the global RNG).",
               f"Weights sha256 {report['weights_sha256']}."),
    )


if __name__ == "__main__":
    main()
