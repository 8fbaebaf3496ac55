"""Rawformer: parity with the official generator, converter, any-size inference, ops, data, training loop."""

import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image
from safetensors.torch import load_file

import zoo
from zoo.core.tiling import tiled_apply
from zoo.data.raw_to_raw import SyntheticCameraPairDataModule, SyntheticCameraPairDataset, UnpairedImageFolderDataModule, packed_to_rgb_planes
from zoo.models.rawformer.convert import (
    config_from_official_args,
    convert_discriminator,
    convert_generator,
    infer_config,
    to_official_generator,
)
from zoo.models.rawformer.discriminator import BatchHeadDiscriminator, FeatureQueue
from zoo.models.rawformer.module import Rawformer, RawformerConfig, build_generator
from zoo.models.rawformer.pretrain import RawformerAutoencoder, mask_patches
from zoo.ops.attention import condensed_query_attention, condensed_query_attention_fused, condensed_query_attention_reference
from zoo.ops.modulation import demodulate, demodulate_fused
from zoo.ops.norm import rezero_residual_layer_norm, rezero_residual_layer_norm_fused
from zoo.models.rawformer import card as rawformer_card
from zoo.models.rawformer.specs import TINY as RAWFORMER_TINY, RawformerRecord
from zoo.records import EvalDataset
from zoo.registry import checkpoint_record, get_spec

ROOT = Path(__file__).resolve().parents[1]

SMALL = dict(RAWFORMER_TINY, vit_dim=16, vit_ffn=32, vit_embed=8, unet_features=(4, 8, 8, 16), disc_filters=8, w_cycle_vgg=0.0)


def _fixture(parity_dir, name):
    folder = parity_dir / "rawformer" / name
    meta = json.loads((folder / "meta.json").read_text())
    read = lambda f, k: load_file(str(folder / f))[k]  # noqa: E731
    return folder, meta, read


def _official_model(meta, state):
    cfg = RawformerConfig(**config_from_official_args(meta["constructor_args"]))
    model = Rawformer(cfg)
    for net in (model.net.ab, model.net_ema.module.ab):
        net.load_state_dict(convert_generator(state))
    return model.eval()


@pytest.mark.parametrize("name", ["small_64", "small_128"])
def test_official_parity_output_and_intermediates(parity_dir, name):
    folder, meta, read = _fixture(parity_dir, name)
    state = load_file(str(folder / "official_state_dict.safetensors"))
    model = _official_model(meta, state)
    assert sum(p.numel() for p in model.net.ab.parameters()) == meta["num_params"]
    x = read("input.safetensors", "input")
    with torch.no_grad():
        feats = model.inference_net.ab.forward_features(x)
        out = model(x)
    assert (out - read("output.safetensors", "output")).abs().max() < 1e-5
    intermediates = load_file(str(folder / "intermediates.safetensors"))
    for key, expected in intermediates.items():
        assert (feats[key] - expected).abs().max() < 1e-4, key


def test_any_size_equals_official_model_built_at_that_size(parity_dir):
    """A model built for 64 px, given small_128's weights (but small_64's position buffers), reproduces small_128."""
    folder64, meta, _ = _fixture(parity_dir, "small_64")
    folder128, _, read = _fixture(parity_dir, "small_128")
    weights = load_file(str(folder128 / "official_state_dict.safetensors"))
    buffers = {k: v for k, v in load_file(str(folder64 / "official_state_dict.safetensors")).items() if "_const" in k}
    model = _official_model(meta, {**weights, **buffers})
    with torch.no_grad():
        out = model(read("input.safetensors", "input"))
    assert (out - read("output.safetensors", "output")).abs().max() < 1e-5


def test_official_directory_and_single_files_load(parity_dir, tmp_path):
    folder, meta, read = _fixture(parity_dir, "small_64")
    state = load_file(str(folder / "official_state_dict.safetensors"))
    shifted = {k: v + 0.01 if v.is_floating_point() and "_const" not in k else v for k, v in state.items()}
    torch.save(state, tmp_path / "net_gen_ab.pth")
    torch.save(shifted, tmp_path / "net_avg_gen_ab.pth")
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "net_gen_ba.pth")  # DataParallel prefix
    disc = BatchHeadDiscriminator(3, 64, filters=16)
    official_disc = {("_" + k): v for k, v in disc.state_dict().items() if not k.startswith("queues.")}
    torch.save(official_disc, tmp_path / "net_disc_a.pth")

    cfg = RawformerConfig(**config_from_official_args(meta["constructor_args"]), disc_filters=16)
    model = Rawformer(cfg)
    model.build_training_parts()
    zoo.models.rawformer.convert.load_official(model, tmp_path)
    x = read("input.safetensors", "input")
    with torch.no_grad():
        assert (model.net.ab(x) - read("output.safetensors", "output")).abs().max() < 1e-5
        assert (model.net.ba(x) - read("output.safetensors", "output")).abs().max() < 1e-5
        assert not torch.equal(model.net_ema.module.ab(x), model.net.ab(x))  # the EMA copy comes from net_avg_gen_ab
    assert torch.equal(model.discriminators["a"].head.net[0].weight, disc.head.net[0].weight)

    single = Rawformer(cfg)
    zoo.models.rawformer.convert.load_official(single, tmp_path / "net_gen_ab.pth")
    wrong = Rawformer(RawformerConfig(**{**config_from_official_args(meta["constructor_args"]), "vit_blocks": 3}))
    with pytest.raises(ValueError, match="does not match this model's configuration"):
        zoo.models.rawformer.convert.load_official(wrong, tmp_path / "net_gen_ab.pth")


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"unet_features": (4, 8, 8), "unet_norm": "batch", "unet_rezero": True, "n_ext": 2, "image_size": 32},
        {"downsample": "conv3", "upsample": "deconv", "style_bias": False, "style_rezero": False, "vit_norm": None, "vit_rezero": False},
    ],
)
def test_converter_round_trip_and_config_inference(overrides):
    cfg = RawformerConfig(**{**SMALL, **overrides})
    ours = build_generator(cfg).state_dict()
    official = to_official_generator(ours)
    assert all(k.startswith("net.") for k in official)
    assert any(k.startswith("net.modnet.inner_module.") and ".trans_input.x_const" in k for k in official)
    back = convert_generator(official)
    assert back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)
    inferred = infer_config(official)
    assert all(inferred[k] == getattr(cfg, k) for k in inferred), {k: (inferred[k], getattr(cfg, k)) for k in inferred}
    with pytest.raises(ValueError, match="unexpected key"):
        convert_generator({**official, "net.something.weight": torch.zeros(1)})


def test_discriminator_conversion_and_queue():
    disc = BatchHeadDiscriminator(3, 64, filters=8, queue_size=3)
    assert "body.model.0.parametrizations.weight.original" in disc.state_dict()  # new-style spectral norm, as official
    converted = convert_discriminator({"_" + k: v for k, v in disc.state_dict().items() if not k.startswith("queues.")})
    assert set(converted) == {k for k in disc.state_dict() if not k.startswith("queues.")}
    queue = FeatureQueue(3, (2, 1, 1))
    assert queue.query() is None
    for i in range(4):
        queue.push(torch.full((1, 2, 1, 1), float(i)))
    assert sorted(queue.query().flatten().tolist()) == [1, 1, 2, 2, 3, 3]  # the oldest row was overwritten
    with pytest.raises(ValueError, match="expected rows of shape"):
        queue.push(torch.zeros(1, 3, 1, 1))


def test_condensed_query_attention_matches_the_explicit_formulation():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 6, 16, 24, generator=gen, requires_grad=True) for _ in range(3))
    r = torch.randn(2, 6, 8, 12, generator=gen, requires_grad=True)
    ours = condensed_query_attention(q, k, v, r, 4, 0.3)
    ref = condensed_query_attention_reference(q, k, v, r, 4, 0.3)
    assert torch.allclose(ours, ref, atol=1e-6)
    g_ours = torch.autograd.grad(ours.square().sum(), (q, k, v, r))
    g_ref = torch.autograd.grad(ref.square().sum(), (q, k, v, r))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g_ours, g_ref))
    with pytest.raises(ValueError, match="multiples of 64"):
        condensed_query_attention(q[..., :10], k[..., :10], v[..., :10], r[..., :5], 4, 0.3)


@pytest.mark.compile
def test_fused_condensed_query_attention_matches_eager():
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 4, 16, 16, generator=gen, requires_grad=True) for _ in range(3))
    r = torch.randn(1, 4, 8, 8, generator=gen, requires_grad=True)
    eager, fused = condensed_query_attention(q, k, v, r, 4, 0.5), condensed_query_attention_fused(q, k, v, r, 4, 0.5)
    assert torch.allclose(eager, fused, atol=1e-5)
    g_eager = torch.autograd.grad(eager.sum(), (q, r))
    g_fused = torch.autograd.grad(fused.sum(), (q, r))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g_eager, g_fused))


@pytest.mark.compile
def test_fused_demodulation_and_rezero_norm_match_eager():
    gen = torch.Generator().manual_seed(4)
    out, style = torch.randn(2, 3, 4, 4, generator=gen, requires_grad=True), torch.randn(2, 5, generator=gen, requires_grad=True)
    weight = torch.randn(3, 5, 1, 1, generator=gen)
    eager, fused = demodulate(out, style, weight), demodulate_fused(out, style, weight)
    assert torch.allclose(eager, fused, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(torch.autograd.grad(eager.sum(), (out, style)), torch.autograd.grad(fused.sum(), (out, style))))
    x, u = torch.randn(2, 7, 8, generator=gen, requires_grad=True), torch.randn(2, 7, 8, generator=gen, requires_grad=True)
    w, b, alpha = torch.randn(8, generator=gen), torch.randn(8, generator=gen), torch.tensor([0.3])
    eager = sum(t.square().sum() for t in rezero_residual_layer_norm(x, u, alpha, w, b))
    fused = sum(t.square().sum() for t in rezero_residual_layer_norm_fused(x, u, alpha, w, b))
    assert torch.allclose(eager, fused, atol=1e-4)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(torch.autograd.grad(eager, (x, u)), torch.autograd.grad(fused, (x, u))))


def test_demodulation_and_rezero_norm_ops():
    gen = torch.Generator().manual_seed(2)
    out, style, weight = torch.randn(2, 3, 4, 4, generator=gen), torch.randn(2, 5, generator=gen), torch.randn(3, 5, 1, 1, generator=gen)
    explicit = out / torch.sqrt(((style[:, None, :] * weight[None, :, :, 0, 0]) ** 2).sum(-1) + 1e-6)[:, :, None, None]
    assert torch.allclose(demodulate(out, style, weight), explicit, atol=1e-6)
    x, u, w, b = torch.randn(2, 7, 8, generator=gen), torch.randn(2, 7, 8, generator=gen), torch.randn(8, generator=gen), torch.randn(8, generator=gen)
    y, n = rezero_residual_layer_norm(x, u, torch.tensor([0.3]), w, b)
    assert torch.allclose(y, x + 0.3 * u) and torch.allclose(n, torch.nn.functional.layer_norm(x + 0.3 * u, (8,), w, b))


def test_predict_any_size_and_tiling_is_seamless():
    torch.manual_seed(0)
    model = Rawformer(RawformerConfig(**SMALL)).eval()
    x = torch.rand(3, 70, 100)
    y = model.predict(x)
    assert y.shape == (3, 70, 100) and 0 <= float(y.min()) and float(y.max()) <= 1
    assert model.predict(x, direction="ba").shape == (3, 70, 100)
    # A position-wise function tiles exactly: blending weights sum to one everywhere.
    z = torch.rand(1, 2, 150, 131)
    assert torch.allclose(tiled_apply(lambda t: 2 * t + 1, z, 64, 16, 64), 2 * z + 1, atol=1e-6)
    # The tiled generator stays close to the whole-image output (only tile borders see less context).
    model.config.tile = 64
    tiled = model.predict(torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(3)))
    model.config.tile = 512
    whole = model.predict(torch.rand(3, 128, 128, generator=torch.Generator().manual_seed(3)))
    assert (tiled - whole).abs().mean() < 0.05


def test_predict_accepts_files_arrays_and_refuses_bad_input(tmp_path):
    model = Rawformer(RawformerConfig(**SMALL)).eval()
    image = (np.random.default_rng(0).random((64, 64, 3)) * 65535).astype(np.uint16)
    assert model.predict(image).shape == (64, 64, 3)
    Image.fromarray((image // 256).astype(np.uint8)).save(tmp_path / "a.png")
    assert model.predict(str(tmp_path / "a.png")).size == (64, 64)
    with pytest.raises(ValueError, match=r"expected shape \(3, H, W\)"):
        model.predict(torch.rand(4, 64, 64))
    with pytest.raises(ValueError, match=r"\[0(\.0)?, 1(\.0)?\]"):
        model.predict(torch.rand(3, 64, 64) * 3)
    with pytest.raises(ValueError, match="direction"):
        model.predict(torch.rand(3, 64, 64), direction="ac")
    with pytest.raises(ValueError, match="RGB"):
        model.predict(Image.new("L", (64, 64)))


def test_synthetic_cameras_pair_and_differ():
    paired = SyntheticCameraPairDataset(length=4, crop=64, paired=True, augment=False)
    unpaired = SyntheticCameraPairDataset(length=4, crop=64, paired=False, augment=False)
    s, u = paired[1], unpaired[1]
    assert s["a"].shape == s["b"].shape == (3, 32, 32)
    assert torch.equal(s["a"], u["a"]) and torch.equal(paired[1]["b"], s["b"])  # deterministic
    corr_paired = torch.corrcoef(torch.stack([s["a"].flatten(), s["b"].flatten()]))[0, 1]
    corr_unpaired = torch.corrcoef(torch.stack([u["a"].flatten(), u["b"].flatten()]))[0, 1]
    assert corr_paired > 0.9 and corr_paired > corr_unpaired  # same scene vs another scene
    assert (s["a"] - s["b"]).abs().mean() > 0.005  # but the cameras differ
    clean = SyntheticCameraPairDataset(length=4, crop=64, paired=True, augment=False, noise=False)[1]
    noise_a, noise_b = s["a"] - clean["a"], s["b"] - clean["b"]
    assert noise_a.std() > 1e-3 and noise_b.std() > 1e-3
    assert torch.corrcoef(torch.stack([noise_a.flatten(), noise_b.flatten()]))[0, 1].abs() < 0.2  # each sensor its own noise
    packed = torch.arange(4.0).view(4, 1, 1)  # [B, G, R, G]
    assert packed_to_rgb_planes(packed).flatten().tolist() == [2.0, 2.0, 0.0]


def test_image_folder_layout(tmp_path):
    for split in ("train", "test"):
        for domain in "AB":
            (tmp_path / f"{split}{domain}").mkdir()
            for i in range(2):
                Image.fromarray(np.full((40, 40, 3), 40 * i + (domain == "B") * 10, np.uint8)).save(tmp_path / f"{split}{domain}" / f"{i}.png")
    data = UnpairedImageFolderDataModule(str(tmp_path), size=None, crop=32, batch_size=2, num_workers=0)
    data.setup("fit")
    test = data.eval_set[1]
    assert test["a"].shape == (3, 32, 32) and torch.allclose(test["b"] - test["a"], torch.full_like(test["a"], 10 / 255))
    assert next(iter(data.train_dataloader()))["a"].shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="expected images in"):
        UnpairedImageFolderDataModule(str(tmp_path / "missing")).setup("fit")


def _trainer(root, epochs, **kwargs):
    return L.Trainer(
        max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=root, **kwargs,
    )


def test_training_fills_queues_and_resumes_to_the_same_weights(tmp_path):
    data = lambda: SyntheticCameraPairDataModule(batch_size=1, crop=128, train_length=3, eval_length=1)  # noqa: E731
    cfg = RawformerConfig(**SMALL, ema_decay=0.5)
    L.seed_everything(0)
    straight = Rawformer(cfg)
    _trainer(tmp_path / "a", 2, enable_checkpointing=False).fit(straight, data())
    L.seed_everything(0)
    first = Rawformer(cfg)
    _trainer(tmp_path / "b", 1, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)]).fit(first, data())
    resumed = Rawformer(cfg)
    _trainer(tmp_path / "b", 2, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)]).fit(
        resumed, data(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt")
    )
    assert int(resumed.generator_steps) == int(straight.generator_steps) == 6
    queue = straight.discriminators["b"].queues["fake"]
    assert int(queue.filled) == 3 and queue.rows.abs().sum() > 0
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_pretraining_masks_patches_and_initialises_both_generators(tmp_path):
    x = torch.ones(2, 3, 64, 64)
    masked = mask_patches(x, 8, 0.4, torch.Generator().manual_seed(0))
    blocks = masked[:, 0].unfold(1, 8, 8).unfold(2, 8, 8)
    assert set(blocks.amax((-1, -2)).unique().tolist()) == {0.0, 1.0}
    assert torch.equal(blocks.amax((-1, -2)), blocks.amin((-1, -2)))  # whole patches only
    auto = RawformerAutoencoder(RawformerConfig(**SMALL).__dict__ | {"mask_patch": 8})
    _trainer(tmp_path, 1, enable_checkpointing=False, limit_train_batches=2).fit(
        auto, SyntheticCameraPairDataModule(batch_size=1, crop=128, train_length=2, eval_length=1)
    )
    auto.save_pretrained(tmp_path / "pre")
    model = Rawformer(RawformerConfig(**SMALL, pretrained=str(tmp_path / "pre" / "model.safetensors")))
    model.setup("fit")
    for key, value in auto.net.state_dict().items():
        assert torch.equal(model.net.ab.state_dict()[key], value) and torch.equal(model.net.ba.state_dict()[key], value)


@pytest.mark.compile
def test_frozen_compiled_generator_matches_eager_and_plain_formulation():
    """The bench's three formulations of the generator (plain, zoo eager, zoo compiled with freezing) agree."""
    from zoo.models.rawformer.reference import plain_forward
    from zoo.ops import compile_for_inference

    net = build_generator(RawformerConfig(**SMALL)).eval()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        eager = net(x)
        assert torch.allclose(plain_forward(net, x), eager, atol=1e-5)
        assert torch.allclose(compile_for_inference(net)(x), eager, atol=1e-5)


def _record(**fields):
    base = dict(
        num_params=1, metrics={"psnr": 26.0, "ssim": 0.70}, eval_dataset=EvalDataset("held out", "t", "test", 32, "d"),
        eval_command="c", train_dataset="d", recipe="r", train_steps=1, train_seconds=1.0, train_device="cpu",
    )
    return RawformerRecord(**{**base, **fields})


def test_card_warns_when_identity_mapping_is_not_beaten():
    identity = {"identity (camera A's image as is)": {"psnr": 25.0, "ssim": 0.80}}
    assert "identity mapping on SSIM**" in rawformer_card.limitations(_record(baselines=identity))
    beaten = _record(baselines=identity, metrics={"psnr": 26.0, "ssim": 0.85})
    assert rawformer_card.limitations(beaten) == "" and rawformer_card.limitations(None) == ""


def test_card_shows_recorded_channel_means():
    # in zoo/checkpoints.json's sorted order; the table puts the input first and the ground truth last
    means = {"Rawformer": [0.15, 0.2, 0.07], "camera A (input)": [0.1, 0.15, 0.06], "camera B (ground truth)": [0.2, 0.25, 0.08]}
    table = rawformer_card.colour_table(_record(channel_means=means))
    assert "32 held-out images" in table and "cover 50%, 50%, 50% (R, G, B)" in table
    assert table.index("| camera A") < table.index("| Rawformer | 0.150 | 0.200 | 0.070 |") < table.index("| camera B")
    assert rawformer_card.colour_table(_record()) == "" and rawformer_card.colour_table(None) == ""


def test_shipped_card_renders_from_the_typed_record():
    record = checkpoint_record("rawformer")
    assert isinstance(record, RawformerRecord) and record.pretrain_steps > 0
    notes = rawformer_card.card_notes(get_spec("rawformer"), zoo.load("rawformer").config, record)
    assert f"{record.pretrain_steps} steps" in notes and "Mean R, G, B" in notes
    assert "Stage 1" not in rawformer_card.card_notes(get_spec("rawformer"), RawformerConfig(), None)


def test_make_checkpoint_takes_only_last_as_checkpoint(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    from weights.rawformer import make_checkpoint

    with pytest.raises(ValueError, match="expected 'last'"):
        make_checkpoint(None, tmp_path, "outputs/rawformer/checkpoints/last.ckpt", [])


def test_card_states_identity_loss_deviation_only_when_turned_down():
    assert "Deviation: identity loss at 0 of the cycle weight" in rawformer_card.identity_note(RawformerConfig(w_identity=0.0))
    assert rawformer_card.identity_note(RawformerConfig()) == ""


def test_predict_takes_multiples_of_64_without_padding():
    net = Rawformer(RawformerConfig(**SMALL)).eval()
    assert net.multiple == 64
    x = torch.rand(2, 3, 64, 192, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(net.predict(x), net.inference_net(x).clamp(0, 1), atol=1e-6)
