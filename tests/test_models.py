"""The model contract, checked for every registered model (later models inherit these tests)."""

import json

import pytest
import torch
from huggingface_hub import ModelCard

import zoo
from zoo.hub import SHIPPED_WEIGHTS, sha256_file
from zoo.registry import HUGE_PARAMS, checkpoint_record, get_spec, list_models

ALL = list_models()
SHIPPED = [name for name in ALL if checkpoint_record(name)]
# Presets over HUGE_PARAMS build only in the opt-in run (`pytest -m huge`), as timm caps model sizes in its tests.
SIZED = [pytest.param(n, marks=pytest.mark.huge) if get_spec(n).num_params > HUGE_PARAMS else n for n in ALL]


@pytest.fixture(params=SIZED)
def named_model(request):
    torch.manual_seed(0)
    return request.param, zoo.create(request.param)


@pytest.fixture
def model(named_model):
    return named_model[1]


def outputs(model, batch_size):
    """forward on every example call of the model (one, or one per entry point such as a modality)."""
    return [model(*args, **kwargs) for args, kwargs in model.example_calls(batch_size)]


def test_create_and_forward(model):
    model.eval()
    with torch.no_grad():
        ys = outputs(model, 2)
    for y in ys:
        assert y.shape[0] == 2
        assert torch.isfinite(y).all()


def test_backward_reaches_every_parameter(model):
    # Fresh small random values: gradient flow must not depend on an init that may saturate (UNEM-Dirichlet's does).
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.net.parameters():
            p.copy_(0.1 * torch.randn_like(p))
    model.train()
    sum(y.square().mean() + y.mean() for y in outputs(model, 2)).backward()
    missing = [n for n, p in model.net.named_parameters() if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())]
    assert not missing, f"no gradient reached {missing}"
    assert any(float(p.grad.abs().sum()) > 0 for p in model.net.parameters() if p.grad is not None)


def test_num_params_matches_spec(named_model):
    name, model = named_model
    assert model.num_params() == get_spec(name).num_params


def test_save_load_round_trip_bit_exact(named_model, tmp_path):
    name, model = named_model
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architecture"] == get_spec(name).module
    loaded = zoo.load(name, weights=tmp_path)
    assert not loaded.training
    # What is shipped is the inference network (the EMA copy for GANs that keep one).
    for (k, a), (k2, b) in zip(model.inference_net.state_dict().items(), loaded.inference_net.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b), k
    model.eval()
    with torch.no_grad():
        for a, b in zip(outputs(model, 1), outputs(loaded, 1), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("name", ALL)
def test_card_schema_complete(name):
    card = zoo.card(name)
    assert isinstance(card, ModelCard)
    data = card.data.to_dict()
    for key in ("license", "library_name", "tags", "pipeline_tag", "paper", "official_repository"):
        assert data.get(key), f"card of {name} lacks {key}"
    # datasets: Hub dataset ids only; the synthetic and PyPI-bundled training data is named in the card's text
    assert data.get("datasets") == (list(get_spec(name).hub_datasets) or None), f"card of {name}: datasets"
    if checkpoint_record(name):
        for key in ("metrics", "model-index"):
            assert data.get(key), f"card of {name} lacks {key}"
        assert checkpoint_record(name).train_dataset in card.content, f"card of {name} does not name its training data"
        results = data["model-index"][0]["results"]
        recorded = checkpoint_record(name).metrics
        measured = {m["type"]: m["value"] for r in results for m in r["metrics"]}
        assert measured == {k: round(v, 4) for k, v in recorded.items()}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_hashes_and_params(name):
    record = checkpoint_record(name)
    directory = SHIPPED_WEIGHTS / name
    assert {"model.safetensors", "config.json", "README.md"} <= set(record.sha256)
    for filename, digest in record.sha256.items():
        assert sha256_file(directory / filename) == digest, filename
    model = zoo.load(name)
    assert model.num_params() == record.num_params == get_spec(name).num_params
