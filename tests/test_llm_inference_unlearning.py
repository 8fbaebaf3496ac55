"""Inference-time LM unlearning (ECO, GUARD, ALU): the weights stay untouched and only flagged prompts change."""

import pytest
import torch

import zoo
from zoo.data.tofu import QADataset, make_corpus, pad_batch, prompt_ids
from zoo.unlearning.llm import agents as ag
from zoo.unlearning.llm.methods import eco, guard
from zoo.unlearning.llm.prompt_classifier import PromptClassifier, example_prompts, train_prompt_classifier

pytest.importorskip("transformers")


class NameClassifier:
    """A stand-in prompt classifier: flags the prompts that contain ``name``."""

    def __init__(self, name):
        self.name = name

    def predict(self, texts, threshold=None):
        return torch.tensor([self.name in t for t in texts])


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    return zoo.create("tiny_llama", num_layers=1, hidden_size=32, num_heads=2, num_kv_heads=2, intermediate_size=64)


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(20, 0)


def _prompts(tok, questions):
    rows = [torch.tensor(prompt_ids(tok, q)) for q in questions]
    batch = pad_batch([{"input_ids": r, "attention_mask": torch.ones_like(r), "labels": r} for r in rows], tok.pad_token_id, side="left")
    return batch["input_ids"], batch["attention_mask"]


# ------------------------------------------------------------------------------------------------ ECO
@pytest.mark.parametrize("method", sorted(eco.CORRUPTIONS))
def test_every_corruption_changes_only_the_selected_positions(method):
    e = torch.randn(2, 5, 8)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[1, 1:4] = True
    out = eco.corrupt(e, mask, method, dims=3, strength=2.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[~mask], e[~mask]) and out.shape == e.shape
    assert not torch.equal(out[mask], e[mask])
    assert torch.equal(eco.corrupt(e, torch.zeros_like(mask), method, 3, 2.0), e)


def test_selected_positions_are_all_but_the_last_of_flagged_rows():
    mask = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 0]])
    got = eco.selected_positions(mask, torch.tensor([True, True]))
    assert got.tolist() == [[False, True, True, False], [True, True, False, False]]
    assert not eco.selected_positions(mask, torch.tensor([False, True]))[0].any()


def test_eco_corrupts_only_flagged_prompts(lm, corpus):
    tok, net = lm.tokenizer, lm.net.eval()
    name = corpus["forget01"][0]["author"]
    ids, mask = _prompts(tok, [corpus["forget01"][0]["question"], corpus["retain99"][0]["question"]])
    served = eco.ECOModel(net, tok, NameClassifier(name), strength=5.0, dims=32)
    seen = []
    handle = net.get_input_embeddings().register_forward_hook(lambda m, a, out: seen.append(out.clone()))
    with torch.no_grad():
        base = net(input_ids=ids, attention_mask=mask).logits
        got = served(input_ids=ids, attention_mask=mask).logits
    handle.remove()
    assert served.last_flags.tolist() == [True, False]
    torch.testing.assert_close(got[1], base[1])  # the other prompt reads clean embeddings
    assert not torch.allclose(got[0], base[0])
    # the hook ran after the recorder: recompute the corrupted embeddings and compare row by row
    clean = net.get_input_embeddings()(ids)
    corrupted = eco.corrupt(clean, eco.selected_positions(mask, served.last_flags), "rand_noise_first_n", 32, 5.0, torch.Generator().manual_seed(0))
    assert torch.equal(corrupted[1], clean[1]) and not torch.equal(corrupted[0], clean[0])
    with torch.no_grad():
        a = served.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
        b = net.generate(input_ids=ids, attention_mask=mask, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
    assert torch.equal(a[1], b[1]) and torch.equal(a[:, : ids.shape[1]], ids)
    with torch.no_grad():  # beam search expands the rows: the flags follow them
        a = served.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, num_beams=2, do_sample=False, pad_token_id=tok.pad_token_id)
        b = net.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, num_beams=2, do_sample=False, pad_token_id=tok.pad_token_id)
    assert torch.equal(a[1], b[1])


def test_zeroth_order_step_matches_a_hand_computation():
    opt = eco.ZerothOrderScalar(lr=0.1, eps=0.5, value=1.0, minimum=1.0)
    out = opt.step(lambda s: (s - 3.0) ** 2)
    # s(1.5) = 2.25, s(0.5) = 6.25, g = (2.25 - 6.25) / (2 * 0.5) = -4, sigma = 1 - 0.1 * -4 = 1.4
    assert (out["forward"], out["backward"], out["grad"]) == pytest.approx((2.25, 6.25, -4.0))
    assert opt.value == pytest.approx(1.4)
    opt = eco.ZerothOrderScalar(lr=10.0, eps=2.0, value=1.0, minimum=0.5)
    out = opt.step(lambda s: s)  # backward point clamps to 1e-8; g = (3 - 1e-8) / 4; the step overshoots to the floor
    assert out["backward"] == pytest.approx(1e-8) and opt.value == 0.5


def test_eco_registers_trains_its_classifier_and_tunes_sigma(lm, corpus):
    forget, retain = corpus["forget01"][:6], corpus["retain99"][:12]
    served = zoo.unlearn(lm, "eco", forget=forget, retain=retain, classifier_epochs=2, zo_steps=2, target_prob=0.0, strength=0.5)
    assert isinstance(served, eco.ECOModel) and len(served.tuning_history) == 2
    assert served.strength >= 0.5 and isinstance(served.classifier, PromptClassifier)
    with pytest.raises(ValueError, match="corrupt_method"):
        zoo.unlearn(lm, "eco", forget=forget, retain=retain, corrupt_method="nope")


def test_the_prompt_classifier_separates_two_authors(lm, corpus):
    tok = lm.tokenizer
    pos, neg = QADataset(corpus["forget01"], tok), QADataset(corpus["retain99"][:40], tok)
    clf = train_prompt_classifier(tok, example_prompts(pos), example_prompts(neg), epochs=8, seed=0)
    assert clf.predict(example_prompts(pos)).float().mean() > 0.9
    assert clf.predict(example_prompts(neg)).float().mean() < 0.1


# ------------------------------------------------------------------------------------------------ GUARD
def test_forbidden_tokens_keep_template_words_and_forbid_values(lm):
    tok = lm.tokenizer
    retain = [f"Ana Bo was born in {c}." for c in ("Paris", "Lima", "Oslo", "Rome")]
    ids, phrases = guard.forbidden_tokens(tok, ["Kalo Ri was born in Kestrel Bay."], ["Where was Kalo Ri born?"], retain, None, max_df=0.5)
    words = {tok.decode([i]) for i in ids}
    assert {" born", " was", " in"}.isdisjoint(words) and "Bay" in "".join(words)
    assert phrases and all(t in ids for p in phrases for t in p)


def test_guard_never_emits_a_forbidden_token_under_greedy_decoding(lm, corpus):
    tok, net = lm.tokenizer, lm.net.eval()
    name = corpus["forget01"][0]["author"]
    ids, mask = _prompts(tok, [corpus["forget01"][0]["question"], corpus["retain99"][0]["question"]])
    kw = {"max_new_tokens": 8, "do_sample": False, "pad_token_id": tok.pad_token_id}
    with torch.no_grad():
        plain = net.generate(input_ids=ids, attention_mask=mask, **kw)
    forbidden = sorted(set(plain[0, ids.shape[1] :].tolist()) - set(tok.all_special_ids))  # exactly what it would say
    served = guard.GUARDModel(net, tok, NameClassifier(name), forbidden, [forbidden[:2]], tau=0.3)
    out = served.generate(input_ids=ids, attention_mask=mask, **kw)
    assert set(out[0, ids.shape[1] :].tolist()).isdisjoint(forbidden)
    assert torch.equal(out[1], plain[1])  # the unflagged prompt decodes as before
    with torch.no_grad():
        scored = served(input_ids=ids, attention_mask=mask).logits
        base = net(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(scored[1], base[1])
    assert (scored[0][:, forbidden] <= base[0][:, forbidden] - served.score_penalty + 1e-4).all()


def test_guard_never_emits_a_forbidden_token_under_beam_decoding(lm, corpus):
    tok, net = lm.tokenizer, lm.net.eval()
    name = corpus["forget01"][0]["author"]
    ids, mask = _prompts(tok, [corpus["forget01"][0]["question"], corpus["retain99"][0]["question"]])
    kw = {"max_new_tokens": 8, "do_sample": False, "pad_token_id": tok.pad_token_id, "num_beams": 4}
    with torch.no_grad():
        plain = net.generate(input_ids=ids, attention_mask=mask, num_return_sequences=4, **kw)
    # every token any of the 4 unrestricted beams would say is forbidden
    forbidden = sorted(set(plain[:4, ids.shape[1] :].flatten().tolist()) - set(tok.all_special_ids))
    served = guard.GUARDModel(net, tok, NameClassifier(name), forbidden, [forbidden[:2], forbidden[2:3]], tau=0.3, num_beams=4)
    out = served.generate(input_ids=ids, attention_mask=mask, **{k: v for k, v in kw.items() if k != "num_beams"})
    assert out.shape[0] == 2 and set(out[0, ids.shape[1] :].tolist()).isdisjoint(forbidden)
    with torch.no_grad():
        unflagged = net.generate(input_ids=ids, attention_mask=mask, **kw)
    assert torch.equal(out[1, : unflagged.shape[1]], unflagged[1])  # the unflagged prompt: the base model's best beam


def test_beam_rescoring_drops_the_beam_that_matches_a_forbidden_phrase(lm):
    tok, net = lm.tokenizer, lm.net.eval()
    phrase = tok(" Kestrel Bay", add_special_tokens=False)["input_ids"]
    served = guard.GUARDModel(net, tok, NameClassifier("x"), [], [phrase], tau=0.5, rescore_penalty=10.0)
    other = tok(" in a city", add_special_tokens=False)["input_ids"]
    width = max(len(phrase), len(other)) + 1
    pad = lambda t: t + [tok.eos_token_id] + [tok.pad_token_id] * (width - len(t) - 1)  # noqa: E731
    beams = torch.tensor([[pad(phrase), pad(other)], [pad(phrase), pad(other)]])
    assert served.phrase_similarity(beams[0, 0]) == pytest.approx(1.0, abs=1e-5)
    best = served.rescore(beams, torch.tensor([[-0.1, -0.5], [-0.1, -0.5]]), torch.tensor([True, False]))
    assert best.tolist() == [1, 0]  # flagged: the lower-scored beam without the phrase; unflagged: the top beam


def test_semantic_match_penalises_only_close_candidates():
    emb = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    proc = guard.SemanticMatchProcessor(emb, [[0]], torch.tensor([True]), tau=0.5, penalty=10.0, top_k=3, window=1)
    out = proc(torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 3))
    cos = 0.9 / (0.81 + 0.01) ** 0.5
    assert out[0].tolist() == pytest.approx([-10.0, -10.0 * (cos - 0.5) / 0.5, 0.0])


def test_guard_runs_through_zoo_unlearn_with_a_fluency_measure(lm, corpus):
    served = zoo.unlearn(lm, "guard", forget=corpus["forget01"][:6], retain=corpus["retain99"][:20], classifier_epochs=2)
    assert isinstance(served, guard.GUARDModel) and len(served.forbidden) > 0
    ppl = guard.output_perplexity(lm.net, lm.tokenizer, ["Where?", "Who?"], ["In Paris.", ""])
    assert ppl > 1.0 and ppl == pytest.approx(guard.output_perplexity(lm.net, lm.tokenizer, ["Where?"], ["In Paris."]))  # empty outputs skipped


# ------------------------------------------------------------------------------------------------ ALU
class ScriptedChat:
    """Replies by the agent's system prompt; records every conversation."""

    def __init__(self, ratings="Final ratings: [5, 4, 5, 3, 2]", parsed="[1, 1, 1, 1, 1]"):
        self.ratings, self.parsed, self.log = ratings, parsed, []

    def __call__(self, conversations):
        out = []
        for conv in conversations:
            system, user = conv[0]["content"], conv[-1]["content"]
            if system == ag.AUDIT_SYSTEM:
                seen = user.split("\nForbidden subjects")[0]
                role, reply = "audit", ("Ada Lorne" if "Lorne" in seen else "None")
            elif system.startswith("Rewrite"):
                role, reply = "rewrite", f"variant {system.split('variant ')[1].split(' ')[0]}"
            elif system == ag.CRITIC_SYSTEM:
                role, reply = "critic", self.ratings
            elif system == ag.PARSE_SYSTEM:
                role, reply = "parse", self.parsed
            elif system.startswith("You are an editor"):
                role, reply = "merge", "merged: " + user.count("variant").__str__()
            else:
                role, reply = "vanilla", f"answer to {user}"
            self.log.append(role)
            out.append(reply)
        return out


def test_alu_prompt_flow_with_a_scripted_model():
    chat = ScriptedChat()
    agents = ag.UnlearningAgents(chat, ["Ada Lorne"])
    out = agents.respond(["Where was Ada Lorne born?", "What is 2 + 2?"])
    assert chat.log == ["vanilla", "vanilla", "audit", "audit", *["rewrite"] * 5, "critic", "merge"]
    assert out == ["merged: 3", "answer to What is 2 + 2?"]  # top 3 of [5, 4, 5, 3, 2]: mean 4.67 >= 4, merged
    assert agents.traces[0]["ratings"] == [5, 4, 5, 3, 2] and agents.traces[1]["audit"] is None


def test_alu_refuses_low_ratings_and_parses_unlisted_critiques():
    chat = ScriptedChat(ratings="I would not trust any of them.", parsed="[4, 1, 2, 3, 3]")
    agents = ag.UnlearningAgents(chat, ["Ada Lorne"])
    assert agents.respond(["Who is Ada Lorne?"]) == [ag.REFUSAL]  # top 3 of the parsed list: mean 3.33 < 4
    assert chat.log[-2:] == ["critic", "parse"]
    chat = ScriptedChat(ratings="no numbers", parsed="still none")
    assert ag.UnlearningAgents(chat, ["Ada Lorne"]).respond(["Who is Ada Lorne?"]) == [ag.REFUSAL]


def test_alu_takes_requests_in_any_order():
    chat = ScriptedChat()
    agents = ag.UnlearningAgents(chat, [], audit="names")
    assert agents.respond(["Who is Ada Lorne?"]) == ["answer to Who is Ada Lorne?"]  # no request yet
    agents.add_targets(["Bo Renn", "Ada Lorne"])
    assert agents.respond(["Who is Ada Lorne?"]) == ["merged: 3"] and agents.targets == ["Bo Renn", "Ada Lorne"]
    agents.remove_targets("Ada Lorne")
    assert agents.respond(["Who is Ada Lorne?"]) == ["answer to Who is Ada Lorne?"]
    assert ag.parse_ratings("ratings [2, 9, 0]", 3) == [2, 5, 1] and ag.parse_ratings("5 then 4", 3) is None


def test_alu_wraps_a_model_and_its_generate(lm, corpus):
    served = zoo.unlearn(lm, "alu", forget=corpus["forget01"][:3], audit="names", agent_max_new_tokens=4)
    assert served.agents.targets == [corpus["forget01"][0]["author"]]
    served.agents.chat = ScriptedChat()
    tok = lm.tokenizer
    ids, mask = _prompts(tok, [corpus["forget01"][0]["question"], corpus["retain99"][0]["question"]])
    out = served.generate(input_ids=ids, attention_mask=mask, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
    texts = tok.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)
    assert texts[0].strip() == "merged: 3" and torch.equal(out[:, : ids.shape[1]], ids)
    with pytest.raises(ValueError, match="targets"):
        zoo.unlearn(lm, "alu", forget=[("Where?", "There.")], tokenizer=tok)
