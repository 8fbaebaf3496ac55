"""Unlearnable examples (zoo.unlearning.unlearnable): the feasible set, the Bayes-error estimator, error-minimising
noise and T2UE's text-only generator."""

import math

import pytest
import torch

from zoo.unlearning.unlearnable import protect
from zoo.unlearning.unlearnable.bayes_error import bayes_error_estimate, bayes_error_noise
from zoo.unlearning.unlearnable.error_min import min_min_step
from zoo.unlearning.unlearnable.evaluate import mix_protected
from zoo.unlearning.unlearnable.nets import SimpleCNN
from zoo.unlearning.unlearnable.projection import project_linf
from zoo.unlearning.unlearnable.t2ue import T2UEGenerator, noise_for_texts, train_t2ue_generator


def _digits(n: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 28, 28, generator=gen)
    images[:, :, :4] = 0.0  # pixels at both ends of the range: the projection must keep them inside [0, 1]
    images[:, :, -4:] = 1.0
    return images, torch.arange(n) % 4


def test_bayes_error_estimate_matches_hand_computation():
    features, labels = torch.tensor([[0.0], [1.0], [3.0]]), torch.tensor([0, 0, 1])
    k01, k02, k12 = math.exp(-1 / 2), math.exp(-9 / 2), math.exp(-4 / 2)  # exp(-d^2 / (2 sigma^2)), sigma 1
    posterior = [
        [k01 / (k01 + k02), k02 / (k01 + k02)],  # sample 0: neighbours 1 (class 0) and 2 (class 1)
        [k01 / (k01 + k12), k12 / (k01 + k12)],
        [(k02 + k12) / (k02 + k12), 0.0],  # sample 2: both neighbours are class 0
    ]
    expected = torch.tensor([1 - max(p) for p in posterior])
    got = bayes_error_estimate(features, labels, sigma=1.0, num_classes=2)
    torch.testing.assert_close(got, expected.float(), atol=1e-6, rtol=1e-5)


def test_bayes_error_estimate_rejects_bad_shapes():
    with pytest.raises(ValueError, match="features, labels"):
        bayes_error_estimate(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="sigma"):
        bayes_error_estimate(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), sigma=0.0)


def test_projection_is_the_box():
    images = torch.tensor([[[[0.0, 0.5, 1.0]]]])
    delta = project_linf(torch.tensor([[[[-0.3, 0.3, 0.3]]]]), images, 0.1)
    torch.testing.assert_close(delta, torch.tensor([[[[0.0, 0.1, 0.0]]]]))


@pytest.mark.parametrize("method, hparams", [("bayes_error", {"rounds": 1, "surrogate_epochs": 1}), ("error_min", {"max_rounds": 1, "train_steps": 2})])
def test_protect_stays_inside_the_ball_and_the_pixel_range(method, hparams):
    images, labels = _digits()
    eps = 8 / 255
    protected = protect(images, labels, method=method, eps=eps, steps=3, progress=False, **hparams)
    assert protected.shape == images.shape
    assert float((protected - images).abs().max()) <= eps + 1e-6
    assert float(protected.min()) >= 0.0 and float(protected.max()) <= 1.0
    assert float((protected - images).abs().max()) > 0.5 * eps  # it did move


def test_bayes_error_ascent_raises_the_estimate():
    from zoo.data.digits import digits_dataset

    dataset, train, _ = digits_dataset()
    images, labels = dataset.tensors[0][train[:1000]], dataset.tensors[1][train[:1000]]
    history: list[float] = []
    bayes_error_noise(images, labels, eps=0.3, steps=3, rounds=1, surrogate_epochs=1, history=history, progress=False)
    assert history[-1] > history[0] + 0.05


def test_error_minimising_step_lowers_the_surrogate_loss():
    images, labels = _digits()
    torch.manual_seed(0)
    model = SimpleCNN(1, 4).eval()
    eps = 8 / 255
    delta = min_min_step(model, images, labels, torch.zeros_like(images), eps, eps / 4, steps=5)
    with torch.no_grad():
        before = torch.nn.functional.cross_entropy(model(images), labels)
        after = torch.nn.functional.cross_entropy(model(images + delta), labels)
    assert float(after) < float(before)
    assert float(delta.abs().max()) <= eps + 1e-6


def test_protect_rejects_bad_input():
    images, labels = _digits(4)
    with pytest.raises(ValueError, match="images: expected values in"):
        protect(images * 2, labels)
    with pytest.raises(ValueError, match="labels: expected an int64"):
        protect(images, labels.float())
    with pytest.raises(ValueError, match="method: expected one of"):
        protect(images, labels, method="nope")
    with pytest.raises(ValueError, match="eps: expected"):
        protect(images, labels, eps=0.0)
    with pytest.raises(ValueError, match="images: expected a float tensor"):
        protect(images[0], labels)


def test_mix_protected_replaces_the_share():
    clean, protected = torch.zeros(10, 1, 2, 2), torch.ones(10, 1, 2, 2)
    mixed, mask = mix_protected(clean, protected, 0.3, seed=1)
    assert int(mask.sum()) == 3
    assert torch.equal(mixed[mask], protected[mask]) and torch.equal(mixed[~mask], clean[~mask])
    with pytest.raises(ValueError, match="ratio"):
        mix_protected(clean, protected, 1.5)


def _text_encoder(texts: list[str]) -> torch.Tensor:
    """A deterministic stand-in for a text tower: a seeded embedding per caption."""
    import zlib

    return torch.stack([torch.randn(8, generator=torch.Generator().manual_seed(zlib.crc32(t.encode()))) for t in texts])


def test_t2ue_noise_is_bounded_and_a_function_of_the_text_alone():
    torch.manual_seed(0)
    eps = 8 / 255
    generator = T2UEGenerator(text_dim=8, eps=eps, channels=8)
    texts = ["a seven in the thick style", "a plain two", "a seven in the thick style", "the digit one, drawn in thin style"]
    noise = noise_for_texts(generator, _text_encoder, texts)
    assert noise.shape == (4, 3, 28, 28)
    assert float(noise.abs().max()) <= eps
    torch.testing.assert_close(noise[0], noise[2])  # same caption, same noise
    assert not torch.allclose(noise[0], noise[1])
    alone = noise_for_texts(generator, _text_encoder, [texts[3]])  # another batch: the same noise
    torch.testing.assert_close(alone[0], noise[3])


def test_t2ue_generator_training_lowers_the_surrogate_infonce():
    import zoo

    torch.manual_seed(0)
    surrogate = zoo.create("digit_clip_tiny", vision_layers=1, text_layers=1, vision_width=32, text_width=32, embed_dim=16).net
    images = torch.rand(16, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    texts = [f"a {w} in the plain style" for w in ("zero", "one", "two", "three")] * 4
    history: list[float] = []
    generator = train_t2ue_generator(surrogate, images, texts, eps=32 / 255, epochs=10, batch_size=16, lr=1e-2, channels=8, history=history, progress=False)
    assert min(history[-3:]) < history[0]
    assert not generator.training
    with pytest.raises(ValueError, match="one caption per image"):
        train_t2ue_generator(surrogate, images, texts[:3], epochs=1)
