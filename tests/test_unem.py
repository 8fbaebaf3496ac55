"""UNEM: parity with the official forward (both variants), official parameter files, input checks, fused E-step."""

import itertools

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import zoo

CASES = {"gaussian": "unem_gaussian", "gaussian_repo_params": "unem_gaussian", "dirichlet": "unem_dirichlet", "dirichlet_repo_params": "unem_dirichlet"}


def _fixture(parity_dir, case):
    folder = parity_dir / "unem" / case
    return folder, load_file(str(folder / "input.safetensors")), load_file(str(folder / "output.safetensors"))


@pytest.mark.parametrize("case", ["gaussian", "gaussian_repo_params"])
def test_gaussian_parity_fp32_fp64_loss_and_grads(parity_dir, case, tmp_path):
    folder, x, out = _fixture(parity_dir, case)
    params = load_file(str(folder / "params.safetensors"))
    pt = tmp_path / "U_PADDLE_EMBT_L_5shots.pt"
    torch.save(params, pt)
    model = zoo.load("unem_gaussian", weights=pt, official=True)
    inputs = (x["support_features"], x["support_labels"], x["query_features"])
    per_layer = model.net(*inputs, return_all=True)
    assert (torch.stack(per_layer) - out["U_per_layer"]).abs().max() <= 1e-5
    assert torch.equal(per_layer[-1].argmax(2), out["predictions"])
    loss = model.task_loss(per_layer[-1], x["query_labels"])
    assert abs(loss.item() - out["train_loss"].item()) <= 1e-5
    if case == "gaussian":
        loss.backward()
        for name, p in model.net.named_parameters():
            assert abs(float(p.grad) - float(out[f"grad.{name}"])) <= 1e-4, name
    model64 = zoo.load("unem_gaussian", weights=folder / "params.safetensors", official=True).double()
    with torch.no_grad():
        per_layer64 = model64.net(x["support_features"].double(), x["support_labels"], x["query_features"].double(), return_all=True)
    assert (torch.stack(per_layer64) - out["U_per_layer_fp64"]).abs().max() <= 1e-10


@pytest.mark.parametrize("case", ["dirichlet", "dirichlet_repo_params"])
def test_dirichlet_parity_fp64(parity_dir, case):
    folder, x, out = _fixture(parity_dir, case)
    model = zoo.load("unem_dirichlet", weights=folder / "params.safetensors", official=True).double()
    with torch.no_grad():
        trace = model.net(x["support_features"].double(), x["support_labels"], x["query_features"].double(), return_all=True)
        u32 = model.float()(x["support_features"], x["support_labels"], x["query_features"])
    assert (torch.stack(trace["U"]) - out["U_per_layer_fp64"]).abs().max() <= 1e-8
    expected_alpha = out["alpha_per_layer_fp64"]
    assert ((torch.stack(trace["alpha"]) - expected_alpha).abs() / expected_alpha.abs()).max() <= 1e-8
    ybar = out["ybar_per_layer_fp64"]
    assert ((torch.stack(trace["ybar"]) - ybar).abs() / ybar.abs()).max() <= 1e-8
    assert torch.equal(trace["U"][-1].argmax(2), out["predictions_fp64"])
    assert (u32 - out["U"]).abs().max() <= 1e-3
    assert abs(float(model.task_loss(trace["U"][-1], x["query_labels"])) - float(out["train_loss_fp64"])) <= 1e-8


def test_official_file_of_other_depth_refused(parity_dir, tmp_path):
    params = load_file(str(parity_dir / "unem" / "gaussian" / "params.safetensors"))
    with pytest.raises(ValueError, match="missing"):
        zoo.load("unem_dirichlet", weights=parity_dir / "unem" / "gaussian" / "params.safetensors", official=True)
    model = zoo.create("unem_gaussian", n_layers=5)
    from zoo.models.unem.convert import load_official

    torch.save(params, tmp_path / "p.pt")
    with pytest.raises(ValueError, match="unexpected"):
        load_official(model, tmp_path / "p.pt")


@pytest.fixture(scope="module")
def unem():
    return zoo.create("unem_gaussian").eval()


def test_predict_unbatched_and_numpy(unem):
    support, labels, query = (t[0] for t in unem.example_input())
    out = unem.predict((support, labels, query))
    assert out["labels"].shape == (6,) and out["probabilities"].shape == (6, 5)
    assert torch.allclose(out["probabilities"].sum(-1), torch.ones(6))
    out_np = unem.predict({"support": support.numpy(), "support_labels": labels.numpy(), "query": query.numpy()})
    assert torch.equal(out_np["labels"], out["labels"])


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda s, l, q: (s, l.float(), q), "integer tensor"),
        (lambda s, l, q: (s, l, q[:, :3]), "matching B, S and D"),
        (lambda s, l, q: (s, l + 1, q), "every class 0.."),
        (lambda s, l, q: (s.int(), l, q), "floating-point"),
        (lambda s, l, q: (s, l, q * float("nan")), "finite"),
        (lambda s, l, q: (s, l, q[:0]), "non-empty"),
        (lambda s, l, q: (s[0, 0], l, q), "expected shape"),
        (lambda s, l, q: (s, l), "(support, support_labels, query)"),
    ],
)
def test_bad_tasks_name_expected_and_received(unem, mutate, fragment):
    support, labels, query = (t[0] for t in unem.example_input())
    with pytest.raises(ValueError) as info:
        unem.predict(mutate(support, labels, query))
    assert fragment in str(info.value) and "expected" in str(info.value) and "received" in str(info.value)


def test_clean_loss_is_nll_of_probabilities():
    model = zoo.create("unem_gaussian", loss="nll")
    u = torch.softmax(torch.randn(2, 4, 3), -1)
    y = torch.randint(0, 3, (2, 4))
    expected = -torch.log(torch.gather(u, 2, y[..., None])).mean()
    assert torch.allclose(model.task_loss(u, y), expected)
    official = zoo.create("unem_gaussian").task_loss(u, y)
    assert not torch.allclose(official, expected)


@pytest.mark.compile
def test_fused_e_step_matches_eager_values_and_gradients():
    from zoo.ops.em import gaussian_e_step, gaussian_e_step_fused

    z = torch.randn(2, 7, 5, requires_grad=True)
    w = torch.randn(2, 3, 5, requires_grad=True)
    v = torch.randn(2, 3)
    lam, temp = torch.tensor(0.7, requires_grad=True), torch.tensor(1.3)
    eager = gaussian_e_step(z, w, v, lam, temp)
    grads_eager = torch.autograd.grad(eager.square().sum(), (z, w, lam))
    fused = gaussian_e_step_fused(z, w, v, lam, temp)
    grads_fused = torch.autograd.grad(fused.square().sum(), (z, w, lam))
    assert torch.allclose(eager, fused, atol=1e-6)
    for a, b in zip(grads_eager, grads_fused):
        assert torch.allclose(a, b, atol=1e-5)


# ------------------------------------------------------------------ episodes, baselines, training
from zoo.data.few_shot import FewShotDataModule, FewShotEpisodes, gaussian_mixture_features  # noqa: E402
from zoo.models.unem.baselines import accuracy, grid_search_em, iterative_em, nearest_centroid, raw_from_value  # noqa: E402


def test_realistic_episodes_follow_the_protocol():
    features, labels = gaussian_mixture_features(num_classes=12, per_class=90, dim=4)
    episodes = FewShotEpisodes(features, labels, shots=2, queries=75, k_eff=5, length=3, seed=0)
    task = episodes[1]
    assert torch.equal(task["support_labels"], torch.arange(12).repeat(2))
    assert task["query"].shape == (75, 4) and len(torch.unique(task["query_labels"])) <= 5
    assert torch.equal(episodes[1]["query"], task["query"])
    rows = {tuple(r.tolist()) for r in torch.cat([task["support"], task["query"]])}
    assert len(rows) == 24 + 75, "a sample appears twice in one task"
    standard = FewShotEpisodes(features, labels, shots=1, queries=15, protocol="standard", n_ways=5, length=2)[0]
    assert standard["support"].shape == (5, 4) and torch.equal(standard["query_labels"], torch.arange(5).repeat_interleave(3))


def test_episodes_refuse_too_small_classes():
    features, labels = gaussian_mixture_features(num_classes=3, per_class=10, dim=2)
    with pytest.raises(ValueError, match="at least 80 samples per class"):
        FewShotEpisodes(features, labels, shots=5, queries=75)


def test_baselines_and_grid_search():
    features, labels = gaussian_mixture_features(num_classes=10, per_class=90, dim=16, spread=1.0)
    tasks = [next(iter(torch.utils.data.DataLoader(FewShotEpisodes(features, labels, shots=1, length=20), 20)))]
    proto = (nearest_centroid(tasks[0]["support"], tasks[0]["support_labels"], tasks[0]["query"]) == tasks[0]["query_labels"]).float().mean()
    grid = {"scales": [0.5, 1.0], "balances": [0.1, 5.0], "temperatures": [1.5, 3.0]}
    raw, acc = grid_search_em(tasks, 5, **grid)
    assert set(raw) == {"t1", "gamma", "t2"}
    assert acc == pytest.approx(float(accuracy(iterative_em(5, **raw), tasks).mean()), abs=1e-6)  # the chosen point's accuracy
    for scale, balance, temperature in itertools.product(*grid.values()):
        point = {"t1": raw_from_value(scale), "gamma": raw_from_value(balance), "t2": raw_from_value(temperature - 1.0)}
        assert acc >= float(accuracy(iterative_em(5, **point), tasks).mean()), (scale, balance, temperature)
    # measured: tuned EM 0.75, prototypes 0.65, the grid's worst point 0.14; chance is 0.1 (10 classes in the support)
    assert acc > 0.5 and acc > float(proto) + 0.05
    assert abs(torch.nn.functional.softplus(torch.tensor(raw_from_value(0.7))).item() - 0.7) < 1e-6


def test_unem_learns_on_validation_tasks(tmp_path):
    import lightning as L

    features, labels = gaussian_mixture_features(num_classes=10, per_class=90, dim=16, spread=1.0)
    dm = FewShotDataModule(features, labels, features, labels, shots=1, train_tasks=40, test_tasks=40, tasks_per_batch=40)
    model = zoo.create("unem_gaussian", n_layers=3, loss="nll")
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    before = model.task_loss(model(batch["support"], batch["support_labels"], batch["query"]), batch["query_labels"]).item()
    L.Trainer(max_epochs=15, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path).fit(model, dm)
    after = model.task_loss(model(batch["support"], batch["support_labels"], batch["query"]), batch["query_labels"]).item()
    assert after < before


def test_rotated_digit_classes_are_real_and_disjoint():
    from zoo.data.few_shot import rotated_digit_classes

    images, classes = rotated_digit_classes("novel")
    assert images.shape == (6000, 1, 28, 28) and 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    assert set(torch.unique(classes).tolist()) == {d * 4 + r for d in (7, 8, 9) for r in range(4)}
    base_classes = set(torch.unique(rotated_digit_classes("base")[1]).tolist())
    assert base_classes.isdisjoint(set(torch.unique(classes).tolist()))


@pytest.mark.skipif(not zoo.registry.checkpoint_record("unem_gaussian"), reason="no shipped UNEM checkpoint recorded yet")
def test_shipped_unem_runs_on_backbone_features():
    from zoo.data.few_shot import rotated_digit_classes
    from zoo.models.unem.backbone import extract_features, load_backbone

    images, classes = rotated_digit_classes("novel")
    features = extract_features(load_backbone(), images[::50])
    labels = torch.unique(classes[::50], return_inverse=True)[1]
    task = FewShotEpisodes(features, labels, shots=1, queries=8, k_eff=3, length=1)[0]
    out = zoo.load("unem_gaussian").predict((task["support"], task["support_labels"], task["query"]))
    assert features.shape[1] == 512 and out["labels"].shape == (8,)
    record = zoo.registry.checkpoint_record("unem_gaussian")
    assert set(record.metrics) == {"accuracy_1shot", "accuracy_5shot"} and len(record.baselines) == 2


@pytest.mark.skipif(not zoo.registry.checkpoint_record("unem_gaussian"), reason="no shipped UNEM checkpoint recorded yet")
def test_card_notes_render_from_the_record_and_without_one():
    from zoo.models.unem.card import card_notes

    spec, record = zoo.registry.get_spec("unem_gaussian"), zoo.registry.checkpoint_record("unem_gaussian")
    config = zoo.create(spec.name).config
    notes = card_notes(spec, config, record)
    assert f"{record.metrics['accuracy_5shot']:.2f} ± {record.ci95['UNEM']['accuracy_5shot']:.2f}" in notes
    assert f"validation accuracy {record.em_val_accuracy:.2f}%" in notes
    bare = card_notes(zoo.registry.get_spec("unem_dirichlet"), zoo.create("unem_dirichlet").config, None)
    assert "official=True" in bare and "±" not in bare and "%" not in bare
