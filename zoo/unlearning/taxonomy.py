"""Every unlearning method of the zoo, placed in the two surveys' taxonomies, with its paper and where it is measured.

- **Intention** (SoK: Machine Unlearning for Large Language Models, Ren et al., arXiv 2506.09227): ``removal``-intended
  methods change the parameters to eliminate the internal representation of the target; ``suppression``-intended ones
  leave it encoded and stop its expression (an input, decoding or output intervention, or an adapter / steering that
  can be detached). Exact methods (retraining, sharding) are removal by construction. The unlearnable-example
  methods are neither: the data owner ``prevent``\\ s learning before training.
- **Approach** (Knowledge Unlearning for LLMs: Tasks, Methods, and Challenges, Si et al., arXiv 2311.15766):
  ``parameter optimisation``, ``parameter merging`` or ``in-context``; exact retraining and data perturbation fall
  outside the three.

The assignments are this zoo's reading of the surveys (their own per-method tables were not available; see
``SPEC2.md`` §13). ``evidence`` is where an attack showed a removal-intended method only suppresses (the attack
tables fill it); ``measured`` is the card or docs page with the method's figures (relative to the repository root).

    >>> from zoo.unlearning.taxonomy import entries, missing
    >>> [e.name for e in entries("llm") if e.intention == "suppression"]
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path

REMOVAL, SUPPRESSION, PREVENTION = "removal", "suppression", "prevention"
OPTIMISATION, MERGING, IN_CONTEXT = "parameter optimisation", "parameter merging", "in-context"
EXACT, DATA = "exact retraining (outside the survey)", "data perturbation (outside the survey)"
INTENTIONS = (REMOVAL, SUPPRESSION, PREVENTION)
APPROACHES = (OPTIMISATION, MERGING, IN_CONTEXT, EXACT, DATA)

_CLF, _REG = "weights/allcnn_mnist_classifier/README.md", "weights/allcnn_mnist_regressor/README.md"
_LM, _MOE, _REC = "weights/tiny_llama/README.md", "weights/tiny_moe/README.md", "weights/lightgcn_tiny/README.md"
_DOCS = "docs/unlearning"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One method in the taxonomy.

    Args:
        family: the zoo family (``classifier``, ``llm``, ``recommendation``, ``generative``, ``data_protection``).
        name: the name ``zoo.unlearn`` (or the family's API) takes.
        display: the name the tables print.
        intention: :data:`INTENTIONS` (SoK).
        approach: :data:`APPROACHES` (knowledge-unlearning survey).
        level: where it intervenes (``parameters``, ``representations``, ``input``, ``decoding``, ``output``, ``data``).
        paper: the paper (authors, venue or arXiv id).
        measured: the card / docs page that measures it ("" when none does yet).
        notes: caveats of the placement.
        evidence: what an attack showed (e.g. "suppresses: forget ROUGE-L 0.05 -> 0.31 after an in-context attack").
        aliases: other names of the method in this session's plans.
    """

    family: str
    name: str
    display: str
    intention: str
    approach: str
    level: str
    paper: str
    measured: str = ""
    notes: str = ""
    evidence: str = ""
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.intention not in INTENTIONS:
            raise ValueError(f"intention: expected one of {INTENTIONS}, received {self.intention!r}")
        if self.approach not in APPROACHES:
            raise ValueError(f"approach: expected one of {APPROACHES}, received {self.approach!r}")


def _e(family, name, display, intention, approach, level, paper, measured="", notes="", aliases=()) -> Entry:
    return Entry(family, name, display, intention, approach, level, paper, measured, notes, "", tuple(aliases))


_REMOVAL_IN_NAME = "SoK: removal-intended, often suppression in effect"
TAXONOMY: tuple[Entry, ...] = (
    # ------------------------------------------------------------------ classifiers and regressors (zoo/unlearning/methods)
    _e("classifier", "retrain", "Retrain", REMOVAL, EXACT, "parameters", "retraining from scratch on the retain set (the gold standard)", _CLF),
    _e("classifier", "finetune", "FT", REMOVAL, OPTIMISATION, "parameters", "fine-tuning on D_r (Warnecke et al., NDSS 2023; Jia et al., NeurIPS 2023 baseline)", _CLF),
    _e("classifier", "gradient_ascent", "GA", REMOVAL, OPTIMISATION, "parameters", "NegGrad (Thudi et al., EuroS&P 2022; Jia et al. baseline)", _CLF, _REMOVAL_IN_NAME),
    _e("classifier", "random_labels", "RL", REMOVAL, OPTIMISATION, "parameters", "random labels (Golatkar et al., CVPR 2020)", _CLF),
    _e("classifier", "l1_sparse", "l1-sparse", REMOVAL, OPTIMISATION, "parameters", "Model Sparsity Can Simplify Machine Unlearning (Jia et al., NeurIPS 2023)", _CLF),
    _e("classifier", "prune_first", "prune first", REMOVAL, OPTIMISATION, "parameters", "Model Sparsity Can Simplify Machine Unlearning (Jia et al., NeurIPS 2023)", _CLF),
    _e("classifier", "fisher", "Fisher forgetting", REMOVAL, OPTIMISATION, "parameters", "Eternal Sunshine of the Spotless Net (Golatkar et al., CVPR 2020)", _CLF),
    _e("classifier", "ssd", "SSD", REMOVAL, OPTIMISATION, "parameters", "Selective Synaptic Dampening (Foster et al., AAAI 2024)", _CLF, "closed-form dampening, no gradient steps"),
    _e("classifier", "lfssd", "LFSSD", REMOVAL, OPTIMISATION, "parameters", "Loss-Free Machine Unlearning (Foster et al., ICLR 2024 Tiny Papers)", _CLF),
    _e("classifier", "acu", "ACU", REMOVAL, OPTIMISATION, "parameters", "Analytic Continual Unlearning (Tang et al., arXiv 2505.12239)", _CLF, "closed-form update of an analytic head"),
    _e("classifier", "iau", "IAU", REMOVAL, OPTIMISATION, "parameters", "Influence Approximation Unlearning (Liu et al.)", _CLF),
    _e("classifier", "blindspot", "Blindspot", REMOVAL, OPTIMISATION, "parameters", "Deep Regression Unlearning (Tarun et al., ICML 2023)", _REG),
    _e("classifier", "gaussian_finetune", "Gaussian fine-tuning", REMOVAL, OPTIMISATION, "parameters", "Deep Regression Unlearning baseline (Tarun et al., ICML 2023)", _REG),
    _e("classifier", "bad_teacher", "BadT", REMOVAL, OPTIMISATION, "parameters", "Can Bad Teaching Induce Forgetting? (Chundawat et al., AAAI 2023)", f"{_DOCS}/corrective.md"),
    _e("classifier", "scrub", "SCRUB", REMOVAL, OPTIMISATION, "parameters", "Towards Unbounded Machine Unlearning (Kurmanji et al., NeurIPS 2023)", f"{_DOCS}/corrective.md"),
    _e("classifier", "eu_k", "EU-k", REMOVAL, OPTIMISATION, "parameters", "exact unlearning of the last k layers (Goel et al., 2022; corrective benchmark, TMLR 2024)", f"{_DOCS}/corrective.md", "retrains only the last k layers"),
    _e("classifier", "cf_k", "CF-k", REMOVAL, OPTIMISATION, "parameters", "catastrophic forgetting of the last k layers (Goel et al., 2022; corrective benchmark, TMLR 2024)", f"{_DOCS}/corrective.md"),
    _e("classifier", "dmm", "DMM", REMOVAL, OPTIMISATION, "parameters", "Machine Unlearning via Simulated Oracle Matching (Georgiev et al., ICLR 2025)", f"{_DOCS}/dmm.md"),
    _e("classifier", "oracle_matching", "oracle matching", REMOVAL, OPTIMISATION, "parameters", "Simulated Oracle Matching, oracle variant (Georgiev et al., ICLR 2025)", f"{_DOCS}/dmm.md"),
    _e("classifier", "laf", "LAF", REMOVAL, OPTIMISATION, "representations", "Label-Agnostic Forgetting (Shen et al., ICLR 2024)", f"{_DOCS}/laf_concepts.md"),
    _e("classifier", "laf_r", "LAF+R", REMOVAL, OPTIMISATION, "representations", "Label-Agnostic Forgetting with the supervised repair (Shen et al., ICLR 2024)", f"{_DOCS}/laf_concepts.md"),
    _e("classifier", "concept_poison", "concepts + poisoning", REMOVAL, OPTIMISATION, "parameters", "class unlearning via concepts and data poisoning (Chang et al., arXiv 2405.15662)", f"{_DOCS}/laf_concepts.md"),
    _e("classifier", "s3t", "S3T", REMOVAL, EXACT, "parameters", "Sequence-aware Sharded Sliced Training (Chowdhury et al., ICLR 2025)", f"{_DOCS}/s3t.md", "a protocol (sharded LoRA training), not a zoo.unlearn method"),
    # ------------------------------------------------------------------ causal LMs (zoo/unlearning/llm/methods)
    _e("llm", "grad_ascent", "GradAscent", REMOVAL, OPTIMISATION, "parameters", "Knowledge Unlearning for Mitigating Privacy Risks (Jang et al., ACL 2023)", _LM, _REMOVAL_IN_NAME),
    _e("llm", "grad_diff", "GradDiff", REMOVAL, OPTIMISATION, "parameters", "gradient difference (Liu et al., 2022; TOFU baseline, Maini et al., COLM 2024)", _LM, _REMOVAL_IN_NAME),
    _e("llm", "npo", "NPO", REMOVAL, OPTIMISATION, "parameters", "Negative Preference Optimization (Zhang et al., COLM 2024)", _LM, _REMOVAL_IN_NAME),
    _e("llm", "simnpo", "SimNPO", REMOVAL, OPTIMISATION, "parameters", "Simplicity Prevails: SimNPO (Fan et al., arXiv 2410.07163)", _LM, _REMOVAL_IN_NAME),
    _e("llm", "rmu", "RMU", REMOVAL, OPTIMISATION, "representations", "Representation Misdirection (WMDP, Li et al., ICML 2024)", _LM, "representation-targeted; SoK cites evidence of suppression"),
    _e("llm", "wagle_grad_diff", "WAGLE+GradDiff", REMOVAL, OPTIMISATION, "parameters", "WAGLE weight attribution (Jia et al., NeurIPS 2024)", _LM, _REMOVAL_IN_NAME),
    _e("llm", "wagle_npo", "WAGLE+NPO", REMOVAL, OPTIMISATION, "parameters", "WAGLE weight attribution (Jia et al., NeurIPS 2024)", _LM, _REMOVAL_IN_NAME),
    _e("llm", "uoe", "UOE", REMOVAL, OPTIMISATION, "parameters", "Unlearning One Expert (Zhuang et al., ACL 2025)", _MOE, "MoE models only"),
    _e("llm", "uld", "ULD", SUPPRESSION, OPTIMISATION, "output", "Unlearning from Logit Difference (Ji et al., NeurIPS 2024)", _LM, "an assistant is trained; the base weights keep the knowledge and its logits are subtracted at inference"),
    _e("llm", "o3", "O3", SUPPRESSION, OPTIMISATION, "parameters", "O3: OOD detector + orthogonal LoRA (Gao et al., ICLR 2025)", _LM, "a detachable, detector-gated unlearning adapter over untouched base weights"),
    _e("llm", "dp2unlearning", "DP2Unlearning", REMOVAL, EXACT, "parameters", "DP2Unlearning (Al Mahmud et al., Neural Networks 2025)", _LM, "retrains from a disclosure-protected base (ε-DP bound on D_f)"),
    _e("llm", "lineas", "LinEAS", SUPPRESSION, OPTIMISATION, "representations", "Linear End-to-end Activation Steering (Rodriguez et al., NeurIPS 2025)", _LM, "affine activation steering at inference; the weights keep the knowledge"),
    _e("llm", "eco", "ECO", SUPPRESSION, IN_CONTEXT, "input", "Embedding-Corrupted Prompts (Liu et al., NeurIPS 2024)", f"{_DOCS}/llm/inference_time.md", "a prompt classifier gates corrupted input embeddings"),
    _e("llm", "guard", "GUARD", SUPPRESSION, IN_CONTEXT, "decoding", "GUARD: generation-time unlearning (Deng et al., arXiv 2505.13312)", f"{_DOCS}/llm/inference_time.md", "forbidden-token filtering and semantic penalties at decoding"),
    _e("llm", "alu", "ALU", SUPPRESSION, IN_CONTEXT, "output", "Agents Are All You Need for LLM Unlearning (Sanyal & Mandal, COLM 2025)", f"{_DOCS}/llm/inference_time.md", "agents rewrite or refuse the output"),
    # ------------------------------------------------------------------ recommenders (zoo/unlearning/recommendation)
    _e("recommendation", "unlearnrec", "UnlearnRec", REMOVAL, OPTIMISATION, "parameters", "Pre-training for Recommendation Unlearning (SIGIR 2025)", _REC, "a pre-trained influence encoder predicts the update"),
    _e("recommendation", "retrain", "Retrain", REMOVAL, EXACT, "parameters", "retraining without the removed edges", _REC),
    _e("recommendation", "sisa", "SISA", REMOVAL, EXACT, "parameters", "Machine Unlearning (Bourtoule et al., IEEE S&P 2021)", _REC),
    _e("recommendation", "influence", "influence", REMOVAL, OPTIMISATION, "parameters", "influence functions (Koh & Liang, ICML 2017): one Newton step on the embeddings", _REC),
    _e("recommendation", "finetune", "fine-tune", REMOVAL, OPTIMISATION, "parameters", "fine-tuning on the remaining edges, pushing the removed ones down", _REC),
    # ------------------------------------------------------------------ generators (zoo/unlearning/generative)
    _e("generative", "sfd", "SFD", REMOVAL, OPTIMISATION, "parameters", "Score Forgetting Distillation (Chen, Zhang, Zhou, ICLR 2025)", f"{_DOCS}/generative/sfd.md"),
    _e("generative", "doco", "DoCo", REMOVAL, OPTIMISATION, "parameters", "Concept Domain Correction and Concept Preserving Gradient (Wu et al., AAAI 2025)", f"{_DOCS}/generative/doco.md"),
    _e("generative", "concept_ablation", "Concept Ablation", REMOVAL, OPTIMISATION, "parameters", "Ablating Concepts in Text-to-Image Diffusion Models (Kumari et al., ICCV 2023)", f"{_DOCS}/generative/canvas.md"),
    _e("generative", "adapt_then_unlearn", "Adapt-then-Unlearn", REMOVAL, OPTIMISATION, "parameters", "Adapt then Unlearn: exploiting parameter space semantics (Tiwary et al., TMLR)", f"{_DOCS}/generative/adapt_then_unlearn.md"),
    # ------------------------------------------------------------------ data protection (zoo/unlearning/unlearnable)
    _e("data_protection", "bayes_error", "BEO", PREVENTION, DATA, "data", "Bayes-error unlearnable examples (Zhang, Sun, Lim, Zhang, arXiv 2511.08191)", f"{_DOCS}/unlearnable/", "protects data before training; no model is unlearned", ("bayes_error_ue",)),
    _e("data_protection", "error_min", "error-minimising noise", PREVENTION, DATA, "data", "Unlearnable Examples (Huang et al., ICLR 2021)", f"{_DOCS}/unlearnable/", "protects data before training", ("error_min_noise",)),
    _e("data_protection", "t2ue", "T2UE", PREVENTION, DATA, "data", "T2UE: unlearnable examples from text descriptions (Ma et al., arXiv 2508.03091)", f"{_DOCS}/unlearnable/", "protects image-text pairs from their text alone"),
)
"""Every method, one :class:`Entry` each (keyed by ``(family, name)``: ``retrain`` and ``finetune`` exist twice)."""

ATTACKS_PAGE = "docs/unlearning/llm/attacks"
"""The evaluation page of the LLM attacks (``python tools/llm_attacks.py attacks``) the evidence column is read from."""
FORGOT_MARGIN, RECOVERED_MARGIN = 0.2, 0.1
"""A method forgot when its closed-book recall is within 0.2 of retrain's; an attack recovered the knowledge when the
recall after it is more than 0.1 above retrain's after the same attack (the page's own rule)."""


@lru_cache(maxsize=4)
def attack_evidence(root: Path | None = None) -> dict[tuple[str, str], str]:
    """``(family, name)`` -> what the attacks page measured about the method ({} when the page is absent, e.g. in an
    installed wheel). Computed from the page's rows, so that the table never quotes a figure by hand."""
    from zoo.evaluation_pages import DOCS_ROOT

    path = (root or DOCS_ROOT.parent) / f"{ATTACKS_PAGE}.json"
    try:
        page = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    col = {c: i for i, c in enumerate(page["columns"])}
    rows = {r[col["method"]]: r for r in page["rows"] if r[col["model"]] == "shipped"}
    if "retrain" not in rows:
        return {}
    ref = rows["retrain"]
    attacks = {"after relearning": "after relearning", "Sleek direct": "Sleek direct", "Sleek implied": "Sleek implied"}
    found = {}
    for e in TAXONOMY:
        r = rows.get(e.display)
        if e.family != "llm" or r is None:
            continue
        closed, ref_closed = r[col["closed-book recall"]], ref[col["closed-book recall"]]
        if closed > ref_closed + FORGOT_MARGIN:
            text = f"did not forget at the card's settings (closed-book recall {closed:.2f} vs retrain {ref_closed:.2f})"
        else:
            recovered = [f"{label} {r[col[c]]:.2f} vs retrain {ref[col[c]]:.2f}" for c, label in attacks.items() if r[col[c]] > ref[col[c]] + RECOVERED_MARGIN]
            before, after = r[col["held-out before relearning"]], r[col["after relearning"]]
            if recovered:
                kind = "suppression in effect" if e.intention == "removal" else "suppression, as intended"
                text = f"{kind}: recall {before:.2f} -> {after:.2f} after relearning; " + "; ".join(recovered)
            else:
                text = f"no attack recovered more than retrain (recall {before:.2f} -> {after:.2f} after relearning)"
        found[(e.family, e.name)] = f"{text} ({ATTACKS_PAGE}.md)"
    return found



COLUMNS = ("family", "method", "intention (SoK)", "approach (survey)", "intervenes on", "paper", "measured in", "attack evidence")


def evidence(e: Entry) -> str:
    """The attack evidence of an entry (the attacks page first, :func:`attack_evidence`, then the entry's own), "" when none."""
    return attack_evidence().get((e.family, e.name)) or e.evidence


def entries(family: str | None = None) -> list[Entry]:
    """The entries (of one family)."""
    return [e for e in TAXONOMY if family is None or e.family == family]


def entry(family: str, name: str) -> Entry:
    """The entry of ``name`` in ``family`` (aliases accepted)."""
    for e in TAXONOMY:
        if e.family == family and (e.name == name or name in e.aliases):
            return e
    raise ValueError(f"name: expected a method of the {family!r} family in the taxonomy ({sorted(x.name for x in entries(family))}), received {name!r}")


def registered_methods() -> dict[str, list[str]]:
    """Family -> the method names that exist in this install: the classifier methods, each family of
    :mod:`zoo.unlearning.families`, and the unlearnable-example methods."""
    from zoo.unlearning.api import method_names
    from zoo.unlearning.families import families

    out = {"classifier": list(method_names())}
    for name, module in families().items():
        out[name] = list(module.method_names())
    try:
        from zoo.unlearning.unlearnable import METHODS as protect_methods

        out["data_protection"] = list(protect_methods)
    except ImportError:
        pass
    return out


def missing() -> list[tuple[str, str]]:
    """``(family, name)`` of every registered method without an entry (empty when the taxonomy is complete)."""
    known = {(e.family, n) for e in TAXONOMY for n in (e.name, *e.aliases)}
    return [(f, n) for f, names in registered_methods().items() for n in names if (f, n) not in known]


def page_name(path: str) -> str:
    """How a table names a measuring page: ``"<model> card"`` for a weights card, else the docs path."""
    parts = Path(path).parts
    return f"{parts[1]} card" if parts and parts[0] == "weights" else path.removeprefix("docs/")


def rows(links: bool = True, root: str = "") -> list[tuple[str, ...]]:
    """One row per entry, in :data:`COLUMNS`' order.

    Args:
        links: the method and page cells as markdown links to the measuring page.
        root: the path from the reader to the repository root (``""`` for the README).
    """
    out = []
    for e in TAXONOMY:
        method, where = e.display, (page_name(e.measured) if e.measured else "not measured yet")
        if links and e.measured:
            method, where = f"[{e.display}]({root}{e.measured})", f"[{where}]({root}{e.measured})"
        out.append((e.family, method, e.intention, e.approach, e.level, e.paper, where, evidence(e) or "–"))
    return out


def markdown(root: str = "") -> str:
    """The taxonomy as a markdown table with links (the README's "Unlearning methods" section)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(True, root)]
    return "\n".join(lines)


def text_table() -> str:
    """The taxonomy as aligned plain-text columns (``zoo unlearn --list``): family, method, intention, approach,
    level, measured in, evidence."""
    cols = ("family", "method", "intention", "approach", "intervenes on", "measured in", "attack evidence")
    body = [(e.family, e.name, e.intention, e.approach, e.level, e.measured or "-", evidence(e) or "-") for e in TAXONOMY]
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*cols), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r).rstrip() for r in body)])


README_START, README_END = "<!-- unlearning-taxonomy:start -->", "<!-- unlearning-taxonomy:end -->"


def update_readme(path: str | Path = "README.md") -> bool:
    """Rewrite the table between the README's taxonomy markers from :data:`TAXONOMY`; True when it changed.

        python -m zoo.unlearning.taxonomy          # after filling an entry's ``evidence``
    """
    path = Path(path)
    text = path.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(f"{path}: expected the markers {README_START} and {README_END}, found none")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n{markdown()}\n{README_END}{tail}"
    path.write_text(new)
    return new != text


if __name__ == "__main__":
    print("README.md", "updated" if update_readme() else "already current")
