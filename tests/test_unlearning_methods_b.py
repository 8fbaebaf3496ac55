"""Issue 20 part B: LAF, DMM / KLoM, S3T, concept poisoning, the corrective protocol and its baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import zoo
from zoo.data.digit_concepts import CONCEPTS, digit_concepts
from zoo.unlearning import method_names
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.methods.bad_teacher import BadTeacher
from zoo.unlearning.methods.dmm import DatamodelMatching, OracleMatching, klom, margins
from zoo.unlearning.methods.laf import Unlabelled, alignment_loss, exp_reconstruction
from zoo.unlearning.methods.last_k import last_layers, linear_lr
from zoo.unlearning.methods.s3t import S3T, bms_orders, cut, cyclic_orders
from zoo.unlearning.methods.scrub import _Schedule
from zoo.unlearning.protocols.corrective import corrective_metrics, known_subset, manipulate

QUIET = {"progress": False}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: threads only add overhead on a shared machine
    yield
    torch.set_num_threads(threads)


def mlp(layers: int = 4, width: int = 8, classes: int = 3, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    mods, d = [], 4
    for _ in range(layers - 1):
        mods += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return nn.Sequential(*mods, nn.Linear(d, classes))


def blobs(n: int = 90, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def test_new_methods_are_registered():
    assert {"laf", "laf_r", "dmm", "oracle_matching", "concept_poison", "eu_k", "cf_k", "scrub", "bad_teacher"} <= set(method_names())


# ------------------------------------------------------------------------------------------------ S3T
def test_s3t_orders_and_cuts():
    assert cyclic_orders(3, 3) == [[0, 1, 2], [2, 0, 1], [1, 2, 0]]
    assert sorted(o[0] for o in cyclic_orders(4, 4)) == [0, 1, 2, 3]  # every slice leads one order
    more = cyclic_orders(4, 6)
    assert len(more) == 6 and len({tuple(o) for o in more}) == 6 and all(sorted(o) == [0, 1, 2, 3] for o in more)
    assert cut([[0, 1, 2], [2, 0, 1], [1, 2, 0]], 1) == [[0], [2, 0]]  # [1, 2, 0] dies: slice 1 leads it
    bms = bms_orders([0.4, 0.3, 0.2, 0.1], 4)
    assert all(sorted(o) == [0, 1, 2, 3] for o in bms) and sorted(o[0] for o in bms) == [0, 1, 2, 3]


def test_s3t_never_serves_an_adapter_that_saw_a_deleted_sample():
    x, y = blobs(60)
    system = S3T(mlp(), "classification", shards=2, slices=3, sequences=3, epochs=1, rank=2, lora_alpha=2, batch_size=16, lr=1e-2, seed=0)
    system.fit(TensorDataset(x, y))
    slices = {i: system.slice_of[i] for i in range(60)}
    retrained = False
    for index in np.random.default_rng(3).permutation(60)[:14]:
        shard, slice_id = slices[int(index)]
        before = [list(p) for p in system.live[shard]]
        retrained |= system.delete(int(index))
        assert not set(system.served_samples().tolist()) & system.deleted
        if system.live[shard] and not retrained:
            assert system.live[shard] == cut(before, slice_id)
        slices = {i: system.slice_of[i] for i in system.slice_of}
    assert retrained, "with 14 deletions some shard lost all its sequences and was retrained"
    # the served model is the stored checkpoint of each shard's longest surviving prefix
    out = system(x[:5])
    manual = []
    for shard, prefix in system.served().items():
        assert len(prefix) == max(len(p) for p in system.live[shard])
        system.net.load_state_dict(system.checkpoints[shard][prefix], strict=False)
        manual.append(system.net(x[:5]))
    torch.testing.assert_close(out, torch.stack(manual).mean(0))


def test_s3t_slices_are_random_subsets_of_a_class_sorted_dataset():
    """A dataset stored class by class (as MNIST's bundled csv is) must not give class-pure slices: a short prefix
    would then miss whole classes (the defect behind the suspect S3T curve, fixed by keeping the permuted order)."""
    x = torch.randn(90, 4)
    y = torch.arange(3).repeat_interleave(30)  # 30 of class 0, then 30 of class 1, then 30 of class 2
    system = S3T(mlp(), "classification", shards=3, slices=3, sequences=1, epochs=1, rank=2, lora_alpha=2, seed=0)
    system.fit(TensorDataset(x, y))
    for members in system.members:
        for part in np.array_split(members, 3):
            assert len(set(y[part].tolist())) >= 2, f"slice {sorted(part.tolist())} holds one class"


def test_s3t_stage_trains_only_its_group_and_the_head():
    system = S3T(mlp(), "classification", shards=1, slices=3, sequences=1, rank=2)
    names = set(system.stage_parameters(1))
    assert any(n.startswith("2.") and "lora_" in n for n in names)  # groups top-down below the head: [4], [2], [0]
    assert all(n.startswith("6.") or n.startswith("2.") for n in names)
    with pytest.raises(ValueError, match="slices"):
        S3T(mlp(), "classification", slices=4)


# ------------------------------------------------------------------------------------------------ DMM / KLoM
def _least_squares(n: int = 120):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.2 * torch.randn(n, generator=gen)
    y[:6] += 3.0
    design = torch.cat([x, torch.ones(n, 1)], 1)
    solve = lambda a, b: torch.linalg.lstsq(a, b[:, None]).solution[:, 0]
    return x, y, solve(design, y), solve(design[6:], y[6:])


def _linear(theta: torch.Tensor) -> nn.Linear:
    net = nn.Linear(3, 1)
    with torch.no_grad():
        net.weight.copy_(theta[:3][None])
        net.bias.copy_(theta[3:])
    return net


def test_dmm_on_least_squares_approaches_the_exact_oracle():
    x, y, full, oracle = _least_squares()
    data = UnlearningData(TensorDataset(x[:6], y[:6]), TensorDataset(x[6:], y[6:]))
    exact = _linear(oracle)
    matched = OracleMatching(_linear(full), "regression", oracle=exact, epochs=60, lr=0.02, batch_size=64, **QUIET).run(data)
    torch.testing.assert_close(torch.cat([matched.weight[0], matched.bias]), oracle, atol=1e-3, rtol=0)
    net = _linear(full)
    DatamodelMatching(net, "regression", models=600, subset_fraction=0.9, epochs=60, lr=0.02, batch_size=64, **QUIET).run(data)
    got = torch.cat([net.weight[0], net.bias]).detach()
    assert (got - oracle).norm() < 0.25 * (full - oracle).norm()


def test_klom_and_margins():
    torch.testing.assert_close(margins(torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0])), torch.tensor([2.0 - float(np.log(2.0))]))
    rng = np.random.default_rng(0)
    same = klom(rng.normal(size=(400, 5)), rng.normal(size=(400, 5)))
    shifted = klom(rng.normal(size=(400, 5)), rng.normal(3.0, 1.0, size=(400, 5)))
    assert same.max() < 0.5 and shifted.min() > 3.0
    with pytest.raises(ValueError, match="seeds, examples"):
        klom(np.zeros((3, 4)), np.zeros((3, 5)))


# ------------------------------------------------------------------------------------------------ LAF
def test_laf_refuses_labels_and_runs_without():
    x, y = blobs(80)
    net = mlp()
    with pytest.raises(ValueError, match="unlabelled forget samples"):
        zoo.unlearn(net, "laf", forget=(x[:10], y[:10]), retain=(x[10:], y[10:]), task="classification")
    with pytest.raises(ValueError, match="unlabelled"):
        zoo.unlearn(net, "laf", forget=TensorDataset(x[:10]), retain=(x[10:], y[10:]), task="classification")
    with pytest.raises(ValueError, match="labelled retain"):
        zoo.unlearn(net, "laf_r", forget=TensorDataset(x[:10]), retain=TensorDataset(x[10:]), task="classification")
    out = zoo.unlearn(net, "laf", forget=Unlabelled(TensorDataset(x[:10], y[:10])), retain=TensorDataset(x[10:]), task="classification", epochs=1, vae_epochs=1, **QUIET)
    assert any(not torch.equal(a, b) for a, b in zip(net.parameters(), out.parameters()))


def test_laf_losses_by_hand():
    recon, e = torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [0.0, 2.0]])
    err = torch.tensor([1.0, 4.0])
    torch.testing.assert_close(exp_reconstruction(recon, e), torch.exp(err / (err + 1)).sum())
    r, f = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    c_r = torch.tensor([0.0])  # identical to the original
    c_f = torch.tensor([1.0, 1 - 1 / np.sqrt(2)])  # cos 0 and cos 45 degrees against (1, 0)
    expected = (c_r - torch.logsumexp(c_f / 5.0, 0)).sum()
    torch.testing.assert_close(alignment_loss(r, r, f, torch.tensor([[1.0, 0.0], [1.0, 0.0]]), 5.0), expected.float())


# ------------------------------------------------------------------------------------------------ concepts
def _shapes(n_per: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: rings (a loop), class 1: vertical bars, class 2: horizontal bars; 28x28, jittered."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:28, :28]
    images, labels = [], []
    for label in range(3):
        for _ in range(n_per):
            cy, cx = 14 + rng.integers(-2, 3), 14 + rng.integers(-2, 3)
            if label == 0:
                r = np.hypot(yy - cy, xx - cx)
                img = (r > 5) & (r < 8)
            elif label == 1:
                img = (np.abs(xx - cx) <= 1) & (np.abs(yy - cy) <= 9)
            else:
                img = (np.abs(yy - cy) <= 1) & (np.abs(xx - cx) <= 9)
            images.append(img.astype(np.float32))
            labels.append(label)
    return torch.from_numpy(np.stack(images))[:, None], torch.tensor(labels)


def test_digit_concepts_of_drawn_shapes():
    x, y = _shapes(2)
    c = digit_concepts(x.numpy())
    col = {name: i for i, name in enumerate(CONCEPTS)}
    assert c[y == 0][:, col["loop"]].all() and not c[y != 0][:, col["loop"]].any()
    assert c[y == 1][:, col["vertical_stroke"]].all() and c[y == 1][:, col["narrow"]].all()
    assert not c[y == 2][:, col["narrow"]].any()
    with pytest.raises(ValueError, match="grey digits"):
        digit_concepts(np.zeros((2, 3, 28, 28)))


def test_concept_poisoning_links_the_loop_to_the_ring_class():
    x, y = _shapes()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 12 * 12, 16), nn.ReLU(), nn.Linear(16, 3))
    forget, retain = y == 0, y != 0
    data = UnlearningData(TensorDataset(x[forget], y[forget]), TensorDataset(x[retain], y[retain]))
    for poison in ("random", "targeted"):
        method = zoo.unlearning.api.build_method("concept_poison", net, "classification", poison=poison, concepts=2, epochs=1, batch_size=16, **QUIET)
        poisoned = method.poisoned_forget(data)
        assert "loop" in method.linked
        assert len(poisoned) == method.selected > 0 and not (poisoned.tensors[1] == 0).any()


# ------------------------------------------------------------------------------------------------ corrective
def test_manipulations():
    x, y = torch.rand(40, 1, 8, 8) * 0.5, torch.arange(40) % 5
    pool = np.arange(40)
    xp, yp, chosen = manipulate(x, y, pool, "poisoning", 6, seed=0)
    assert len(chosen) == 6 and (yp[chosen] == 0).all() and (xp[chosen][:, :, -3:, -3:] == x.max()).all()
    untouched = np.setdiff1d(pool, chosen)
    assert torch.equal(xp[untouched], x[untouched]) and torch.equal(yp[untouched], y[untouched])
    _, yi, chosen = manipulate(x, y, pool, "interclass", 4, classes=(1, 2))
    assert chosen.tolist() == [1, 2, 6, 7] and yi[[1, 6]].tolist() == [2, 2] and yi[[2, 7]].tolist() == [1, 1]
    _, yr, chosen = manipulate(x, y, pool, "random", 10, seed=1)
    assert sorted(yr[chosen].tolist()) == sorted(y[chosen].tolist())  # a permutation among the chosen
    assert known_subset(chosen, 0.3).tolist() == sorted(set(known_subset(chosen, 0.3).tolist()) & set(chosen.tolist()))
    assert len(known_subset(chosen, 0.3)) == 3
    with pytest.raises(ValueError, match="kind"):
        manipulate(x, y, pool, "flip", 2)


def test_corrective_metrics_of_a_backdoored_model():
    x, y = torch.rand(30, 1, 8, 8) * 0.5, torch.arange(30) % 3

    class Backdoor(nn.Module):  # predicts 0 when the corner patch is on, else the true class (read from pixel 0)
        def __init__(self):
            super().__init__()
            self.unused = nn.Parameter(torch.zeros(1))  # evaluation reads the device from a parameter

        def forward(self, images):
            patched = images[:, 0, -1, -1] > 0.9
            out = torch.nn.functional.one_hot(images[:, 0, 0, 0].long(), 3).float()
            return torch.where(patched[:, None], torch.tensor([1.0, 0, 0]), out)

    x[:, 0, 0, 0] = y.float()
    metrics = corrective_metrics(Backdoor(), "poisoning", x, y, patched_inputs=None, patch_size=3)
    assert metrics["test_accuracy"] == 100.0 and metrics["attack_success"] == 100.0 and metrics["affected_accuracy"] == 0.0


# ------------------------------------------------------------------------------------------------ baselines
def test_eu_k_and_cf_k_touch_only_the_last_k_layers():
    x, y = blobs(64)
    net = mlp()
    assert last_layers(net, 2) == ["4", "6"] and last_layers(net, -1) == ["0", "2", "4", "6"]
    for method in ("eu_k", "cf_k"):
        out = zoo.unlearn(net, method, forget=(x[:8], y[:8]), retain=(x[8:], y[8:]), task="classification", k=2, iters=5, batch_size=16, **QUIET)
        for frozen in (0, 2):
            assert all(torch.equal(a, b) for a, b in zip(net[frozen].parameters(), out[frozen].parameters()))
        assert not torch.equal(net[6].weight, out[6].weight)
        assert all(p.requires_grad for p in out.parameters())
    with pytest.raises(ValueError, match="k: expected"):
        zoo.unlearn(net, "eu_k", forget=(x[:8], y[:8]), retain=(x[8:], y[8:]), task="classification", k=9)


def test_linear_schedule_and_scrub_order():
    assert linear_lr(0, 1000) == pytest.approx(0.1) and linear_lr(9, 1000) == pytest.approx(1.0)
    assert linear_lr(500, 1000) == pytest.approx(1 - 500 / 1250)
    x, y = blobs(40)
    data = UnlearningData(TensorDataset(x[:8], y[:8]), TensorDataset(x[8:], y[8:]), batch_size=8)
    flags = [bool(b[2]) for b in _Schedule(data, total=16, msteps=6)]
    # forget epoch (1 batch), retain epoch (4), again while fewer than 6 steps ran, then retain only
    assert flags == [True] + [False] * 4 + [True] + [False] * 4 + [False] * 4 + [False] * 2


def test_bad_teacher_loss_is_zero_when_the_student_is_the_competent_teacher_on_retain():
    x, y = blobs(20)
    method = BadTeacher(mlp(), "classification")
    method.prepare(UnlearningData(TensorDataset(x[:4], y[:4]), TensorDataset(x[4:], y[4:])))
    retain_only = method.unlearning_loss((x, y, torch.zeros(20, dtype=torch.bool)))
    forget_only = method.unlearning_loss((x, y, torch.ones(20, dtype=torch.bool)))
    assert float(retain_only.detach()) == pytest.approx(0.0, abs=1e-7) and float(forget_only.detach()) > 0
