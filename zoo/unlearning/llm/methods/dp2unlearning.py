"""DP2Unlearning (Al Mahmud et al., Neural Networks 2025): unlearning by fine-tuning a disclosure-protected base.

1. **DP base.** A model of the served model's architecture trained with DP-SGD (opacus: Poisson sampling, per-sample
   clipping at 1.0, Gaussian noise for the target ``(epsilon, delta)`` = (0.5, 1e-12) over 10 epochs, SGD lr 5e-5,
   weight decay 0.01, batch 16; ``tamimalmahmud/DP2Unlearning@HEAD:config/Train_dp_SGD.yaml``) on the whole training
   data ``D = D_f u D_r``. It is trained once per (data fingerprint, architecture, settings) and cached
   (:mod:`zoo.unlearning.cache`, under ``$ZOO_CACHE/unlearning/llm_dp``). The official code starts from a pretrained
   LM; a model without pretraining (the zoo's tiny LMs) starts from a fresh seeded initialisation.
2. **Served model** (:func:`served_model`): the DP base fine-tuned without DP on ``D`` (5 epochs, lr 5e-5, batch 4 x 4,
   weight decay 0.01; ``config/FT_BaseModel.yaml``).
3. **Unlearning** (``zoo.unlearn(model, "dp2unlearning", forget=D_f, retain=D_r)``): the DP base fine-tuned on
   ``D_r`` with the same settings, written into the given model. ``D_f`` then enters the result only through the
   ``epsilon``-DP base.

The unlearned network carries ``dp2unlearning`` (a dict): the accountant's ``epsilon`` at ``delta``, the noise
multiplier, the DP base's training seconds (the cached one's, when read back) and the fine-tune's wall seconds.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from zoo.core.progress import trange
from zoo.unlearning.llm.base import LMUnlearner, mean_nll, register
from zoo.unlearning.llm.data import collate

TINY = {"dp_optimizer": "adam", "dp_lr": 3e-3, "dp_epochs": 10, "dp_batch_size": 16, "lr": 3e-3, "epochs": 20, "batch_size": 32}
"""The tiny LM's settings. The paper's DP-SGD (SGD at lr 5e-5) starts from a pretrained LM; the tiny LM has none, so its
DP base is trained from scratch with AdamW at the recipe's lr 3e-3. The fine-tunes run at the recipe's lr and batch (3e-3,
32) for 20 epochs, half the recipe's 40 (the paper fine-tunes 5 epochs where retraining takes 10), instead of lr 5e-5,
5 epochs, batch 16. epsilon 0.5, delta 1e-12, clipping 1.0, 10 DP epochs at batch 16: the paper's."""


def dataset_fingerprint(*datasets: Dataset) -> str:
    """A hash of the examples' tokens and labels, independent of their order and of how they are split."""
    rows = sorted(hashlib.sha256(repr((ex["input_ids"].tolist(), ex["labels"].tolist())).encode()).hexdigest() for ds in datasets for ex in (ds[i] for i in range(len(ds))))
    return "tokens:" + hashlib.sha256("".join(rows).encode()).hexdigest()[:24]


def check_private(model: nn.Module) -> None:
    """Raise ValueError naming the modules opacus cannot train privately (e.g. BatchNorm, which mixes samples)."""
    from opacus.validators import ModuleValidator

    was_training = model.training
    try:
        errors = ModuleValidator.validate(model.train(), strict=False)  # it also asks for training mode
    finally:
        model.train(was_training)
    if errors:
        raise ValueError(f"model: expected modules opacus can compute per-sample gradients of (no BatchNorm, no shared statistics), received {type(model).__name__} with: " + "; ".join(str(e) for e in errors))


def accounted_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """The RDP accountant's epsilon of ``steps`` Poisson-sampled DP-SGD steps."""
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    accountant.history = [(noise_multiplier, sample_rate, steps)]
    return float(accountant.get_epsilon(delta))


def _sequence_mean_nll(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over sequences of each sequence's mean answer NLL (every sample's loss depends on its tokens only)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    nll = F.cross_entropy(logits.transpose(1, 2).float(), labels, ignore_index=-100, reduction="none")
    return (nll.sum(-1) / (labels != -100).sum(-1).clamp_min(1)).mean()


def dp_sgd_train(
    net: nn.Module,
    data: Dataset,
    target_epsilon: float = 0.5,
    target_delta: float = 1e-12,
    max_grad_norm: float = 1.0,
    epochs: int = 10,
    lr: float = 5e-5,
    batch_size: int = 16,
    weight_decay: float = 0.01,
    optimizer: str = "sgd",
    noise_multiplier: float | None = None,
    seed: int = 0,
) -> tuple[nn.Module, dict[str, float]]:
    """Train a fresh copy of ``net``'s architecture (seeded initialisation) on ``data`` with DP-SGD (opacus).

    Args:
        net: a transformers causal LM (its class and config are used, not its weights).
        data: answer-labelled examples.
        optimizer: ``"sgd"`` (the paper's) or ``"adam"``.
        noise_multiplier: a fixed noise multiplier instead of the one ``target_epsilon`` needs (the accountant then
            reports the epsilon it gives).

    Returns:
        The trained network and ``{"epsilon", "delta", "noise_multiplier", "sample_rate", "steps"}``.

    Raises:
        ValueError: a model opacus cannot train privately (:func:`check_private`).
    """
    from opacus import PrivacyEngine

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = type(net)(copy.deepcopy(net.config)) if hasattr(net, "config") else copy.deepcopy(net)
        if not hasattr(net, "config"):
            for m in fresh.modules():
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
    fresh = fresh.to(next(net.parameters()).device).train()
    check_private(fresh)
    device = next(fresh.parameters()).device
    loader = DataLoader(data, batch_size=batch_size, collate_fn=lambda ex: collate(data, ex), generator=torch.Generator().manual_seed(seed))
    opt_cls = {"sgd": torch.optim.SGD, "adam": torch.optim.AdamW}
    if optimizer not in opt_cls:
        raise ValueError(f"optimizer: expected 'sgd' or 'adam', received {optimizer!r}")
    opt = opt_cls[optimizer](fresh.parameters(), lr=lr, weight_decay=weight_decay)
    engine = PrivacyEngine(accountant="rdp", secure_mode=False)
    common = dict(module=fresh, optimizer=opt, data_loader=loader, max_grad_norm=max_grad_norm, poisson_sampling=True, noise_generator=torch.Generator(device=device).manual_seed(seed))
    if noise_multiplier is None:
        private, opt, loader = engine.make_private_with_epsilon(epochs=epochs, target_epsilon=target_epsilon, target_delta=target_delta, **common)
    else:
        private, opt, loader = engine.make_private(noise_multiplier=noise_multiplier, **common)
    steps = 0
    for _ in trange(epochs, "dp-sgd", unit="epoch"):
        for batch in loader:
            if not isinstance(batch, dict) or batch["input_ids"].shape[0] == 0:  # an empty Poisson batch: the noise-only step is still accounted
                opt.zero_grad(set_to_none=True)
                opt.step()
                steps += 1
                continue
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = _sequence_mean_nll(private, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    info = {
        "epsilon": float(engine.get_epsilon(target_delta)),
        "delta": target_delta,
        "noise_multiplier": float(opt.noise_multiplier),
        "sample_rate": 1 / len(loader),
        "steps": steps,
    }
    trained = private._module
    for p in trained.parameters():  # opacus leaves per-sample gradients on the parameters
        p.grad_sample = None
        p.grad = None
    return trained.eval(), info


@register("dp2unlearning")
class DP2Unlearning(LMUnlearner):
    """Fine-tune a DP-SGD base on the retain set.

    Args:
        target_epsilon, target_delta: the DP base's privacy budget (0.5, 1e-12).
        max_grad_norm: per-sample clipping (1.0).
        dp_epochs, dp_lr, dp_batch_size, dp_weight_decay, dp_optimizer: the DP base's training (10, 5e-5, 16, 0.01, "sgd").
        noise_multiplier: a fixed noise multiplier instead of the one the target epsilon needs (None).
        lr, epochs, batch_size, weight_decay: the non-private fine-tune (5e-5, 5, 16, 0.01).
        cache: cache the DP base (True).
    """

    needs_retain = True

    def __init__(self, target_epsilon: float = 0.5, target_delta: float = 1e-12, max_grad_norm: float = 1.0, dp_epochs: int = 10, dp_lr: float = 5e-5, dp_batch_size: int = 16, dp_weight_decay: float = 0.01, dp_optimizer: str = "sgd", noise_multiplier: float | None = None, cache: bool = True, lr: float = 5e-5, epochs: int = 5, batch_size: int = 16, weight_decay: float = 0.01, **kwargs) -> None:
        super().__init__(lr=lr, epochs=epochs, batch_size=batch_size, weight_decay=weight_decay, **kwargs)
        self.dp = dict(target_epsilon=target_epsilon, target_delta=target_delta, max_grad_norm=max_grad_norm, epochs=dp_epochs, lr=dp_lr, batch_size=dp_batch_size, weight_decay=dp_weight_decay, optimizer=dp_optimizer, noise_multiplier=noise_multiplier, seed=self.seed)
        self.cache = cache
        self.report: dict[str, Any] = {}

    def loss(self, model, forget, retain):
        return mean_nll(model, forget)  # the loop's "forget" batches are the fine-tuning data here

    def dp_base(self, net: nn.Module, data: Dataset) -> tuple[nn.Module, dict[str, float]]:
        """The DP base of ``data`` (cached), and its privacy accounting and training seconds."""
        from zoo.unlearning.cache import cache_dir, cached_network, entry_key

        check_private(net)
        if not self.cache:
            start = time.perf_counter()
            base, info = dp_sgd_train(net, data, **self.dp)
            return base, {**info, "dp_base_seconds": time.perf_counter() - start}
        fingerprint = dataset_fingerprint(data)
        settings = sorted(self.dp.items())
        trained: dict[str, float] = {}

        def train():
            start = time.perf_counter()
            base, info = dp_sgd_train(net, data, **self.dp)
            trained.update(info)
            return base, time.perf_counter() - start

        base, seconds = cached_network(cache_dir() / "llm_dp", entry_key(fingerprint, net, settings), fingerprint, net, train, dict(settings))
        info = dict(trained) or self._accounting(len(data))
        return base, {**info, "dp_base_seconds": seconds, "cached": not trained}

    def _accounting(self, n: int) -> dict[str, float]:
        """The accounting of a cached base, recomputed (the noise multiplier and steps follow from the settings)."""
        from opacus.accountants.utils import get_noise_multiplier

        sample_rate = 1 / math.ceil(n / self.dp["batch_size"])  # opacus: one over the non-private loader's length
        steps = self.dp["epochs"] * math.ceil(n / self.dp["batch_size"])
        sigma = self.dp["noise_multiplier"] or get_noise_multiplier(target_epsilon=self.dp["target_epsilon"], target_delta=self.dp["target_delta"], sample_rate=sample_rate, epochs=self.dp["epochs"], accountant="rdp")
        eps = accounted_epsilon(sigma, sample_rate, steps, self.dp["target_delta"])
        return {"epsilon": eps, "delta": self.dp["target_delta"], "noise_multiplier": sigma, "sample_rate": sample_rate, "steps": steps}

    def finetune(self, net: nn.Module, base: nn.Module, data: Dataset) -> nn.Module:
        """Load ``base``'s weights into ``net`` and fine-tune it (non-private) on ``data``, in place."""
        net.load_state_dict(base.state_dict())
        needs, self.needs_retain = self.needs_retain, False  # the loop's own retain pairing is not used
        try:
            return super().run(net, data, None)
        finally:
            self.needs_retain = needs

    def run(self, model: nn.Module, forget, retain) -> nn.Module:
        if retain is None or not len(retain):
            raise ValueError("retain: dp2unlearning needs a retain set, received None")
        base, info = self.dp_base(model, _joined(forget, retain))
        start = time.perf_counter()
        self.finetune(model, base, retain)
        self.report = {**info, "finetune_seconds": time.perf_counter() - start}
        model.dp2unlearning = dict(self.report)
        return model


class _Joined(Dataset):
    """Two answer-labelled datasets as one (the first's collate)."""

    def __init__(self, a: Dataset, b: Dataset) -> None:
        self.a, self.b = a, b

    def __len__(self):
        return len(self.a) + len(self.b)

    def __getitem__(self, i):
        return self.a[i] if i < len(self.a) else self.b[i - len(self.a)]

    def collate(self, examples):
        return collate(self.a, examples)


def _joined(a: Dataset, b: Dataset) -> Dataset:
    return _Joined(a, b)


def served_model(net: nn.Module, forget, retain, **hparams) -> tuple[nn.Module, dict[str, Any]]:
    """DP2Unlearning's served model: the (cached) DP base of ``D = forget u retain`` fine-tuned on ``D``.

    Args:
        net: the architecture (a transformers causal LM; it is not changed).
        forget, retain: answer-labelled datasets.
        hparams: :class:`DP2Unlearning`'s.

    Returns:
        The served network and ``{"epsilon", ..., "dp_base_seconds", "finetune_seconds"}``.
    """
    method = DP2Unlearning(**hparams)
    data = _joined(forget, retain)
    base, info = method.dp_base(net, data)
    start = time.perf_counter()
    served = method.finetune(copy.deepcopy(net), base, data)
    return served, {**info, "finetune_seconds": time.perf_counter() - start}
