"""LightGCN / SGL: propagation against a hand computation, BPR, the interaction data and the MovieLens loader."""

import math

import numpy as np
import pytest
import torch

import zoo
from zoo.data.interactions import BPRTriples, InteractionDataModule, load_interactions, synthetic_interactions
from zoo.losses.ranking import bpr_loss
from zoo.metrics.ranking import item_rank_percentile, ranking_metrics
from zoo.models.lightgcn.model import LightGCN, normalized_adjacency
from zoo.models.lightgcn.module import recommendation_loss

# 3 users, 2 items: u0-i0, u1-i0, u1-i1, u2-i1. Degrees: u0 1, u1 2, u2 1, i0 2, i1 2.
EDGES = torch.tensor([[0, 0], [1, 0], [1, 1], [2, 1]])


def hand_net() -> LightGCN:
    net = LightGCN(3, 2, dim=2, num_layers=1)
    with torch.no_grad():
        net.user_embedding.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        net.item_embedding.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 2.0]]))
    net.set_graph(EDGES)
    return net


def test_normalized_adjacency_matches_hand_values():
    a = normalized_adjacency(EDGES, 3, 2).to_dense()
    expected = torch.zeros(5, 5)
    for u, i in EDGES.tolist():
        deg_u, deg_i = [1, 2, 1][u], 2
        expected[u, 3 + i] = expected[3 + i, u] = 1 / math.sqrt(deg_u * deg_i)
    assert torch.allclose(a, expected)


def test_propagation_matches_a_hand_computation_on_three_users():
    users, items = hand_net().propagate()
    s = 1 / math.sqrt(2)
    # One layer: e_u^(1) = sum_i e_i / sqrt(d_u d_i), e_i^(1) = sum_u e_u / sqrt(d_u d_i); final = (e^(0) + e^(1)) / 2.
    u1 = torch.tensor([[2 * s, 0.0], [1.0, 1.0], [0.0, 2 * s]])
    i1 = torch.tensor([[s * 1 + 0.5 * 0, 0.5], [0.5 * 0 + s * 1, 0.5 + s]])
    assert torch.allclose(users, (torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) + u1) / 2, atol=1e-6)
    assert torch.allclose(items, (torch.tensor([[2.0, 0.0], [0.0, 2.0]]) + i1) / 2, atol=1e-6)
    scores = hand_net()(torch.tensor([0, 2]))
    assert torch.allclose(scores, users[[0, 2]] @ items.T)


def test_removing_an_edge_changes_only_the_graph_it_propagates_over():
    net = hand_net()
    assert net.remove_edges(torch.tensor([[1, 1], [0, 1]])) == 1  # (0, 1) is not an edge
    assert net.active.tolist() == [True, True, False, True]
    reference = hand_net()
    reference.set_graph(EDGES[[0, 1, 3]])
    assert torch.allclose(net.propagate()[0], reference.propagate()[0])


def test_bpr_loss_is_minus_log_sigmoid_of_the_gap():
    pos, neg = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([0.0, 0.0, 3.0])
    expected = -torch.log(torch.sigmoid(pos - neg)).mean()
    assert torch.allclose(bpr_loss(pos, neg), expected)
    assert bpr_loss(torch.tensor([50.0]), torch.tensor([-50.0])) < 1e-20
    with pytest.raises(ValueError, match="one shape"):
        bpr_loss(pos, neg[:2])


def test_a_bpr_step_raises_positive_scores_over_negative_ones():
    net = hand_net()
    model = zoo.create("lightgcn_tiny", num_users=3, num_items=2, dim=2, num_layers=1, reg=0.0)
    batch = {"users": torch.tensor([0, 2]), "positives": torch.tensor([0, 1]), "negatives": torch.tensor([1, 0])}
    loss = recommendation_loss(net, batch, model.config)["loss"]
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= 0.5 * p.grad
    assert recommendation_loss(net, batch, model.config)["loss"] < loss


def test_sgl_adds_the_contrastive_term():
    dm = InteractionDataModule(num_users=30, num_items=20, mean_interactions=5, batch_size=16)
    dm.setup()
    model = zoo.create("sgl_tiny", num_users=30, num_items=20)
    model.net.set_graph(dm.train_edges)
    model.on_train_epoch_start()
    terms = recommendation_loss(model.net, next(iter(dm.train_dataloader())), model.config, model._views)
    assert "ssl" in terms and terms["ssl"] > 0
    assert torch.allclose(terms["loss"], terms["bpr"] + model.config.reg * terms["reg"] + model.config.ssl_weight * terms["ssl"])


def test_synthetic_interactions_are_seeded_skewed_and_split_per_user():
    a, b, c = synthetic_interactions(seed=3), synthetic_interactions(seed=3), synthetic_interactions(seed=4)
    assert torch.equal(a.edges, b.edges) and not torch.equal(a.edges, c.edges)
    assert len(torch.unique(a.edges[:, 0] * a.num_items + a.edges[:, 1])) == len(a)  # no duplicates
    popularity = torch.bincount(a.edges[:, 1], minlength=a.num_items).sort(descending=True).values
    assert popularity[:30].sum() > 3 * popularity[-30:].sum()  # popularity skew
    train, test = a.split(0.2, seed=0)
    assert len(train) + len(test) == len(a)
    assert set(test[:, 0].tolist()) <= set(train[:, 0].tolist())


def test_bpr_triples_negatives_are_unobserved():
    data = synthetic_interactions(num_users=50, num_items=40, mean_interactions=8)
    triples = BPRTriples(data.edges, 50, 40, batch_size=64)
    batch = triples[0]
    observed = set(map(tuple, data.edges.tolist()))
    assert not any((u, j) in observed for u, j in zip(batch["users"].tolist(), batch["negatives"].tolist()))


def test_loader_reads_a_tiny_movielens_file(tmp_path):
    path = tmp_path / "u.data"
    path.write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n22\t377\t5\t878887117\n196\t242\t4\t881250999\n")
    data = load_interactions(path)
    assert (data.num_users, data.num_items, len(data)) == (3, 3, 4)  # the repeated (196, 242) counted once
    assert data.user_ids.tolist() == ["22", "186", "196"] and data.item_ids.tolist() == ["242", "302", "377"]
    assert sorted(data.edges.tolist()) == [[0, 2], [1, 1], [2, 0], [2, 2]]
    assert data.timestamps[data.edges.tolist().index([2, 0])] == 881250999  # the latest rating kept
    ml1m = tmp_path / "ratings.dat"
    ml1m.write_text("1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    liked = load_interactions(ml1m, min_rating=4)
    assert (liked.num_users, liked.num_items, len(liked)) == (2, 1, 2)
    train, test = load_interactions(ml1m).split(0.5, by_time=True)
    assert test.tolist() == [[0, 0]]  # user 1's latest (item 661 sorts first: id 0 is "661")


def test_loader_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.data"
    path.write_text("1 2 3 4\n1 2 three 4\n")
    with pytest.raises(ValueError, match=r"bad.data:2: expected a numeric rating"):
        load_interactions(path)
    path.write_text("1 2 3\n")
    with pytest.raises(ValueError, match="expected 4 columns"):
        load_interactions(path)


def test_ranking_metrics_on_a_known_ranking():
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    relevant = torch.tensor([[False, True, False, False], [True, False, False, False]])
    exclude = torch.tensor([[True, False, False, False], [False, False, False, False]])
    out = ranking_metrics(scores, relevant, exclude, k=1)
    assert out["recall@1"] == pytest.approx(0.5)  # user 0's relevant item is first once item 0 is masked
    assert out["ndcg@1"] == pytest.approx(0.5)
    ranks = item_rank_percentile(scores, torch.tensor([0, 1]), torch.tensor([1, 0]), exclude)
    assert ranks.tolist() == pytest.approx([0.0, 1.0])


def test_predict_excludes_seen_items_and_checks_input():
    model = zoo.create("lightgcn_tiny", num_users=3, num_items=2, dim=2, num_layers=1)
    model.net.set_graph(EDGES)
    out = model.predict(0, k=2)
    assert out["items"].tolist()[0] == 1 and out["scores"][1] == float("-inf")  # item 0 is seen by user 0
    assert model.predict([0, 1], k="1")["items"].shape == (2, 1)
    assert model.predict("0,2")["items"].shape == (2, 2)
    with pytest.raises(ValueError, match=r"users: expected ids in \[0, 3\)"):
        model.predict(np.array([5]))
    with pytest.raises(ValueError, match="users: expected user ids"):
        model.predict(torch.tensor([0.5]))
    with pytest.raises(ValueError, match="k: expected a positive int"):
        model.predict(0, k=0)
