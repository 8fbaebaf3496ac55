"""The digit/style classifier: losses, grey/RGB input, bad input, features for FID/KID, conversion, exact resume."""

import lightning as L
import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.data.stylized_digits import STYLES, StylizedDigitsDataModule
from zoo.models.digit_style_classifier.convert import load_official, official_config
from zoo.models.digit_style_classifier.module import DigitStyleClassifier


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return zoo.create("digit_style_classifier_tiny").eval()


def test_losses_match_a_hand_computation(model):
    gen = torch.Generator().manual_seed(1)
    batch = {"image": torch.rand(4, 3, 28, 28, generator=gen), "digit": torch.tensor([0, 3, 9, 1]), "style": torch.tensor([5, 0, 2, 1])}
    out = model._losses(batch)
    logits = model.net(batch["image"])
    digit = -logits[:, :10].log_softmax(1)[torch.arange(4), batch["digit"]].mean()
    style = -logits[:, 10:].log_softmax(1)[torch.arange(4), batch["style"]].mean()
    assert torch.allclose(out["loss"], digit + model.config.style_weight * style, atol=1e-6)
    assert float(out["digit_accuracy"]) == float((logits[:, :10].argmax(1) == batch["digit"]).float().mean())


def test_predict_grey_equals_rgb_broadcast_and_returns_probabilities(model):
    grey = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    a, b = model.predict(grey), model.predict(grey.expand(-1, 3, -1, -1))
    assert torch.equal(a["digit"], b["digit"]) and torch.equal(a["style"], b["style"])
    assert a["digit"].shape == (3, 10) and a["style"].shape == (3, len(STYLES))
    assert torch.allclose(a["digit"].sum(1), torch.ones(3)) and torch.allclose(a["style"].sum(1), torch.ones(3))
    single = model.predict((grey[0, 0] * 255).round().to(torch.uint8).numpy())  # (H, W) uint8 array
    assert single["digit"].shape == (10,)
    resized = model.predict(torch.rand(2, 3, 56, 56))
    assert resized["digit"].shape == (2, 10)


@pytest.mark.parametrize("bad, match", [
    (torch.rand(2, 2, 28, 28), "C = 1"),
    (torch.full((1, 3, 28, 28), 2.0), r"expected values in \[0.0, 1.0\]"),
    (torch.full((1, 3, 28, 28), float("nan")), "finite"),
    ("not/a/file.png", "not found"),
    ([1, 2, 3], "expected an image path"),
    (torch.zeros(2, 3, 28, 28, dtype=torch.int64), "floating"),
])
def test_bad_input_is_refused(model, bad, match):
    with pytest.raises(ValueError, match=match):
        model.predict(bad)


def test_features_and_fid_kid(model):
    from zoo.metrics.fid import fid_kid

    gen = torch.Generator().manual_seed(3)
    real, other = torch.rand(40, 3, 28, 28, generator=gen), torch.rand(40, 3, 28, 28, generator=gen) * 0.3
    assert model.features(real).shape == (40, 4 * model.config.width)
    network = model.feature_network()
    assert "trained here" in network.kind and network.module.num_features == 4 * model.config.width
    same, apart = fid_kid(real, real, network, kid_subset_size=20, kid_subsets=5), fid_kid(real, other, network, kid_subset_size=20, kid_subsets=5)
    assert abs(same["fid"]) < 1e-2 and apart["fid"] > same["fid"] + 1e-3
    assert torch.equal(network.module(real[:, :1]), network.module(real[:, :1].expand(-1, 3, -1, -1)))  # grey broadcast


def test_official_lightning_checkpoint_converts(model, tmp_path):
    path = tmp_path / "run.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in model.net.state_dict().items()}, "epoch": 3}, path)
    assert official_config(path) == {"width": 32, "num_digits": 10, "num_styles": len(STYLES)}
    other = DigitStyleClassifier()
    load_official(other, path)
    assert all(torch.equal(a, b) for a, b in zip(other.net.state_dict().values(), model.net.state_dict().values()))
    torch.save({"weights": torch.zeros(2)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="digit/style classifier state_dict"):
        official_config(tmp_path / "bad.pt")


class _StopAfterFirstEpoch(L.Callback):
    """An interruption: the run (scheduled for 2 epochs) stops after its first, with its checkpoint written."""

    def on_train_epoch_end(self, trainer, module):
        trainer.should_stop = True


def _fit(tmp_path, epochs, ckpt=None, folder="a", interrupt=False):
    L.seed_everything(0)
    model = DigitStyleClassifier({"width": 8})
    data = StylizedDigitsDataModule(batch_size=16, styles=("plain", "sunset"), val_fraction=0.1)
    trainer = L.Trainer(
        max_epochs=epochs, limit_train_batches=3, limit_val_batches=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path / folder,
        callbacks=[L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / folder, save_last=True), *([_StopAfterFirstEpoch()] if interrupt else [])],
    )
    trainer.fit(model, data, ckpt_path=ckpt)
    return model


def test_training_is_deterministic_and_resumes_exactly(tmp_path):
    straight = _fit(tmp_path, 2, folder="a")
    again = _fit(tmp_path, 2, folder="c")
    interrupted = _fit(tmp_path, 2, folder="b", interrupt=True)
    assert interrupted.trainer.current_epoch == 1
    resumed = _fit(tmp_path, 2, ckpt=str(tmp_path / "b" / "last.ckpt"), folder="b")
    start = DigitStyleClassifier({"width": 8})
    for other in (again, resumed):
        assert all(torch.equal(a, b) for a, b in zip(straight.net.state_dict().values(), other.net.state_dict().values()))
    assert not torch.equal(next(iter(straight.net.parameters())), next(iter(start.net.parameters())))
