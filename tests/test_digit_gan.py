"""The digit GAN: deterministic sampling, bad input, the losses, the shipped discriminator, conversion, exact resume."""

import json

import lightning as L
import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.data.digits import DigitsDataModule
from zoo.models.digit_gan.convert import load_official, official_config
from zoo.models.digit_gan.module import DISCRIMINATOR_NAME, DigitGAN

SMALL = {"latent_dim": 8, "w_dim": 8, "mapping_layers": 2, "width": 4, "d_width": 4}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return zoo.create("digit_gan_tiny").eval()


def test_sampling_is_deterministic_under_a_seed(model):
    a = model.sample(6, generator=torch.Generator().manual_seed(3))
    b = model.sample(6, generator=torch.Generator().manual_seed(3))
    c = model.sample(6, generator=torch.Generator().manual_seed(4))
    assert a.shape == (6, 1, 28, 28) and 0 <= float(a.min()) and float(a.max()) <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(model.predict(6, seed=3), a) and torch.equal(model.predict("6", seed="3"), a)  # zoo predict passes strings
    z = torch.randn(6, model.latent_dim, generator=torch.Generator().manual_seed(3))
    assert torch.equal(model.generator(z).add(1).div(2).clamp(0, 1), a)
    tiled = model.predict(10, seed=3, grid="true")  # 8 to a row, 1-pixel border
    assert tiled.shape == (2 * 29 + 1, 8 * 29 + 1) and torch.equal(tiled[1:29, 1:29], model.predict(10, seed=3)[0, 0])


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, "n: expected an int in 1.."), ({"n": "many"}, "n: expected"), ({"n": 2.5}, "n: expected"),
    ({"n": True}, "n: expected"), ({"seed": -1}, "seed: expected"), ({"grid": "maybe"}, "grid: expected a bool"),
])
def test_bad_predict_arguments_are_refused(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model.predict(**kwargs)


def test_bad_sample_generator_and_latents_are_refused(model):
    with pytest.raises(ValueError, match="generator: expected a torch.Generator"):
        model.sample(2, generator=3)
    with pytest.raises(ValueError, match=r"z: expected a tensor \(N, 64\)"):
        model.prepare_input(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="finite"):
        model.prepare_input(torch.full((2, 64), float("nan")))


def test_losses_match_a_hand_computation():
    gan = DigitGAN({**SMALL, "r1_gamma": 2.0})
    real = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    terms, weights = gan.generator_step_terms((real, torch.zeros(4)))
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))  # seed 0, step 0
    fake = gan.net(z)
    assert torch.allclose(gan._fake, fake) and weights == {"adv": 1.0}
    assert torch.allclose(terms["adv"], F.softplus(-gan.discriminator(fake)).mean())
    d_terms = gan.discriminator_loss("d", (real, None))
    x = (real * 2 - 1).requires_grad_(True)
    logits = gan.discriminator(x)
    (grad,) = torch.autograd.grad(logits.sum(), x)
    assert torch.allclose(d_terms["adv"], F.softplus(-logits).mean() + F.softplus(gan.discriminator(fake)).mean(), atol=1e-6)
    assert torch.allclose(d_terms["r1"], 2.0 / 2 * grad.square().flatten(1).sum(1).mean(), atol=1e-6)


def test_noise_depends_on_the_step_only():
    gan = DigitGAN(SMALL)
    first = gan._noise(3)
    assert torch.equal(first, gan._noise(3))
    gan.generator_steps += 1
    assert not torch.equal(first, gan._noise(3))


def test_discriminator_ships_beside_the_generator_and_is_verified(tmp_path):
    gan = DigitGAN(SMALL)
    with torch.no_grad():
        for p in gan.discriminator.parameters():
            p.add_(0.5)
    gan.save_pretrained(tmp_path)
    assert DISCRIMINATOR_NAME in json.loads((tmp_path / "sha256.json").read_text())
    loaded = zoo.load("digit_gan_tiny", weights=tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(gan.discriminator.state_dict().values(), loaded.discriminator.state_dict().values()))
    assert loaded.num_params() == sum(p.numel() for p in loaded.generator.parameters())  # D is not counted
    from zoo.unlearning.generative.base import as_gan

    wrapped = as_gan(loaded)
    assert wrapped.generator is loaded.generator and wrapped.discriminator is loaded.discriminator and wrapped.latent_dim == 8
    data = bytearray((tmp_path / DISCRIMINATOR_NAME).read_bytes())
    data[-1] ^= 1
    (tmp_path / DISCRIMINATOR_NAME).write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{DISCRIMINATOR_NAME}: expected sha256"):  # zoo.load names the file
        zoo.load("digit_gan_tiny", weights=tmp_path)


def test_training_checkpoint_converts(tmp_path):
    gan = DigitGAN(SMALL)
    gan.net_ema.update_parameters(gan.net)
    torch.save({"state_dict": gan.state_dict(), "epoch": 1}, tmp_path / "run.ckpt")
    assert official_config(tmp_path / "run.ckpt") == {**SMALL}
    other = DigitGAN(SMALL)
    load_official(other, tmp_path / "run.ckpt")
    z = gan.example_input(2)
    assert torch.equal(other.generator(z), gan.generator(z))
    assert all(torch.equal(a, b) for a, b in zip(gan.discriminator.state_dict().values(), other.discriminator.state_dict().values()))
    torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="digit GAN checkpoint"):
        official_config(tmp_path / "bad.pt")


class _StopAfterFirstEpoch(L.Callback):
    def on_train_epoch_end(self, trainer, module):
        trainer.should_stop = True


def _fit(tmp_path, folder, ckpt=None, interrupt=False):
    L.seed_everything(0)
    gan = DigitGAN({**SMALL, "ema_decay": 0.9})
    trainer = L.Trainer(
        max_epochs=2, limit_train_batches=3, limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path / folder,
        callbacks=[L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / folder, save_last=True), *([_StopAfterFirstEpoch()] if interrupt else [])],
    )
    trainer.fit(gan, DigitsDataModule(batch_size=16, val_fraction=0.0), ckpt_path=ckpt)
    return gan


def test_training_is_deterministic_and_resumes_exactly(tmp_path):
    straight, again = _fit(tmp_path, "a"), _fit(tmp_path, "c")
    _fit(tmp_path, "b", interrupt=True)
    resumed = _fit(tmp_path, "b", ckpt=str(tmp_path / "b" / "last.ckpt"))
    assert int(straight.generator_steps) == int(resumed.generator_steps) == 6
    start = DigitGAN({**SMALL, "ema_decay": 0.9})
    for other in (again, resumed):
        a, b = straight.state_dict(), other.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(straight.net.stem.weight, start.net.stem.weight)
