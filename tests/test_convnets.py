"""The All-CNN testbed models, the shipped checkpoints' unlearning records and ``zoo unlearn`` on the CLI."""

import json

import numpy as np
import pytest
import torch

import zoo
from zoo.cli import main
from zoo.data.digits import DigitsDataModule, digits_dataset
from zoo.registry import checkpoint_record
from zoo.unlearning import Split

NAMES = ("allcnn_mnist_regressor", "allcnn_mnist_classifier")


def test_official_key_layout():
    keys = set(zoo.create("allcnn_mnist_regressor").net.state_dict())
    assert {"conv1.0.weight", "conv1.1.running_mean", "conv8.1.num_batches_tracked", "classifier.0.weight", "classifier.0.bias"} <= keys
    assert not any(k.startswith("conv") and k.endswith(".0.bias") for k in keys)  # no conv bias before batch norm


def test_predict_contract_and_errors():
    reg, clf = zoo.create(NAMES[0]), zoo.create(NAMES[1])
    digit = (np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)
    assert isinstance(reg.predict(digit), float)
    out = clf.predict(torch.rand(3, 1, 28, 28))
    assert out["label"].shape == (3,) and np.allclose(out["probabilities"].sum(1), 1, atol=1e-5)
    assert clf.predict(torch.rand(1, 40, 40))["probabilities"].shape == (10,)  # resized
    with pytest.raises(ValueError, match=r"expected shape \['N', '1', 'H', 'W'\]"):
        clf.predict(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="expected an image path, PIL image, array or tensor"):
        clf.predict([1, 2, 3])


def test_digits_split_is_fixed_and_disjoint():
    dataset, train, test = digits_dataset("value")
    assert len(train) == 4000 and len(test) == 1000 and not set(train) & set(test)
    assert dataset.tensors[1].dtype == torch.float32
    dm = DigitsDataModule("class", val_fraction=0.1)
    dm.setup("fit")
    assert len(dm.train_set) == 3600 and len(dm.val_set) == 400
    assert not set(dm.val_set.indices) & set(dm.train_set.indices)
    with pytest.raises(ValueError, match="target: expected one of"):
        digits_dataset("age")


@pytest.mark.skipif(not checkpoint_record(NAMES[0]), reason="no shipped regressor")
def test_shipped_regressor_record_holds_the_blindspot_claim():
    rows = checkpoint_record(NAMES[0]).unlearning["range:0:2"]
    blind = rows["**Blindspot** (1 ep; proxy 2 ep)"]
    for other in ("fine-tune (Adam 1e-3, 5 ep)", "Gaussian fine-tuning (1 ep)"):
        assert blind["w_distance_to_retrain"] < rows[other]["w_distance_to_retrain"]
    assert rows["retrain"]["test_forget_l1"] > rows["original"]["test_forget_l1"]


@pytest.mark.skipif(not checkpoint_record(NAMES[1]), reason="no shipped classifier")
def test_shipped_classifier_record_ssd_speed():
    for rows in checkpoint_record(NAMES[1]).unlearning.values():
        assert rows["retrain"]["seconds"] >= 20 * rows["SSD (α 10, λ 1)"]["seconds"]


@pytest.mark.skipif(not all(checkpoint_record(n) for n in NAMES), reason="no shipped testbeds")
def test_card_notes_render_from_the_record_and_without_one():
    from zoo.models.convnets.card import card_notes
    from zoo.registry import get_spec

    for name in NAMES:
        spec, record = get_spec(name), checkpoint_record(name)
        notes = card_notes(spec, zoo.create(name).config, record)
        retrain = next(iter(record.unlearning.values()))["retrain"]
        assert "| retrain | " in notes and f"{retrain['seconds']:.2f} |" in notes
        assert all(f"Forget `{forget}` ({sizes['forget']} forget" in notes for forget, sizes in record.split_sizes.items())
    bare = card_notes(get_spec("allcnn_agedb_regressor"), zoo.create("allcnn_agedb_regressor").config, None)
    assert "zoo unlearn blindspot --model allcnn_agedb_regressor" in bare and "| retrain |" not in bare


def test_cli_unlearn_list_and_bad_input(capsys):
    assert main(["unlearn", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "blindspot: " in listed and "beta=50.0" in listed and "ssd: " in listed
    assert main(["unlearn", "ssd", "--model", NAMES[1], "--forget", "class:x", "-o", "unused"]) == 2
    assert "forget: expected" in capsys.readouterr().err


@pytest.mark.skipif(not checkpoint_record(NAMES[1]), reason="no shipped classifier")
def test_cli_unlearn_evaluate_on_shipped_classifier(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "unlearned"
    args = ["--set", "lr=0.01", "--set", "epochs=1", "--set", "batch_size=64", "--evaluate", "--retrain", "epochs=1"]
    code = main(["unlearn", "gradient_ascent", "--model", NAMES[1], "--forget", "class:0", *args, "-o", str(out)])
    assert code == 0
    rows = json.loads((out / "metrics.json").read_text())
    assert rows["retrain"]["forget_accuracy"] < rows["original"]["forget_accuracy"]
    printed = capsys.readouterr().out
    assert "| gradient_ascent |" in printed and "| retrain |" in printed and "forgot" in printed
    split = Split.load(out / "split.json")
    assert split.forget_spec == "class:0" and len(split.forget) > 300
    run = json.loads((out / "unlearning.json").read_text())
    assert run["method"] == "gradient_ascent" and run["hyperparameters"] == {"lr": 0.01, "epochs": 1, "batch_size": 64}
    assert run["resolved_hyperparameters"]["lr"] == 0.01 and run["forget"] == "class:0" and run["zoo_version"] == zoo.__version__
    assert run["split_fingerprint"] == split.fingerprint() and run["retrain"]["epochs"] == 1
    unlearned = zoo.load(NAMES[1], weights=out)
    dataset, _, _ = digits_dataset("class")
    x = dataset.tensors[0][split.test_forget]
    acc = lambda m: float((m.net(x).argmax(1) == 0).float().mean())
    assert acc(unlearned) < acc(zoo.load(NAMES[1])) - 0.3, "gradient ascent should forget class 0"


def _official_resnet_keys(state):
    """Our ResNet-18 state_dict renamed as the official wrapper names it (the inverse of the converter)."""
    out = {}
    for key, value in state.items():
        if key.startswith("conv1."):
            key = "layer1.0." + key[6:]
        elif key.startswith("bn1."):
            key = "layer1.1." + key[4:]
        elif key.startswith("fc.1."):
            key = "final." + key[5:]
        else:
            layer, block, rest = key.split(".", 2)
            key = f"basic_block{(int(layer[5:]) - 1) * 2 + int(block) + 1}.{rest}"
        out[key] = value
    return out


@pytest.mark.parametrize("name", ["allcnn_agedb_regressor", "resnet18_agedb_regressor"])
def test_official_checkpoints_convert(name, tmp_path):
    torch.manual_seed(0)
    source = zoo.create(name).eval()
    state = source.net.state_dict()
    if name.startswith("resnet"):
        state = _official_resnet_keys(state)
        assert "basic_block8.conv2.weight" in state and "final.weight" in state and "layer1.1.running_var" in state
    torch.save(state, tmp_path / "official.pt")
    loaded = zoo.load(name, weights=tmp_path / "official.pt", official=True)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x), rtol=0, atol=0)
    bad = {k: v for k, v in state.items() if "conv2" not in k}
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="missing"):
        zoo.load(name, weights=tmp_path / "bad.pt", official=True)
