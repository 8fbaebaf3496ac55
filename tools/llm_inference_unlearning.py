"""Measure inference-time unlearning (ECO, GUARD, ALU) on the shipped tiny Llama; writes docs/unlearning/llm/inference_time.

On forget01 and forget10 of the synthetic TOFU-like corpus, against the cached retrained reference
(``tools/weights/tiny_lm.py``'s, trained by ``make_weights``) and the original model, every row evaluated by
``zoo.unlearning.llm.evaluate.evaluate_lm`` (OpenUnlearning's TOFU metrics):

- ECO: the shared prompt classifier, ``rand_noise_first_n`` with σ tuned by the zeroth-order steps towards the
  original model's answer probability on the never-trained holdout authors (:data:`ECO_TINY`), and two σ-free
  corruptions of the official TOFU grid;
- GUARD: the same classifier, forbidden tokens from the forget answers, filtering + semantic penalties at decoding
  (greedy, and by beam search with beam rescoring: :data:`GUARD_BEAM`); fluency = perplexity of its outputs under the
  original model;
- ALU: the agents played by the tiny LM itself (it is no instruction follower), with the paper's LLM audit and with
  the name-matching screen.

    OMP_NUM_THREADS=1 nice -n 10 python tools/llm_inference_unlearning.py            # ~10 minutes on one core
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parent))

OUT = Path("docs/unlearning/llm/inference_time")
COMMAND = "python tools/llm_inference_unlearning.py"
SPLITS = ("forget01", "forget10")
ECO_TINY = {"corrupt_method": "rand_noise_first_n", "dims": 1, "strength": 0.5, "zo_steps": 10, "zo_lr": 5.0}
"""What differs from ECO's defaults (σ₀ 0.1, lr 1e2: from there the first step overshoots past the target on the tiny
LM, whose answer probability falls from 0.98 to 0.01 between σ 0.3 and 5)."""
ECO_VARIANTS = {
    "ECO (flip_sign_top_k, all dims)": {"corrupt_method": "flip_sign_top_k", "dims": 128, "zo_steps": 0},
    "ECO (zero_out_top_k, 64 dims)": {"corrupt_method": "zero_out_top_k", "dims": 64, "zo_steps": 0},
}
GUARD_TINY: dict[str, Any] = {}
GUARD_BEAM = {"num_beams": 4}
"""GUARD decoded as the paper does, by beam search with penalised candidates and beam rescoring (the other rows
decode greedily, as every row of the card's table)."""
BEAM_ROW = f"GUARD (beam {GUARD_BEAM['num_beams']}, rescored)"
ALU_TINY = {"agent_max_new_tokens": 32}
COLUMNS = ("split", "method", "forget quality", "model utility", "forget ROUGE-L", "retain ROUGE-L", "forget prob", "MIA AUC (LOSS)",
           "MIA AUC (Min-K%++)", "flagged forget / retain / holdout", "unlearn s", "eval s", "fluency ppl forget / retain")


def _metrics(result: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in result.items() if k != "forget_truth_ratios"}


def classifier_generalisation(tok, corpus, split: str, seed: int = 0) -> dict[str, float]:
    """Train the prompt classifier on 15 of the 20 question templates and test it on the other 5 (unseen phrasings of
    the same authors), and on the holdout and general-knowledge prompts."""
    from zoo.data.tofu import ATTRIBUTES, QADataset
    from zoo.unlearning.llm.prompt_classifier import example_prompts, train_prompt_classifier

    held = set(list(ATTRIBUTES)[-5:])
    retain = corpus[f"retain{100 - int(split[6:])}"]
    part = lambda items, seen: [it for it in items if (it["attribute"] in held) != seen]  # noqa: E731
    prompts = lambda items: example_prompts(QADataset(items, tok))  # noqa: E731
    clf = train_prompt_classifier(tok, prompts(part(corpus[split], True)), prompts(part(retain, True) + corpus["real_authors"] + corpus["world_facts"]), seed=seed)
    rate = lambda items: float(clf.predict(prompts(items)).float().mean())  # noqa: E731
    return {"forget_tpr_unseen_questions": rate(part(corpus[split], False)), "retain_fpr_unseen_questions": rate(part(retain, False)),
            "holdout_fpr": rate(corpus[f"holdout{split[6:]}"])}


def run_split(model, corpus, split: str, recipe: Path, beam_only: bool = False) -> tuple[list[list[Any]], dict[str, Any]]:
    """Every row of one split, and the extra measurements (classifier rates, σ trajectory, forbidden tokens); with
    ``beam_only`` the GUARD beam row alone (against the same reference and classifier)."""
    import zoo
    from weights.tiny_lm import _reference

    from zoo.data.tofu import QADataset
    from zoo.unlearning.llm.agents import REFUSAL
    from zoo.unlearning.llm.evaluate import evaluate_lm, forget_quality, generate_answers
    from zoo.unlearning.llm.methods.guard import describe_forbidden, output_perplexity
    from zoo.unlearning.llm.prompt_classifier import example_prompts, scope_classifier

    cfg, tok = model.config, model.tokenizer
    pct = split[6:]
    forget, retain, holdout = corpus[split], corpus[f"retain{100 - int(pct)}"], corpus[f"holdout{pct}"]
    reference, ref_seconds = _reference(model, recipe, split, cfg.corpus_authors, cfg.corpus_seed)
    t0 = time.perf_counter()
    ref = evaluate_lm(reference, tok, corpus, split)
    ref_eval = time.perf_counter() - t0
    ratios = ref["forget_truth_ratios"]
    ref["forget_quality"] = forget_quality(ratios, ratios)
    extra: dict[str, Any] = {} if beam_only else {"classifier_generalisation": classifier_generalisation(tok, corpus, split)}

    t0 = time.perf_counter()
    clf = scope_classifier(tok, QADataset(forget, tok), QADataset(retain, tok))
    clf_seconds = time.perf_counter() - t0
    extra["classifier_seconds"] = clf_seconds
    flag_rate = lambda items: float(clf.predict(example_prompts(QADataset(items, tok))).float().mean())  # noqa: E731
    flags = f"{flag_rate(forget):.2f} / {flag_rate(retain):.2f} / {flag_rate(holdout):.2f}"
    extra["flagged_general"] = flag_rate(corpus["real_authors"] + corpus["world_facts"])
    questions = {"forget": [it["question"] for it in forget], "retain": [it["question"] for it in retain[:80]]}

    def fluency(served) -> str:
        ppl = [output_perplexity(model.net, tok, questions[s], generate_answers(served, tok, [{"question": q} for q in questions[s]])) for s in ("forget", "retain")]
        return f"{ppl[0]:.3g} / {ppl[1]:.3g}"

    def row(name, served, unlearn_seconds, flagged="–", ppl="–"):
        t = time.perf_counter()
        r = evaluate_lm(served, tok, corpus, split, ratios)
        seconds = time.perf_counter() - t
        extra.setdefault("results", {})[name] = _metrics(r)
        return [split, name, r["forget_quality"], r["model_utility"], r["forget_rouge"], r["retain_rouge"], r["forget_prob"], r.get("mia_loss", float("nan")),
                r.get("mia_min_k_plus_plus", float("nan")), flagged, unlearn_seconds, seconds, ppl]

    def beam_row():
        t0 = time.perf_counter()
        beam = zoo.unlearn(model, "guard", forget=forget, retain=retain, classifier=clf, **GUARD_TINY, **GUARD_BEAM)
        return row(BEAM_ROW, beam, time.perf_counter() - t0 + clf_seconds, flags, fluency(beam))

    if beam_only:
        return [beam_row()], extra
    extra.setdefault("results", {})["retrain"] = _metrics(ref)
    rows = [[split, "retrain", ref["forget_quality"], ref["model_utility"], ref["forget_rouge"], ref["retain_rouge"], ref["forget_prob"], ref.get("mia_loss"),
             ref.get("mia_min_k_plus_plus"), "–", ref_seconds, ref_eval, fluency(reference)]]
    rows.append(row("original", model.net, 0.0, "–", fluency(model.net)))

    t0 = time.perf_counter()
    eco = zoo.unlearn(model, "eco", forget=forget, retain=retain, holdout=holdout, classifier=clf, **ECO_TINY)
    eco_seconds = time.perf_counter() - t0 + clf_seconds
    extra["eco"] = {"sigma": eco.strength, "target_prob": eco.tuning_target, "history": eco.tuning_history}
    rows.append(row(f"ECO (rand_noise_first_n, σ {eco.strength:.2f})", eco, eco_seconds, flags, fluency(eco)))
    for name, hp in ECO_VARIANTS.items():
        t0 = time.perf_counter()
        variant = zoo.unlearn(model, "eco", forget=forget, retain=retain, classifier=clf, **hp)
        rows.append(row(name, variant, time.perf_counter() - t0 + clf_seconds, flags))

    t0 = time.perf_counter()
    guard = zoo.unlearn(model, "guard", forget=forget, retain=retain, classifier=clf, **GUARD_TINY)
    guard_seconds = time.perf_counter() - t0 + clf_seconds
    extra["guard"] = {"forbidden": len(guard.forbidden), "phrases": len(guard.phrases), "examples": describe_forbidden(tok, guard.forbidden.tolist(), 40)}
    rows.append(row("GUARD", guard, guard_seconds, flags, fluency(guard)))
    rows.append(beam_row())

    for audit in ("llm", "names"):
        t0 = time.perf_counter()
        alu = zoo.unlearn(model, "alu", forget=forget, audit=audit, **ALU_TINY)
        name = "ALU (tiny LM agents)" if audit == "llm" else "ALU (name screen + tiny LM agents)"
        r = row(name, alu, time.perf_counter() - t0)
        audited = [t for t in alu.agents.traces if t["audit"] is not None]
        extra.setdefault("alu", {})[audit] = {"queries": len(alu.agents.traces), "audited": len(audited),
                                             "refused": sum(t["final"] == REFUSAL for t in alu.agents.traces),
                                             "example": {k: v for k, v in (audited[0] if audited else alu.agents.traces[0]).items() if k != "targets"}}
        rows.append(r)
    return rows, extra


def summary_text(rows: list[list[Any]], extra: dict[str, Any]) -> str:
    """The page's summary, every figure read from the measured rows."""
    by = {(r[0], "ECO" if r[1].startswith("ECO (rand") else r[1]): r for r in rows}
    parts, same_utility, close = [], True, True
    for split in SPLITS:
        ret, orig, eco, guard = by[(split, "retrain")], by[(split, "original")], by[(split, "ECO")], by[(split, "GUARD")]
        alu, screen = by[(split, "ALU (tiny LM agents)")], by[(split, "ALU (name screen + tiny LM agents)")]
        beam = by.get((split, BEAM_ROW))
        beam_text = (f" GUARD by beam search ({GUARD_BEAM['num_beams']} beams, rescored): forget ROUGE-L {beam[4]:.3f}, utility {beam[3]:.3f}, "
                     f"fluency {beam[12].split(' / ')[0]}.") if beam else ""
        same_utility &= eco[3] == orig[3] and guard[3] == orig[3]
        close &= eco[2] > 0.05  # TOFU's reading: a KS p-value above 0.05 does not tell the model from retrain
        parts.append(
            f"**{split}**: retrain forget ROUGE-L {ret[4]:.3f}, utility {ret[3]:.3f}, MIA LOSS AUC {ret[7]:.2f}; original {orig[4]:.3f}, {orig[3]:.3f}, {orig[7]:.2f} "
            f"(forget quality {orig[2]:.2g}). ECO (σ tuned to {extra[split]['eco']['sigma']:.2f}): forget quality {eco[2]:.2g}, forget ROUGE-L {eco[4]:.3f}, "
            f"utility {eco[3]:.3f}, retain ROUGE-L {eco[5]:.3f}, MIA LOSS AUC {eco[7]:.2f}. GUARD: forget quality {guard[2]:.2g}, forget ROUGE-L {guard[4]:.3f}, "
            f"utility {guard[3]:.3f}, fluency perplexity of its forget answers {guard[12].split(' / ')[0]} (original {orig[12].split(' / ')[0]}, retrain "
            f"{ret[12].split(' / ')[0]}).{beam_text} ALU with the tiny LM as every agent: forget ROUGE-L {alu[4]:.3f}, retain ROUGE-L {alu[5]:.3f}; with the name "
            f"screen {screen[4]:.3f} and {screen[5]:.3f}."
        )
    claim = ("ECO's side effects are zero in small: no retain, real-author or world-fact prompt is flagged, so utility equals the original's exactly; "
             if same_utility else "Utility moved for ECO or GUARD (a retain prompt was flagged: see the flagged column); ")
    claim += ("and the corrupted forget prompts give a forget quality above 0.05 on both splits (not distinguishable from retrain by the KS test), "
              "the paper's claim." if close else "but ECO's forget quality is not above 0.05 on both splits: the claim of retrain-like forgetting does not hold here.")
    guard_high = all(by[(sp, "GUARD")][4] > by[(sp, "retrain")][4] for sp in SPLITS)
    guard_text = ("GUARD removes the answers' content tokens (the attribute values) from decoding but keeps their template and the name, so "
                  "its forget ROUGE-L stays above retrain's and its forget quality low: filtering suppresses the value, not the answer's shape."
                  if guard_high else "GUARD's filtering brings forget ROUGE-L to or below retrain's.")
    all_refused = all(extra[sp]["alu"]["llm"]["refused"] == extra[sp]["alu"]["llm"]["audited"] for sp in SPLITS)
    alu_text = ("ALU needs an instruction-following LM: the tiny LM cannot audit, rewrite or rate, so everything it audits ends in the "
                "refusal; the name screen keeps the retain answers, and the agents then only refuse." if all_refused else
                "ALU with the tiny LM as agents answers some audited queries (see the notes for the counts).")
    return ("Inference-time unlearning on the tiny Llama (weights untouched), against the model retrained without the forget authors. "
            + " ".join(parts) + " " + claim + " " + guard_text + " " + alu_text)


def main(argv: list[str] | None = None) -> int:
    import zoo
    from zoo.data.tofu import make_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="the tiny Llama's weights folder (default: the shipped one)")
    parser.add_argument("--splits", default=",".join(SPLITS))
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--add-guard-beam", action="store_true", help="measure only the GUARD beam row and add it to the page's recorded rows")
    args = parser.parse_args(argv)
    model = zoo.load("tiny_llama", weights=args.weights)
    corpus = make_corpus(model.config.corpus_authors, model.config.corpus_seed)
    recipe = Path("recipes/tiny_llama/tiny.yaml")
    out = Path(args.out)
    if args.add_guard_beam:
        return add_guard_beam(model, corpus, recipe, out, args.splits.split(","))
    rows: list[list[Any]] = []
    extra: dict[str, Any] = {}
    for split in args.splits.split(","):
        split_rows, extra[split] = run_split(model, corpus, split, recipe)
        rows.extend(split_rows)
        print("\n".join(" | ".join(f"{c:.4g}" if isinstance(c, float) else str(c) for c in r) for r in split_rows), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_name(out.name + "_details.json").write_text(json.dumps(extra, indent=1, default=float) + "\n")
    write_page(out, rows, extra)
    return 0


def add_guard_beam(model, corpus, recipe: Path, out: Path, splits: list[str]) -> int:
    """Measure the GUARD beam row of each split and put it after the split's GUARD row in the recorded page (the
    other rows, measured by the full command with the same code, are kept)."""
    page = json.loads(out.with_suffix(".json").read_text())
    extra = json.loads(out.with_name(out.name + "_details.json").read_text())
    rows = [r for r in page["rows"] if r[1] != BEAM_ROW or r[0] not in splits]
    for split in splits:
        (beam,), more = run_split(model, corpus, split, recipe, beam_only=True)
        extra[split].setdefault("results", {}).update(more["results"])
        at = next(i for i, r in enumerate(rows) if r[0] == split and r[1] == "GUARD") + 1
        rows.insert(at, beam)
        print(" | ".join(f"{c:.4g}" if isinstance(c, float) else str(c) for c in beam), flush=True)
    out.with_name(out.name + "_details.json").write_text(json.dumps(extra, indent=1, default=float) + "\n")
    write_page(out, rows, extra, added=True)
    return 0


def write_page(out: Path, rows: list[list[Any]], extra: dict[str, Any], added: bool = False) -> None:
    """The inference-time page from its rows and details."""
    from zoo.cards import write_evaluation_page

    notes = [
        f"ECO: {ECO_TINY} (differs from the official σ₀ 0.1, lr 1e2; see the tool's ECO_TINY); target = the original model's mean answer probability on the holdout authors; "
        + "; ".join(f"{s}: σ {extra[s]['eco']['sigma']:.3f}, target {extra[s]['eco']['target_prob']:.4f}" for s in extra),
        "Prompt classifier (shared by ECO and GUARD): a 2-layer, 64-wide BERT encoder trained from scratch on the LM's tokenizer, 30 epochs; "
        + "; ".join(f"{s}: trained in {extra[s]['classifier_seconds']:.1f} s, general-knowledge prompts flagged {extra[s]['flagged_general']:.2f}; "
                    f"trained on 15 of the 20 question templates, it flags {extra[s]['classifier_generalisation']['forget_tpr_unseen_questions']:.2f} of the forget "
                    f"questions of the 5 unseen templates and {extra[s]['classifier_generalisation']['retain_fpr_unseen_questions']:.2f} of the retain ones" for s in extra),
        "GUARD: " + "; ".join(f"{s}: {extra[s]['guard']['forbidden']} forbidden tokens in {extra[s]['guard']['phrases']} phrases" for s in extra)
        + ". Teacher-forced metrics apply the same restrictions at every position with the filter as a finite penalty of 10 nats. "
        f"GUARD (beam {GUARD_BEAM['num_beams']}, rescored): {GUARD_BEAM['num_beams']}-beam search whose next-token log-probabilities carry the token-match "
        "filter and the semantic penalty on every beam, then the finished beams of a flagged prompt re-ranked by their length-normalised score minus "
        "10 x the phrase-level semantic match above τ (each window of a forbidden phrase's length against that phrase); likelihood metrics are "
        "the greedy row's (decoding changes text only).",
        "ALU: likelihood metrics (truth ratio, probability, MIAs, hence forget quality) are the original model's: the agents change text only. "
        + "; ".join(f"{s}: {extra[s]['alu']['llm']['audited']} of {extra[s]['alu']['llm']['queries']} answers audited as leaking by the tiny LM, "
                    f"{extra[s]['alu']['llm']['refused']} refused; with the name screen {extra[s]['alu']['names']['audited']} audited, {extra[s]['alu']['names']['refused']} refused" for s in extra),
        "unlearn s: offline cost (the classifier's training included for ECO and GUARD; retrain: its training); eval s: the whole evaluation (inference overhead). "
        "fluency: perplexity under the original model of the greedy answers to the forget / retain questions. Details: inference_time_details.json.",
    ]
    if added:
        notes.append(f"The {BEAM_ROW} rows were measured by `{COMMAND} --add-guard-beam` (against the same cached reference and the same "
                     "seeded prompt classifier) and added to the rows of the full command.")
    write_evaluation_page(out, title="Inference-time unlearning: ECO, GUARD and ALU", command=COMMAND, models=("tiny_llama",), columns=COLUMNS, rows=rows,
                          summary=summary_text(rows, extra) if set(extra) == set(SPLITS) else "", notes=notes)
    print(f"wrote {out}.md")


if __name__ == "__main__":
    raise SystemExit(main())
