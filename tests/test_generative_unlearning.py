"""The generative unlearning family on tiny random diffusers models and a tiny GAN: losses against hand values, the
concept-preserving gradient, the one-step generator's signature, deterministic samplers, the family's entry point."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

pytest.importorskip("diffusers")

from zoo.unlearning.generative import adapt_then_unlearn as atu  # noqa: E402
from zoo.unlearning.generative import canvas, family  # noqa: E402
from zoo.unlearning.generative.base import Diffusion, Gan, as_diffusion, as_gan, ddim_sample  # noqa: E402
from zoo.unlearning.generative.doco import DoCo, PatchDiscriminator, concept_preserving_gradient  # noqa: E402
from zoo.unlearning.generative.sfd import SFD, OneStepGenerator, fake_score_loss, sid_generator_loss  # noqa: E402


def tiny_class_diffusion(seed: int = 0, classes: int = 4) -> Diffusion:
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4, num_class_embeds=classes + 1)
    scheduler = DDPMScheduler(num_train_timesteps=50)
    return Diffusion(unet, scheduler.alphas_cumprod, null_condition=classes, sample_shape=(1, 8, 8))


class TinyText:
    """A text-conditioned diffusers UNet with a bag-of-characters prompt encoder, as a zoo model would expose it."""

    def __init__(self, pooled: bool = False) -> None:
        from diffusers import DDPMScheduler, UNet2DConditionModel

        torch.manual_seed(0)
        self.unet = UNet2DConditionModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
                                         down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                                         norm_num_groups=4, cross_attention_dim=8, attention_head_dim=2,
                                         addition_embed_type="text" if pooled else None, addition_embed_type_num_heads=2)
        self.scheduler = DDPMScheduler(num_train_timesteps=50)
        self.table = torch.randn(128, 8)

    def encode_prompt(self, prompts: list[str]) -> torch.Tensor:
        return torch.stack([self.table[[ord(ch) % 128 for ch in (p or " ")[:4].ljust(4)]] for p in prompts])


def test_sid_and_fake_score_losses_against_hand_values():
    x_real = torch.tensor([[[[1.0, 2.0]]]])
    x_fake = torch.tensor([[[[0.5, 1.0]]]])
    x_g = torch.tensor([[[[0.0, 0.0]]]])
    omega = (1 + 2) / 2
    alpha = 1.2
    by_hand = (0.5 * (1 - alpha * 0.5) + 1.0 * (2 - alpha * 1.0)) / omega
    assert sid_generator_loss(x_real, x_fake, x_g, alpha).item() == pytest.approx(by_hand)
    # alpha 1: (x_real - x_fake) . (x_fake - x_g) / omega
    assert sid_generator_loss(x_real, x_fake, x_g, 1.0).item() == pytest.approx((0.5 * 0.5 + 1.0 * 1.0) / omega)
    e, p = torch.tensor([[[[1.0, -1.0]]], [[[0.0, 2.0]]]]), torch.zeros(2, 1, 1, 2)
    assert fake_score_loss(p, e).item() == pytest.approx((2 + 4) / 2)


def test_concept_preserving_gradient_removes_exactly_the_conflict():
    g_b = torch.tensor([1.0, 0.0, 0.0])
    g_a = torch.tensor([-2.0, 1.0, 0.5])
    exact = concept_preserving_gradient(g_a, g_b, mode="pcgrad")
    assert torch.dot(exact, g_b).item() == pytest.approx(0.0, abs=1e-7)  # the conflicting component is gone
    assert torch.allclose(exact, torch.tensor([0.0, 1.0, 0.5]))  # and only it
    # the official form: g_a - cos(g_a, g_b) g_b / |g_b|
    cos = -2.0 / math.sqrt(4 + 1 + 0.25)
    assert torch.allclose(concept_preserving_gradient(g_a, g_b, mode="doco"), g_a - cos * g_b, atol=1e-6)
    unit = g_a / g_a.norm()  # with |g_a| = 1 the two coincide
    assert torch.allclose(concept_preserving_gradient(unit, g_b, mode="doco"), concept_preserving_gradient(unit, g_b, mode="pcgrad"), atol=1e-6)
    friendly = torch.tensor([0.5, 3.0, -1.0])  # no conflict: unchanged in both modes
    for mode in ("doco", "pcgrad"):
        assert torch.equal(concept_preserving_gradient(friendly, g_b, mode=mode), friendly)
    with pytest.raises(ValueError, match="mode"):
        concept_preserving_gradient(g_a, g_b, mode="other")


def test_repulsion_variants_and_distance_against_hand_values():
    model = nn.Linear(1, 1, bias=True)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(0.0)
    adapted = [{"weight": torch.full((1, 1), 3.0), "bias": torch.full((1,), 1.0)}]
    d = atu.parameter_distance(model, adapted)  # (k/2) (1/P) sum mse = (1/2)(1/2)(4 + 1)
    assert d.item() == pytest.approx(1.25)
    two = atu.parameter_distance(model, adapted * 2)  # k = 2: (2/2)(1/2)(2*4 + 2*1)
    assert two.item() == pytest.approx(5.0)
    gamma = 1.2
    assert atu.repulsion(d, "l2", gamma).item() == pytest.approx(-gamma * 1.25)
    assert atu.repulsion(d, "exp", gamma).item() == pytest.approx(100 * math.exp(-gamma * 1.25))
    assert atu.repulsion(d, "reci", gamma).item() == pytest.approx(1 / (gamma * 1.25))
    with pytest.raises(ValueError, match="repulsion"):
        atu.repulsion(d, "l1")
    fisher = {"weight": torch.full((1, 1), 2.0), "bias": torch.zeros(1)}
    anchor = {"weight": torch.zeros(1, 1), "bias": torch.zeros(1)}
    assert atu.ewc_penalty(model, fisher, anchor, lam=3.0).item() == pytest.approx(3.0 / 2 * 2.0 * 1.0)


def test_one_step_generator_signature_and_determinism():
    diffusion = tiny_class_diffusion()
    gen = OneStepGenerator(diffusion, t_init=22)
    assert list(inspect.signature(gen.forward).parameters) == ["z", "labels"]
    labels = torch.tensor([0, 1, 2])
    out = gen(torch.randn(3, 1, 8, 8), labels)
    assert out.shape == (3, 1, 8, 8)
    assert torch.equal(gen.sample(labels, seed=5), gen.sample(labels, seed=5))
    assert not torch.equal(gen.sample(labels, seed=5), gen.sample(labels, seed=6))


def test_samplers_are_deterministic_under_a_seed():
    diffusion = tiny_class_diffusion()
    a = ddim_sample(diffusion, torch.tensor([0, 3]), steps=3, seed=1, guidance_scale=2.0)
    assert a.shape == (2, 1, 8, 8) and torch.equal(a, ddim_sample(diffusion, torch.tensor([0, 3]), steps=3, seed=1, guidance_scale=2.0))
    text = as_diffusion(TinyText())
    assert text.is_text and text.null_condition == ""
    b = ddim_sample(text, "a two", n=2, steps=2, seed=0)
    assert torch.equal(b, ddim_sample(text, "a two", n=2, steps=2, seed=0))
    gan = Gan(nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8))), nn.Sequential(nn.Flatten(), nn.Linear(64, 1)), 4)
    assert torch.equal(gan.sample(5, seed=2), gan.sample(5, seed=2))


def test_sample_images_uses_ddim_or_the_zoo_models_own_sampler():
    import zoo

    from zoo.unlearning.generative.base import sample_images

    diffusion = tiny_class_diffusion()
    torch.testing.assert_close(sample_images(diffusion, [0, 3], steps=2, seed=1), ddim_sample(diffusion, [0, 3], steps=2, seed=1))
    with pytest.raises(ValueError, match="sampler: expected"):
        sample_images(diffusion, [0, 3], steps=2, sampler="model")  # no zoo model behind it
    torch.manual_seed(0)
    model = zoo.create("digit_ddpm_tiny", channels=(8, 8, 16), norm_groups=4, head_dim=4).eval()
    d = as_diffusion(model)
    expected = model.sample([4, 4, 4], steps=2, generator=torch.Generator().manual_seed(5)) * 2 - 1
    torch.testing.assert_close(sample_images(d, 4, n=3, steps=2, seed=5, sampler="model"), expected)
    split = sample_images(d, 4, n=3, steps=2, seed=5, sampler="model", batch_size=2)  # two calls, one generator
    assert split.shape == (3, 1, 28, 28) and not torch.equal(split[0], split[2])
    torch.testing.assert_close(split, sample_images(d, 4, n=3, steps=2, seed=5, sampler="model", batch_size=2))


def test_sfd_runs_and_returns_a_one_step_generator():
    diffusion = tiny_class_diffusion()
    before = {k: v.clone() for k, v in diffusion.unet.state_dict().items()}
    sfd = SFD(iterations=2, batch_size=4, num_classes=4, lr=1e-3, ema_rate=0.0)  # no EMA: the trained weights themselves
    gen = sfd.run(diffusion, forget=2)
    assert isinstance(gen, OneStepGenerator) and len(sfd.history) == 2
    assert all(torch.equal(v, diffusion.unet.state_dict()[k]) for k, v in before.items())  # the teacher is untouched
    assert not all(torch.equal(v, gen.unet.state_dict()[k]) for k, v in before.items())
    with pytest.raises(ValueError, match="safe_label"):
        SFD(safe_label=2, num_classes=4).run(diffusion, forget=2)
    with pytest.raises(ValueError, match="unknown hyper-parameters"):
        SFD(alpah=1.0)
    rand = SFD(iterations=1, batch_size=4, num_classes=4, safe_label="rand")
    rand.run(diffusion, forget=0)


def test_sfd_callback_sees_the_generator_along_training():
    diffusion = tiny_class_diffusion()
    seen = []
    gen = SFD(iterations=5, batch_size=2, num_classes=4, lr=1e-3).run(diffusion, forget=2, callback=lambda it, g: seen.append((it, g.sample(torch.tensor([0]), seed=0))), every=2)
    assert [it for it, _ in seen] == [0, 2, 4, 5]  # before training, every 2 iterations and the last
    assert not torch.equal(seen[0][1], seen[-1][1]) and torch.equal(seen[-1][1], gen.sample(torch.tensor([0]), seed=0))


def test_sfd_returns_the_ema_of_the_generator():
    diffusion = tiny_class_diffusion()
    start = {k: v.clone() for k, v in diffusion.unet.state_dict().items()}
    trained = SFD(iterations=1, batch_size=2, num_classes=4, lr=1e-2, ema_rate=0.0).run(diffusion, forget=2).unet.state_dict()
    ema = SFD(iterations=1, batch_size=2, num_classes=4, lr=1e-2, ema_rate=0.75).run(diffusion, forget=2).unet.state_dict()
    for k, v in start.items():  # one step: ema = 0.75 start + 0.25 trained
        if v.is_floating_point():
            assert torch.allclose(ema[k], 0.75 * v + 0.25 * trained[k], atol=1e-6)
    assert any(not torch.equal(trained[k], v) for k, v in start.items())


def test_doco_trains_only_the_conditioning_and_family_dispatch():
    diffusion = tiny_class_diffusion()
    import zoo

    erased = zoo.unlearn(diffusion, "doco", forget=[1], retain=[0, 2], anchor=[3], steps=3, warm_up=1, batch_size=4, anchor_images=4, sample_steps=2)
    changed = [k for k, v in erased.unet.state_dict().items() if not torch.equal(v, diffusion.unet.state_dict()[k])]
    assert changed and all(k.startswith("class_embedding") for k in changed)
    text = TinyText()
    erased_text = family.unlearn(text, "concept_ablation", forget=["a one"], retain=["a two"], anchor=["a six"], steps=2, batch_size=2, anchor_images=2, sample_steps=2)
    changed = [k for k, v in erased_text.unet.state_dict().items() if not torch.equal(v, text.unet.state_dict()[k])]
    assert changed and all("attn2.to_k" in k or "attn2.to_v" in k for k in changed)
    assert erased_text is not text and erased_text.table is not text.table
    with pytest.raises(ValueError, match="anchor"):
        family.unlearn(diffusion, "doco", forget=[1], retain=[0])
    with pytest.raises(ValueError, match="method"):
        family.unlearn(diffusion, "esd", forget=1)
    assert family.accepts(diffusion) and not family.accepts(nn.Linear(1, 1))
    assert PatchDiscriminator(1, 2)(torch.zeros(2, 1, 28, 28)).shape == (2, 1, 6, 6)
    with pytest.raises(ValueError, match="alignment"):
        DoCo(alignment="wgan")


def test_doco_also_trains_a_pooled_prompt_embedding():
    text = TinyText(pooled=True)
    erased = family.unlearn(text, "doco", forget=["a one"], retain=["a two"], anchor=["a six"], steps=3, warm_up=1, batch_size=2, anchor_images=2, sample_steps=2)
    kinds = {("add_embedding" if k.startswith("add_embedding.") else "kv" if "attn2.to_k" in k or "attn2.to_v" in k else k)
             for k, v in erased.unet.state_dict().items() if not torch.equal(v, text.unet.state_dict()[k])}
    assert kinds == {"add_embedding", "kv"}


def test_adapt_then_unlearn_moves_away_from_the_adapted_parameters():
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))
    disc = nn.Sequential(nn.Flatten(), nn.Linear(64, 1))
    gan = Gan(gen, disc, 4)
    classifier = lambda x: torch.stack([x.mean((1, 2, 3)), 1 - x.mean((1, 2, 3))], 1)  # noqa: E731
    hp = dict(adapt_iterations=3, unlearn_iterations=3, batch_size=8, samples=64, fisher_samples=4, lr=1e-3)
    method = atu.AdaptThenUnlearn(forget_class=0, **hp)
    negatives, positives = method.split_samples(gan, classifier, 0)
    assert len(negatives) + len(positives) == 64
    method.run(gan, classifier)
    theta_n = method.adapted
    assert len(theta_n) == 1 and atu.parameter_distance(gen, theta_n) > 0  # stage 1 moved a copy
    far = atu.AdaptThenUnlearn(forget_class=0, **{**hp, "lr": 1e-2, "gamma": 1e3})  # repulsion dominates
    repelled = far.run(gan, classifier)
    assert atu.parameter_distance(repelled, far.adapted) > atu.parameter_distance(gen, far.adapted)
    unlearned = family.unlearn(gan, "adapt_then_unlearn", forget=0, classifier=classifier, **hp)
    assert isinstance(unlearned, Gan) and unlearned.generator is not gen
    with pytest.raises(ValueError, match="classifier"):
        family.unlearn(gan, "adapt_then_unlearn", forget=0)


def test_canvas_metrics_against_hand_values():
    # prompts (style, object) -> predicted (style, object)
    records = [
        {"style": 0, "object": 0, "pred_style": 1, "pred_object": 0},  # target style 0, erased
        {"style": 0, "object": 1, "pred_style": 0, "pred_object": 1},  # target style 0, not erased
        {"style": 1, "object": 0, "pred_style": 1, "pred_object": 1},  # other style kept, object wrong
        {"style": 1, "object": 1, "pred_style": 1, "pred_object": 1},
    ]
    m = canvas.accuracy_metrics(records, kind="style", target=0)
    assert m == {"UA": 0.5, "IRA": 1.0, "CRA": pytest.approx(3 / 4)}
    m = canvas.accuracy_metrics(records, kind="object", target=1)
    assert m["UA"] == 0.0 and m["IRA"] == 0.5 and m["CRA"] == pytest.approx(0.75)  # style accuracy over every image, as the official code


def test_the_zoo_digit_generators_are_accepted():
    import zoo

    names = set(zoo.list_models())
    if not {"digit_ddpm_tiny", "digit_text_ddpm_tiny", "digit_gan_tiny"} <= names:
        pytest.skip("the digit generators are not registered in this checkout")
    ddpm, text, gan = (zoo.create(n) for n in ("digit_ddpm_tiny", "digit_text_ddpm_tiny", "digit_gan_tiny"))
    assert all(family.accepts(m) for m in (ddpm, text, gan))
    d = as_diffusion(ddpm)
    assert not d.is_text and d.null_condition == 10 and d.sample_shape == (1, 28, 28) and d.num_timesteps == ddpm.config.num_train_timesteps
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([5, 500])
    assert torch.allclose(d.eps(None, x, t, torch.tensor([1, 2])), ddpm.eps(x, t, torch.tensor([1, 2])))  # the same network as the model's eps
    td = as_diffusion(text)
    assert td.is_text and td.null_condition == ""
    gen = zoo.unlearn(ddpm, "sfd", forget=3, iterations=1, batch_size=2)
    assert isinstance(gen, OneStepGenerator) and gen.sample(torch.tensor([0, 1])).shape == (2, 1, 28, 28)
    g = as_gan(gan)
    assert g.sample(3, seed=1).shape == (3, 1, 28, 28)
