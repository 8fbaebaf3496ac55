"""Attacks on unlearning (UnUnlearning, Sleek, relearning), ConceptVectors, RESTOR and the reversal-curse probe, on
tiny random Llama models."""

from __future__ import annotations

import pytest
import torch

from zoo.data.tofu import corpus_tokenizer, make_corpus
from zoo.theory import reversal_curse as rc
from zoo.unlearning.llm import attacks, concept_vectors, restor


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(4, 0)


@pytest.fixture(scope="module")
def tokenizer():
    return corpus_tokenizer(4, 0, 300)


@pytest.fixture(scope="module")
def net(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    return LlamaForCausalLM(cfg).eval()


def test_fact_value_reads_every_corpus_fact(corpus):
    for it in corpus["authors"]:
        value = attacks.fact_value(it)
        assert value and value in it["answer"] and value in it["paraphrased_answer"]
    with pytest.raises(ValueError, match="attribute"):
        attacks.fact_value({"attribute": "height", "author": "x", "answer": "y"})


def test_prompt_builders_are_deterministic_and_state_the_right_facts(corpus):
    forget = corpus["forget10"]
    for mode in ("related", "fact"):
        a, b = attacks.ununlearning_prompts(forget, forget, mode, 3), attacks.ununlearning_prompts(forget, forget, mode, 3)
        assert a == b and all(p.endswith(forget[i]["question"] + "\nAnswer:") for i, p in enumerate(a))
    related = attacks.ununlearning_prompts(forget[:1], forget, "related", 3)[0]
    fact = attacks.ununlearning_prompts(forget[:1], forget, "fact", 3)[0]
    assert related.count(forget[0]["question"]) == 1  # the asked fact is not in the related context
    assert [forget[i]["answer"] in related for i in (1, 2, 3)] == [True, True, True]
    assert fact.startswith(f"Question: {forget[0]['question']}\nAnswer: {forget[0]['paraphrased_answer']}")
    assert related.count("Question:") == fact.count("Question:") == 4
    s1, s2 = attacks.sleek_prompts(forget[0], forget), attacks.sleek_prompts(forget[0], forget)
    assert s1 == s2 and set(s1) == set(attacks.SLEEK_CATEGORIES)
    assert forget[0]["author"] not in s1["indirect"] and "the author of The " in s1["indirect"]
    assert forget[0]["question"] in s1["direct"] and forget[0]["question"] in s1["implied"]
    part, rest = attacks.relearn_split(forget)
    assert len(part) + len(rest) == len(forget) and not {id(x) for x in part} & {id(x) for x in rest}
    with pytest.raises(ValueError, match="mode"):
        attacks.ununlearning_prompts(forget, forget, "jailbreak")


def test_attack_report_runs_and_relearning_leaves_the_model(net, tokenizer, corpus):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rep = attacks.attack_report(net, tokenizer, corpus["forget10"][:6], corpus["retain90"][:4], relearn_steps=2)
    assert {"closed", "context_fact", "sleek_implied", "relearn_after"} <= set(rep)
    assert all(0 <= rep[k] <= 1 for k in ("closed", "context_related", "relearn_before", "relearn_after"))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


class _NameClassifier(torch.nn.Module):
    """Flags the prompts naming ``name``; its weight stands for a trained prompt classifier's."""

    def __init__(self, name):
        super().__init__()
        self.name, self.weight = name, torch.nn.Parameter(torch.ones(3))

    def predict(self, texts, threshold=None):
        return torch.tensor([self.name in t for t in texts])


class _Gate(torch.nn.Module):
    """A stand-in inference-time wrapper (ECO / GUARD's layout): a prompt classifier around a base LM, whose
    forward adds the classifier's weight to the loss path (so that training the whole wrapper would move it)."""

    def __init__(self, base, name):
        super().__init__()
        self.base, self.classifier, self.threshold, self.prompt_marker = base, _NameClassifier(name), 0.5, "\nAnswer:"

    def forward(self, input_ids, attention_mask=None, **kwargs):
        out = self.base(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        out.logits = out.logits + self.classifier.weight.sum()
        return out


def test_relearning_a_wrapper_trains_only_its_base_and_keeps_the_gate(net, tokenizer, corpus):
    forget = corpus["forget10"][:4]
    gate = _Gate(net, forget[0]["author"])
    relearned = attacks.relearn(gate, tokenizer, forget, steps=2, lr=1e-2, base_only=True)
    assert torch.equal(relearned.classifier.weight, gate.classifier.weight)  # the gate stays as it was
    assert any(not torch.equal(a, b) for a, b in zip(net.parameters(), relearned.base.parameters()))  # the base was fine-tuned
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), gate.base.parameters()))  # on a copy
    whole = attacks.relearn(gate, tokenizer, forget, steps=2, lr=1e-2)
    assert not torch.equal(whole.classifier.weight, gate.classifier.weight)  # trained whole, the gate moves too
    prompts = [attacks.qa_turn(it["question"]) for it in corpus["forget10"][:4] + corpus["retain90"][:4]]
    expected = sum(gate.classifier.name in p for p in prompts) / len(prompts)
    assert attacks.flag_rate(gate, prompts) == pytest.approx(expected) and 0 < expected < 1
    assert attacks.flag_rate(net, prompts) is None


def test_concept_vector_ablation_changes_only_the_chosen_vectors(net):
    locations = [(0, 3), (1, 10), (1, 11)]
    out = concept_vectors.ablate(net, locations)
    changed = {n for (n, a), b in zip(net.state_dict().items(), out.state_dict().values()) if not torch.equal(a, b)}
    assert changed == {"model.layers.0.mlp.down_proj.weight", "model.layers.1.mlp.down_proj.weight"}
    for layer in (0, 1):
        a, b = concept_vectors.down_proj(net, layer), concept_vectors.down_proj(out, layer)
        cols = [d for l, d in locations if l == layer]
        assert torch.all(b[:, cols] == 0)
        keep = [d for d in range(a.shape[1]) if d not in cols]
        assert torch.equal(a[:, keep], b[:, keep])
    drift = concept_vectors.vector_drift(net, out, locations)
    assert drift["norm_change"] == pytest.approx(-1.0) and drift["jaccard"] == 0.0
    same = concept_vectors.vector_drift(net, net, locations)
    assert same["cosine"] == pytest.approx(1.0) and same["jaccard"] == 1.0
    saved = concept_vectors.down_proj(net, 1).clone()
    with concept_vectors.ablated(net, locations):
        assert torch.all(concept_vectors.down_proj(net, 1)[:, 10] == 0)
    assert torch.equal(concept_vectors.down_proj(net, 1), saved)
    with concept_vectors.ablated(net, [(1, 10), (1, 11), (1, 10)]):  # two authors may share a concept vector
        pass
    assert torch.equal(concept_vectors.down_proj(net, 1), saved)


def test_needle_moves_only_the_concept_columns(net, tokenizer, corpus):
    locations = [(1, 5)]
    out = concept_vectors.needle(net, tokenizer, corpus["forget10"][:4], locations, lr=1e-2, epochs=1, batch_size=4)
    for (name, a), b in zip(net.state_dict().items(), out.state_dict().values()):
        if name == "model.layers.1.mlp.down_proj.weight":
            assert not torch.equal(a[:, 5], b[:, 5]) and torch.equal(a[:, :5], b[:, :5]) and torch.equal(a[:, 6:], b[:, 6:])
        else:
            assert torch.equal(a, b), name


def test_find_concept_vectors_returns_validated_locations(net, tokenizer, corpus):
    author = corpus["forget10"][:20]
    texts = [author[0]["author"], *(attacks.fact_value(it) for it in author)]
    background = [attacks.fact_value(it) for it in corpus["retain90"]]
    found = concept_vectors.find_concept_vectors(net, tokenizer, author[:5], corpus["retain90"][:5], texts, background, candidates=6, keep=2, k=5)
    assert len(found["locations"]) <= 2 and all(s > 0 for s in found["specificity"])


def test_restor_pipeline_on_a_tiny_case(net, tokenizer, corpus):
    targets = corpus["forget10"][:4]
    docs, facts = restor.corruption_documents(targets, corpus["retain90"], k=2)
    assert len(docs) == 12 and len(facts) == 4
    for f, d in zip(facts, docs[::3]):
        assert f["corrupted"] != f["clean"] and f["random"] not in (f["clean"], f["corrupted"])
        assert attacks.fact_value(d) == f["corrupted"] and f["clean"] in f["item"]["answer"]
    assert restor.corruption_documents(targets, corpus["retain90"], k=2) == (docs, facts)
    corrupted = restor.continue_training(net, tokenizer, docs, epochs=3, lr=3e-2, batch_size=4)
    s0, s1 = restor.restor_scores(net, tokenizer, facts), restor.restor_scores(corrupted, tokenizer, facts)
    assert s1["choice_corrupted"] >= s0["choice_corrupted"] and set(s1) == {"choice_clean", "choice_corrupted", "gen_clean", "gen_corrupted"}
    tv = restor.task_vector_negation(corrupted, tokenizer, docs, 1.0, epochs=1, lr=1e-3)
    assert not torch.equal(next(tv.parameters()), next(corrupted.parameters()))


def test_reversal_data_pairs_are_consistent():
    data = rc.make_reversal_data(n_pairs=30, both_fraction=0.5, name_tokens=2, syllables=12, seed=1)
    assert data == rc.make_reversal_data(n_pairs=30, both_fraction=0.5, name_tokens=2, syllables=12, seed=1)
    assert len(set(data.names)) == 60 and data.both == 15
    people = [p for a, b, _ in data.pairs for p in (a, b)]
    assert sorted(people) == list(range(60))
    for a, b, x in data.pairs:
        fp, ft = data.forward((a, b, x))
        rp, rt = data.reverse((a, b, x))
        assert fp[1:-1] == list(data.names[a]) and ft[: len(data.names[b])] == list(data.names[b])
        assert rp[1 : 1 + len(data.names[b])] == list(data.names[b]) and rt[:-1] == list(data.names[a])
        assert data.vocab[ft[-2]] == data.vocab[rp[-2]] == rc.RELATIONS[x]
    seqs = data.train_sequences()
    assert len(seqs) == 30 + 15
    reverse_b = [sum(data.reverse(p), []) for p in data.pairs[data.both :]]
    assert not any(s in seqs for s in reverse_b)
    with pytest.raises(ValueError, match="both_fraction"):
        rc.make_reversal_data(both_fraction=1.0)


def test_reversal_models_train_and_rank():
    data = rc.make_reversal_data(n_pairs=12, both_fraction=0.5, name_tokens=2, syllables=8)
    lm = rc.evaluate_lm(rc.train_lm(data, hidden=32, steps=5, batch_size=8), data)
    jepa = rc.evaluate_jepa(rc.train_jepa(data, hidden=32, semantic_layers=1, steps=5, batch_size=8), data)
    for out in (lm, jepa):
        assert all(0 <= out[f"E_B_{d}_{m}"] <= 1 for d in ("forward", "reverse") for m in ("accuracy", "mrr"))
    assert rc.rank_metrics(torch.tensor([[0.0, 2.0, 1.0]]), [1]) == {"accuracy": 1.0, "mrr": 1.0}
    assert rc.rank_metrics(torch.tensor([[0.0, 2.0, 1.0]]), [2])["mrr"] == 0.5
