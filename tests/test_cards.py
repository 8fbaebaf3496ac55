"""Every card: a citation with the paper's BibTeX, a limitations section, Hub dataset ids (or none) in ``datasets:``
and metric names that carry their caveats; the cards validate with huggingface_hub's tools."""

import re

import pytest
from huggingface_hub import ModelCard

from zoo.cards import bibtex, build_card
from zoo.hub import SHIPPED_WEIGHTS
from zoo.registry import REGISTRY, checkpoint_record, list_models


@pytest.mark.parametrize("name", list_models())
def test_bibtex_is_derived_from_the_spec(name):
    spec = REGISTRY[name]
    entry = bibtex(spec)
    assert entry.startswith("@misc{") and entry.endswith("}") and entry.count("{") == entry.count("}")
    assert spec.paper.rpartition(" (")[0] in entry and f"url = {{{spec.paper_url}}}" in entry
    arxiv = re.search(r"arxiv\.org/abs/([0-9.]+)", spec.paper_url)
    assert (f"eprint = {{{arxiv.group(1)}}}" in entry) == bool(arxiv)
    year = re.findall(r"(?:19|20)\d\d", spec.paper)
    assert not year or f"year = {{{year[-1]}}}" in entry


@pytest.mark.parametrize("name", list_models(pretrained=True))
def test_shipped_cards_cite_limit_and_name_their_metrics(name):
    spec, record = REGISTRY[name], checkpoint_record(name)
    card = ModelCard.load(str(SHIPPED_WEIGHTS / name / "README.md"))
    text = card.content
    assert "## Citation\n```bibtex\n@misc{" in text and "## Limitations\n- This checkpoint comes from the CPU-sized recipe" in text
    assert f"`{record.recipe}`" in text.split("## Limitations", 1)[1]
    datasets = card.data.to_dict().get("datasets")
    assert datasets is None or all(re.fullmatch(r"[\w.-]+(/[\w.-]+)?", d) for d in datasets), datasets
    for result in card.data.eval_results or []:
        assert result.metric_name == spec.metric_names.get(result.metric_type)


def test_a_random_trunk_lpips_is_named_as_such():
    spec = REGISTRY["tecogan"]
    card = build_card(spec, checkpoint_record("tecogan"))
    names = {r.metric_type: r.metric_name for r in card.data.eval_results}
    assert "random-init" in names["lpips"] and "not comparable" in names["lpips"]


def test_a_card_without_weights_says_so_in_its_limitations():
    text = build_card(REGISTRY["rawformer_base"], None).content
    assert "## Limitations\n- No trained weights" in text and "## Citation" in text
