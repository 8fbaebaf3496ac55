"""zoo.unlearning, issue 20 part A: the audit's fixes (RL, the SVC MIA's non-members, Fisher's alpha, AIN's order),
prune-first, ACU, IAU, the representation columns and worst-case forget sets.

Fast: scikit-learn's 8x8 digits and a narrow All-CNN, as tests/test_unlearning.py.
"""

import copy
import importlib

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset

from zoo.models.convnets.model import AllCNN
from zoo.unlearning import UnlearningData, make_split
from zoo.unlearning.api import build_method
from zoo.unlearning.base import hyperparameters
from zoo.unlearning.evaluate import _attack_sets, relearn_steps


evaluate_module = importlib.import_module("zoo.unlearning.evaluate")  # the package exports a function of that name
FAST = {"epochs": 0.5, "batch_size": 128, "progress": False}


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return TensorDataset(torch.from_numpy(x).float().div(16.0).reshape(-1, 1, 8, 8), torch.from_numpy(y))


@pytest.fixture(scope="module")
def trained(digits):
    """A narrow All-CNN trained 3 Adam epochs on 1,400 digits, and the train / test indices."""
    torch.manual_seed(0)
    net = AllCNN(1, 10, filters_percentage=0.1)
    opt = torch.optim.Adam(net.parameters(), 0.01)
    train, test = np.arange(1400), np.arange(1400, len(digits))
    for _ in range(3):
        for x, y in DataLoader(Subset(digits, train.tolist()), 64, shuffle=True):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    return net.eval(), train, test


# ------------------------------------------------------------ the audit's fixes
def test_random_labels_passes_forget_then_retain_with_any_label(digits):
    """Unlearn-Sparse / SalUn RL (CIFAR-10 branch): per epoch all forget batches, then all retain batches, the forget
    labels uniform over every class. The old stream cycled the forget set next to each retain batch, never its own label."""
    forget, retain = Subset(digits, list(range(300))), Subset(digits, list(range(300, 1000)))
    data = UnlearningData(forget, retain, mode="sequential", batch_size=64, seed=3)
    batches = list(data.train_dataloader())
    flags = [bool(b[2][0]) for b in batches]
    assert flags == [True] * 5 + [False] * 11  # ceil(300 / 64) forget batches, then ceil(700 / 64) retain ones
    assert all(bool((b[2] == b[2][0]).all()) for b in batches)
    assert sum(len(b[0]) for b in batches if b[2][0]) == 300  # the forget set once per epoch, not cycled
    method = build_method("random_labels", nn.Linear(4, 10), "classification", num_classes=10)
    torch.manual_seed(0)
    y = torch.full((20000,), 3)
    drawn = method.random_targets(y)
    share_own = float((drawn == 3).float().mean())
    assert abs(share_own - 0.1) < 0.01  # the true class allowed, as uniform over 10 classes
    assert set(drawn.unique().tolist()) == set(range(10))


def test_random_labels_trains_on_random_forget_and_true_retain_labels(digits):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    method = build_method("random_labels", model, "classification", num_classes=10)
    x, y = digits.tensors[0][:8], digits.tensors[1][:8]
    retain_loss = method.unlearning_loss((x, y, torch.zeros(8, dtype=torch.bool)))
    torch.testing.assert_close(retain_loss, nn.functional.cross_entropy(model(x), y))
    torch.manual_seed(1)
    forget_loss = method.unlearning_loss((x, y, torch.ones(8, dtype=torch.bool)))
    torch.manual_seed(1)
    torch.testing.assert_close(forget_loss, nn.functional.cross_entropy(model(x), torch.randint(0, 10, y.shape)))


def test_svc_mia_non_members_exclude_the_forgotten_class(digits, trained, monkeypatch):
    """Unlearn-Sparse removes the forgotten class from the attack's test set; before, it was among the non-members."""
    net, train, test = trained
    split = make_split(digits.tensors[1].numpy(), train, test, "class:0")
    sets = _attack_sets(split, split.retain, split.test_retain)
    assert len(sets["non_members"]) == len(split.test_retain) and len(split.test_forget) > 0
    assert not set(sets["non_members"].tolist()) & set(split.test_forget.tolist())
    seen = []
    real = evaluate_module.svc_attack
    monkeypatch.setattr(evaluate_module, "svc_attack", lambda m, n, t: seen.append(len(n)) or real(m, n, t))
    evaluate_module.classification_metrics(net, digits, split)
    assert seen == [len(split.test_retain)] * 3  # confidence, entropy and loss attacks


def test_fisher_default_alpha_is_golatkars():
    assert hyperparameters(build_method("fisher", nn.Linear(2, 2), "classification").__class__)["alpha"] == 3e-6


def test_anamnesis_steps_before_checking(digits, trained):
    """The official AIN loop takes a step, then compares with the threshold: even a model already below it takes one."""
    net, train, test = trained
    reg = TensorDataset(digits.tensors[0], digits.tensors[1].float())
    split = make_split(reg.tensors[1].numpy(), train, test, "range:0:2")
    regressor = AllCNN(1, 1, filters_percentage=0.1).eval()
    assert relearn_steps(regressor, reg, split, threshold=float("inf")) == 1


# ------------------------------------------------------------------ prune first
def test_magnitude_pruning_is_global_conv_only_and_iterates_on_survivors():
    from zoo.unlearning.methods.prune import magnitude_masks, mask_sparsity, pruning_rounds

    net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.Conv2d(2, 2, 1, bias=False), nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([1.0, -5.0]).reshape(2, 1, 1, 1))
        net[1].weight.copy_(torch.tensor([0.5, 2.0, -3.0, 4.0]).reshape(2, 2, 1, 1))
    masks = magnitude_masks(net, 0.5)
    assert set(masks) == {"0.weight", "1.weight"}  # the linear head is never pruned
    assert masks["0.weight"].flatten().tolist() == [0.0, 1.0] and masks["1.weight"].flatten().tolist() == [0.0, 0.0, 1.0, 1.0]
    again = magnitude_masks(net, 0.34, masks)  # a third of the 3 survivors: the smallest, -3, goes
    assert again["1.weight"].flatten().tolist() == [0.0, 0.0, 0.0, 1.0] and again["0.weight"].flatten().tolist() == [0.0, 1.0]
    assert mask_sparsity(again) == pytest.approx(4 / 6)
    assert pruning_rounds(0.95, "omp", 0.2) == [0.95]
    rates = pruning_rounds(0.95, "imp", 0.2)
    assert rates[:-1] == [0.2] * 13 and np.prod([1 - r for r in rates]) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="schedule: expected"):
        pruning_rounds(0.9, "snip", 0.2)


@pytest.mark.parametrize("then", ["finetune", pytest.param("fisher", marks=pytest.mark.slow)])
def test_prune_first_keeps_the_mask_through_the_unlearning(digits, trained, then):
    net, train, test = trained
    split = make_split(digits.tensors[1].numpy(), train, test, "random:0.1")
    model = copy.deepcopy(net)
    hparams = {"epochs": 0.2, "batch_size": 128, "progress": False} if then == "finetune" else {"alpha": 1e-8}
    method = build_method("prune_first", model, "classification", sparsity=0.9, schedule="imp", imp_rate=0.7,
                          train_epochs=0.1, batch_size=128, progress=False, then=then, then_hparams=hparams)
    small = UnlearningData(Subset(digits, split.forget[:40].tolist()), Subset(digits, split.retain[:200].tolist()))
    method.run(small)  # small sets: the Fisher pass is 10 backward passes per batch
    convs = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    zero = sum(int((w == 0).sum()) for w in convs) / sum(w.numel() for w in convs)
    assert zero == pytest.approx(0.9, abs=0.002)
    for name, mask in method.masks.items():
        assert bool((dict(model.named_parameters())[name][mask == 0] == 0).all())
    assert not torch.equal(model.classifier[0].weight, net.classifier[0].weight)


# ------------------------------------------------------------------------- ACU
def _ridge(phi: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
    return torch.linalg.solve(phi.T @ phi + gamma * torch.eye(phi.shape[1], dtype=phi.dtype), phi.T @ y)


def test_acu_head_equals_a_ridge_refit_after_any_request_sequence():
    from zoo.unlearning.methods.acu import AnalyticHead

    torch.manual_seed(0)
    head = AnalyticHead(6, 3, expansion=40, gamma=0.5, seed=1)
    feats, y = torch.randn(120, 6, dtype=torch.float64), nn.functional.one_hot(torch.randint(0, 3, (120,)), 3).double()
    kept = torch.ones(120, dtype=torch.bool)
    for lo in range(0, 120, 30):  # learn in four batches
        head.learn(feats[lo : lo + 30], y[lo : lo + 30])
    rng = np.random.default_rng(0)
    for request in range(5):  # requests of random sizes, one more learning in between
        alive = np.flatnonzero(kept.numpy())
        gone = rng.choice(alive, int(rng.integers(1, 12)), replace=False)
        head.unlearn(feats[gone], y[gone])
        kept[gone] = False
        if request == 2:
            extra_x, extra_y = torch.randn(10, 6, dtype=torch.float64), nn.functional.one_hot(torch.randint(0, 3, (10,)), 3).double()
            head.learn(extra_x, extra_y)
            feats, y, kept = torch.cat([feats, extra_x]), torch.cat([y, extra_y]), torch.cat([kept, torch.ones(10, dtype=torch.bool)])
        phi = head.expand(feats[kept])
        torch.testing.assert_close(head.weight, _ridge(phi, y[kept], 0.5), atol=1e-6, rtol=0)
        torch.testing.assert_close(head.memory, torch.linalg.inv(phi.T @ phi + 0.5 * torch.eye(40, dtype=torch.float64)), atol=1e-6, rtol=0)


def test_acu_method_replaces_the_head_and_needs_only_the_forget_set_later(digits, trained):
    from zoo.unlearning.methods.acu import AnalyticHead

    net, train, test = trained
    split = make_split(digits.tensors[1].numpy(), train, test, "class:3")
    model = copy.deepcopy(net)
    build_method("acu", model, "classification", expansion=64, gamma=1.0).run(UnlearningData.from_split(digits, split))
    head = model.classifier[0]
    assert isinstance(head, AnalyticHead)
    feats = []
    handle = head.register_forward_pre_hook(lambda _m, a: feats.append(a[0]))
    with torch.no_grad():
        model(digits.tensors[0][split.retain])
    handle.remove()
    phi = head.expand(feats[0])
    y = nn.functional.one_hot(digits.tensors[1][split.retain], 10).double()
    torch.testing.assert_close(head.weight, _ridge(phi, y, 1.0), atol=1e-6, rtol=0)
    with torch.no_grad():
        assert (model(digits.tensors[0][split.test_forget]).argmax(1) == 3).float().mean() < 0.2
    # a second request: forget class 5 too, from the forget samples alone (the retain set given is never read)
    second = Subset(digits, [int(i) for i in split.retain if digits.tensors[1][i] == 5])
    build_method("acu", model, "classification").run(UnlearningData(second, Subset(digits, [0])))
    assert model.classifier[0] is head


# ------------------------------------------------------------------------- IAU
def test_iau_single_step_by_hand():
    """One Adam step from zero state on g = grad mean CE(D_r) - grad mean CE(D_f): theta - lr * g / (|g| + eps)
    (bias-corrected first step)."""
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    xr, yr, xf, yf = torch.randn(7, 3), torch.randint(0, 2, (7,)), torch.randn(5, 3), torch.randint(0, 2, (5,))
    before = [p.detach().clone() for p in model.parameters()]
    g = [a - b for a, b in zip(torch.autograd.grad(nn.functional.cross_entropy(model(xr), yr), list(model.parameters())),
                               torch.autograd.grad(nn.functional.cross_entropy(model(xf), yf), list(model.parameters())))]
    build_method("iau", model, "classification", lr=1e-3, batch_size=2).run(UnlearningData(TensorDataset(xf, yf), TensorDataset(xr, yr)))
    for p, p0, gi in zip(model.parameters(), before, g):
        torch.testing.assert_close(p.detach(), p0 - 1e-3 * gi / (gi.abs() + 1e-8), atol=1e-7, rtol=1e-5)


def test_gradient_restriction_loss_adds_the_gradient_norms_and_is_differentiable():
    from zoo.unlearning.methods.iau import gradient_restriction_loss

    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
    x = torch.tensor([[1.0, 0.0]])
    loss = model(x).pow(2).sum()  # (w1)^2: gradient (2 w1, 0) = (2, 0), norm 2
    total = gradient_restriction_loss(model, loss, alpha=0.5)
    assert float(total) == pytest.approx(1.0 + 0.5 * 2.0)
    (grad,) = torch.autograd.grad(total, [model.weight])
    torch.testing.assert_close(grad, torch.tensor([[2.0 + 0.5 * 2.0, 0.0]]))  # d/dw1 of w1^2 + 0.5 * 2|w1|


# ------------------------------------------------------------ evaluation protocols
def test_capped_simplex_projection_stays_on_the_simplex_and_is_the_nearest_point():
    from zoo.unlearning.worst_case import project_capped_simplex

    torch.manual_seed(0)
    for k in (1, 3.5, 7):
        w = torch.randn(10, dtype=torch.float64) * 2
        v = project_capped_simplex(w, k)
        assert float(v.sum()) == pytest.approx(k, abs=1e-9) and bool((v >= 0).all() and (v <= 1).all())
        for _ in range(20):  # no other point of the set is nearer (the set is convex: compare with random feasible ones)
            other = project_capped_simplex(torch.rand(10, dtype=torch.float64) * 3 - 1, k)
            assert float((w - v).norm()) <= float((w - other).norm()) + 1e-9
    inside = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    torch.testing.assert_close(project_capped_simplex(inside, 1.0), inside)
    with pytest.raises(ValueError, match="k: expected a budget"):
        project_capped_simplex(inside, 4.0)


def test_worst_case_selection_returns_k_candidates_data_and_class_wise(digits, trained):
    from zoo.unlearning.worst_case import select_worst_case, select_worst_classes

    net, train, _ = trained
    candidates = train[:300]
    chosen, w = select_worst_case(net, digits, candidates, 30, inner="random_labels", select_epochs=1, unlearn_steps=1, w_lr=1.0)
    assert len(chosen) == 30 and set(chosen) <= set(candidates.tolist()) and float(w.sum()) == pytest.approx(30)
    # the chosen samples are those of the lowest loss after the weighted unlearning: below the average loss
    classes, cw = select_worst_classes(net, digits, candidates, 2, select_epochs=1, unlearn_steps=1, w_lr=1.0)
    assert len(classes) == 2 and float(cw.sum()) == pytest.approx(2) and len(cw) == 10


def test_cka_and_representation_columns(digits, trained):
    from zoo.unlearning.representation import linear_cka, representation_columns

    x = torch.randn(50, 8, dtype=torch.float64)
    rotation, _ = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64))
    assert linear_cka(x, 3.0 * x @ rotation) == pytest.approx(1.0)
    assert linear_cka(x, torch.randn(50, 8, dtype=torch.float64)) < 0.5
    net, train, test = trained
    split = make_split(digits.tensors[1].numpy(), train, test, "class:0")
    changed = copy.deepcopy(net)
    with torch.no_grad():
        changed.classifier[0].weight.mul_(-1.0)  # only the head changes
    loops = np.isin(digits.tensors[1].numpy(), (0, 6, 8, 9)).astype(int)
    cols = representation_columns({"original": net, "retrain": AllCNN(1, 10, filters_percentage=0.1).eval(), "head only": changed},
                                  digits, split, probe_targets=loops)
    assert cols["original"]["cka_original"] == pytest.approx(1.0)
    assert all(cols["head only"][f"cka_original@conv{i}"] == pytest.approx(1.0) for i in range(1, 9))
    assert cols["retrain"]["cka_original@conv8"] < 0.99
    assert cols["original"]["knn_forget_accuracy"] > 50 and 0 <= cols["head only"]["probe_accuracy"] <= 100
