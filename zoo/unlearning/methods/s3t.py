"""S3T, Sequence-aware Sharded Sliced Training (Chowdhury et al., ICLR 2025; official code brcsomnath/S3T,
``src/s3t_vit.py``, ``src/deletion.py``, ``src/sequence_selection.py``, ``src/inference.py``): exact unlearning with
parameter-efficient fine-tuning.

The training set is split into ``shards`` x ``slices``. The network's weights stay frozen; its layers are grouped
top-down into ``slices`` groups, each adapted by LoRA (peft; rank 16, alpha 16, rsLoRA, dropout 0.1 as the official
ViT script). A *sequence* is an order of the shard's slices: stage k trains the head and the LoRA of group k (group 0
the top layers) on the slices at positions 0..k of the order (cumulative), earlier groups frozen. Each shard trains
``sequences`` orders (the budget B): cyclic rotations (``get_cyclic``) or the BMS selection (``bms_selection``).

Deleting a sample of slice s cuts every sequence of its shard at the position of s (the stages from there on saw
it); a shard serves its longest surviving prefix, i.e. the checkpoint after the last stage before the cut.
Prediction averages the logits of the shards' served models (``inference.py``). A shard whose sequences are all cut
is retrained on its remaining samples (``retrain="when_dead"``), or dropped from the ensemble (``"never"``, as the
official deletion experiment); ``"every_deletion"`` retrains the shard at every deletion (SISA-style full-shard
retraining, with ``selection="sisa"``: one sequence, the identity order).

S3T is a way of *training* that makes deletion exact, not a post-hoc method: ``S3T(net, task, ...).run(data)``
trains on the forget and retain samples together, deletes the forget samples and returns the served ensemble (a new
module; ``net`` only provides the frozen weights), so it is not registered for ``zoo.unlearn``.
Official defaults: 6 slices, lr 2e-4, 15 epochs, batch 128 (ViT-Base on CIFAR-10, 2 LoRA layers per group).
"""

from __future__ import annotations

import copy
import numpy as np
import torch
from peft import LoraConfig, inject_adapter_in_model
from scipy.optimize import linear_sum_assignment
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from zoo.core.progress import trange
from zoo.losses.supervised import check_task, task_loss
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.methods.baselines import reinitialise
from zoo.unlearning.methods.last_k import parametrised_layers

SELECTIONS = ("cyclic", "bms", "sisa")
RETRAIN_POLICIES = ("when_dead", "never", "every_deletion")


def _rotations(items: list[int]) -> list[list[int]]:
    return [items[len(items) - i :] + items[: len(items) - i] for i in range(len(items))]


def cyclic_orders(slices: int, budget: int) -> list[list[int]]:
    """``budget`` slice orders by cyclic rotation: the rotations of ``0..L-1`` first (each slice leads once), then
    rotations of the suffixes after a shared prefix (the official ``get_cyclic``, here breadth-first)."""
    if not 1 <= budget:
        raise ValueError(f"sequences: expected at least 1, received {budget}")
    orders = _rotations(list(range(slices)))
    depth = 1
    while len(orders) < budget and depth < slices - 1:
        grown = []
        for r in range(slices - depth):  # round-robin over the orders, so that every leading slice branches
            for order in orders:
                candidate = order[:depth] + _rotations(order[depth:])[r]
                if candidate not in grown:
                    grown.append(candidate)
        orders, depth = grown, depth + 1
    return orders[:budget]


def _bms_score(probs: list[float], t: float = 100.0) -> float:
    """The official ``get_score``: sum over positions n of n * (1 - cumulative deletion probability)^t."""
    cumulative, score = 0.0, 0.0
    for n, p in enumerate(probs, start=1):
        cumulative += p
        score += n * (1.0 - cumulative) ** t
    return score


def bms_orders(probs: list[float], budget: int) -> list[list[int]]:
    """The official BMS selection: ``L`` orders grown one position at a time, each round assigning every order its
    next slice by a maximum-score bipartite matching (scipy's Hungarian); the first ``budget`` are kept.

    Args:
        probs: the deletion probability of each slice.
    """
    slices = len(probs)
    orders = [[e] for e in range(slices)]
    for _ in range(slices - 1):
        score = np.full((slices, slices), -1e18)
        for i, order in enumerate(orders):
            for j in range(slices):
                if j not in order:
                    score[i, j] = _bms_score([probs[e] for e in order + [j]])
        for i, j in zip(*linear_sum_assignment(score, maximize=True)):
            orders[i].append(int(j))
    return orders[:budget]


def cut(orders: list[list[int]], slice_id: int) -> list[list[int]]:
    """The official ``delete``: every order is cut before ``slice_id``; empty prefixes are dropped."""
    kept = []
    for order in orders:
        prefix = order[: order.index(slice_id)] if slice_id in order else order
        if prefix:
            kept.append(prefix)
    return kept


def lora_targets(model: nn.Module, group: list[str]) -> list[str]:
    """Names of the ``nn.Conv2d`` / ``nn.Linear`` modules inside the top-level children ``group``."""
    return [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and name.split(".")[0] in group]


class S3T(nn.Module):
    """Sharded, sliced, sequence-aware LoRA training with exact deletion.

    Args:
        model: the network whose weights stay frozen (its last parametrised child is the head, re-initialised and
            trained at every stage; LoRA adapts the children below it, top-down, in ``slices`` groups).
        task: ``"classification"`` or ``"regression"``.
        shards: m.
        slices: L (also the number of layer groups).
        sequences: B, slice orders per shard.
        selection: ``"cyclic"``, ``"bms"`` (uniform deletion probabilities unless ``deletion_probs``) or ``"sisa"``.
        deletion_probs: per-slice deletion probabilities for BMS.
        retrain: when a shard is retrained (:data:`RETRAIN_POLICIES`).
        rank, lora_alpha, lora_dropout: LoRA (rsLoRA scaling).
        lr, epochs, batch_size: AdamW per stage.
        seed: shard assignment, shuffling and head initialisation.
    """

    def __init__(
        self,
        model: nn.Module,
        task: str,
        *,
        shards: int = 5,
        slices: int = 6,
        sequences: int = 3,
        selection: str = "cyclic",
        deletion_probs: tuple[float, ...] = (),
        retrain: str = "when_dead",
        rank: int = 16,
        lora_alpha: int = 16,
        lora_dropout: float = 0.1,
        lr: float = 2e-4,
        epochs: int = 15,
        batch_size: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if selection not in SELECTIONS:
            raise ValueError(f"selection: expected one of {SELECTIONS}, received {selection!r}")
        if retrain not in RETRAIN_POLICIES:
            raise ValueError(f"retrain: expected one of {RETRAIN_POLICIES}, received {retrain!r}")
        layers = parametrised_layers(model)
        if len(layers) < slices + 1:
            raise ValueError(f"slices: expected at most {len(layers) - 1} (layers below the head {layers[-1]!r}), received {slices}")
        self.task, self.shards, self.slices = check_task(task), shards, slices
        self.budget = 1 if selection == "sisa" else sequences
        self.selection, self.retrain_policy = selection, retrain
        self.deletion_probs = tuple(deletion_probs) or (1.0 / slices,) * slices
        self.lr, self.epochs, self.batch_size, self.seed = lr, epochs, batch_size, seed
        self.head_name = layers[-1]
        below = layers[:-1][::-1]  # top-down
        per_group = len(below) // slices  # the official num_loras = layers // slices
        self.groups = [below[k * per_group : (k + 1) * per_group] for k in range(slices)]
        config = LoraConfig(r=rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout, use_rslora=True,
                            target_modules=[t for g in self.groups for t in lora_targets(model, g)])
        self.net = inject_adapter_in_model(config, copy.deepcopy(model))
        self.net.requires_grad_(False)
        self.initial = {k: v.clone() for k, v in self.net.state_dict().items()}
        self.dataset: Dataset | None = None
        self.members: list[np.ndarray] = []  # per shard: its L slices' dataset indices
        self.orders: list[list[list[int]]] = []  # per shard: the B trained orders
        self.live: list[list[list[int]]] = []  # per shard: the surviving prefixes (cut orders)
        self.checkpoints: list[dict[tuple[int, ...], dict[str, torch.Tensor]]] = []  # per shard: prefix -> trained state
        self.trained_on: list[dict[tuple[int, ...], np.ndarray]] = []  # per shard: prefix -> indices its stages saw
        self.slice_of: dict[int, tuple[int, int]] = {}  # undeleted training index -> (shard, slice)
        self.deleted: set[int] = set()
        self.retrains = 0

    # ----------------------------------------------------------------- training
    def stage_parameters(self, stage: int) -> dict[str, nn.Parameter]:
        """The parameters stage ``stage`` trains: the head and group ``stage``'s LoRA."""
        group = self.groups[stage]
        return {n: p for n, p in self.net.named_parameters()
                if n.split(".")[0] == self.head_name or ("lora_" in n and n.split(".")[0] in group)}

    def _train_stage(self, indices: np.ndarray, stage: int, seed: int) -> None:
        params = self.stage_parameters(stage)
        for p in params.values():
            p.requires_grad_(True)
        optimizer = torch.optim.AdamW(params.values(), lr=self.lr)
        gen = torch.Generator().manual_seed(seed)
        device = next(self.net.parameters()).device
        loader = DataLoader(Subset(self.dataset, indices.tolist()), self.batch_size, shuffle=True, generator=gen)
        self.net.train()
        for m in self.net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()  # frozen backbone: its normalisation statistics stay
        for _ in trange(self.epochs, "S3T slice", unit="epoch"):
            for x, y in loader:
                loss = task_loss(self.task, self.net(x.to(device)), y.to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        for p in params.values():
            p.requires_grad_(False)
        self.net.eval()

    def _trainable_state(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in self.net.named_parameters() if n.split(".")[0] == self.head_name or "lora_" in n}

    def _orders(self) -> list[list[int]]:
        if self.selection == "sisa":
            return [list(range(self.slices))]
        if self.selection == "bms":
            return bms_orders(list(self.deletion_probs), self.budget)
        return cyclic_orders(self.slices, self.budget)

    def train_shard(self, shard: int) -> None:
        """Train every order of ``shard`` from the frozen weights on its current (undeleted) samples."""
        slices = np.array_split(self.members[shard], self.slices)
        self.orders[shard], self.checkpoints[shard], self.trained_on[shard] = self._orders(), {}, {}
        for b, order in enumerate(self.orders[shard]):
            self.net.load_state_dict(self.initial)
            reinitialise(getattr(self.net, self.head_name), self.seed + 1000 * shard + b)
            for stage in range(self.slices):
                prefix = tuple(order[: stage + 1])
                seen = np.concatenate([slices[s] for s in prefix])
                if prefix not in self.checkpoints[shard]:  # orders sharing a prefix share its stages
                    self._train_stage(seen, stage, self.seed + 7919 * shard + 31 * b + stage)
                    self.checkpoints[shard][prefix] = self._trainable_state()
                    self.trained_on[shard][prefix] = seen
                else:
                    self.net.load_state_dict(self.checkpoints[shard][prefix], strict=False)
        self.live[shard] = [list(o) for o in self.orders[shard]]
        self.slice_of.update({int(i): (shard, s) for s, part in enumerate(slices) for i in part})

    def fit(self, dataset: Dataset) -> "S3T":
        """Split ``dataset`` into shards and slices (seeded) and train every shard."""
        self.dataset = dataset
        order = np.random.default_rng(self.seed).permutation(len(dataset))
        # shards and slices are random subsets: the members keep the permuted order (sorting them would make each
        # slice a contiguous index range, i.e. a few classes of a dataset stored class by class)
        self.members = list(np.array_split(order, self.shards))
        self.orders, self.live = [[] for _ in range(self.shards)], [[] for _ in range(self.shards)]
        self.checkpoints, self.trained_on = [{} for _ in range(self.shards)], [{} for _ in range(self.shards)]
        self.slice_of, self.deleted, self.retrains = {}, set(), 0
        for shard in trange(self.shards, "S3T shards", unit="shard"):
            self.train_shard(shard)
        return self

    # ----------------------------------------------------------------- deletion and serving
    def delete(self, index: int) -> bool:
        """Delete the sample ``index`` of the training dataset; returns whether its shard was retrained."""
        index = int(index)
        if index not in self.slice_of:
            raise ValueError(f"index: expected a training sample index that is not yet deleted, received {index}")
        shard, slice_id = self.slice_of.pop(index)
        self.deleted.add(index)
        self.members[shard] = self.members[shard][self.members[shard] != index]
        self.live[shard] = cut(self.live[shard], slice_id)
        if self.retrain_policy == "every_deletion" or (self.retrain_policy == "when_dead" and not self.live[shard]):
            for i in self.members[shard]:
                self.slice_of.pop(int(i), None)
            self.train_shard(shard)
            self.retrains += 1
            return True
        return False

    def served(self) -> dict[int, tuple[int, ...]]:
        """Shard -> the prefix it serves (its longest surviving one); shards with none are absent."""
        return {shard: tuple(max(live, key=len)) for shard, live in enumerate(self.live) if live}

    def served_samples(self) -> np.ndarray:
        """Every training index that some stage of a served prefix was trained on."""
        seen = [self.trained_on[shard][prefix] for shard, prefix in self.served().items()]
        return np.unique(np.concatenate(seen)) if seen else np.empty(0, dtype=np.int64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of the served models' outputs. Shape: the wrapped network's."""
        served = self.served()
        if not served:
            raise ValueError("S3T: every shard's sequences are deleted (retrain='never'); no model left to serve")
        outputs = []
        for shard, prefix in served.items():
            self.net.load_state_dict(self.checkpoints[shard][prefix], strict=False)
            outputs.append(self.net(x))
        return torch.stack(outputs).mean(0)

    def run(self, data: UnlearningData) -> "S3T":
        """Train on the forget and retain samples, then delete every forget sample; returns the served ensemble."""
        self.fit(ConcatDataset([data.forget, data.retain]))
        for i in range(len(data.forget)):
            self.delete(i)
        return self.eval()

    def extra_repr(self) -> str:
        return f"shards={self.shards}, slices={self.slices}, sequences={self.budget}, selection={self.selection!r}, retrain={self.retrain_policy!r}"

