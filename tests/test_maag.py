"""MAAG: parameter counts, WPCE, attention gates, the official TF checkpoint layout against a NHWC reference forward,
the training step and its exact resume, predict on slices and NIfTI volumes, the ACDC and phantom data modules."""

import math

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from numpy.lib.stride_tricks import sliding_window_view

import zoo
from zoo.data.acdc import SPLITS, UNLABELLED, ACDCScribbleDataModule, crop_or_pad, one_hot
from zoo.data.cardiac_phantoms import CardiacPhantomDataModule, phantom_set, scribbles_from_mask
from zoo.losses.partial import scribble_class_weights, weighted_partial_cross_entropy
from zoo.models.maag.discriminator import MultiResDiscriminator
from zoo.models.maag.model import AttentionGate, SAUNet
from zoo.models.maag.module import MAAG, MAAGConfig, learning_rate

nib = pytest.importorskip("nibabel")

SMALL = dict(n_filters=4, d_filters=4, input_size=32, pixel_spacing=1.0)


# ----------------------------------------------------------------------------- architecture
def test_parameter_counts_at_paper_size():
    g, d = SAUNet(1, 4, 32), MultiResDiscriminator(3, 224, 32)
    n_g, n_d = sum(p.numel() for p in g.parameters()), sum(p.numel() for p in d.parameters())
    assert n_g == 5_493_076 and round(n_g / 1e6, 2) == 5.49
    assert n_d == 638_696 and round(n_d / 1e6, 2) == 0.64
    assert zoo.registry.get_spec("maag").num_params == n_g


def test_attention_gate_shape_and_semantics():
    gate = AttentionGate(6, 4)
    c2, c3 = torch.randn(2, 6, 8, 8), torch.randn(2, 5, 8, 8)
    out, attention = gate(c2, c3)
    assert out.shape == c3.shape and attention.shape == (2, 4, 8, 8)
    torch.testing.assert_close(attention.sum(1), torch.ones(2, 8, 8))
    torch.testing.assert_close(out, c3 * (1 - attention[:, 0:1]))  # foreground probability = 1 - P(background)
    with torch.no_grad():
        gate.conv.weight.zero_()
        gate.conv.bias.copy_(torch.tensor([30.0, 0.0, 0.0, 0.0]))
    assert gate(c2, c3)[0].abs().max() < 1e-9  # sure background: the features are gated off
    with torch.no_grad():
        gate.conv.bias.copy_(torch.tensor([-30.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(gate(c2, c3)[0], c3)


def test_multiscale_maps_and_discriminator_levels():
    net, disc = SAUNet(n_filters=4), MultiResDiscriminator(3, 32, 4)
    logits, attentions = net.multiscale(torch.randn(2, 1, 32, 32))
    assert logits.shape == (2, 4, 32, 32) and [a.shape[-1] for a in attentions] == [16, 8, 4]
    assert SAUNet(n_filters=4, attention_gates=False).multiscale(torch.randn(1, 1, 32, 32))[1] == []
    levels = [torch.softmax(logits, 1)[:, 1:]] + [a[:, 1:] for a in attentions]
    assert disc(levels).shape == (2, 1) and disc(levels[:1]).shape == (2, 1)
    with pytest.raises(ValueError, match="expected 1 or 4"):
        disc(levels[:2])


def test_label_flip_negates_forward_and_passes_the_gradient():
    disc = MultiResDiscriminator(3, 32, 4).eval()  # no power iteration between the two calls
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    plain = disc([x])
    (g_plain,) = torch.autograd.grad(plain.sum(), x)
    flipped = disc([x], flip=True)
    (g_flip,) = torch.autograd.grad(flipped.sum(), x)
    torch.testing.assert_close(flipped, -plain)
    torch.testing.assert_close(g_flip, g_plain)


# ----------------------------------------------------------------------------- WPCE
def test_wpce_ignores_unlabelled_pixels():
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(2, 4, 8, 8, generator=gen), 1)
    labels = torch.randint(0, 4, (2, 8, 8), generator=gen)
    labels[:, 2:6] = UNLABELLED
    scribbles = one_hot(labels)
    assert scribbles[:, :, 2:6].abs().sum() == 0
    other = probs.clone()
    other[:, :, 2:6] = torch.softmax(torch.randn(2, 4, 4, 8, generator=gen), 1)
    torch.testing.assert_close(weighted_partial_cross_entropy(probs, scribbles), weighted_partial_cross_entropy(other, scribbles))
    p = probs.clone().requires_grad_(True)
    weighted_partial_cross_entropy(p, scribbles).backward()
    assert p.grad[:, :, 2:6].abs().max() == 0 and p.grad[:, :, :2].abs().max() > 0


def test_dynamic_weights_and_loss_match_a_hand_computation():
    labels = torch.full((1, 2, 3), UNLABELLED)
    labels[0, 0] = torch.tensor([0, 0, 0])  # three background pixels
    labels[0, 1, 0], labels[0, 1, 1] = 1, 3  # one RV, one LV, one unlabelled; no MYO
    scribbles = one_hot(labels)
    weights = scribble_class_weights(scribbles)
    assert weights[0] == pytest.approx(5 / 3) and weights[1] == pytest.approx(5.0) and weights[3] == pytest.approx(5.0)
    assert weights[2] == pytest.approx(5 / 1e-12)  # absent class: huge weight, multiplied by no pixel
    probs = torch.full((1, 4, 2, 3), 0.25)
    probs[0, :, 0, 0] = torch.tensor([0.7, 0.1, 0.1, 0.1])
    loss = weighted_partial_cross_entropy(probs, scribbles)
    hand = -(5 / 3 * (math.log(0.7) + 2 * math.log(0.25)) + 5 * math.log(0.25) + 5 * math.log(0.25)) / 6  # mean over all 6 pixels
    assert float(loss) == pytest.approx(hand, rel=1e-6)


def test_learning_rate_is_the_official_cyclic_triangle_with_decay():
    peak = 1e-4
    assert learning_rate(0, peak, 0.0, 20, 1e-4) == 0.0
    assert learning_rate(10, peak, 0.0, 20, 1e-4) == pytest.approx(0.5 * peak / (1 + 1e-3))
    assert learning_rate(20, peak, 0.0, 20, 1e-4) == pytest.approx(peak / (1 + 2e-3))
    assert learning_rate(40, peak, 0.0, 20, 1e-4) == 0.0
    assert learning_rate(7, peak, 0.0, 0, 0.0) == peak


# ----------------------------------------------------------------------------- official checkpoint layout
def _tf_pads(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _conv(x, kernel, bias, stride=1, padding="SAME"):
    """tf.nn.conv2d on NHWC with an HWIO kernel, in float64."""
    kh, kw = kernel.shape[:2]
    if padding == "SAME":
        (t, b), (l, r) = _tf_pads(x.shape[1], kh, stride), _tf_pads(x.shape[2], kw, stride)
        x = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel) + bias


def _bn(x, v, scope):
    return (x - v[f"{scope}/moving_mean"]) / np.sqrt(v[f"{scope}/moving_variance"] + 1e-3) * v[f"{scope}/gamma"] + v[f"{scope}/beta"]


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _official_variables(nf=4, classes=4, in_ch=1, size=32, seed=0):
    """Random variables under the official tf.layers names and HWIO shapes (SAUNet + MultiResDiscriminator)."""
    rng = np.random.default_rng(seed)
    v = {}

    def conv(scope, k, cin, cout):
        v[f"{scope}/kernel"] = rng.normal(0, math.sqrt(2 / (k * k * cin)), (k, k, cin, cout)).astype(np.float32)
        v[f"{scope}/bias"] = rng.normal(0, 0.1, cout).astype(np.float32)
        v[f"{scope}/kernel/Adam"] = np.zeros((k, k, cin, cout), np.float32)  # optimiser slots are ignored

    def bn(scope, c):
        v[f"{scope}/gamma"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        v[f"{scope}/beta"] = rng.normal(0, 0.1, c).astype(np.float32)
        v[f"{scope}/moving_mean"] = rng.normal(0, 0.3, c).astype(np.float32)
        v[f"{scope}/moving_variance"] = rng.uniform(0.5, 2.0, c).astype(np.float32)

    g = "Generator/UNet/"
    widths, cin = [nf * 2**i for i in range(4)], in_ch
    for k, w in enumerate(widths):
        s = f"{g}Encoder/encode_brick_{k}"
        conv(f"{s}/conv2d", 3, cin, w), bn(f"{s}/batch_normalization", w), conv(f"{s}/conv2d_1", 3, w, w), bn(f"{s}/batch_normalization_1", w)
        cin = w
    s = f"{g}Bottleneck/code"
    conv(f"{s}/conv2d", 1, cin, 16 * nf), bn(f"{s}/batch_normalization", 16 * nf), conv(f"{s}/conv2d_1", 1, 16 * nf, 16 * nf), bn(f"{s}/batch_normalization_1", 16 * nf)
    cin = 16 * nf
    for k, w in enumerate(widths[::-1]):
        s = f"{g}Decoder/decode_brick_{k}"
        conv(f"{s}/conv2d", 3, cin, w), bn(f"{s}/batch_normalization", w)
        conv(f"{s}/conv2d_1", 3, 2 * w, w), bn(f"{s}/batch_normalization_1", w)
        conv(f"{s}/conv2d_2", 3, w, w), bn(f"{s}/batch_normalization_2", w)
        conv(f"{s}/AttentionMap/conv2d", 1, w, classes)
        cin = w
    conv(f"{g}output/conv2d", 1, nf, classes)
    d = "Discriminator/MultiResDiscriminator/"
    conv(f"{d}conv2d", 4, classes - 1, nf)
    ch = nf
    for i in range(1, 4):
        conv(f"{d}conv2d_{i}", 1, ch, 13)
        out = 2 * nf * 2**i
        conv(f"{d}sn_conv_{i}/sn_conv", 4, 13 + classes - 1, out)
        v[f"{d}sn_conv_{i}/sn_conv/u"] = rng.normal(0, 1, (1, out)).astype(np.float32)
        ch = out
    conv(f"{d}conv2d_4", size // 8, ch, 1)
    v["global_train_step"] = np.array(7, np.int32)
    return v


def _reference_segmentor(v, x):
    """SAUNet's official forward (is_training False) on NHWC ``x``: logits and the attention tensors [2, 1, 0]."""
    gv = {k[len("Generator/UNet/"):]: val.astype(np.float64) for k, val in v.items() if k.startswith("Generator/UNet/")}

    def cbr(h, scope, conv, bn, relu=True):
        h = _bn(_conv(h, gv[f"{scope}/{conv}/kernel"], gv[f"{scope}/{conv}/bias"]), gv, f"{scope}/{bn}")
        return np.maximum(h, 0) if relu else h

    skips, h = [], x
    for k in range(4):
        s = f"Encoder/encode_brick_{k}"
        h = cbr(cbr(h, s, "conv2d", "batch_normalization"), s, "conv2d_1", "batch_normalization_1")
        skips.append(h)
        n, hh, ww, c = h.shape
        h = h.reshape(n, hh // 2, 2, ww // 2, 2, c).max((2, 4))
    h = cbr(cbr(h, "Bottleneck/code", "conv2d", "batch_normalization"), "Bottleneck/code", "conv2d_1", "batch_normalization_1")
    attentions = []
    for k in range(4):
        s = f"Decoder/decode_brick_{k}"
        up = cbr(np.repeat(np.repeat(h, 2, 1), 2, 2), s, "conv2d", "batch_normalization", relu=False)
        c2 = cbr(np.concatenate([up, skips[3 - k]], -1), s, "conv2d_1", "batch_normalization_1")
        c3 = cbr(c2, s, "conv2d_2", "batch_normalization_2")
        a = _softmax(_conv(c2, gv[f"{s}/AttentionMap/conv2d/kernel"], gv[f"{s}/AttentionMap/conv2d/bias"]))
        h = c3 * a[..., 1:].sum(-1, keepdims=True)
        attentions.append(a)
    return _conv(h, gv["output/conv2d/kernel"], gv["output/conv2d/bias"]), attentions[:3][::-1]


def _reference_discriminator(v, levels):
    """MultiResDiscriminator's official forward without noise on NHWC ``levels`` (one power iteration from ``u``)."""
    d = {k[len("Discriminator/MultiResDiscriminator/"):]: val.astype(np.float64) for k, val in v.items() if k.startswith("Discriminator/")}
    h = _conv(levels[0], d["conv2d/kernel"], d["conv2d/bias"], stride=2)
    h = np.where(h > 0, h, 0.2 * h)
    for i in range(1, 4):
        squeezed = 1 / (1 + np.exp(-_conv(h, d[f"conv2d_{i}/kernel"], d[f"conv2d_{i}/bias"])))
        inp = np.concatenate([squeezed, levels[i]], -1)
        w = d[f"sn_conv_{i}/sn_conv/kernel"]
        mat, u = w.reshape(-1, w.shape[-1]), d[f"sn_conv_{i}/sn_conv/u"]
        v_hat = u @ mat.T
        v_hat /= np.linalg.norm(v_hat)
        u_hat = v_hat @ mat
        u_hat /= np.linalg.norm(u_hat)
        sigma = float((v_hat @ mat @ u_hat.T)[0, 0])
        h = np.tanh(_conv(inp, w / sigma, d[f"sn_conv_{i}/sn_conv/bias"], stride=1 if i == 3 else 2))
    return _conv(h, d["conv2d_4/kernel"], d["conv2d_4/bias"], padding="VALID").reshape(len(h), -1)


def test_official_checkpoint_layout_matches_the_tf_reference_forward(tmp_path):
    variables = _official_variables()
    path = tmp_path / "maag_official.npz"
    np.savez(path, **variables)
    model = zoo.load("maag_tiny", weights=path, official=True)
    assert (model.config.n_filters, model.config.input_size, model.config.d_filters, model.config.attention_gates) == (4, 32, 4, True)
    x = np.random.default_rng(1).normal(0, 1, (2, 32, 32, 1))
    expected, expected_att = _reference_segmentor(variables, x)
    with torch.no_grad():
        logits, attentions = model.net.multiscale(torch.from_numpy(x).float().permute(0, 3, 1, 2))
    assert np.abs(logits.permute(0, 2, 3, 1).numpy() - expected).max() <= 1e-4
    for ours, ref in zip(attentions, expected_att):
        assert np.abs(ours.permute(0, 2, 3, 1).numpy() - ref).max() <= 1e-5
    # The discriminator (asymmetric 'same' padding of the stride-1 4x4 conv, spectral norm) in eval mode.
    disc = model.discriminators["mask"].eval()
    levels = [np.random.default_rng(2 + i).uniform(0, 1, (2, 32 // 2**i, 32 // 2**i, 3)) for i in range(4)]
    with torch.no_grad():
        score = disc([torch.from_numpy(lv).float().permute(0, 3, 1, 2) for lv in levels])
    assert np.abs(score.numpy() - _reference_discriminator(variables, levels)).max() <= 1e-4


def test_official_checkpoint_errors_are_clear(tmp_path):
    variables = _official_variables()
    del variables["Generator/UNet/Decoder/decode_brick_1/conv2d_2/bias"]
    np.savez(tmp_path / "broken.npz", **variables)
    with pytest.raises(ValueError, match="decode_brick_1/conv2d_2/bias"):
        zoo.load("maag_tiny", weights=tmp_path / "broken.npz", official=True)
    (tmp_path / "checkpoint-10.index").write_bytes(b"")
    with pytest.raises(ValueError, match="tensorflow"):
        zoo.load("maag_tiny", weights=tmp_path / "checkpoint-10.index", official=True)


# ----------------------------------------------------------------------------- training
def _data(**kw):
    return CardiacPhantomDataModule(**{**dict(size=32, n_scribbled=8, n_unlabelled=8, n_masks=8, n_val=4, n_test=4, batch_size=4, seed=0), **kw})


def _trainer(root, epochs, **kw):
    return L.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                     limit_val_batches=0, default_root_dir=root, **kw)


def _model():
    torch.manual_seed(0)
    return MAAG(MAAGConfig(**SMALL, clr_half_period=0, g_lr=1e-3, d_lr=1e-3))


def test_training_step_updates_segmentor_and_discriminator(tmp_path):
    model = _model()
    _trainer(tmp_path, 1, enable_checkpointing=False, max_steps=1).fit(model, _data())
    assert int(model.generator_steps) == 1
    fresh = _model()
    assert not torch.equal(fresh.net.output.weight, model.net.output.weight)
    opt_g, opt_d = model.optimizers()
    assert len(opt_d.optimizer.state) == len(list(model.discriminators.parameters()))
    assert len(opt_g.optimizer.state) == len(list(model.net.parameters())) + len(list(model.discriminators.parameters()))


def test_interrupted_training_resumes_exactly(tmp_path):
    L.seed_everything(0)
    straight = _model()
    _trainer(tmp_path / "a", 2, enable_checkpointing=False).fit(straight, _data())
    L.seed_everything(0)
    first = _model()
    _trainer(tmp_path / "b", 1, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)]).fit(first, _data())
    resumed = _model()
    _trainer(tmp_path / "b", 2, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)]).fit(resumed, _data(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and any(k.startswith("discriminators.") for k in a)
    assert int(resumed.generator_steps) == 4
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ----------------------------------------------------------------------------- predict
@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MAAG(MAAGConfig(**SMALL)).eval()


def test_predict_keeps_the_geometry_of_slices_volumes_and_tensors(model):
    rng = np.random.default_rng(0)
    assert model.predict(rng.normal(100, 20, (37, 45))).shape == (37, 45)
    volume = rng.normal(100, 20, (30, 26, 3)).astype(np.float32)
    out = model.predict(volume, spacing="2.0")
    assert out.shape == volume.shape and out.dtype == np.uint8 and out.max() <= 3
    labels = model.predict(torch.rand(2, 1, 20, 24))
    assert labels.shape == (2, 20, 24) and labels.dtype == torch.int64


def test_predict_reads_and_writes_nifti_with_its_affine(model, tmp_path):
    affine = np.diag([1.6, 1.4, 8.0, 1.0])
    affine[:3, 3] = [5.0, -3.0, 12.0]
    path = tmp_path / "patient001_frame01.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).normal(200, 50, (28, 34, 2)).astype(np.float32), affine), path)
    labels = model.predict(str(path))
    assert labels.shape == (28, 34, 2) and labels.dtype == np.uint8
    image_out = model.predict(nib.load(path))
    assert np.allclose(image_out.affine, affine) and np.array_equal(np.asanyarray(image_out.dataobj), labels)
    written = model.predict_to_file(str(path), tmp_path / "mask.nii.gz")
    back = nib.load(written)
    assert back.shape == (28, 34, 2) and np.allclose(back.affine, affine) and np.array_equal(np.asanyarray(back.dataobj), labels)


def test_predict_refuses_bad_input_clearly(model, tmp_path):
    with pytest.raises(ValueError, match="4-D array"):
        model.predict(np.zeros((8, 8, 3, 5), np.float32))
    with pytest.raises(ValueError, match=r"\(1, H, W\).*modality"):
        model.predict(torch.rand(1, 2, 16, 16))
    with pytest.raises(ValueError, match="finite"):
        model.predict(np.full((16, 16), np.nan, np.float32))
    with pytest.raises(ValueError, match="spacing"):
        model.predict(np.zeros((16, 16), np.float32), spacing="-1")
    four_d = tmp_path / "patient_4d.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 2, 3), np.float32), np.eye(4)), four_d)
    with pytest.raises(ValueError, match="one frame"):
        model.predict(str(four_d))
    (tmp_path / "bad.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(ValueError, match="readable NIfTI"):
        model.predict(str(tmp_path / "bad.nii.gz"))


def test_cli_predicts_npy_slices_and_nifti_volumes(model, tmp_path):
    from PIL import Image

    from zoo.cli import main

    weights = model.save_pretrained(tmp_path / "w")
    np.save(tmp_path / "slice.npy", np.random.default_rng(0).normal(100, 20, (40, 36)).astype(np.float32))
    assert main(["predict", "maag_tiny", str(tmp_path / "slice.npy"), "-o", str(tmp_path / "mask.png"), "--weights", str(weights)]) == 0
    assert np.asarray(Image.open(tmp_path / "mask.png")).shape == (40, 36)
    nib.save(nib.Nifti1Image(np.random.default_rng(0).normal(100, 20, (20, 24, 2)).astype(np.float32), np.diag([2.0, 2.0, 5.0, 1.0])), tmp_path / "v.nii.gz")
    assert main(["predict", "maag_tiny", str(tmp_path / "v.nii.gz"), "-o", str(tmp_path / "m.nii.gz"), "--weights", str(weights)]) == 0
    assert nib.load(tmp_path / "m.nii.gz").shape == (20, 24, 2)


# ----------------------------------------------------------------------------- data
def test_phantoms_are_seeded_and_scribbles_lie_inside_their_structures():
    a, b = phantom_set(4, 32, seed=3, scribbles="mixed"), phantom_set(4, 32, seed=3, scribbles="mixed")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["images"], phantom_set(4, 32, seed=4)["images"])
    for labels, scribbles in zip(a["labels"], a["scribbles"]):
        for c in (1, 2, 3):
            assert (scribbles == c).any() and np.all(labels[scribbles == c] == c)
        assert (scribbles == 0).any() and np.all(labels[scribbles == 0] == 0)
    with pytest.raises(ValueError, match="kind"):
        scribbles_from_mask(a["labels"][0], np.random.default_rng(0), "dots")


def test_phantom_streams_are_unpaired_and_batches_complete():
    data = _data()
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (4, 1, 32, 32) and batch["real_mask"].shape == (4, 4, 32, 32)
    assert torch.all(batch["scribble"].sum(1) <= 1) and torch.all(batch["mask"].sum(1) == 1)
    assert not torch.equal(batch["real_mask"], batch["mask"])


def _write_acdc(root, ids, shape=(40, 36, 3), zooms=(2.0, 1.5, 10.0), frames=4):
    rng = np.random.default_rng(0)
    for pid in ids:
        folder = root / f"patient{pid:03d}"
        folder.mkdir(parents=True)
        (folder / "Info.cfg").write_text("ED: 1\nES: 3\nGroup: NOR\nHeight: 170.0\nNbFrame: 4\nWeight: 70.0\n")
        affine = np.diag([*zooms, 1.0])
        four_d = rng.normal(300, 80, (*shape, frames)).astype(np.float32)
        img4 = nib.Nifti1Image(four_d, affine)
        img4.header.set_zooms((*zooms, 1.0))
        nib.save(img4, folder / f"patient{pid:03d}_4d.nii.gz")
        for f in (1, 3):
            labels = np.zeros(shape, np.uint8)
            labels[10:20, 10:20], labels[20:28, 12:22], labels[5:10, 25:33] = 3, 2, 1
            scribble = np.full(shape, 4, np.uint8)
            scribble[14:16, 12:18], scribble[22, 14:20], scribble[7, 27:31], scribble[0:2, :] = 3, 2, 1, 0
            for suffix, data in (("", four_d[..., f - 1]), ("_gt", labels), ("_scribble", scribble)):
                nib.save(nib.Nifti1Image(data, affine), folder / f"patient{pid:03d}_frame{f:02d}{suffix}.nii.gz")


def test_acdc_module_reads_a_nifti_tree_as_the_official_preprocessing(tmp_path):
    assert {k: len(v) for k, v in SPLITS["perc25"].items()} == {"test": 15, "validation": 15, "train_unsup": 35, "train_disc": 35, "train_sup": 18}
    split = {"train_sup": [1], "train_unsup": [2], "train_disc": [3], "validation": [4], "test": [4]}
    _write_acdc(tmp_path, [1, 2, 3, 4])
    data = ACDCScribbleDataModule(str(tmp_path), split=split, spacing=1.51, size=32, batch_size=2)
    data.setup("fit")
    assert data.summary() == {"scribbled": 6, "unlabelled": 12, "real_masks": 6, "validation": 6, "test": 6}
    train = data.train_set
    assert train.images.shape == (6, 32, 32)
    # 40 x 36 px at 2.0 x 1.5 mm -> int(52.98) x int(35.76) = 52 x 35 at 1.51 mm, then centre crop / pad to 32 x 32.
    assert np.median(train.images[:3].numpy()) == pytest.approx(0.0, abs=1e-5)  # one frame: standardised as a volume
    item = train[(0, 0, 0)]
    assert item["scribble"].shape == (4, 32, 32) and float(item["scribble"].sum()) < 32 * 32 / 4
    assert set(torch.unique(train.scribbles).tolist()) <= {0, 1, 2, 3, UNLABELLED}
    assert torch.all(item["mask"].sum(0) == 1)
    with pytest.raises(ValueError, match="perc25"):
        ACDCScribbleDataModule(str(tmp_path), split="perc10")


def test_crop_or_pad_is_the_official_centre_crop():
    x = np.arange(6 * 5, dtype=np.float32).reshape(1, 6, 5)
    out = crop_or_pad(x, 4, "edge")
    assert out.shape == (1, 4, 4) and np.array_equal(out[0], x[0, 1:5, 0:4])
    padded = crop_or_pad(x, 8, "zero")
    assert padded.shape == (1, 8, 8) and np.array_equal(padded[0, 1:7, 2:7], x[0])
