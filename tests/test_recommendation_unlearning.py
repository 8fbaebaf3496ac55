"""Recommendation unlearning: UnlearnRec's Influence Encoder, the request graphs, the baselines and zoo.unlearn."""

import pytest
import torch

import zoo
from zoo.data.interactions import InteractionDataModule
from zoo.unlearning.recommendation import family
from zoo.unlearning.recommendation.baselines import ShardedRecommender
from zoo.unlearning.recommendation.evaluate import unlearning_metrics
from zoo.unlearning.recommendation.training import fit_bpr
from zoo.unlearning.recommendation.unlearnrec import InfluenceEncoder, UnlearnRec, UnlearnRecConfig, request_graphs

SIZES = {"num_users": 40, "num_items": 30, "dim": 8, "num_layers": 2}


@pytest.fixture(scope="module")
def trained():
    """A small LightGCN trained 20 epochs on synthetic interactions, with its data."""
    data = InteractionDataModule(num_users=40, num_items=30, mean_interactions=6, batch_size=64)
    data.setup()
    torch.manual_seed(0)
    model = zoo.create("lightgcn_tiny", lr=0.01, **SIZES)
    fit_bpr(model.net, data.train_edges, model.config, epochs=20, batch_size=64)
    return model, data


def in_graph(net, edges):
    """Which of the (user, item) pairs are active edges of the net's graph."""
    index = net.edge_index(edges)
    return (index >= 0) & net.active[index.clamp_min(0)]


def forget_edges(model, n=6):
    edges = model.net.active_edges()
    return edges[torch.randperm(len(edges), generator=torch.Generator().manual_seed(1))[:n]]


def test_influence_encoder_outputs_one_change_per_node(trained):
    model, _ = trained
    net = model.net
    _, _, request = request_graphs(net, forget_edges(model))
    encoder = InfluenceEncoder(net.num_users + net.num_items, 8, net.num_layers)
    final = torch.randn(70, 8)
    delta = encoder(final, request)
    assert delta.shape == (70, 8) and torch.isfinite(delta).all()
    # The withdraw term reaches only the nodes within L hops of the removed edges: others get MLP(0).
    with torch.no_grad():
        encoder.edge_embeds.zero_()
    delta = encoder(final, request)
    touched = torch.sparse.mm(request, torch.ones(70, 1)).flatten() > 0
    untouched_rows = delta[~touched]
    assert torch.allclose(untouched_rows, encoder.mlp(torch.zeros(1, 8)).expand_as(untouched_rows), atol=1e-6)


def test_a_request_removes_its_edges_from_the_propagation_graph(trained):
    model, _ = trained
    forget = forget_edges(model)
    remaining, a_r, a_f = request_graphs(model.net, forget)
    assert len(remaining) == len(model.net.active_edges()) - len(forget)
    dense_r, dense_f = a_r.to_dense(), a_f.to_dense()
    users, items = forget[:, 0], forget[:, 1] + model.net.num_users
    assert (dense_r[users, items] == 0).all() and (dense_r[items, users] == 0).all()
    assert (dense_f[users, items] > 0).all()
    assert dense_f.count_nonzero() == 2 * len(forget)  # A_f holds only the removed edges, both directions

    runner = UnlearnRec(model.net, UnlearnRecConfig(sim_epochs=1))
    unlearned = runner.unlearn(forget)
    assert len(unlearned.active_edges()) == len(remaining)
    assert not in_graph(unlearned, forget).any()
    assert model.net.active.all()  # the backbone is untouched
    # The unlearned model propagates over A_r: the same as a LightGCN with the remaining edges and the new embeddings.
    reference = type(unlearned)(40, 30, 8, 2)
    reference.load_state_dict({k: v for k, v in unlearned.state_dict().items() if k not in ("edges", "active")}, strict=False)
    reference.set_graph(remaining)
    assert torch.allclose(unlearned(torch.arange(40)), reference(torch.arange(40)), atol=1e-5)


def test_pretraining_widens_the_gap_between_negatives_and_removed_edges(trained):
    model, _ = trained
    runner = UnlearnRec(model.net, UnlearnRecConfig(sim_epochs=2, pretrain_drop=0.1, lr=0.01))
    held_out = forget_edges(model, 12)
    before = runner.score_gap(held_out)
    torch.manual_seed(0)  # the contrastive view's edge dropout
    stats = runner.pretrain(requests=4, seed=0)
    assert stats["requests"] == 4 and stats["seconds"] > 0
    # On a request it never saw, the pre-trained encoder scores the removed edges further below random negatives.
    assert runner.score_gap(held_out) > before + 0.05


def test_zoo_unlearn_reaches_unlearnrec_through_the_family(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    model, _ = trained
    forget = forget_edges(model)
    assert family.accepts(model) and not family.accepts(torch.nn.Linear(2, 2))
    unlearned = zoo.unlearn(model, "unlearnrec", forget=forget, pretrain_requests=2, finetune_epochs=0)
    assert type(unlearned) is type(model) and unlearned is not model
    assert not in_graph(unlearned.net, forget).any()
    assert model.net.active.all()
    assert not torch.equal(unlearned.net.user_embedding.weight, model.net.user_embedding.weight)
    cached = list((tmp_path / "unlearning" / "unlearnrec").glob("*.safetensors"))
    assert len(cached) == 1  # pre-trained once; the next request reuses it
    again = zoo.unlearn(model, "unlearnrec", forget=forget.tolist(), pretrain_requests=2, finetune_epochs=0)
    assert torch.equal(again.net.user_embedding.weight, unlearned.net.user_embedding.weight)


def test_baselines_remove_the_edges(trained):
    model, _ = trained
    forget = forget_edges(model)
    for method, hparams in (("retrain", {"epochs": 1}), ("influence", {"cg_steps": 5}), ("finetune", {"epochs": 1})):
        out = zoo.unlearn(model, method, forget=forget, **hparams)
        assert not in_graph(out.net, forget).any(), method
        assert torch.isfinite(out.net(torch.arange(3))).all(), method
    shards = ShardedRecommender(model.config, model.net.active_edges(), num_shards=2, epochs=1)
    unlearned = zoo.unlearn(model, "sisa", forget=forget, shards=shards)
    key = lambda e: set((e[:, 0] * 30 + e[:, 1]).tolist())  # noqa: E731
    assert not key(unlearned.active_edges()) & key(forget)
    assert unlearned(torch.arange(5)).shape == (5, 30)


def test_the_family_refuses_bad_requests(trained):
    model, _ = trained
    with pytest.raises(ValueError, match="method: expected one of"):
        zoo.unlearn(model, "blindspot", forget=forget_edges(model))
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        zoo.unlearn(model, "retrain", forget=forget_edges(model), lr=0.1)
    with pytest.raises(ValueError, match="forget: expected interactions of the model's graph"):
        zoo.unlearn(model, "retrain", forget=torch.tensor([[0, 29], [0, 28], [0, 27], [0, 26], [0, 25], [0, 24], [0, 23]]))
    with pytest.raises(ValueError, match=r"forget: expected an \(M, 2\) integer"):
        zoo.unlearn(model, "retrain", forget=torch.rand(3, 2))
    with pytest.raises(ValueError, match="retain: expected the model's graph without forget"):
        zoo.unlearn(model, "retrain", forget=forget_edges(model), retain=model.net.active_edges())


def test_unlearning_metrics_on_a_constructed_scorer():
    train, test = torch.tensor([[0, 0], [1, 1]]), torch.tensor([[0, 3], [1, 2]])
    forget = torch.tensor([[0, 1], [1, 3]])
    scores = torch.zeros(2, 5)
    scores[0, 1] = scores[1, 3] = 10.0  # removed edges ranked first: remembered
    out = unlearning_metrics(lambda users: scores[users], train, test, forget, 2, 5, k=1)
    assert out["forget_rank"] == 0.0 and out["mia_auc"] == 1.0
    assert out["recall@1"] == 0.0
