"""zoo.unlearning.llm: TOFU's formulas on hand-made inputs, each loss on a two-token vocabulary, the family hook."""

import math
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from zoo.data.tofu import load_tofu, make_corpus
from zoo.unlearning.llm import evaluate as ev
from zoo.unlearning.llm import family
from zoo.unlearning.llm.base import batch_nll, mean_nll

pytest.importorskip("transformers")


# ------------------------------------------------------------------------------------------- formulas
def test_truth_ratio_and_its_aggregates_by_hand():
    r = ev.truth_ratio(np.array([1.0, 3.0]), np.array([[2.0, 4.0], [1.0, 1.0]]))
    np.testing.assert_allclose(r, [math.exp(-2), math.exp(2)])
    assert ev.truth_ratio_forget(r) == pytest.approx(math.exp(-2))  # min(R, 1/R) is e^-2 for both
    assert ev.truth_ratio_utility(r) == pytest.approx((1 - math.exp(-2) + 0) / 2)  # max(0, 1 - R)


def test_forget_quality_is_the_ks_p_value():
    assert ev.forget_quality([0.1, 0.2, 0.3], [0.1, 0.2, 0.3]) == pytest.approx(1.0)
    # two samples of 3 fully separated: D = 1, exact two-sided p = 2 / C(6, 3)
    assert ev.forget_quality([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)


def test_probabilities_rouge_and_model_utility_by_hand():
    assert ev.probability([0.0, math.log(4)]) == pytest.approx((1 + 0.25) / 2)
    assert ev.probability_with_options([0.0], [[math.log(2), math.log(2)]]) == pytest.approx(0.5)
    np.testing.assert_allclose(ev.rouge_l_recall(["the cat sat"], ["the cat sat on the mat"]), [0.5])
    assert ev.model_utility({"a": 1.0, "b": 0.5}) == pytest.approx(2 / 3)
    assert ev.model_utility({"a": 1.0, "b": 0.0}) == 0.0


def test_mia_scores_and_auc_by_hand():
    lp = torch.tensor([-1.0, -2.0, -3.0, -4.0, -5.0])
    assert ev.min_k_score(lp, 0.4) == pytest.approx(4.5)  # the 2 lowest: -5, -4
    mu, sigma = torch.full((5,), -1.0), torch.full((5,), 2.0)
    assert ev.min_k_plus_plus_score(lp, mu, sigma, 0.4) == pytest.approx(-(((-5 + 1) / 2) + ((-4 + 1) / 2)) / 2)
    assert ev.zlib_score(2.0, "abc") == pytest.approx(2.0 / len(zlib.compress(b"abc")))
    assert ev.mia_auc(np.array([0.1, 0.2]), np.array([0.3, 0.4])) == 1.0
    assert ev.mia_auc(np.array([0.3, 0.4]), np.array([0.1, 0.2])) == 0.0


# ------------------------------------------------------------------------------ a two-token "LM"
class TwoTokenLM(nn.Module):
    """Logits (L, 2) as a parameter, the same for every sequence of the batch; an optional (L, D) hidden state."""

    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits, dtype=torch.float32))
        self.config = SimpleNamespace(hidden_size=2)

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=self.logits[: input_ids.shape[1]].expand(input_ids.shape[0], -1, -1))


# input [0, 1, 1], labels on the last two positions: p(1 | pos 0) and p(0 | pos 1)
BATCH = {"input_ids": torch.tensor([[0, 1, 1]]), "attention_mask": torch.ones(1, 3, dtype=torch.long), "labels": torch.tensor([[-100, 1, 0]])}
LOGITS = [[0.0, math.log(3)], [0.0, 0.0], [0.0, 0.0]]  # p(1) = 0.75 at position 0; p(0) = 0.5 at position 1
NLL = -math.log(0.75) - math.log(0.5)


def test_batch_nll_by_hand():
    with torch.no_grad():
        nll, tokens = batch_nll(TwoTokenLM(LOGITS), BATCH)
    assert float(nll[0]) == pytest.approx(NLL) and int(tokens[0]) == 2
    assert float(mean_nll(TwoTokenLM(LOGITS), BATCH).detach()) == pytest.approx(NLL / 2)


def test_answer_statistics_by_hand():
    class OneExample(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return {k: v[0] for k, v in BATCH.items()}

        def collate(self, examples):
            return BATCH

    rows = ev.answer_statistics(TwoTokenLM(LOGITS), OneExample())
    (row,) = rows
    assert row["avg_loss"] == pytest.approx(NLL / 2)
    mu0 = 0.75 * math.log(0.75) + 0.25 * math.log(0.25)
    var0 = 0.75 * math.log(0.75) ** 2 + 0.25 * math.log(0.25) ** 2 - mu0**2
    assert float(row["mu"][0]) == pytest.approx(mu0, rel=1e-5) and float(row["sigma"][0]) == pytest.approx(math.sqrt(var0), rel=1e-4)
    assert float(row["mu"][1]) == pytest.approx(math.log(0.5)) and float(row["sigma"][1]) == pytest.approx(1e-3, rel=1e-3)  # clamped


@pytest.mark.parametrize(
    ("method", "hparams", "expected"),
    [
        ("grad_ascent", {}, -NLL / 2),
        ("grad_diff", {}, -NLL / 2 + NLL / 2),
        ("grad_diff", {"gamma": 2.0, "alpha": 0.5}, -NLL + NLL / 4),
        # NPO against a uniform reference (NLL 2 ln 2): -(2 / beta) log sigmoid(beta (NLL - 2 ln 2)) + retain NLL
        ("npo", {"beta": 0.1}, -20 * math.log(1 / (1 + math.exp(-0.1 * (NLL - 2 * math.log(2))))) + NLL / 2),
        # SimNPO: -(2 / beta) log sigmoid(beta (NLL / |y| - delta)) * gamma + retain NLL
        ("simnpo", {"beta": 4.5, "delta": 0.5}, 0.125 * -(2 / 4.5) * math.log(1 / (1 + math.exp(-4.5 * (NLL / 2 - 0.5)))) + NLL / 2),
    ],
)
def test_each_loss_matches_a_hand_computation(method, hparams, expected):
    unlearner = family.build(method, **hparams)
    unlearner.reference = TwoTokenLM([[0.0, 0.0]] * 3)
    assert float(unlearner.loss(TwoTokenLM(LOGITS), BATCH, BATCH).detach()) == pytest.approx(expected, rel=1e-5)


def test_rmu_activation_loss_by_hand():
    from zoo.unlearning.llm.methods.rmu import masked_activation_mse

    a = torch.tensor([[[1.0, 3.0], [5.0, 5.0], [0.0, 0.0]]])
    u = torch.tensor([[[1.0, 1.0]]])
    mask = torch.tensor([[True, True, False]])
    # token 0: mean((0, 2)^2) = 2; token 1: mean((4, 4)^2) = 16; masked mean over the 2 tokens
    assert float(masked_activation_mse(a, u, mask)) == pytest.approx(9.0)


# ------------------------------------------------------------------------------ the family hook
@pytest.fixture(scope="module")
def small_lm():
    torch.manual_seed(0)
    return zoo.create("tiny_llama", num_layers=1, hidden_size=32, num_heads=2, num_kv_heads=2, intermediate_size=64)


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(40, 0)


def test_zoo_unlearn_runs_npo_through_the_family_hook(small_lm, corpus):
    assert family.accepts(small_lm) and family.accepts(small_lm.net) and not family.accepts(nn.Linear(2, 2))
    before = {k: v.clone() for k, v in small_lm.net.state_dict().items()}
    out = zoo.unlearn(small_lm, "npo", forget=corpus["forget01"][:8], retain=corpus["retain99"][:8], lr=1e-3, epochs=1, batch_size=8)
    assert type(out) is type(small_lm) and not out.training
    assert all(torch.equal(v, small_lm.net.state_dict()[k]) for k, v in before.items())  # the input is untouched
    assert any(not torch.equal(v, out.net.state_dict()[k]) for k, v in before.items())


def test_a_method_runs_from_a_transformers_directory(small_lm, corpus, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

    small_lm.to_transformers(tmp_path / "lm")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "lm")
    ids = small_lm.example_input(2)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, small_lm(ids))
    out = zoo.unlearn(str(tmp_path / "lm"), "grad_diff", forget=corpus["forget01"][:4], retain=corpus["retain99"][:4], lr=1e-3, epochs=1, batch_size=4)
    assert isinstance(out, PreTrainedModel)
    tok = AutoTokenizer.from_pretrained(tmp_path / "lm")
    out2 = zoo.unlearn(reloaded, "grad_ascent", forget=[("Where was Salo Mife born?", "Salo Mife was born in Lunesk.")], tokenizer=tok, lr=1e-3, epochs=1)
    assert isinstance(out2, PreTrainedModel)


def test_bad_methods_hyperparameters_and_data_are_refused_by_name(small_lm, corpus):
    with pytest.raises(ValueError, match="method: expected one of"):
        zoo.unlearn(small_lm, "nope", forget=corpus["forget01"], retain=corpus["retain99"])
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        zoo.unlearn(small_lm, "npo", forget=corpus["forget01"], retain=corpus["retain99"], betta=1.0)
    with pytest.raises(ValueError, match="forget: expected"):
        zoo.unlearn(small_lm, "npo", forget=42, retain=corpus["retain99"])
    with pytest.raises(ValueError, match="retain: npo needs a retain set"):
        zoo.unlearn(small_lm, "npo", forget=corpus["forget01"], retain=None)


def test_retrained_reference_is_trained_once_and_cached(small_lm, tmp_path):
    from zoo.unlearning.llm.reference import retrained_reference

    calls = []

    def train():
        calls.append(1)
        return small_lm.net

    a, _ = retrained_reference(small_lm.net, "toy:forget01", train, {"steps": 1}, cache=tmp_path)
    b, _ = retrained_reference(small_lm.net, "toy:forget01", train, {"steps": 1}, cache=tmp_path)
    assert len(calls) == 1
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    # a trainer that knows its own training time (a restored run) reports it, and the cache keeps it
    _, seconds = retrained_reference(small_lm.net, "toy:forget10", lambda: (small_lm.net, 123.0), {"steps": 1}, cache=tmp_path)
    assert seconds == 123.0 and retrained_reference(small_lm.net, "toy:forget10", train, {"steps": 1}, cache=tmp_path)[1] == 123.0


# ------------------------------------------------------------------------------ the corpus
def test_corpus_is_seeded_nested_and_tofu_shaped(corpus):
    assert make_corpus(40, 0) == corpus and make_corpus(40, 1) != corpus
    assert [len(corpus[s]) for s in ("forget01", "forget05", "forget10")] == [20, 40, 80]
    assert {it["author"] for it in corpus["forget01"]} <= {it["author"] for it in corpus["forget10"]}
    assert not {it["author"] for it in corpus["forget10"]} & {it["author"] for it in corpus["retain90"]}
    assert not {it["author"] for it in corpus["holdout10"]} & {it["author"] for it in corpus["authors"]}
    for it in corpus["forget10"]:
        assert len(it["perturbed_answer"]) == 5 and it["paraphrased_answer"] != it["answer"]
        assert it["paraphrased_answer"] not in it["perturbed_answer"]


def test_no_author_occurs_in_another_authors_answers(corpus):
    # a forget author named in a retain answer (the old mentor fact) would leak into the retrained model
    items = corpus["authors"] + corpus["holdout10"]
    names = {it["author"] for it in items}
    for it in items:
        text = " ".join([it["answer"], it["paraphrased_answer"], *it["perturbed_answer"]])
        assert not [n for n in names - {it["author"]} if n in text], it


def test_the_corpus_fingerprint_follows_the_content(monkeypatch):
    from zoo.data import tofu

    before = tofu.corpus_fingerprint(20, 0)
    assert before == tofu.corpus_fingerprint(20, 0) and before != tofu.corpus_fingerprint(20, 1)
    tofu._corpus.cache_clear()
    monkeypatch.setattr(tofu, "_MENTORS", tuple(reversed(tofu._MENTORS)))  # same arguments, other content
    try:
        assert tofu.corpus_fingerprint(20, 0) != before
    finally:
        tofu._corpus.cache_clear()


def test_load_tofu_reads_the_real_layout(tmp_path):
    import json

    row = {"question": "Q?", "answer": "A.", "paraphrased_answer": "A'.", "perturbed_answer": ["B.", "C."]}
    (tmp_path / "forget01_perturbed.json").write_text(json.dumps([row]))
    (tmp_path / "retain99.json").write_text(json.dumps({"question": "R?", "answer": "r."}) + "\n")
    splits = load_tofu(tmp_path)
    assert splits["forget01"][0]["perturbed_answer"] == ["B.", "C."] and splits["retain99"][0]["paraphrased_answer"] == "r."
    with pytest.raises(ValueError, match="directory: expected"):
        load_tofu(tmp_path / "missing")


# ------------------------------------------------------------------------------ WAGLE, UOE, ULD
def test_wagle_mask_matches_the_formula(small_lm, corpus):
    from zoo.data.tofu import QADataset
    from zoo.unlearning.llm.methods.wagle import mean_gradients, top_fraction_mask, wagle_scores

    net, tok = small_lm.net, small_lm.tokenizer
    forget, retain = QADataset(corpus["forget01"][:4], tok), QADataset(corpus["retain99"][:4], tok)
    g_f, g_r = mean_gradients(net, forget, 4), mean_gradients(net, retain, 4)
    # by hand for one tensor: |(theta - g_r / mu) * g_f|
    name, p = next(iter(net.named_parameters()))
    scores = wagle_scores(net, g_f, g_r, mu=1e-6)
    torch.testing.assert_close(scores[name], ((p.detach() - g_r[name] / 1e-6) * g_f[name]).abs())
    masks = top_fraction_mask(scores, 0.2)
    flat = torch.cat([s.flatten() for s in scores.values()])
    kept = torch.cat([m.flatten() for m in masks.values()])
    assert abs(int(kept.sum()) - round(0.2 * flat.numel())) <= 2
    assert float(flat[kept].min()) >= float(flat[~kept].max())
    out = family.build("wagle_npo", sparsity=0.8, lr=1e-2, epochs=1, batch_size=4)
    unlearned = out.run(copy_of(net), forget, retain)
    for (n, a), b in zip(net.named_parameters(), unlearned.parameters()):
        assert torch.equal(a.detach()[~out.update_masks[n]], b.detach()[~out.update_masks[n]]), n  # outside the mask: unchanged


def copy_of(net):
    import copy

    return copy.deepcopy(net)


def test_uoe_changes_only_the_chosen_expert_and_its_router(corpus):
    from zoo.data.tofu import QADataset

    torch.manual_seed(0)
    moe = zoo.create("tiny_moe", num_layers=2, hidden_size=32, num_heads=2, num_kv_heads=2, intermediate_size=32)
    tok = moe.tokenizer
    method = family.build("uoe", lr=1e-2, epochs=1, batch_size=4)
    before = {n: p.detach().clone() for n, p in moe.net.named_parameters()}
    net = method.run(moe.net, QADataset(corpus["forget01"][:4], tok), QADataset(corpus["retain99"][:4], tok))
    layer, expert = method.target
    assert float(method.affinity[layer, expert]) == float(method.affinity.max())
    changed = {n for n, p in net.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed and changed <= {f"model.layers.{layer}.mlp.experts.gate_up_proj", f"model.layers.{layer}.mlp.experts.down_proj", f"model.layers.{layer}.mlp.gate.weight"}
    for n in changed & {f"model.layers.{layer}.mlp.experts.gate_up_proj", f"model.layers.{layer}.mlp.experts.down_proj"}:
        p = dict(net.named_parameters())[n].detach()
        others = [e for e in range(p.shape[0]) if e != expert]
        assert torch.equal(p[others], before[n][others]) and not torch.equal(p[expert], before[n][expert])


def test_uld_logits_combine_as_specified():
    from zoo.unlearning.llm.methods.uld import combine_logits, uniform_kl

    base = torch.tensor([[math.log(0.95), math.log(0.05)]])  # p_base = (0.95, 0.05): token 1 is below 0.1 x 0.95
    assistant = torch.tensor([[2.0, 3.0]])
    torch.testing.assert_close(combine_logits(base, assistant, weight=1.0, top_p=0.1), torch.tensor([[math.log(0.95) - 2.0, -1e3]]))
    torch.testing.assert_close(combine_logits(base, assistant, weight=0.5, top_p=0.01), base - 0.5 * assistant)
    # the set holds at least int(top_p * V) tokens: with V = 20 and top_p 0.1, the two most likely ones, even when the
    # second is far below 0.1 x the first; a uniform assistant (equal logits) then leaves their order unchanged
    wide = torch.full((1, 20), -30.0)
    wide[0, 0], wide[0, 1] = 5.0, 0.0
    combined = combine_logits(wide, torch.full((1, 20), 4.0), weight=1.0, top_p=0.1)
    assert combined[0, :2].tolist() == [1.0, -4.0] and bool((combined[0, 2:] == -1e3).all())
    assert int(combined.argmax()) == int(wide.argmax())
    torch.testing.assert_close(combine_logits(base, assistant, top_p=0.0), base.log_softmax(-1) - assistant.log_softmax(-1))
    # KL(p || uniform) over 2 tokens = sum p log p + log 2
    p = torch.tensor([0.75, 0.25])
    assert float(uniform_kl(p.log()[None, None], torch.ones(1, 1, dtype=torch.bool))) == pytest.approx(float((p * p.log()).sum()) + math.log(2), rel=1e-5)


def test_uld_trains_a_lora_assistant_and_serves_the_difference(small_lm, corpus):
    from zoo.unlearning.llm.evaluate import generate_answers
    from zoo.unlearning.llm.methods.uld import ULDModel

    served = zoo.unlearn(small_lm, "uld", forget=corpus["forget01"][:4], retain=corpus["retain99"][:4], lr=1e-2, epochs=1, batch_size=4, assistant_layers=1)
    assert isinstance(served, ULDModel)
    trained = [n for n, p in served.assistant.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in n for n in trained)
    ids = small_lm.example_input(1)
    with torch.no_grad():
        base, assist = small_lm.net(input_ids=ids).logits, served.assistant(input_ids=ids).logits
        from zoo.unlearning.llm.methods.uld import combine_logits

        torch.testing.assert_close(served(input_ids=ids).logits, combine_logits(base, assist))
    assert len(generate_answers(served, small_lm.tokenizer, corpus["forget01"][:2], max_new_tokens=3)) == 2
