"""The digit diffusion models: shapes and range, seeded determinism of every sampler, classifier-free guidance at
w = 0 / 1, the noise schedule, refused labels and prompts, the diffusers round trip, exact resume."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

import zoo
from zoo.data.samplers import SeededShuffleSampler
from zoo.hub import SHIPPED_WEIGHTS

pytest.importorskip("diffusers")

from zoo.models.digit_diffusion.model import NULL_LABEL, WordTokenizer  # noqa: E402
from zoo.models.digit_diffusion.module import DigitDDPM  # noqa: E402

SMALL = dict(channels=(8, 8, 16), norm_groups=4, head_dim=4, sample_steps=3)
TEXT_SMALL = dict(SMALL)  # the registered text model: digit_clip_tiny's frozen text tower (random here unless loaded)
JOINT_SMALL = dict(SMALL, text_encoder="joint", max_prompt_tokens=12, text_width=16, text_layers=1, text_heads=2, pooled_text=False)  # cross-attention only
CLIP_SHIPPED = (SHIPPED_WEIGHTS / "digit_clip_tiny" / "model.safetensors").exists()


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return zoo.create("digit_ddpm_tiny", **SMALL).eval()


@pytest.fixture(scope="module")
def small_text():
    torch.manual_seed(0)
    return zoo.create("digit_text_ddpm_tiny", **TEXT_SMALL).eval()


@pytest.fixture(scope="module")
def small_joint():
    torch.manual_seed(0)
    return zoo.create("digit_text_ddpm_tiny", **JOINT_SMALL).eval()


def test_predict_shapes_and_range(small, small_text):
    one = small.predict(7)
    assert one.shape == (1, 28, 28) and 0 <= float(one.min()) and float(one.max()) <= 1
    many = small.predict([1, 2], num_samples="2", steps="2", guidance="1.5", seed="3")
    assert many.shape == (4, 1, 28, 28) and torch.isfinite(many).all()
    assert small_text.config.image_channels == 3  # the registered text model draws the colour styles
    assert small_text.predict("a seven in the thick style").shape == (3, 28, 28)
    assert small_text.predict(["a seven", "the digit two, drawn in sunset style"], num_samples=2, steps=2).shape == (4, 3, 28, 28)


@pytest.mark.parametrize("sampler, eta", [("ddim", 0.0), ("ddim", 0.5), ("ddpm", 0.0)])
def test_every_sampler_is_deterministic_under_a_seed(small, small_text, sampler, eta):
    for model, cond in ((small, [3, 5]), (small_text, ["a three", "a five"])):
        a = model.sample(cond, steps=3, generator=torch.Generator().manual_seed(1), sampler=sampler, eta=eta)
        b = model.sample(cond, steps=3, generator=torch.Generator().manual_seed(1), sampler=sampler, eta=eta)
        c = model.sample(cond, steps=3, generator=torch.Generator().manual_seed(2), sampler=sampler, eta=eta)
        assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(small.predict(4, seed=9, sampler=sampler), small.predict(4, seed=9, sampler=sampler))


def test_guidance_zero_and_one_are_the_unconditional_and_conditional_predictions(small, small_text):
    g = torch.Generator().manual_seed(0)
    t = torch.tensor([5, 400, 999])
    with torch.no_grad():
        for model, cond in ((small, small.condition([1, 4, 9])), (small_text, small_text.condition(["a one", "a thin four", "a nine"]))):
            x = torch.randn(3, model.config.image_channels, 28, 28, generator=g)
            eps_c, eps_u = model.eps(x, t, cond), model.eps(x, t, model.null_condition(3))
            assert not torch.allclose(eps_c, eps_u)
            torch.testing.assert_close(model.guided_eps(x, t, cond, 1.0), eps_c)
            torch.testing.assert_close(model.guided_eps(x, t, cond, 0.0), eps_u, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(model.guided_eps(x, t, cond, 3.0), eps_u + 3.0 * (eps_c - eps_u), rtol=1e-4, atol=1e-5)


def test_sampling_at_guidance_one_matches_a_hand_written_ddim_loop(small):
    """DDIM (η = 0) by hand over the same trailing timesteps: x0 = (x - sqrt(1-a) e) / sqrt(a), clipped; x' = sqrt(a') x0 + sqrt(1-a') e."""
    noise = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = small.condition([2, 6])
    out = small.sample(labels, steps=2, guidance=1.0, noise=noise, sampler="ddim")
    abar = small.alphas_cumprod
    x = noise
    with torch.no_grad():
        for t, prev in ((999, 499), (499, None)):
            e = small.eps(x, t, labels)
            x0 = ((x - (1 - abar[t]).sqrt() * e) / abar[t].sqrt()).clamp(-1, 1)
            a_prev = abar[prev] if prev is not None else abar[0]
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * e
    torch.testing.assert_close(out, ((x.clamp(-1, 1) + 1) / 2), rtol=1e-4, atol=1e-5)


def test_the_noise_schedule_is_ddpms(small):
    betas = torch.linspace(1e-4, 0.02, 1000)
    torch.testing.assert_close(small.betas, betas)
    torch.testing.assert_close(small.alphas_cumprod, torch.cumprod(1 - betas, 0))
    x0, noise, t = torch.rand(4, 1, 28, 28) * 2 - 1, torch.randn(4, 1, 28, 28), torch.tensor([0, 10, 500, 999])
    torch.testing.assert_close(small.add_noise(x0, noise, t), small.noise_scheduler.add_noise(x0, noise, t))


@pytest.mark.parametrize("bad", [10, -1, "x", 3.5, [], [1, 12], None, True])
def test_bad_labels_are_refused_by_name(small, bad):
    with pytest.raises(ValueError, match="label: expected"):
        small.predict(bad)


@pytest.mark.parametrize("bad, message", [("a purple seven", "unknown"), ("", "non-empty"), (3, "prompt: expected"), ([], "prompt: expected"),
                                          (["a seven", 5], "prompt: expected"), ("a " * 20 + "seven", "at most")])
@pytest.mark.parametrize("which", ["small_text", "small_joint"])
def test_bad_prompts_are_refused_by_name(which, bad, message, request):
    with pytest.raises(ValueError, match=message):
        request.getfixturevalue(which).predict(bad)


def test_a_frozen_tower_of_another_shape_is_refused():
    with pytest.raises(ValueError, match="frozen digit_clip_tiny text tower's shape"):
        zoo.create("digit_text_ddpm_tiny", **SMALL, text_width=16)
    with pytest.raises(ValueError, match="text_encoder: expected"):
        zoo.create("digit_text_ddpm_tiny", **SMALL, text_encoder="bert")


@pytest.mark.parametrize("option, value, message", [("steps", "0", "steps: expected"), ("guidance", "strong", "guidance: expected"),
                                                    ("num_samples", 5000, "num_samples: expected"), ("sampler", "euler", "sampler: expected"),
                                                    ("seed", "-3", "seed: expected")])
def test_bad_sampling_options_are_refused_by_name(small, option, value, message):
    with pytest.raises(ValueError, match=message):
        small.predict(3, **{option: value})


def test_sample_takes_the_null_label_but_predict_does_not(small):
    assert small.sample([NULL_LABEL], steps=2).shape == (1, 1, 28, 28)
    with pytest.raises(ValueError, match=r"labels: expected a \(N,\) integer tensor"):
        small.sample(torch.rand(2))


def test_tokenizer_and_prompt_embeddings(small_text, small_joint):
    tok = WordTokenizer(("a", "seven"), 5)
    assert tok(["A seven.", ""]).tolist() == [[1, 3, 4, 2, 0], [1, 2, 0, 0, 0]]
    joint = small_joint.encode_prompt(["a seven", ""])
    assert joint.shape == (2, 12, 16) and joint.requires_grad  # the joint encoder trains with the UNet
    # the frozen tower reads digit_clip_tiny's byte tokens: "a" = 97 + 1 between its start (257) and end (258)
    assert small_text.tokenize(["a", ""])[:, :4].tolist() == [[257, 98, 258, 0], [257, 258, 0, 0]]
    states = small_text.encode_prompt(["a seven", ""])
    assert states.shape == (2, 44, 64) and not states.requires_grad
    x, t = torch.randn(2, 3, 28, 28), torch.tensor([3, 700])
    with torch.no_grad():
        for model, s in ((small_text, states), (small_joint, joint)):
            torch.testing.assert_close(model.eps(x, t, s), model.eps(x, t, model.tokenize(["a seven", ""])))


@pytest.mark.skipif(not CLIP_SHIPPED, reason="no shipped digit_clip_tiny")
def test_the_frozen_text_tower_is_digit_clips_and_stays_frozen():
    model = zoo.create("digit_text_ddpm_tiny", **TEXT_SMALL, warmup_steps=1)
    model.setup("fit")  # what training does first
    clip = zoo.load("digit_clip_tiny")
    from zoo.models.digit_clip.model import tokenize

    prompts = ["a seven in the thick style", "a sunset two"]
    ids = tokenize(prompts, 44)
    with torch.no_grad():
        expected = clip.net.clip.text_model(input_ids=ids, attention_mask=(ids != 0).long()).last_hidden_state
        torch.testing.assert_close(model.encode_prompt(prompts), expected)
        torch.testing.assert_close(model.inference_net.encode(ids), expected)
    text_params = {id(p) for p in model.net.text_encoder.parameters()}
    optimised = {id(p) for group in model.configure_optimizers()["optimizer"].param_groups for p in group["params"]}
    assert text_params and not text_params & optimised and any(p.requires_grad for p in model.net.unet.parameters())
    before = {k: v.clone() for k, v in model.net.text_encoder.state_dict().items()}
    batch = {"image": torch.rand(4, 3, 28, 28), "caption": prompts * 2}
    model.train()
    opt = model.configure_optimizers()["optimizer"]
    model.training_step(batch, 0).backward()
    opt.step()
    assert all(torch.equal(before[k], v) for k, v in model.net.text_encoder.state_dict().items())


def test_diffusers_round_trip_through_the_official_loader(small, small_text, small_joint, tmp_path):
    from zoo.models.digit_diffusion.convert import load_official, official_config

    small.net.unet.save_pretrained(tmp_path / "class")
    twin = zoo.create("digit_ddpm_tiny", **official_config(tmp_path / "class"), sample_steps=3)
    load_official(twin, tmp_path / "class")
    twins = [(small, twin.eval())]
    for name, text in (("frozen", small_text), ("joint", small_joint)):
        text.net.unet.save_pretrained(tmp_path / name / "unet")
        text.net.text_encoder.save_pretrained(tmp_path / name / "text_encoder")
        config = official_config(tmp_path / name)
        assert config["text_encoder"] == ("digit_clip_tiny" if name == "frozen" else "joint")
        assert config["pooled_text"] == (name == "frozen")
        text_twin = zoo.create("digit_text_ddpm_tiny", **{k: v for k, v in config.items() if k != "conditioning"})
        load_official(text_twin, tmp_path / name)
        twins.append((text, text_twin.eval()))
    for a, b in twins:
        args = a.example_input(2)
        with torch.no_grad():
            torch.testing.assert_close(b(*args), a.net(*args))


def test_a_pooled_embedding_with_other_heads_is_refused(small_text, tmp_path):
    """The attention pooling's weights have the same shapes for any head count, so the count is checked by name."""
    import json

    from zoo.models.digit_diffusion.convert import official_config

    small_text.net.unet.save_pretrained(tmp_path / "unet")
    small_text.net.text_encoder.save_pretrained(tmp_path / "text_encoder")
    assert official_config(tmp_path)["pooled_text"]
    config = json.loads((tmp_path / "unet" / "config.json").read_text())
    (tmp_path / "unet" / "config.json").write_text(json.dumps({**config, "addition_embed_type_num_heads": 64}))
    with pytest.raises(ValueError, match="addition_embed_type_num_heads"):
        official_config(tmp_path)


def _fit(model, folder, epochs, ckpt=None, resume=None, max_steps=-1, every_n_train_steps=None):
    g = torch.Generator().manual_seed(0)
    data = DataLoader(TensorDataset(torch.rand(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)), batch_size=4, sampler=SeededShuffleSampler(8, seed=0))
    callbacks = [ModelCheckpoint(dirpath=ckpt, save_last=True, every_n_train_steps=every_n_train_steps, save_top_k=-1 if every_n_train_steps else 1)] if ckpt else []
    trainer = L.Trainer(max_epochs=epochs, max_steps=max_steps, logger=False, enable_checkpointing=bool(ckpt), callbacks=callbacks, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=folder, accelerator="cpu", limit_val_batches=0)
    trainer.fit(model, data, ckpt_path=resume)


def test_interrupted_training_resumes_exactly(tmp_path):
    """Two epochs of two steps straight, and one epoch then a resume from its checkpoint: the same weights and EMA
    (the noise, timesteps and dropped labels are drawn from the step's own seed, not the global RNG)."""
    config = dict(SMALL, warmup_steps=2, ema_decay=0.9)
    L.seed_everything(0)
    straight = DigitDDPM(config)
    _fit(straight, tmp_path / "a", 2)
    L.seed_everything(0)
    first = DigitDDPM(config)
    _fit(first, tmp_path / "b", 1, ckpt=tmp_path / "ckpt")
    torch.manual_seed(123)  # a resumed process's global RNG is not the interrupted one's
    resumed = DigitDDPM(config)
    _fit(resumed, tmp_path / "b", 2, ckpt=tmp_path / "ckpt", resume=str(tmp_path / "ckpt" / "last.ckpt"))
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and any(k.startswith("net_ema.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a["net.unet.conv_in.weight"], first.state_dict()["net.unet.conv_in.weight"])


def test_a_run_resumed_mid_epoch_continues_with_the_next_batch(tmp_path):
    """A checkpoint saved every step, taken after the first batch of the second epoch: the resumed run trains on
    that epoch's second batch (not its first again) and its EMA holds every update, so it ends as the straight run."""
    config = dict(SMALL, warmup_steps=2, ema_decay=0.9)
    L.seed_everything(0)
    straight = DigitDDPM(config)
    _fit(straight, tmp_path / "a", 2)
    L.seed_everything(0)
    _fit(DigitDDPM(config), tmp_path / "b", 2, ckpt=tmp_path / "ckpt", max_steps=3, every_n_train_steps=1)
    resumed = DigitDDPM(config)
    _fit(resumed, tmp_path / "b", 2, resume=str(tmp_path / "ckpt" / "epoch=1-step=3.ckpt"))
    a, b = straight.state_dict(), resumed.state_dict()
    assert int(b["net_ema.n_averaged"]) == 4
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.skipif(not (SHIPPED_WEIGHTS / "digit_ddpm_tiny" / "model.safetensors").exists(), reason="no shipped digit_ddpm_tiny")
def test_the_shipped_class_model_draws_the_asked_digits():
    """With ancestral DDPM sampling (25 steps); its DDIM samples keep a speckled background the judge misreads."""
    model = zoo.load("digit_ddpm_tiny")
    judge = zoo.load("allcnn_mnist_classifier")
    images = model.predict([0, 1, 7], num_samples=4, seed=0, sampler="ddpm")
    labels = torch.as_tensor(judge.predict(images)["label"])
    assert (labels == torch.tensor([0, 1, 7]).repeat_interleave(4)).float().mean() >= 0.5


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED_WEIGHTS / "digit_text_ddpm_tiny" / "model.safetensors").exists(), reason="no shipped digit_text_ddpm_tiny")
def test_the_shipped_text_model_follows_its_prompts_above_chance():
    """One sample of every "a <digit> in the <style> style" prompt (its recipe's DDPM sampler): the judge labels the
    asked digit and style clearly more often than chance (10% and 17%); the judge misreads the samples' colour cast
    (see the card), so the bar is twice chance, not a quality bar."""
    from zoo.data.stylized_digits import STYLES, caption

    model = zoo.load("digit_text_ddpm_tiny")
    assert model.config.text_encoder == "digit_clip_tiny" and not any(p.requires_grad for p in model.net.text_encoder.parameters())
    judge = zoo.load("digit_style_classifier_tiny")
    prompts = [caption(d, s) for s in STYLES for d in range(10)]
    out = judge.predict(model.predict(prompts, seed=0))
    digits = torch.as_tensor(out["digit"]).argmax(-1)
    styles = torch.as_tensor(out["style"]).argmax(-1)
    assert (digits == torch.arange(10).repeat(len(STYLES))).float().mean() > 0.2
    assert (styles == torch.arange(len(STYLES)).repeat_interleave(10)).float().mean() > 2 / len(STYLES)
