"""O3, DP2Unlearning and LinEAS: their losses and operators by hand, and each method end to end on a tiny random Llama."""

import math

import pytest
import torch
from torch import nn

import zoo
from zoo.data.tofu import QADataset, make_corpus

pytest.importorskip("transformers")
pytest.importorskip("peft")


@pytest.fixture(scope="module")
def small_lm():
    torch.manual_seed(0)
    return zoo.create("tiny_llama", num_layers=2, hidden_size=32, num_heads=2, num_kv_heads=2, intermediate_size=64)


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(40, 0)


# ------------------------------------------------------------------------------------------ by hand
def test_contrastive_entropy_by_hand():
    from zoo.unlearning.llm.ood import contrastive_entropy, entropy

    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # similarities = identity: every row's softmax is (e, 1) / (e + 1)
    p = torch.tensor([math.e, 1.0]) / (math.e + 1)
    h = -float((p * torch.log(p + 1e-5)).sum())
    assert float(entropy(p[None])[0]) == pytest.approx(h, rel=1e-6)
    assert float(contrastive_entropy([q], [k])) == pytest.approx(h, rel=1e-6)
    # two layers add; the second with q . k = 0 everywhere: uniform rows, entropy ~ log 2
    zero = torch.zeros(2, 2)
    assert float(contrastive_entropy([q, zero], [k, k])) == pytest.approx(h - 2 * 0.5 * math.log(0.5 + 1e-5), rel=1e-6)
    # the keys carry no gradient
    qq, kk = q.clone().requires_grad_(), k.clone().requires_grad_()
    contrastive_entropy([qq], [kk]).backward()
    assert kk.grad is None and qq.grad is not None


def test_sliced_wasserstein_by_hand():
    from zoo.unlearning.llm.steering import sliced_wasserstein

    x, y = torch.tensor([[2.0], [0.0]]), torch.tensor([[5.0], [1.0]])
    assert float(sliced_wasserstein(x, y)) == pytest.approx(((0 - 1) ** 2 + (2 - 5) ** 2) / 2)  # sorted pairs
    x2 = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    y2 = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    # coordinate axes: axis 0 -> (0-1)^2, (2-1)^2; axis 1 -> 0, 4; mean over the 4 terms
    assert float(sliced_wasserstein(x2, y2)) == pytest.approx((1 + 1 + 0 + 4) / 4)
    d = torch.tensor([[1.0], [1.0]]) / math.sqrt(2)  # one diagonal direction: projections (1, 5)/sqrt2 vs (2, 2)/sqrt2
    assert float(sliced_wasserstein(x2, y2, d)) == pytest.approx(((1 - 2) ** 2 + (5 - 2) ** 2) / 2 / 2)
    assert float(sliced_wasserstein(x2, x2.flip(0))) == 0.0  # order does not matter
    # unequal counts: y read at x's quantile levels (a constant y: every level is the constant)
    assert float(sliced_wasserstein(x, torch.full((5, 1), 1.0))) == pytest.approx(((0 - 1) ** 2 + (2 - 1) ** 2) / 2)
    with pytest.raises(ValueError, match="expected"):
        sliced_wasserstein(torch.zeros(3), y)


def test_proximal_steps_zero_what_they_should():
    from zoo.unlearning.llm.steering import Steering, group_soft_threshold, soft_threshold

    torch.testing.assert_close(soft_threshold(torch.tensor([-3.0, -0.5, 0.2, 2.0]), 1.0), torch.tensor([-2.0, 0.0, 0.0, 1.0]))
    g = group_soft_threshold(torch.tensor([[3.0, 4.0], [0.3, 0.4]]), 1.0)
    torch.testing.assert_close(g, torch.tensor([[3.0 * 0.8, 4.0 * 0.8], [0.0, 0.0]]))
    s = Steering(2, 2)
    with torch.no_grad():
        s.delta.copy_(torch.tensor([[0.5, 0.05], [0.01, 0.0]]))
        s.beta.copy_(torch.tensor([[-0.5, 0.0], [0.02, -0.01]]))
    s.prox(step=1.0, l1=0.1, group=0.0)
    assert s.active().tolist() == [[True, False], [False, False]]  # small entries zeroed; layer 1 switched off entirely
    torch.testing.assert_close(s.delta[0], torch.tensor([0.4, 0.0]))
    torch.testing.assert_close(s.beta[0], torch.tensor([-0.4, 0.0]))
    s.prox(step=1.0, l1=0.0, group=1.0)  # ||(0.4, 0, -0.4, 0)|| < 1: the whole layer goes
    assert not s.active().any()


# ------------------------------------------------------------------------------------------ O3
def test_o3_adapters_are_orthogonal_and_requests_chain(small_lm, corpus):
    from zoo.unlearning.llm.methods.o3 import O3Model, lora_layers, orthogonality

    first = zoo.unlearn(small_lm, "o3", forget=corpus["forget01"][:8], epochs=1, batch_size=8)
    assert isinstance(first, O3Model) and first.adapters == ["request_0"]
    a0 = {id(l): l.lora_A["request_0"].weight.clone() for l in lora_layers(first.base)}

    def overlap(model):  # ||A_0 A_1^T||^2 relative to ||A_0||^2 ||A_1||^2 (about 1 / in_features for random A's)
        den = sum(float((l.lora_A["request_0"].weight.norm() * l.lora_A["request_1"].weight.norm()) ** 2) for l in lora_layers(model.base))
        return float(orthogonality(model.base, "request_1", ["request_0"])) / den

    hp = dict(forget=corpus["forget01"][8:16], lr=1e-2, epochs=5, batch_size=8)
    free = zoo.unlearn(first, "o3", orthogonal_weight=0.0, **hp)
    second = zoo.unlearn(first, "o3", orthogonal_weight=1.0, **hp)
    assert second.adapters == ["request_0", "request_1"] and len(second.detectors) == 2
    assert overlap(second) < 0.01 and overlap(second) < 0.5 * overlap(free)
    for layer in lora_layers(second.base):  # the earlier request's adapter is frozen
        assert not layer.lora_A["request_0"].weight.requires_grad
    assert sorted(map(lambda t: tuple(t.shape), a0.values())) == sorted(tuple(l.lora_A["request_0"].weight.shape) for l in lora_layers(second.base))
    assert all(torch.equal(l.lora_A["request_0"].weight, w) for l, w in zip(lora_layers(second.base), a0.values()))
    third = zoo.unlearn(second, "o3", forget=corpus["forget01"][16:20], epochs=1)
    assert third.adapters == ["request_0", "request_1", "request_2"] and len(second.adapters) == 2  # the input is untouched


def test_o3_soft_weight_scales_the_adapters(small_lm, corpus):
    from zoo.unlearning.llm.ood import prompt_mask, soft_weight

    served = zoo.unlearn(small_lm, "o3", forget=corpus["forget01"][:8], epochs=2, lr=1e-2, batch_size=8)
    ds = QADataset(corpus["forget01"][:2] + corpus["retain99"][:2], small_lm.tokenizer)
    batch = ds.collate(ds.encoded)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        base = small_lm.net(input_ids=ids, attention_mask=mask).logits
        served.gate_override = 0.0
        torch.testing.assert_close(served(input_ids=ids, attention_mask=mask).logits, base)  # w = 0: the original model
        served.gate_override = 1.0
        assert not torch.allclose(served(input_ids=ids, attention_mask=mask).logits, base)
        served.gate_override = None
        w = served.soft_weights(ids, mask)
    assert w.shape == (4,) and bool(((w >= 0) & (w <= 1)).all())
    # the detector reads the prompt only: up to the end of the common "\nAnswer:" suffix
    marker = served.detectors[0].marker
    pm = prompt_mask(ids, mask, marker)
    assert marker and bool((pm.sum(1) < mask.sum(1)).all()) and bool((pm.sum(1) == (batch["labels"] == -100).logical_and(mask.bool()).sum(1)).all())
    # the weight function: 1 at the mixture's centre, 0 far away
    assert soft_weight(0.0, -1.0, 1.0, 1.0) == 1.0 and soft_weight(50.0, -1.0, 1.0, 1.0) == 0.0


# ------------------------------------------------------------------------------------------ DP2Unlearning
def test_dp_sgd_accountant_reports_the_epsilon_used(small_lm, corpus):
    pytest.importorskip("opacus")
    from zoo.unlearning.llm.methods.dp2unlearning import accounted_epsilon, check_private, dp_sgd_train

    data = QADataset(corpus["retain99"][:32], small_lm.tokenizer)
    net, info = dp_sgd_train(small_lm.net, data, target_epsilon=2.0, target_delta=1e-5, epochs=2, batch_size=8, lr=1e-3, optimizer="adam")
    assert 1.6 < info["epsilon"] <= 2.0 + 1e-6 and info["steps"] == 2 * 4 and info["sample_rate"] == pytest.approx(0.25)
    assert info["epsilon"] == pytest.approx(accounted_epsilon(info["noise_multiplier"], info["sample_rate"], info["steps"], 1e-5))
    assert any(not torch.equal(p, q) for p, q in zip(net.parameters(), small_lm.net.parameters()))

    class WithBatchNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.norm = nn.Embedding(8, 4), nn.BatchNorm1d(4)

    with pytest.raises(ValueError, match="opacus can compute per-sample gradients.*BatchNorm"):
        check_private(WithBatchNorm())


# ------------------------------------------------------------------------------------------ LinEAS
def test_lineas_moves_the_source_distribution_toward_the_target(small_lm, corpus):
    from zoo.unlearning.llm.methods.lineas import LinEAS, LinEASModel
    from zoo.unlearning.llm.steering import pooled_activations, sliced_wasserstein

    tok = small_lm.tokenizer
    forget, retain = QADataset(corpus["forget05"][:32], tok), QADataset(corpus["retain95"][:32], tok)
    method = LinEAS(steps=60, steering_lr=2e-2, l1=1e-3, group=1e-3)
    served = method.run(small_lm.net, forget, retain)
    assert isinstance(served, LinEASModel) and method.history[-1] < 0.6 * method.history[0]
    src, tgt = forget.collate(forget.encoded), retain.collate(retain.encoded)
    with torch.no_grad():
        before = [sliced_wasserstein(s, t) for s, t in zip(pooled_activations(small_lm.net, src, None), pooled_activations(small_lm.net, tgt, None))]
        after = [sliced_wasserstein(s, t) for s, t in zip(pooled_activations(small_lm.net, src, served.steering), pooled_activations(small_lm.net, tgt, None))]
    assert float(sum(after)) < 0.6 * float(sum(before))
    assert all(not p.requires_grad for p in small_lm.net.parameters())  # weights untouched (run on the copy is zoo.unlearn's)


# ------------------------------------------------------------------------------------------ from a directory
@pytest.mark.parametrize(
    ("method", "hparams"),
    [
        ("o3", {"epochs": 1, "batch_size": 4}),
        ("lineas", {"steps": 3, "n_samples": 4}),
        ("dp2unlearning", {"dp_epochs": 1, "dp_batch_size": 4, "epochs": 1, "batch_size": 4, "noise_multiplier": 1.0, "target_delta": 1e-5, "cache": False}),
    ],
)
def test_each_method_runs_from_a_transformers_directory(small_lm, corpus, tmp_path, method, hparams):
    from zoo.unlearning.llm.evaluate import answer_statistics, generate_answers
    from zoo.unlearning.llm.methods.dp2unlearning import accounted_epsilon

    small_lm.to_transformers(tmp_path / "lm")
    out = zoo.unlearn(str(tmp_path / "lm"), method, forget=corpus["forget01"][:4], retain=corpus["retain99"][:8], **hparams)
    assert not out.training
    tok = small_lm.tokenizer
    rows = answer_statistics(out, QADataset(corpus["forget01"][:2], tok))
    assert len(rows) == 2 and all(math.isfinite(r["avg_loss"]) for r in rows)
    assert len(generate_answers(out, tok, corpus["forget01"][:2], max_new_tokens=3)) == 2
    if method == "dp2unlearning":
        info = out.dp2unlearning
        assert info["noise_multiplier"] == 1.0 and info["finetune_seconds"] > 0
        assert info["epsilon"] == pytest.approx(accounted_epsilon(1.0, info["sample_rate"], info["steps"], 1e-5))
