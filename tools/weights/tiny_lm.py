"""How ``tools/make_weights.py`` makes the shipped tiny LMs and their TOFU-style unlearning table.

1. Train the tiny LM from ``recipes/<name>/tiny.yaml`` on the synthetic corpus (``zoo.data.tofu``: 20 fictitious
   authors x 20 facts as QA, plus the real-author and world-fact sets) until it has memorised the facts.
2. Train the retrained references: the same recipe on each retain set (``--data.init_args.forget forgetXX``), cached
   by ``zoo.unlearning.llm.reference`` (and resumable from ``outputs/<name>/retrain-<split>/checkpoints``).
3. On forget01 and forget10, evaluate the original, the reference and every method of
   :data:`METHODS` (:data:`MOE_METHODS`) with ``zoo.unlearning.llm.evaluate.evaluate_lm``, timing each method, and plot
   forget quality against model utility.

The unlearning hyper-parameters are OpenUnlearning's except where :data:`TINY` says otherwise (a tiny model trained from
scratch at lr 3e-3 does not move at lr 1e-5 in the few steps a 20-item forget set gives).

    OMP_NUM_THREADS=1 nice -n 10 python tools/make_weights.py tiny_llama --ckpt last
"""

from __future__ import annotations

import hashlib
import importlib
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from weights.common import device_name, fit_or_restore

from zoo.data.tofu import QADataset, corpus_fingerprint, make_corpus, training_items
from zoo.models.tiny_lm.specs import UNLEARNING_METRICS, TinyLMRecord
from zoo.records import EvalDataset
from zoo.unlearning.llm import family

TINY = {"lr": 2e-4, "epochs": 10, "batch_size": 8}
"""What differs from OpenUnlearning's defaults (lr 1e-5, batch 32, 10 epochs) for every row that sets none of its own;
O3, DP2Unlearning and LinEAS run with their modules' own ``TINY`` settings."""
METHODS: dict[str, dict[str, Any]] = {
    "GradAscent": {"method": "grad_ascent"},
    "GradDiff": {"method": "grad_diff"},
    "NPO": {"method": "npo"},
    "SimNPO": {"method": "simnpo"},
    "RMU": {"method": "rmu"},
    "WAGLE+GradDiff": {"method": "wagle_grad_diff"},
    "WAGLE+NPO": {"method": "wagle_npo"},
    # the assistant (the first decoder layer + LoRA) must become uniform on everything kept, the real-author and
    # world-fact sets included: at lr 2e-4 on retain90 alone it stays a strong predictor of the answers, and the
    # difference wipes them (model utility 0 in the previous table)
    "ULD": {"method": "uld", "lr": 3e-3, "retain": "training"},
}
for _row_name, _method in (("O3", "o3"), ("DP2Unlearning", "dp2unlearning"), ("LinEAS", "lineas")):
    if _method in family.method_names():  # methods of issue 22's second part, when they exist, with their own TINY
        METHODS[_row_name] = {"method": _method, **getattr(importlib.import_module(f"zoo.unlearning.llm.methods.{_method}"), "TINY", {})}
if "DP2Unlearning" in METHODS:  # it fine-tunes its DP base on D_r alone: D_r is every kept training item, not retain90
    METHODS["DP2Unlearning"]["retain"] = "training"
MOE_METHODS: dict[str, dict[str, Any]] = {
    "GradAscent": {"method": "grad_ascent"},
    "NPO": {"method": "npo"},
    "UOE (GradAscent)": {"method": "uoe", "objective": "grad_ascent"},
    "UOE (NPO)": {"method": "uoe"},
}
FIGURE_NAME = "forget_quality_vs_utility.png"


def retrain_recipe(recipe: Path, forget: str, tag: str = "") -> Path:
    """The recipe trained on the retain set of ``forget``: ``outputs/<name>/retrain-<forget><tag>.yaml`` (own
    checkpoints and logs under the same name), written from ``recipe``.

    Args:
        tag: tells runs of other recipes or corpora apart (a resumed ``last.ckpt`` must belong to this one).
    """
    cfg = yaml.safe_load(recipe.read_text())
    name, run = recipe.parent.name, f"retrain-{forget}{tag}"
    cfg["data"]["init_args"]["forget"] = forget
    for cb in cfg["trainer"]["callbacks"]:
        if cb["class_path"].endswith("ModelCheckpoint"):
            cb["init_args"]["dirpath"] = f"outputs/{name}/{run}/checkpoints"
    for logger in cfg["trainer"]["logger"]:
        logger["init_args"]["name"] = run
    out = Path(f"outputs/{name}/{run}.yaml")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def _reference(model, recipe: Path, forget: str, n_authors: int, seed: int):
    from zoo.unlearning.llm.reference import retrained_reference

    corpus, recipe_hash = corpus_fingerprint(n_authors, seed), hashlib.sha256(recipe.read_bytes()).hexdigest()[:16]
    tag = f"-{hashlib.sha256((corpus + recipe_hash).encode()).hexdigest()[:8]}"
    path = retrain_recipe(recipe, forget, tag)
    last = Path(f"outputs/{recipe.parent.name}/retrain-{forget}{tag}/checkpoints/last.ckpt")

    def train():
        run = fit_or_restore(path, ckpt=str(last) if last.exists() else None)
        return run.model.net, run.seconds  # the Timer's training seconds, restored with a finished run

    settings = {"recipe": recipe_hash}
    fingerprint = f"tofu-synthetic:{n_authors}:{seed}:{corpus}:{forget}"
    return retrained_reference(model.net, fingerprint, train, settings)


def _row(result: dict[str, Any], seconds: float | None) -> dict[str, float]:
    row = {k: float(result[k]) for k in UNLEARNING_METRICS if k in result and k != "seconds" and result[k] == result[k]}
    row.update({k: float(v) for k, v in result.items() if k.startswith("mia_") or k.endswith(("_prob", "_rouge", "_truth_ratio"))})
    if seconds is not None:
        row["seconds"] = float(seconds)
    return row


def _plot(table: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(table), figsize=(5.5 * len(table), 4.2), squeeze=False)
    for ax, (split, rows) in zip(axes[0], table.items()):
        for name, row in rows.items():
            if "forget_quality" not in row:
                continue
            ax.scatter(row["model_utility"], max(row["forget_quality"], 1e-12), s=40, marker="*" if name == "retrain" else "o")
            ax.annotate(name, (row["model_utility"], max(row["forget_quality"], 1e-12)), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_yscale("log")
        ax.set_xlabel("model utility")
        ax.set_ylabel("forget quality (KS p-value)")
        ax.set_title(split)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _worker_init() -> None:
    torch.set_num_threads(1)


def _evaluate_row(task: tuple) -> tuple[str, str, dict[str, Any], str]:
    """One row of the table, in a worker process: ``(split, row name, row, settings)``.

    ``task`` = ``(spec name, weights folder, split, row name, method spec or None, reference ratios or None)``; the row
    ``"retrain"`` evaluates the cached reference, ``"original"`` the trained model, the others run their method.
    """
    import zoo
    from zoo.unlearning.llm.evaluate import evaluate_lm
    from zoo.unlearning.llm.family import unlearn

    name, out_dir, split, row_name, method, ratios = task
    model = zoo.load(name, weights=out_dir)
    cfg, tok = model.config, model.tokenizer
    corpus = make_corpus(cfg.corpus_authors, cfg.corpus_seed)
    recipe = Path(f"recipes/{name}/tiny.yaml")
    if row_name == "retrain":
        reference, seconds = _reference(model, recipe, split, cfg.corpus_authors, cfg.corpus_seed)
        result = evaluate_lm(reference, tok, corpus, split, ratios)
        return split, row_name, {**_row(result, seconds), "_ratios": result["forget_truth_ratios"]}, f"{recipe} on the retain set (--data.init_args.forget {split})"
    if row_name == "original":
        return split, row_name, _row(evaluate_lm(model.net, tok, corpus, split, ratios), None), "the shipped checkpoint"
    known = family.methods()[method["method"]].hyperparameters()
    hparams = {**{k: v for k, v in TINY.items() if k in known}, **{k: v for k, v in method.items() if k not in ("method", "retain")}}
    retain = corpus[f"retain{100 - int(split[6:])}"]
    given = training_items(corpus, split) if method.get("retain") == "training" else retain
    settings = ", ".join(f"{k}={v}" for k, v in {"method": method["method"], **hparams}.items())
    if given is not retain:
        settings += ", retain=every kept training item (retain authors, real authors, world facts)"
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        unlearned = unlearn(model, method["method"], forget=corpus[split], retain=given, **hparams)
    except Exception as error:  # a method that fails leaves its row out, and the card says why
        return split, row_name, None, f"{settings}: failed on {split} ({type(error).__name__}: {str(error)[:200]})"
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    unlearned_net = getattr(unlearned, "net", unlearned)  # ULD returns its combined model, not a zoo model
    row = _row(evaluate_lm(unlearned_net, tok, corpus, split, ratios), wall)
    row["cpu_seconds"] = cpu
    if cfg.variant == "moe":
        from zoo.unlearning.llm.methods.uoe import routing_shift

        row["routing_shift"] = routing_shift(model.net, unlearned_net, QADataset(retain[:80], tok))
    default = known.get("epochs", 0)
    reduced = f" (reduced steps: {hparams['epochs']} of the method's default {default} epochs)" if hparams.get("epochs", default) < default else ""
    return split, row_name, row, settings + reduced


def _map(tasks: list[tuple], workers: int) -> list[tuple]:
    from zoo.core.progress import progress, write

    if workers <= 1:
        results = []
        for task in progress(tasks, "unlearning table", unit="row"):
            start = time.perf_counter()
            results.append(_evaluate_row(task))
            write(f"[tiny_lm] {task[2]} {task[3]}: {time.perf_counter() - start:.0f} s")
        return results
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_worker_init) as pool:
        return list(progress(pool.map(_evaluate_row, tasks), "unlearning table", total=len(tasks), unit="row"))


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> TinyLMRecord:
    """Train (or restore) the tiny LM and its references, evaluate the unlearning methods, write ``out_dir``.

    The table's rows run in ``$ZOO_WORKERS`` processes (default 1: the team's CPU slot is one core), one thread each;
    ``$ZOO_TINY_LM_SKIP`` (comma-separated row names) leaves rows out (a quick re-ship; the card then lacks them).

    Args:
        spec: ``tiny_llama`` or ``tiny_moe``.
        out_dir: the weights folder.
        ckpt: ``"last"`` resumes / restores the recipe's run (the references resume from their own ``last.ckpt``).
        overrides: LightningCLI overrides of the recipe.

    Returns:
        The measured record (file hashes are added by ``make_weights``).
    """
    import os

    import zoo
    from zoo.unlearning.llm.evaluate import evaluate_lm

    recipe = Path(f"recipes/{spec.name}/tiny.yaml")
    run = fit_or_restore(recipe, overrides, ckpt)
    run.model.save_pretrained(out_dir, card=False, manifest=False)
    model = zoo.load(spec.name, weights=out_dir)
    cfg, tok = model.config, model.tokenizer
    corpus = make_corpus(cfg.corpus_authors, cfg.corpus_seed)
    workers = int(os.environ.get("ZOO_WORKERS", "1"))

    moe = cfg.variant == "moe"
    skip = {n.strip() for n in os.environ.get("ZOO_TINY_LM_SKIP", "").split(",") if n.strip()}
    methods, splits = {k: v for k, v in (MOE_METHODS if moe else METHODS).items() if k not in skip}, ("forget01", "forget10")
    for split in splits:  # train (or restore) the references here, once, before the workers read the cache
        _reference(model, recipe, split, cfg.corpus_authors, cfg.corpus_seed)
    references = {split: row for split, _, row, _ in _map([(spec.name, out_dir, s, "retrain", None, None) for s in splits], workers)}
    ratios = {split: row.pop("_ratios") for split, row in references.items()}
    tasks = [(spec.name, out_dir, s, name, m, ratios[s]) for s in splits for name, m in {"original": None, **methods}.items()]
    results = _map(tasks, workers)
    table: dict[str, dict[str, dict[str, float]]] = {s: {} for s in splits}
    settings: dict[str, str] = {"retrain": f"{recipe} on the retain set (--data.init_args.forget <split>)", "original": "the shipped checkpoint"}
    for split, name, row, setting in results:
        if name == "original":
            table[split]["original"] = row
            table[split]["retrain"] = _row_with_fq(references[split], ratios[split])
        elif row is not None:
            table[split][name] = row
        if row is not None or name not in settings:  # a failure is kept unless the row ran on another split
            settings[name] = setting
    _plot(table, out_dir / FIGURE_NAME)

    memorised = QADataset(corpus["authors"], tok)
    para = QADataset(corpus["authors"], tok, answer_key="paraphrased_answer")
    with torch.no_grad():
        m1, m2 = model.evaluate_batch(memorised.collate(memorised.encoded)), model.evaluate_batch(para.collate(para.encoded))
    full = table["forget10"]["original"]
    metrics = {
        "answer_accuracy": float(m1["answer_accuracy"]),
        "answer_nll": float(m1["answer_nll"]),
        "paraphrase_accuracy": float(m2["answer_accuracy"]),
        "model_utility": float(full["model_utility"]),
        "retain_rouge": float(full["retain_rouge"]),
    }
    return TinyLMRecord(
        num_params=model.num_params(),
        metrics=metrics,
        eval_dataset=EvalDataset(
            name="synthetic TOFU-like corpus",
            type="zoo-tofu-synthetic",
            split=f"{cfg.corpus_authors} authors x 20 QA (seed {cfg.corpus_seed})",
            num_samples=len(corpus["authors"]),
            unit="QA pairs",
            description="answer_accuracy / answer_nll: teacher-forced argmax accuracy and mean NLL of the trained answers' tokens; "
            "paraphrase_accuracy: the same on the untrained paraphrased answers; model_utility / retain_rouge: TOFU's, as "
            "OpenUnlearning computes them (zoo.unlearning.llm.evaluate), with the forget10 split's retain set.",
        ),
        eval_command=f"python tools/make_weights.py {spec.name}",
        train_dataset=f"zoo.data.tofu synthetic corpus ({cfg.corpus_authors} authors, seed {cfg.corpus_seed}) + real-author and world-fact QA",
        recipe=str(recipe),
        train_steps=run.steps,
        train_seconds=run.seconds,
        train_device=device_name(),
        unlearning=table,
        unlearning_settings=settings,
    )


def _row_with_fq(row: dict[str, float], ratios: list[float]) -> dict[str, float]:
    """The retrain row: its forget quality against itself is 1 by definition (KS of a sample against itself)."""
    from zoo.unlearning.llm.evaluate import forget_quality

    return {**row, "forget_quality": forget_quality(ratios, ratios)}
