"""The tiny LMs: prompts in, text out; the transformers round trip; the tokenizer; the shipped checkpoint memorised."""

import pytest
import torch

import zoo
from zoo.data.tofu import corpus_tokenizer, make_corpus
from zoo.hub import SHIPPED_WEIGHTS

pytest.importorskip("transformers")

SMALL = dict(num_layers=1, hidden_size=32, num_heads=2, num_kv_heads=2, intermediate_size=64)


@pytest.fixture(scope="module", params=["tiny_llama", "tiny_moe"])
def small(request):
    torch.manual_seed(0)
    return zoo.create(request.param, **SMALL).eval()


def test_predict_returns_text_for_a_question_and_a_list(small):
    assert isinstance(small.predict("Where was Salo Mife born?", max_new_tokens="3"), str)
    out = small.predict(["Who wrote Hamlet?", "Question: Who wrote Dracula?\nAnswer:"], max_new_tokens=2)
    assert isinstance(out, list) and len(out) == 2


@pytest.mark.parametrize("bad", ["", 3, [], ["ok", 5], "x" * 5000])
def test_bad_prompts_are_refused_by_name(small, bad):
    with pytest.raises(ValueError, match="prompt: expected"):
        small.predict(bad)


def test_bad_max_new_tokens_is_refused(small):
    with pytest.raises(ValueError, match="max_new_tokens: expected a positive integer"):
        small.predict("Who wrote Hamlet?", max_new_tokens="many")


def test_transformers_round_trip_and_the_official_loader(small, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from zoo.models.tiny_lm.convert import load_official, official_config

    small.to_transformers(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    ids = small.example_input(2)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, small(ids))
    assert AutoTokenizer.from_pretrained(tmp_path)("Who wrote Hamlet?")["input_ids"] == small.tokenizer("Who wrote Hamlet?")["input_ids"]
    config = official_config(tmp_path)
    twin = zoo.create(small.config.variant == "moe" and "tiny_moe" or "tiny_llama", **{k: v for k, v in config.items() if k != "variant"})
    load_official(twin, tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(twin.eval()(ids), small(ids))


def test_the_tokenizer_is_deterministic_and_byte_level():
    a, b = corpus_tokenizer(40, 0, 1024), corpus_tokenizer.__wrapped__(40, 0, 1024) if hasattr(corpus_tokenizer, "__wrapped__") else corpus_tokenizer(40, 0, 1024)
    text = "Where was Salo Mife born? ünïcode ✓"
    assert a(text)["input_ids"] == b(text)["input_ids"]
    assert a.decode(a(text)["input_ids"]) == text
    assert a.convert_ids_to_tokens([0, 1, 2]) == ["<pad>", "<bos>", "<eos>"]


@pytest.mark.skipif(not (SHIPPED_WEIGHTS / "tiny_llama" / "model.safetensors").exists(), reason="no shipped tiny_llama")
def test_the_shipped_llama_answers_a_forget_question_it_memorised():
    model = zoo.load("tiny_llama")
    item = make_corpus(model.config.corpus_authors, model.config.corpus_seed)["forget10"][0]
    assert model.predict(item["question"]) == item["answer"]


def _shipped_table(name):
    from zoo.registry import checkpoint_record

    record = checkpoint_record(name)
    return getattr(record, "unlearning", None) or {}


@pytest.mark.parametrize("name", ["tiny_llama", "tiny_moe"])
def test_the_shipped_table_has_both_splits_a_useful_retrain_and_no_membership_leak(name):
    table = _shipped_table(name)
    if not table:
        pytest.skip(f"no shipped {name} table")
    assert set(table) == {"forget01", "forget10"}
    for split, rows in table.items():
        original, retrain = rows["original"], rows["retrain"]
        assert original["model_utility"] > 0.3 and retrain["model_utility"] > 0.3, split  # the model learned every utility set
        assert original["forget_rouge"] > 0.8, split  # memorised
        assert original["mia_loss"] > 0.9, split  # the trained forget set looks like members
        # the retrained model never saw the forget authors: they look like unseen (holdout) ones
        assert 0.25 <= retrain["mia_loss"] <= 0.75, (split, retrain["mia_loss"])
