"""The project's epoch-seeded samplers: one order per (seed, epoch), the skip a mid-epoch resume asks for, and the resumed
batches against an uninterrupted run's."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from zoo.data.acdc import TripleShuffleSampler
from zoo.data.samplers import ResumeMidEpoch, SeededShuffleSampler
from zoo.unlearning.data import ForgetThenRetainBatches


def test_skip_next_leaves_out_the_first_items_of_the_next_iteration_only():
    for sampler in (SeededShuffleSampler(7, seed=3), TripleShuffleSampler((7, 3, 2), seed=3)):
        sampler.set_epoch(2)
        full = list(sampler)
        assert list(sampler) == full and len(full) == len(sampler) == 7
        sampler.skip_next(3)
        assert list(sampler) == full[3:]
        assert list(sampler) == full  # the skip was for one iteration
        sampler.set_epoch(3)
        assert list(sampler) != full


def test_forget_then_retain_batches_skip_whole_batches_and_keep_their_order():
    sampler = ForgetThenRetainBatches(5, 4, batch_size=2, seed=1)
    sampler.set_epoch(2)
    gen = torch.Generator().manual_seed(3)
    forget, retain = torch.randperm(5, generator=gen).tolist(), (torch.randperm(4, generator=gen) + 5).tolist()
    expected = [forget[0:2], forget[2:4], forget[4:], retain[0:2], retain[2:]]
    assert list(sampler) == expected and len(sampler) == 5
    sampler.skip_next(3)
    assert list(sampler) == expected[3:]
    assert list(sampler) == expected


class _Recorder(L.LightningModule):
    """Records the batch of every step (a one-parameter model: what is trained does not matter here)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[tuple[int, str]] = []

    def configure_callbacks(self):
        return [ResumeMidEpoch()]

    def training_step(self, batch, batch_idx):
        x = batch[0] if isinstance(batch, list) else {k: v[0] for k, v in batch.items()}
        self.seen.append((self.global_step, repr(x.tolist() if isinstance(x, torch.Tensor) else {k: v.tolist() for k, v in x.items()})))
        return (self.w - 1).pow(2).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), 0.1)


def _loader(n: int, workers: int, batches: bool = False) -> DataLoader:
    if batches:  # the unlearning family's batch sampler: 5 forget then 4 retain samples
        return DataLoader(TensorDataset(torch.arange(9)), batch_sampler=ForgetThenRetainBatches(5, 4, 2, 0), num_workers=workers)
    return DataLoader(TensorDataset(torch.arange(n)), batch_size=2, sampler=SeededShuffleSampler(n, 0), num_workers=workers)


def _fit(steps, folder, ckpt_dir=None, resume=None, workers=0, limit=1.0, two=False, batches=False):
    model = _Recorder()
    data = {"a": _loader(8, workers), "b": _loader(4, workers)} if two else _loader(8, workers, batches)
    callbacks = [ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=1, save_top_k=-1)] if ckpt_dir else []
    L.Trainer(max_steps=steps, logger=False, enable_checkpointing=bool(ckpt_dir), callbacks=callbacks, enable_progress_bar=False, enable_model_summary=False,
              limit_train_batches=limit, accelerator="cpu", default_root_dir=folder).fit(model, data, ckpt_path=resume)
    return model.seen


@pytest.mark.parametrize("case, options, stop", [("plain", {}, 5), ("loader workers", {"workers": 2}, 5),
                                                  ("checkpoint closing a limited epoch", {"limit": 2}, 4),
                                                  ("a shorter loader cycled", {"two": True}, 7),
                                                  ("forget-then-retain batches", {"batches": True}, 3)])
def test_a_run_resumed_from_a_step_checkpoint_trains_on_the_batches_the_straight_run_does(tmp_path, case, options, stop):
    straight = _fit(10, tmp_path / "a", **options)
    _fit(stop, tmp_path / "b", ckpt_dir=tmp_path / "ckpt", **options)
    last = max((tmp_path / "ckpt").glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    assert _fit(10, tmp_path / "c", resume=str(last), **options) == straight[stop:], case


def test_zoo_modules_and_unlearners_add_the_resume_callback_to_every_fit():
    from zoo.models.digit_gan.module import DigitGAN
    from zoo.unlearning.methods.baselines import GradientAscent

    for module in (DigitGAN(), GradientAscent(torch.nn.Linear(2, 2), "classification")):
        assert any(isinstance(cb, ResumeMidEpoch) for cb in module.configure_callbacks()), type(module).__name__
