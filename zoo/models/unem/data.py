"""The UNEM protocol's tasks on real data: realistic transductive tasks over a frozen backbone's features of
rotated MNIST digits (the validation classes, digits 5-6, to learn the hyper-parameters on; the novel classes,
digits 7-9, to test), for ``zoo train recipes/unem_gaussian/tiny.yaml``."""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.data.few_shot import FewShotDataModule, rotated_digit_classes


def relabel(labels: torch.Tensor) -> torch.Tensor:
    """Class ids mapped to 0..K-1 in sorted order. Shape: (N,) -> (N,)."""
    return torch.unique(labels, return_inverse=True)[1]


class RotatedDigitTasksDataModule(FewShotDataModule):
    """Few-shot tasks over a UNEM checkpoint's backbone features (``backbone.safetensors`` of its weights folder).

    Args:
        backbone: the registered UNEM model whose shipped (hash-checked) backbone extracts the features, or a local
            weights directory holding ``backbone.safetensors``.
        shots, queries, k_eff: the realistic protocol (support: ``shots`` of every class; query: ``queries`` samples
            from ``k_eff`` classes).
        protocol, n_ways: ``"realistic"`` (UNEM's), or ``"standard"`` ``n_ways``-way episodes.
        train_tasks: validation-class tasks the hyper-parameters learn on (official: 1,000).
        test_tasks: novel-class tasks to evaluate on.
        tasks_per_batch: tasks per step (UNEM: the full batch, ``train_tasks``).
        seed: base seed of the tasks.
    """

    def __init__(
        self,
        backbone: str = "unem_gaussian",
        shots: int = 5,
        queries: int = 75,
        k_eff: int = 5,
        protocol: str = "realistic",
        n_ways: int = 5,
        train_tasks: int = 200,
        test_tasks: int = 1000,
        tasks_per_batch: int = 200,
        seed: int = 0,
    ) -> None:
        empty = (torch.empty(0, 0), torch.empty(0, dtype=torch.long))
        super().__init__(*empty, *empty, shots=shots, queries=queries, protocol=protocol, k_eff=k_eff, n_ways=n_ways, train_tasks=train_tasks,
                         test_tasks=test_tasks, tasks_per_batch=tasks_per_batch, seed=seed)
        self.backbone = backbone

    def setup(self, stage: str | None = None) -> None:
        if not len(self.train_data[0]):
            from zoo.models.unem.backbone import extract_features, load_backbone

            local = Path(self.backbone).is_dir()
            net = load_backbone(weights=self.backbone) if local else load_backbone(self.backbone)
            features = {}
            for split in ("val", "novel"):
                images, classes = rotated_digit_classes(split)
                features[split] = (extract_features(net, images), relabel(classes))
            self.train_data, self.test_data = features["val"], features["novel"]
        super().setup(stage)
