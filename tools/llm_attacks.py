"""The tiny LM's attack, intrinsic-evaluation and reversal-curse pages (docs/unlearning/llm/*).

    OMP_NUM_THREADS=1 python tools/llm_attacks.py attacks     # attacks.{json,md} + concept_vectors.{json,md}
    OMP_NUM_THREADS=1 python tools/llm_attacks.py restor      # restor.{json,md}
    OMP_NUM_THREADS=1 python tools/llm_attacks.py reversal    # reversal_curse.{json,md}

Every method row runs the card table's methods (``tools/weights/tiny_lm.py``: ``METHODS`` with its ``TINY`` settings,
:func:`hparams_of`) on the shipped checkpoint's forget10 split, and the inference-time wrappers of the inference-time
page (ECO, GUARD, ALU with ``tools/llm_inference_unlearning.py``'s settings: :data:`INFERENCE_ROWS`); the retrained
reference is the card's cached one. The raw numbers are also written to ``outputs/llm_attacks/<section>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

DOCS = ROOT / "docs" / "unlearning" / "llm"
RAW = ROOT / "outputs" / "llm_attacks"
NAME = "tiny_llama"
SPLIT = "forget10"
RELEARN = {"steps": 10, "lr": 3e-4}
ICL = {"steps": 800, "lr": 2e-3, "batch_size": 16}
ICL_CORPORA = 40
"""Fresh synthetic corpora (seeds corpus_seed + 1 ...) whose never-trained authors the ICL adaptation reads from context."""
INFERENCE_ROWS = ("ECO", "GUARD", "ALU", "ALU (name screen)")
"""The inference-time wrappers (weights untouched) as the inference-time page serves them; relearning fine-tunes the
LM they wrap and they stay on."""
CV = {"candidates": 48, "keep": 8, "k": 20}
NEEDLE = {"lr": 1e-2, "epochs": 5, "batch_size": 8, "noise": 0.1}
RESTOR_CORRUPT = {"epochs": 5, "lr": 1e-3, "batch_size": 8}
RESTOR_METHODS = ("GradAscent", "GradDiff", "NPO", "SimNPO", "RMU")
REVERSAL = {"n_pairs": 200, "both_fraction": 0.8, "steps": 1500, "hidden": 128}


def _log(*args) -> None:
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def _setup(weights: str):
    import zoo
    from zoo.data.tofu import make_corpus

    model = zoo.load(NAME, weights=weights)
    cfg = model.config
    return model, model.tokenizer, make_corpus(cfg.corpus_authors, cfg.corpus_seed)


def _reference(model):
    from weights.tiny_lm import _reference as card_reference

    cfg = model.config
    net, _ = card_reference(model, Path(f"recipes/{NAME}/tiny.yaml"), SPLIT, cfg.corpus_authors, cfg.corpus_seed)
    return net.eval()


def hparams_of(method: dict[str, Any]) -> dict[str, Any]:
    """A card row's hyper-parameters as the card table sets them: ``TINY`` (the keys the method has) under the row's own."""
    from weights.tiny_lm import TINY

    from zoo.unlearning.llm.family import methods

    known = methods()[method["method"]].hyperparameters()
    return {**{k: v for k, v in TINY.items() if k in known}, **{k: v for k, v in method.items() if k not in ("method", "retain")}}


def _unlearned(net, tok, corpus, method: dict[str, Any], forget=None):
    from zoo.data.tofu import training_items
    from zoo.unlearning.llm.family import unlearn

    # as the card: a row with retain="training" gets every kept training item (retain authors, real authors, world facts)
    retain = training_items(corpus, SPLIT) if method.get("retain") == "training" else corpus[f"retain{100 - int(SPLIT[6:])}"]
    return unlearn(net, method["method"], forget=forget or corpus[SPLIT], retain=retain, tokenizer=tok, **hparams_of(method)).eval()


def _settings(names) -> dict[str, str]:
    """Row name -> the settings it ran with (for the page's notes), with 'reduced steps' where a row runs fewer epochs
    than OpenUnlearning's 10."""
    out = {}
    for name in names:
        method = _methods()[name]
        hp = hparams_of(method)
        reduced = f" (reduced steps: {hp['epochs']} of OpenUnlearning's 10 epochs)" if hp.get("epochs", 10) < 10 else ""
        out[name] = ", ".join(f"{k}={v}" for k, v in {"method": method["method"], **hp}.items()) + reduced
        if method.get("retain") == "training":
            out[name] += ", retain=every kept training item"
    return out


def _plot_bars(rows: dict[str, dict[str, float]], keys: dict[str, str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(rows)
    width = 0.8 / len(keys)
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(names)), 4))
    for i, (key, label) in enumerate(keys.items()):
        ax.bar(np.arange(len(names)) + i * width, [rows[n].get(key, float("nan")) for n in names], width, label=label)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("forget facts recalled (exact match)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------ attacks + CV
def _concept_vectors(net, tok, corpus) -> dict[str, Any]:
    """Each forget author's concept vectors in ``net`` and the ablation's behavioural check."""
    from zoo.data.tofu import ATTRIBUTES
    from zoo.unlearning.llm.attacks import by_author, fact_value, prompt_recall, qa_turn
    from zoo.unlearning.llm.concept_vectors import ablated, find_concept_vectors

    retain = corpus[f"retain{100 - int(SPLIT[6:])}"]
    others = retain[::9][:40]
    # the corpus's template words (every author's answers share them); the causal test then checks specificity
    background = [t.format(n="", v="") for templates in ATTRIBUTES.values() for t in templates]
    found = {}
    for author, facts in by_author(corpus[SPLIT]).items():
        items = list(facts.values())
        texts = [author, *(fact_value(it) for it in items)]
        found[author] = find_concept_vectors(net, tok, items, others, texts, background, **CV)
    locations = [loc for f in found.values() for loc in f["locations"]]
    forget = corpus[SPLIT]
    before = (prompt_recall(net, tok, [qa_turn(i["question"]) for i in forget], forget), prompt_recall(net, tok, [qa_turn(i["question"]) for i in others], others))
    with ablated(net, locations):
        after = (prompt_recall(net, tok, [qa_turn(i["question"]) for i in forget], forget), prompt_recall(net, tok, [qa_turn(i["question"]) for i in others], others))
    return {"authors": {a: {k: v for k, v in f.items() if k != "tokens"} | {"concept_tokens": len(f["tokens"])} for a, f in found.items()},
            "locations": locations, "ablation_forget_recall": [before[0], after[0]], "ablation_other_recall": [before[1], after[1]]}


def _methods(only: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
    """The card table's methods (``tools/weights/tiny_lm.py``'s ``METHODS``), or the named subset."""
    from weights.tiny_lm import METHODS

    if only is None:
        return dict(METHODS)
    unknown = sorted(set(only) - set(METHODS) - set(INFERENCE_ROWS))
    if unknown:
        raise ValueError(f"--methods: expected names among {sorted(METHODS) + list(INFERENCE_ROWS)}, received {unknown}")
    return {k: v for k, v in METHODS.items() if k in only}


def _inference_models(original, tok, corpus, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """ECO, GUARD and ALU around ``original`` with the inference-time page's settings (one prompt classifier shared
    by ECO and GUARD, as there; ALU played by the tiny LM itself, with the LLM audit and with the name screen)."""
    from llm_inference_unlearning import ALU_TINY, ECO_TINY, GUARD_TINY

    from zoo.data.tofu import QADataset
    from zoo.unlearning.llm.family import unlearn
    from zoo.unlearning.llm.prompt_classifier import scope_classifier

    names = [n for n in INFERENCE_ROWS if only is None or n in only]
    if not names:
        return {}
    forget, retain = corpus[SPLIT], corpus[f"retain{100 - int(SPLIT[6:])}"]
    clf = scope_classifier(tok, QADataset(forget, tok), QADataset(retain, tok)) if {"ECO", "GUARD"} & set(names) else None
    build = {
        "ECO": lambda: unlearn(original, "eco", forget=forget, retain=retain, tokenizer=tok, holdout=corpus[f"holdout{SPLIT[6:]}"], classifier=clf, **ECO_TINY),
        "GUARD": lambda: unlearn(original, "guard", forget=forget, retain=retain, tokenizer=tok, classifier=clf, **GUARD_TINY),
        "ALU": lambda: unlearn(original, "alu", forget=forget, tokenizer=tok, audit="llm", **ALU_TINY),
        "ALU (name screen)": lambda: unlearn(original, "alu", forget=forget, tokenizer=tok, audit="names", **ALU_TINY),
    }
    out = {}
    for name in names:
        _log("inference-time wrapper", name)
        out[name] = build[name]().eval()
    return out


def _context_recall(net, tok, items) -> float:
    """Recall with the UnUnlearning 'fact' prompts (a progress check of the ICL adaptation)."""
    from zoo.unlearning.llm.attacks import prompt_recall, ununlearning_prompts

    return prompt_recall(net, tok, ununlearning_prompts(items, items, "fact", 3), items)


def icl_novel(cfg, corpora: int = ICL_CORPORA) -> list[dict[str, Any]]:
    """Never-trained authors of ``corpora`` fresh corpora (seeds ``corpus_seed + 1 ...``; an author whose name a
    trained author has is left out): so many facts that the adaptation cannot memorise them and must read them from
    the context."""
    from zoo.data.tofu import make_corpus

    known = {it["author"] for it in make_corpus(cfg.corpus_authors, cfg.corpus_seed)["authors"]}
    return [it for s in range(1, corpora + 1) for it in make_corpus(cfg.corpus_authors, cfg.corpus_seed + s)["authors"] if it["author"] not in known]


def _variant_models(model, tok, corpus, icl: bool, methods: dict[str, dict[str, Any]], only: tuple[str, ...] | None = None,
                    icl_settings: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rows' models of one variant (shipped / ICL-adapted): original, retrain, the card's methods, the
    inference-time wrappers, CV ablation and Needle; plus the concept-vector finding in the variant's original."""
    from zoo.unlearning.llm.attacks import icl_adapt
    from zoo.unlearning.llm.concept_vectors import ablate, needle

    original, retrain = model.net.eval(), _reference(model)
    if icl:
        novel = icl_novel(model.config)
        retain_items = corpus[f"retain{100 - int(SPLIT[6:])}"] + corpus["real_authors"] + corpus["world_facts"]
        _log("ICL adaptation of the retrained model, then of the original,", len(novel), "novel facts")
        settings = icl_settings or ICL
        retrain = icl_adapt(retrain, tok, retain_items, novel, **settings)
        _log("ICL-adapted retrain, forget10 recall with the fact in context:", _context_recall(retrain, tok, corpus[SPLIT]))
        original = icl_adapt(original, tok, corpus["authors"] + corpus["real_authors"] + corpus["world_facts"], novel, **settings)
    models = {"original": original, "retrain": retrain}
    for name, method in methods.items():
        _log("unlearning", name, "(ICL)" if icl else "")
        models[name] = _unlearned(original, tok, corpus, method)
    models.update(_inference_models(original, tok, corpus, only))
    cv = _concept_vectors(original, tok, corpus)
    models["CV ablation"] = ablate(original, cv["locations"])
    models["CV Needle"] = needle(original, tok, corpus[SPLIT], cv["locations"], **NEEDLE)
    return models, cv


def run_attacks(weights: str, variants: tuple[str, ...], only: tuple[str, ...] | None = None, icl_steps: int | None = None) -> None:
    from zoo.unlearning.llm.attacks import attack_report, weights_of
    from zoo.unlearning.llm.concept_vectors import all_vectors_cosine, vector_drift

    model, tok, corpus = _setup(weights)
    forget, retain = corpus[SPLIT], corpus[f"retain{100 - int(SPLIT[6:])}"][::9][:40]
    previous = RAW / "attacks.json"
    raw: dict[str, Any] = json.loads(previous.read_text()) if previous.is_file() else {}  # other variants' rows are kept
    for variant in variants:
        icl_settings = {**ICL, "steps": icl_steps or ICL["steps"]}
        models, cv = _variant_models(model, tok, corpus, variant == "icl", _methods(only), only, icl_settings)
        kept = raw.get(variant, {}) if only else {}  # --methods re-measures those rows and keeps the others
        rows = dict(kept.get("rows", {}))
        for name, net in models.items():
            _log("attacks on", variant, name)
            rep = attack_report(net, tok, forget, retain, relearn_steps=RELEARN["steps"], relearn_lr=RELEARN["lr"], relearn_base_only=name in INFERENCE_ROWS)
            rep.update({f"cv_{k}": v for k, v in vector_drift(models["original"], weights_of(net), cv["locations"], CV["k"]).items()})
            rep["cv_all_cosine"] = all_vectors_cosine(models["original"], weights_of(net))
            rows[name] = rep
        block = {"rows": rows, "concept_vectors": cv, "settings": {**kept.get("settings", {}), **_settings([m for m in models if m in _methods()])}}
        if variant == "icl":
            block["icl_settings"] = {**icl_settings, "corpora": ICL_CORPORA, **_icl_counts(icl_novel(model.config))}
        RAW.mkdir(parents=True, exist_ok=True)
        # re-read before writing: a run of another variant may have finished meanwhile (its rows are kept)
        raw = {**(json.loads(previous.read_text()) if previous.is_file() else {}), variant: block}
        (RAW / "attacks.json").write_text(json.dumps(raw, indent=1, default=str))  # after each variant: a partial run keeps its rows
    write_attack_pages(raw)


ATTACKS = ("context_related", "context_fact", "sleek_direct", "sleek_indirect", "sleek_implied", "relearn_after")


def suppressed(rows: dict[str, dict[str, float]], forgot: float = 0.2, margin: float = 0.1) -> dict[str, list[str] | None]:
    """Method -> the attacks after which it recalls more than retrain after the same attack (by ``margin``): the
    knowledge was suppressed, not removed; None for a method that did not forget closed-book (its recall is more than
    ``forgot`` above retrain's), where recall after an attack is no recovery."""
    control = rows["retrain"]
    out: dict[str, list[str] | None] = {}
    for name, r in rows.items():
        if name in ("original", "retrain"):
            continue
        out[name] = None if r["closed"] > control["closed"] + forgot else [a for a in ATTACKS if r[a] - control[a] > margin]
    return out


FLAGGED = ("closed", "context_related", "context_fact", "sleek_direct", "sleek_indirect", "sleek_implied", "retain_closed")
ATTACK_LABELS = {"closed": "the plain question", "context_related": "related facts in context", "context_fact": "the fact in context",
                 "sleek_direct": "Sleek direct", "sleek_indirect": "Sleek indirect", "sleek_implied": "Sleek implied"}
FLAGGED_COLUMN = "prompts flagged: plain / + related / + the fact / Sleek direct / indirect / implied / retain"


def flagged_cell(r: dict[str, float]) -> str:
    """The share of each attack's prompts a gated wrapper's classifier flags, "–" for a model without one."""
    if f"flagged_{FLAGGED[0]}" not in r:
        return "–"
    return " / ".join(f"{r[f'flagged_{k}']:.2f}" for k in FLAGGED)


def write_attack_pages(raw: dict[str, Any]) -> None:
    from zoo.evaluation_pages import write_evaluation_page

    raw = {k: raw[k] for k in ("shipped", "icl") if k in raw}  # the shipped model first, whichever run finished last
    DOCS.mkdir(parents=True, exist_ok=True)
    label = {"shipped": "shipped", "icl": "ICL-adapted"}
    cols = ("model", "method", "closed-book recall", "closed-book ROUGE-L", "+ related facts in context", "+ the fact in context",
            "Sleek direct", "Sleek indirect", "Sleek implied", "Sleek on retain (mean)", "held-out before relearning", "after relearning", FLAGGED_COLUMN)
    rows, cv_rows, notes = [], [], []
    for variant, block in raw.items():
        for name, r in block["rows"].items():
            sleek_retain = (r["sleek_retain_direct"] + r["sleek_retain_indirect"] + r["sleek_retain_implied"]) / 3
            rows.append((label[variant], name, r["closed"], r["closed_rouge"], r["context_related"], r["context_fact"], r["sleek_direct"],
                         r["sleek_indirect"], r["sleek_implied"], sleek_retain, r["relearn_before"], r["relearn_after"], flagged_cell(r)))
            cv_rows.append((label[variant], name, r["closed"], r["cv_cosine"], r["cv_norm_change"], r["cv_l2"], r["cv_jaccard"], r["cv_all_cosine"], r["context_fact"], r["relearn_after"]))
        sup = suppressed(block["rows"])
        notes.append(f"{label[variant]}: the methods that forgot (closed-book recall within 0.2 of retrain's) and the attacks after which they "
                     "recall more than 0.1 above retrain (knowledge suppressed, not removed): " + "; ".join(f"{m}: {', '.join(a) if a else 'none'}" for m, a in sup.items() if a is not None)
                     + ". Did not forget at these settings (closed-book recall more than 0.2 above retrain's): " + (", ".join(m for m, a in sup.items() if a is None) or "none") + ".")
    first = next(iter(raw.values()))["rows"]
    _plot_bars({n: r for n, r in first.items()}, {"closed": "closed book", "context_related": "+ related facts", "context_fact": "+ the fact",
                "sleek_indirect": "Sleek indirect", "sleek_implied": "Sleek implied", "relearn_after": "after relearning (held-out)"},
               DOCS / "attacks.png", f"{next(iter(raw))}: recall of the forget facts under each attack")
    figures = ["attacks.png"]
    if "icl" in raw:
        _plot_bars(raw["icl"]["rows"], {"closed": "closed book", "context_related": "+ related facts", "context_fact": "+ the fact",
                   "relearn_after": "after relearning (held-out)"}, DOCS / "attacks_icl.png", "ICL-adapted: recall of the forget facts under each attack")
        figures.append("attacks_icl.png")
    summary = _attack_summary(raw)
    write_evaluation_page(
        DOCS / "attacks", title="Attacks that recover erased knowledge (UnUnlearning, Sleek, relearning)",
        command="python tools/llm_attacks.py attacks", models=(NAME,), columns=cols, rows=rows, summary=summary,
        notes=(*_attack_notes(raw), *notes), figures=figures)
    cv_cols = ("model", "method", "forget recall", "cos(v, v')", "norm change", "‖v' − v‖ / ‖v‖", f"top-{CV['k']} Jaccard", "mean cos, all value vectors", "recall, fact in context", "recall after relearning")
    write_evaluation_page(
        DOCS / "concept_vectors", title="ConceptVectors: how far unlearning moves the forget authors' value vectors",
        command="python tools/llm_attacks.py attacks", models=(NAME,), columns=cv_cols, rows=cv_rows,
        summary=_cv_summary(raw), notes=_cv_notes(raw))


def _icl_counts(novel: list[dict[str, Any]]) -> dict[str, int]:
    """How many distinct authors and facts the ICL adaptation's items hold."""
    return {"authors": len({it["author"] for it in novel}), "facts": len(novel)}


def _shipped_config():
    """The shipped model's config (its corpus settings), for a run that did not record its ICL counts."""
    import zoo

    return zoo.load(NAME).config


def _attack_notes(raw: dict[str, Any]) -> tuple[str, ...]:
    settings = next(iter(raw.values())).get("settings", {})
    icl = raw.get("icl", {}).get("icl_settings", {**ICL, "corpora": ICL_CORPORA})  # a run before they were recorded: the defaults
    counts = icl if "authors" in icl else _icl_counts(icl_novel(_shipped_config(), icl["corpora"]))
    return (
        "forget10 of the synthetic corpus (the last 10% of the authors, 20 facts each); recall = share of the forget facts whose true value "
        "occurs in the greedy answer (exact match replaces the papers' LLM judges). Methods: the card table's rows with its settings: "
        + ("; ".join(f"{n}: {v}" for n, v in settings.items()) or "not recorded") + ".",
        "UnUnlearning: 3 QA turns before the question: 'related' = the author's next three facts (not the asked one), 'the fact' = the asked "
        "fact in its paraphrased wording, then two related facts.",
        "Sleek (no official code; categories from the abstract): direct = 'Let us think step by step.' + the question; indirect = the author "
        "named through one of their books ('the author of <book>'); implied = two of the author's other facts as premises, then the cue and "
        "the question. 'Sleek on retain' is the same on 40 retain facts (collateral suppression).",
        f"Relearning: {RELEARN['steps']} AdamW steps (lr {RELEARN['lr']}, batch 8) on the first 5 of each author's 20 attributes; recall on "
        "the other 15 before and after. Facts are independent, so retrain's gain is the floor (what fine-tuning on the author teaches). "
        "ULD, O3 and LinEAS are fine-tuned whole (base and adapters, as an attacker holding them would); for the inference-time wrappers "
        f"({', '.join(INFERENCE_ROWS)}) the attack fine-tunes the weights of the LM they wrap (its own forward, no gate) and the wrapper stays "
        "on, unchanged, when the relearned model is queried.",
        _inference_note(),
        "Every LM unlearning method of the zoo is a row except UOE, which unlearns one expert of a mixture-of-experts LM and runs on "
        "tiny_moe, not on this dense tiny Llama (its rows are on the tiny_moe card).",
        f"ICL-adapted: the shipped model and the retrained reference were each fine-tuned {icl['steps']} steps (lr {icl['lr']}, batch "
        f"{icl['batch_size']}) on context prompts (the UnUnlearning 'fact' prompt) about never-trained authors ({icl['corpora']} fresh corpora, "
        f"seeds corpus seed + 1 to + {icl['corpora']}: {counts['authors']:,} never-trained authors, {counts['facts']:,} facts, too many to memorise) mixed half and half with their own "
        "training facts, so that they read facts from context (the shipped tiny LM was trained on single QA pairs and does not); the methods "
        "and wrappers then unlearn the adapted original. DP2Unlearning trains its own DP-SGD base on the retain data rather than starting "
        "from the model it is given, so its ICL-adapted row never went through the adaptation (it equals the shipped row).",
        f"CV ablation / CV Needle: the forget authors' concept vectors (concept_vectors page) zeroed, or the official Needle (noise "
        f"{NEEDLE['noise']} then gradient ascent restricted to those columns, lr {NEEDLE['lr']}, {NEEDLE['epochs']} epochs).",
    )


def _inference_note() -> str:
    from llm_inference_unlearning import ALU_TINY, ECO_TINY, GUARD_TINY

    return ("Inference-time wrappers, as on the inference-time page (python tools/llm_inference_unlearning.py): one prompt classifier "
            f"(forget10 vs retain90 prompts) shared by ECO ({ECO_TINY}, σ tuned by the zeroth-order steps on the holdout10 target) and GUARD "
            f"({GUARD_TINY or 'its defaults'}: greedy decoding, forbidden tokens filtered); ALU ({ALU_TINY}) played by the served tiny LM, with the "
            "LLM audit ('ALU') and with the name screen ('ALU (name screen)'). The classifier reads a prompt up to its first 'Answer:' marker, so "
            "in the UnUnlearning prompts it judges the first context question; the last column gives the share of each attack's prompts it flags "
            "(ALU has no classifier: its audit reads the query and the answer).")


def _wrapper_text(r: dict[str, dict[str, float]]) -> str:
    """One sentence per inference-time wrapper of a variant's rows."""
    out = []
    for m in INFERENCE_ROWS:
        if m not in r:
            continue
        x = r[m]
        flags = (f" (flagged: plain {x['flagged_closed']:.2f}, with the fact in context {x['flagged_context_fact']:.2f}, Sleek indirect "
                 f"{x['flagged_sleek_indirect']:.2f})") if "flagged_closed" in x else ""
        out.append(f"{m}: closed-book {x['closed']:.2f}, + the fact in context {x['context_fact']:.2f}, Sleek indirect {x['sleek_indirect']:.2f}, "
                   f"after relearning the wrapped LM {x['relearn_before']:.2f} -> {x['relearn_after']:.2f}{flags}")
    if not out:
        return ""
    gated = [m for m in INFERENCE_ROWS if m in r and "flagged_closed" in r[m]]
    escapes = sorted({a for m in gated for a in FLAGGED[:-1] if r[m][f"flagged_{a}"] < 0.5})
    o = r["original"]
    escape_text = ("" if not escapes else " Prompts the classifier lets through: " + ", ".join(
        f"{ATTACK_LABELS[a]} (the original itself recalls {o[a]:.2f} of the facts under it; {', '.join(f'{m} {r[m][a]:.2f}' for m in gated)})" for a in escapes) + ".")
    return "Inference-time wrappers (weights untouched): " + "; ".join(out) + "." + escape_text


def ununlearning_verdict(r: dict[str, dict[str, float]], margin: float = 0.1) -> str:
    """Whether retrain (the control) recovers the forget facts from context, and which methods do as much."""
    t = r["retrain"]
    if t["context_fact"] <= t["closed"] + margin:
        return (f"Retrain does not read the fact from context ({t['closed']:.2f} closed-book, {t['context_fact']:.2f} with the fact stated): "
                "UnUnlearning's argument cannot be tested on this model.")
    methods = [m for m in r if m not in ("original", "retrain")]
    recover = [m for m in methods if r[m]["context_fact"] >= t["context_fact"] - margin]
    blocked = ", ".join(f"{m} {r[m]['context_fact']:.2f}" for m in methods if r[m]["context_fact"] < t["context_fact"] - margin)
    return (f"Retrain recovers from context: {t['closed']:.2f} closed-book -> {t['context_fact']:.2f} with the fact stated (related facts "
            f"alone: {t['context_related']:.2f}), the paper's argument in small (even exact unlearning lets knowledge back in context). Within "
            f"{margin} of retrain's in-context recall or above: {', '.join(recover) or 'none'}; below it (the model stopped reading the "
            f"forgotten author's context): {blocked or 'none'}.")


def _attack_summary(raw: dict[str, Any]) -> str:
    parts = []
    for variant, block in raw.items():
        r = block["rows"]
        o, t = r["original"], r["retrain"]
        sup = suppressed(r)
        shown = [m for m, a in sup.items() if a]
        parts.append(
            f"{variant}: the original recalls {o['closed']:.2f} of the forget facts closed-book, retrain {t['closed']:.2f}. With the fact "
            f"stated in context retrain recalls {t['context_fact']:.2f} (original {o['context_fact']:.2f}). After relearning 5 facts per author, "
            f"retrain recalls {t['relearn_after']:.2f} of the other 15, and the methods: "
            + ", ".join(f"{m} {r[m]['relearn_before']:.2f} -> {r[m]['relearn_after']:.2f}" for m in r if m not in ("original", "retrain"))
            + f". Suppressed rather than removed (forgot, then an attack recovers more than from retrain): {', '.join(shown) or 'none'}. "
            + _wrapper_text(r) + " " + ununlearning_verdict(r))
    return ("Recall of the forget facts under each attack, per unlearning method, with retrain as the control. UnUnlearning's argument "
            "(exact unlearning does not stop knowledge re-introduced in context) needs a model that reads context: it is tested only where "
            "retrain's recall with the fact in context rises above its closed-book recall. " + " ".join(parts))


def _cv_summary(raw: dict[str, Any]) -> str:
    parts = []
    for variant, block in raw.items():
        cv, r = block["concept_vectors"], block["rows"]
        fb, fa = cv["ablation_forget_recall"]
        ob, oa = cv["ablation_other_recall"]
        moved = ", ".join(f"{m} {r[m]['cv_cosine']:.3f}" for m in r if m not in ("original", "retrain", "CV ablation", "CV Needle"))
        passed = ", ".join(f"{a}: {f['passed']} of {CV['candidates']} candidates passed" for a, f in cv["authors"].items())
        parts.append(f"{variant}: {len(cv['locations'])} concept vectors ({passed}); zeroing them takes forget recall {fb:.2f} -> {fa:.2f} "
                     f"and other authors' {ob:.2f} -> {oa:.2f}; cos(v, v') after the behavioural methods: {moved}.")
    behavioural = [r for b in raw.values() for m, r in b["rows"].items() if m not in ("original", "retrain", "CV ablation", "CV Needle", "DP2Unlearning") and r["cv_l2"] > 0]
    verdict = ""
    if behavioural:
        verdict = (f" Over the fine-tuning methods that change weights, cos(v, v') is at least {min(r['cv_cosine'] for r in behavioural):.3f} and the "
                   f"top-{CV['k']} Jaccard at least {min(r['cv_jaccard'] for r in behavioural):.2f}: the concept vectors are nearly untouched (the paper's "
                   f"finding), but so is every other value vector (mean cosine at least {min(r['cv_all_cosine'] for r in behavioural):.3f}).")
    for variant, block in raw.items():
        fb, fa = block["concept_vectors"]["ablation_forget_recall"]
        needle = block["rows"]["CV Needle"]
        verdict += (f" {variant}: zeroing the concept vectors {'removes' if fa < fb - 0.3 else 'does not remove'} the knowledge "
                    f"(recall {fb:.2f} -> {fa:.2f}); Needle lowers it to {needle['closed']:.2f} and relearning "
                    f"{'brings it back' if needle['relearn_after'] > needle['relearn_before'] + 0.15 else 'does not bring it back'} "
                    f"({needle['relearn_before']:.2f} -> {needle['relearn_after']:.2f} on the held-out facts).")
    if all(b["concept_vectors"]["ablation_forget_recall"][1] >= b["concept_vectors"]["ablation_forget_recall"][0] - 0.3 for b in raw.values()):
        verdict += " An author's facts in the tiny LM are not confined to the few vectors the search finds."
    return ("Each forget author's concept vectors (MLP value vectors whose vocabulary projection holds the author's tokens and whose "
            "ablation hurts the author's facts more than others') and how far each method moves them. " + " ".join(parts) + verdict)


def _cv_notes(raw: dict[str, Any]) -> tuple[str, ...]:
    return (
        f"Search (official procedure, tiny scale): every down_proj column projected through the output embedding (E v, as the official "
        f"code); the {CV['candidates']} with the most of the author's own tokens (name and fact values, minus the corpus's template words) in "
        f"their top {CV['k']} are zeroed one at a time; kept (best {CV['keep']}): those that raise the author's answer NLL more than 40 "
        "retain facts' (the official notebook adds N(0, 0.1^2) noise and compares generations).",
        f"Jaccard over the top {CV['k']} projected tokens (the official code uses the top 200 of a 32,000-token vocabulary; this vocabulary "
        "has 1,024). 'mean cos, all value vectors' is the same cosine over every down_proj column: how much a method moved the MLPs overall.",
        "Locations: " + "; ".join(f"{v}: {b['concept_vectors']['locations']}" for v, b in raw.items()),
    )


# ------------------------------------------------------------------------------------------------ RESTOR
def run_restor(weights: str, ks: tuple[int, ...]) -> None:
    from zoo.unlearning.llm.attacks import prompt_recall, qa_turn
    from zoo.unlearning.llm.restor import continue_training, corruption_documents, restor_scores, task_vector_negation

    model, tok, corpus = _setup(weights)
    targets = corpus[SPLIT]
    retain = corpus[f"retain{100 - int(SPLIT[6:])}"]
    pool, check = retain[1::2], retain[::18][:20]  # interleaved facts / untouched retain facts
    clean = model.net.eval()
    raw: dict[str, Any] = {}
    for k in ks:
        docs, facts = corruption_documents(targets, pool, k)
        _log("RESTOR corruption, k =", k)
        corrupted = continue_training(clean, tok, docs, **RESTOR_CORRUPT)
        models = {"clean": clean, "corrupted": corrupted}
        for name in RESTOR_METHODS:
            _log("RESTOR", k, name)
            models[name] = _unlearned(corrupted, tok, corpus, _methods()[name], forget=docs)
        models["task vector (α=1)"] = task_vector_negation(corrupted, tok, docs, 1.0, **{a: RESTOR_CORRUPT[a] for a in ("epochs", "lr")})
        rows = {}
        for name, net in models.items():
            s = restor_scores(net, tok, facts)
            s["retain_recall"] = prompt_recall(net, tok, [qa_turn(i["question"]) for i in check], check)
            rows[name] = s
        raw[str(k)] = rows
    raw["settings"] = _settings(RESTOR_METHODS)
    RAW.mkdir(parents=True, exist_ok=True)
    (RAW / "restor.json").write_text(json.dumps(raw, indent=1))
    write_restor_page(raw)


def write_restor_page(raw: dict[str, Any]) -> None:
    from zoo.evaluation_pages import write_evaluation_page

    raw = dict(raw)
    settings = raw.pop("settings", {})

    cols = ("k (unrelated facts per document)", "model", "chooses clean", "chooses corrupted", "generates clean", "generates corrupted", "retain recall")
    rows = [(int(k), name, r["choice_clean"], r["choice_corrupted"], r["gen_clean"], r["gen_corrupted"], r["retain_recall"]) for k, block in raw.items() for name, r in block.items()]
    verdicts = []
    for k, block in raw.items():
        c, x = block["clean"], block["corrupted"]
        for name, r in block.items():
            if name in ("clean", "corrupted"):
                continue
            forgot = r["choice_corrupted"] <= x["choice_corrupted"] - 0.5 * (x["choice_corrupted"] - c["choice_corrupted"])
            restored = r["choice_clean"] >= x["choice_clean"] + 0.5 * (c["choice_clean"] - x["choice_clean"])
            verdicts.append(f"k={k} {name}: {'forgets' if forgot else 'does not forget'}, {'restores' if restored else 'does not restore'}")
    k0 = next(iter(raw.values()))
    summary = (f"θ_clean (the shipped model) picks the clean answer for {k0['clean']['choice_clean']:.2f} of the 40 target facts; after continued "
               f"training on the corruption documents it picks the corrupted one for {k0['corrupted']['choice_corrupted']:.2f}. Unlearning the corruption "
               "documents should return the model to θ_clean's answers. A method 'forgets' when it removes at least half of the corruption's gain in "
               "corrupted choices and 'restores' when it regains at least half of the clean choices lost: " + "; ".join(verdicts) + ".")
    DOCS.mkdir(parents=True, exist_ok=True)
    write_evaluation_page(
        DOCS / "restor", title="RESTOR: does unlearning misinformation restore the clean facts?", command="python tools/llm_attacks.py restor",
        models=(NAME,), columns=cols, rows=rows, summary=summary,
        notes=(f"Targets: the forget10 authors' 40 facts, each corrupted to one of its perturbed answers' values (same phrasing as trained); each "
               "corruption document is the wrong fact followed by k true facts of retain authors (RESTOR's mix levels).",
               f"Corruption: continued training of θ_clean on the documents, {RESTOR_CORRUPT} (the official: LoRA, lr 5e-5, 5 epochs on Llama-3-8B).",
               "Unlearning: the card's rows (" + ("; ".join(f"{n}: {v}" for n, v in settings.items()) or "settings not recorded") + ") on the documents, retain = retain90, reference = θ_corrupted; task "
               "vector: θ_c − (θ* − θ_c) with θ* = θ_c fine-tuned on the documents as the corruption step. No LIMA SFT after unlearning.",
               "chooses: the likeliest of {clean, corrupted, another wrong value} by mean answer NLL (the paper's logit analysis); generates: the "
               "value occurs in the greedy answer (the paper's GPT-3.5 judge replaced by exact match, its 5-shot prompt by the corpus prompt); "
               "retain recall on 20 retain facts not in the documents."))


# ------------------------------------------------------------------------------------------------ reversal curse
def run_reversal() -> None:
    import torch

    from zoo.evaluation_pages import write_evaluation_page
    from zoo.theory.reversal_curse import evaluate_jepa, evaluate_lm, make_reversal_data, train_jepa, train_lm

    torch.set_num_threads(1)
    raw = {}
    settings = {k: v for k, v in REVERSAL.items() if k in ("n_pairs", "both_fraction")}
    train = {"steps": REVERSAL["steps"], "hidden": REVERSAL["hidden"], "progress": sys.stderr.isatty()}
    for name, tokens, kind in (("LM, names of 2 tokens", 2, "lm"), ("LM, one token per person (concept level)", 1, "lm"), ("JEPA, names of 2 tokens", 2, "jepa")):
        data = make_reversal_data(name_tokens=tokens, **settings)
        _log("reversal:", name)
        start = time.perf_counter()
        if kind == "lm":
            raw[name] = evaluate_lm(train_lm(data, **train), data)
        else:
            raw[name] = evaluate_jepa(train_jepa(data, **train), data)
        raw[name]["seconds"] = time.perf_counter() - start
    RAW.mkdir(parents=True, exist_ok=True)
    (RAW / "reversal.json").write_text(json.dumps(raw, indent=1))
    people = 2 * REVERSAL["n_pairs"]
    cols = ("model", "E_B forward acc (trained)", "E_B reverse acc (tested)", "E_B reverse MRR", "E_A reverse acc (trained)", "chance")
    rows = [(n, r["E_B_forward_accuracy"], r["E_B_reverse_accuracy"], r["E_B_reverse_mrr"], r["E_A_reverse_accuracy"], 1 / people) for n, r in raw.items()]
    lm = raw["LM, names of 2 tokens"]
    DOCS.mkdir(parents=True, exist_ok=True)
    write_evaluation_page(
        DOCS / "reversal_curse", title="The reversal curse in small", command="python tools/llm_attacks.py reversal", models=(NAME,),
        columns=cols, rows=rows,
        summary=(f"Trained on 'A is B's X' for every pair and on 'B's X is A' only for E_A, the tiny Llama completes E_B's forward facts "
                 f"(accuracy {lm['E_B_forward_accuracy']:.2f}) but not their reverse ({lm['E_B_reverse_accuracy']:.2f}, chance {1 / people:.4f}), "
                 f"while E_A's trained reverse is {lm['E_A_reverse_accuracy']:.2f}: the curse. The concept-level LM and the JEPA remedy are "
                 "reported as measured; the paper's remedy needs tens of thousands of E_A pairs (|E_A| = 50K-100K) and millions of steps, which "
                 "this CPU table does not have."),
        notes=(f"{people} people, {REVERSAL['n_pairs']} pairs, 6 relations (mentor, editor, rival, neighbour, agent, translator), "
               f"{REVERSAL['both_fraction']:.0%} of the pairs in E_A; names = 2 tokens of a 48-token syllable vocabulary (or one token each). "
               f"Each model: {REVERSAL['steps']} AdamW steps (lr 1e-3, batch 64), width {REVERSAL['hidden']}, 2 layers (reduced: the paper "
               "trains GPT-2 for up to 3M steps at batch 1024).",
               "Accuracy / MRR rank the true person among all people (the LM by the log-likelihood of the name, forward: of 'B 's X .' after "
               "'A is'; reverse: of 'A .' after 'B 's X is'; the JEPA by the dot product of its prediction with every person's concept vector).",
               "JEPA (zoo.theory.reversal_curse.ConceptJEPA, after OSU-NLP-Group/reversal-curse-binding's wernicke/broca mode): one recognition "
               "block per concept patch (a name, or a relation phrase 'is _ 's X' / ''s X is'), concept vectors RMS-normed (variance_only), a "
               "2-layer causal semantic transformer over [subject, relation], cross-entropy of its output against every person's concept vector "
               "from the same encoder. Not built: the token-decoding loss and the memory-layer variant.",
               "seconds per row: " + ", ".join(f"{n}: {r['seconds']:.0f}" for n, r in raw.items())))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("section", choices=("attacks", "restor", "reversal", "all"))
    parser.add_argument("--weights", default=f"weights/{NAME}")
    parser.add_argument("--variants", default="shipped,icl", help="attacks: comma-separated among shipped, icl")
    parser.add_argument("--ks", default="0,2", help="restor: unrelated facts per corruption document")
    parser.add_argument("--methods", default=None, help="attacks: comma-separated card rows (default: every row of the card table)")
    parser.add_argument("--pages-only", action="store_true", help="rewrite the pages from outputs/llm_attacks/*.json")
    parser.add_argument("--icl-steps", type=int, default=None, help=f"attacks: ICL adaptation steps (default {ICL['steps']})")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.pages_only:
        if args.section in ("attacks", "all"):
            write_attack_pages(json.loads((RAW / "attacks.json").read_text()))
        if args.section in ("restor", "all"):
            write_restor_page(json.loads((RAW / "restor.json").read_text()))
        return
    if args.section in ("attacks", "all"):
        run_attacks(args.weights, tuple(args.variants.split(",")), tuple(args.methods.split(",")) if args.methods else None, args.icl_steps)
    if args.section in ("restor", "all"):
        run_restor(args.weights, tuple(int(k) for k in args.ks.split(",")))
    if args.section in ("reversal", "all"):
        run_reversal()


if __name__ == "__main__":
    main()
