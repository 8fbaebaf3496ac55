"""SSGMap: the geometric map (round trip, symmetry, official tables), the official generator converter against a
reference forward written from the official semantics, the losses against hand computations, the data, resume and
predict."""

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.data.faces3d import (
    ASYMMETRIC_EXPRESSIONS, EXPRESSIONS, Faces3DDataModule, ProceduralFaceDataset, decode_label, face_template, make_label,
    write_facescape_hdf5,
)
from zoo.losses.adversarial import interpolated_gradient_penalty, wasserstein_critic_loss
from zoo.models.ssgmap.discriminator import HierarchicalDiscriminator
from zoo.models.ssgmap.geomap import OFFICIAL_HOLES, GeometricMap, barycentric_tables, boundary_loops, fill_holes
from zoo.models.ssgmap.model import SSGMapGenerator, symmetry_error
from zoo.models.ssgmap.module import SSGMap, stargan_lr

ROUND_TRIP_MEAN, ROUND_TRIP_MAX = 0.003, 0.05
"""Bounds on the 64 x 64 map's mesh -> map -> mesh error, template units (the face is 1.6 wide): measured 0.0016 / 0.032."""
FLIP = torch.tensor([-1.0, 1.0, 1.0])


@pytest.fixture(autouse=True)
def one_thread():
    # Two OpenMP threads on two shared, loaded cores spin against each other: one is 5-15x faster here.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def template():
    return face_template()


@pytest.fixture(scope="module")
def gmap64(template):
    return GeometricMap.from_template(template.vertices, template.faces, template.mirror, 64)


def faces(n, seed=0):
    data = ProceduralFaceDataset(n, seed=seed, augment=False)
    items = [data[i] for i in range(n)]
    return torch.stack([it["shape"] for it in items]), torch.stack([it["label"] for it in items])


# ------------------------------------------------------------------------------------------ the map
def test_template_is_a_mirror_symmetric_disk_with_three_holes(template):
    v, m = template.vertices, template.mirror
    assert np.array_equal(m[m], np.arange(len(m)))
    np.testing.assert_allclose(v[m] * [-1, 1, 1], v, atol=1e-12)
    triangles = {tuple(sorted(f)) for f in template.faces.tolist()}
    assert all(tuple(sorted(f)) in triangles for f in m[template.faces].tolist())
    assert len(boundary_loops(template.faces)) == 4


def test_map_round_trip_error_is_under_the_bound(gmap64):
    x, _ = faces(8)
    error = (gmap64.decode(gmap64.encode(x, masked=False)) - x).norm(dim=-1)
    assert float(error.mean()) < ROUND_TRIP_MEAN and float(error.max()) < ROUND_TRIP_MAX
    assert gmap64.coverage() > 0.95  # square: nearly every pixel is on the mesh (holes aside)


def test_map_is_exactly_symmetric(template, gmap64):
    grid = gmap64.grid
    mirrored = grid[torch.as_tensor(template.mirror)] * torch.tensor([1.0, -1.0])  # rows (y) reflect, columns stay
    torch.testing.assert_close(mirrored, grid, atol=1e-6, rtol=0)
    x, _ = faces(2)
    reflected = x[:, torch.as_tensor(template.mirror)] * FLIP
    expected = torch.flip(gmap64.encode(x), dims=[2]) * FLIP.view(1, 3, 1, 1)
    torch.testing.assert_close(gmap64.encode(reflected), expected, atol=1e-5, rtol=0)
    # A symmetric face (neutral expression) has no symmetry error; the hole mask is symmetric too.
    assert torch.equal(gmap64.keep, torch.flip(gmap64.keep, dims=[0]))
    sym = make_label(0, 0, 30.0)
    neutral = x[:1] * 0 + torch.from_numpy(face_template().vertices).float()
    err = symmetry_error(gmap64.encode(neutral), torch.from_numpy(sym)[None], torch.eye(3)[None], gmap64)
    assert float(err.abs().max()) < 1e-5


def test_tables_are_barycentric_and_holes_masked(template, gmap64):
    w = gmap64.weights
    assert float(w.min()) >= 0 and torch.allclose(w.sum(1), torch.ones(len(w)), atol=1e-6)
    hole = gmap64.keep == 0
    assert 0 < int(hole.sum()) < 0.1 * hole.numel()
    x, _ = faces(1)
    assert float(gmap64.encode(x)[0][:, hole].abs().max()) == 0.0


def test_naive_cylindrical_map_wastes_pixels(template):
    naive = GeometricMap.from_template(template.vertices, template.faces, template.mirror, 64, kind="cylindrical")
    assert naive.coverage() < 0.8


def test_official_layout_tables_load_back(tmp_path, gmap64):
    h5py = pytest.importorskip("h5py")
    tables = gmap64.official_tables()
    with h5py.File(tmp_path / "grid.hdf5", "w") as f:
        for key, value in tables.items():
            f[key] = value
    loaded = GeometricMap.from_official(tmp_path / "grid.hdf5")
    assert torch.equal(loaded.indices, gmap64.indices) and torch.allclose(loaded.weights, gmap64.weights)
    x, _ = faces(1)
    torch.testing.assert_close(loaded.encode(x, masked=False), gmap64.encode(x, masked=False))
    # The official normalisation 2 g / (S - 1) - 1 of the pixel positions g, where ours is exact: (2 g + 1) / S - 1.
    g = ((gmap64.grid + 1) * 64 - 1) / 2
    torch.testing.assert_close(loaded.grid, 2 * g / 63 - 1, atol=1e-5, rtol=0)
    np.testing.assert_allclose(loaded.official_tables()["gridxy"], tables["gridxy"], atol=1e-5)


@pytest.mark.skipif(not os.environ.get("ZOO_SSGMAP_OFFICIAL"), reason="set ZOO_SSGMAP_OFFICIAL to a checkout of the official repository")
def test_tables_reproduce_the_official_grid_from_its_2d_template():
    h5py, trimesh = pytest.importorskip("h5py"), pytest.importorskip("trimesh")
    root = Path(os.environ["ZOO_SSGMAP_OFFICIAL"])
    flat = trimesh.load(root / "template" / "2D_template.ply", process=False)
    with h5py.File(root / "grid.hdf5") as f:
        official = {k: np.asarray(f[k]) for k in ("IX", "IY", "IZ", "WX", "WY", "WZ", "gridxy")}
    uv = official["gridxy"]
    v, f, _, _, n_real = fill_holes(np.c_[uv, np.zeros(len(uv))], np.asarray(flat.faces), np.arange(len(uv)))
    ours = barycentric_tables(v[:, :2], f, len(uv), n_real, 128)

    def as_dicts(idx, w):
        return [{int(i): float(x) for i, x in zip(a, b) if x > 1e-9} for a, b in zip(idx, w)]

    idx = np.round(np.concatenate([official[k] for k in ("IX", "IY", "IZ")], 1)).astype(int)
    w = np.concatenate([official[k] for k in ("WX", "WY", "WZ")], 1)
    for a, b in zip(as_dicts(idx, w), as_dicts(ours["indices"], ours["weights"])):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) < 1e-6 for k in a)


# ------------------------------------------------------------------------------------------ networks
def test_parameter_counts_at_paper_size(template):
    g128 = GeometricMap.from_template(template.vertices, template.faces, template.mirror, 128)
    with torch.device("meta"):
        gen, disc = SSGMapGenerator(g128), HierarchicalDiscriminator(g128)
    assert sum(p.numel() for p in gen.parameters()) == 8_493_248
    assert sum(p.numel() for p in disc.parameters()) == 44_931_648
    assert len(gen.state_dict()) == 103


def test_factorised_stem_equals_the_tiled_label_concatenation(gmap64):
    gen = SSGMapGenerator(gmap64, conv_dim=4, repeat_num=1)
    m, c = torch.randn(2, 3, 64, 64), torch.rand(2, 25)
    tiled = gen.stem[0](torch.cat([m, c[:, :, None, None].expand(-1, -1, 64, 64)], 1))
    torch.testing.assert_close(gen.stem_conv(m, c), tiled, atol=1e-5, rtol=1e-5)


def test_discriminator_heads_weigh_the_three_scales_equally(gmap64):
    disc = HierarchicalDiscriminator(gmap64, 64, conv_dim=4)
    x, _ = faces(2)
    out, cls = disc(x)
    assert out.shape == (2, 3 * 16 * 16) and cls.shape == (2, 25)
    single = HierarchicalDiscriminator(gmap64, 64, conv_dim=4, scales=(3,))
    single.load_state_dict(disc.state_dict())
    torch.testing.assert_close(single(x)[0], out[:, 512:])
    assert torch.equal(out[:, 512:], out[:, 512:513].expand(-1, 256))  # one logit at S/64, repeated 256 times


# ---------------------------------------------------------------------------------------- the losses
def test_gradient_penalty_matches_a_hand_computation():
    w = torch.tensor([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]])  # a linear "critic": 2 logits from 3 inputs

    def critic(x):
        return x.flatten(1) @ w, None

    real, fake = torch.randn(2, 3), torch.randn(2, 3)
    alpha = torch.tensor([[0.3], [0.8]])
    gp = interpolated_gradient_penalty(critic, real, fake, alpha, center=0.01, logit_reduction="sum", norm="rms")
    grad = w.sum(1)  # d(sum of logits)/dx, the same for every sample
    expected = (math.sqrt(float(grad.square().mean())) - 0.01) ** 2
    assert abs(float(gp) - expected) < 1e-5
    # The default (mean logits, L2 norm) is unchanged: ||w.mean(1)|| - 1.
    gp1 = interpolated_gradient_penalty(critic, real, fake, 0.5, center=1.0)
    assert abs(float(gp1) - (float(w.mean(1).norm()) - 1.0) ** 2) < 1e-5
    assert float(wasserstein_critic_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5]))) == -2.0


def test_symmetry_error_matches_a_hand_computation():
    geomap = GeometricMap(torch.zeros(16, 3, dtype=torch.long), torch.ones(16, 3) / 3, torch.zeros(1, 2), torch.zeros(4, 4, dtype=torch.bool))
    gmap = torch.arange(48, dtype=torch.float32).view(1, 3, 4, 4)
    label = torch.zeros(2, 25)
    label[0, 22] = 1.0  # the first face symmetric, the second asymmetric
    err = symmetry_error(gmap.expand(2, -1, -1, -1), label, torch.eye(3).expand(2, 3, 3), geomap)
    flipped = gmap.flip(2)  # row r <-> row 3 - r
    torch.testing.assert_close(err[0, 0], gmap[0, 0] + flipped[0, 0])
    torch.testing.assert_close(err[0, 1:], gmap[0, 1:] - flipped[0, 1:])
    assert float(err[1].abs().max()) == 0.0
    # The rotation is undone before the comparison: a rotated symmetric map has no error.
    r = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    sym = torch.stack([gmap[0, 0] - gmap[0, 0].flip(0), gmap[0, 1] + gmap[0, 1].flip(0), gmap[0, 2] + gmap[0, 2].flip(0)])[None]
    rotated = torch.einsum("bchw,cd->bdhw", sym, r)  # each pixel's xyz times r, as v @ r
    assert float(symmetry_error(rotated, label[:1], r[None], geomap).abs().max()) < 1e-5


def test_stargan_schedule_matches_the_official_loop():
    base, n, decay, step = 1.0, 50, 20, 3
    lr, official = base, []
    for i in range(n):
        official.append(lr)
        if (i + 1) % step == 0 and (i + 1) > n - decay:
            lr -= base / decay
    assert [stargan_lr(base, i, n, decay, step) for i in range(n)] == pytest.approx(official)
    assert stargan_lr(1e-4, 399_999, 400_000, 200_000, 1000) == pytest.approx(1e-4 * (1 - 199 / 200_000))


def test_attribute_and_generator_terms_match_hand_computations():
    model = SSGMap({"map_size": 64, "conv_dim": 4, "repeat_num": 1, "d_conv_dim": 4})
    model.build_training_parts()
    logits, label = torch.tensor([[0.5] * 24 + [0.2]]), torch.tensor([[1.0] + [0.0] * 23 + [-0.5]])
    cls, reg = model.attribute_losses(logits, label)
    p = 1 / (1 + math.exp(-0.5))
    assert abs(float(cls) - (-(math.log(p) + 23 * math.log(1 - p)) / 24)) < 1e-6 and abs(float(reg) - 0.49) < 1e-6
    x, c = faces(2)
    torch.manual_seed(0)
    terms = model.generator_terms(x, c, c.flip(0), torch.eye(3).expand(2, 3, 3))
    fake, _ = model.net(x, c.flip(0))
    torch.testing.assert_close(terms["rec"], (x - model.net(fake, c)[0]).abs().mean())
    torch.testing.assert_close(terms["idn"], (x - model.net(x, c)[0]).abs().mean())
    torch.testing.assert_close(terms["adv"], -model.discriminators["D"](fake)[0].mean())


# ------------------------------------------------------------------------- the official generator
def _official_state(conv_dim, repeat, c_dim=25, seed=0):
    """A random state_dict in the official layout (StarGAN's Generator: main.N.*)."""
    gen = torch.Generator().manual_seed(seed)
    d = conv_dim
    state = {}

    def conv(i, cout, cin, k, prefix="main"):
        state[f"{prefix}.{i}.weight"] = torch.randn(cout, cin, k, k, generator=gen) * (2 / (k * k * cout)) ** 0.5

    def norm(i, ch, prefix="main"):
        state[f"{prefix}.{i}.weight"] = 1 + 0.1 * torch.randn(ch, generator=gen)
        state[f"{prefix}.{i}.bias"] = 0.1 * torch.randn(ch, generator=gen)
        state[f"{prefix}.{i}.running_mean"] = torch.randn(ch, generator=gen)
        state[f"{prefix}.{i}.running_var"] = torch.rand(ch, generator=gen) + 0.5
        state[f"{prefix}.{i}.num_batches_tracked"] = torch.tensor(0)

    conv(0, d, 3 + c_dim, 7), norm(1, d), conv(3, 2 * d, d, 4), norm(4, 2 * d), conv(6, 4 * d, 2 * d, 4), norm(7, 4 * d)
    for b in range(repeat):
        p = f"main.{9 + b}.main"
        conv(0, 4 * d, 4 * d, 3, p), norm(1, 4 * d, p), conv(3, 4 * d, 4 * d, 3, p), norm(4, 4 * d, p)
    n = repeat
    state[f"main.{9 + n}.weight"] = 0.1 * torch.randn(4 * d, 2 * d, 4, 4, generator=gen)
    norm(10 + n, 2 * d)
    state[f"main.{12 + n}.weight"] = 0.1 * torch.randn(2 * d, d, 4, 4, generator=gen)
    norm(13 + n, d)
    conv(15 + n, 3, d, 7)
    return state


def _official_forward(state, tables, x, c, r):
    """The official Generator.forward, written from its semantics: barycentric map (128 rows), three zeroed
    rectangles, the tiled label, main (instance norm on each instance's own statistics, as the demo runs it in train
    mode), the rotated and masked symmetry error gated by c[:, 22], grid_sample at 2 g / 127 - 1."""
    idx = [torch.from_numpy(np.round(tables[k][:, 0]).astype(np.int64)) for k in ("IX", "IY", "IZ")]
    w = [torch.from_numpy(tables[k]).float().view(1, -1, 1) for k in ("WX", "WY", "WZ")]
    grid = 2 * torch.from_numpy(tables["gridxy"]).float() / 127.0 - 1
    h = sum(wk * x[:, ik] for wk, ik in zip(w, idx)).permute(0, 2, 1).reshape(len(x), 3, 128, 128).clone()
    for rows, cols in OFFICIAL_HOLES:
        h[:, :, rows, cols] = 0
    h = torch.cat([h, c[:, :, None, None].expand(-1, -1, 128, 128)], 1)

    def inorm(t, i, p="main"):
        return F.instance_norm(t, weight=state[f"{p}.{i}.weight"], bias=state[f"{p}.{i}.bias"])

    h = F.relu(inorm(F.conv2d(h, state["main.0.weight"], padding=3), 1))
    h = F.relu(inorm(F.conv2d(h, state["main.3.weight"], stride=2, padding=1), 4))
    h = F.relu(inorm(F.conv2d(h, state["main.6.weight"], stride=2, padding=1), 7))
    n = len({k.split(".")[1] for k in state if ".main." in k})
    for b in range(n):
        p = f"main.{9 + b}.main"
        t = F.relu(inorm(F.conv2d(h, state[f"{p}.0.weight"], padding=1), 1, p))
        h = h + inorm(F.conv2d(t, state[f"{p}.3.weight"], padding=1), 4, p)
    h = F.relu(inorm(F.conv_transpose2d(h, state[f"main.{9 + n}.weight"], stride=2, padding=1), 10 + n))
    h = F.relu(inorm(F.conv_transpose2d(h, state[f"main.{12 + n}.weight"], stride=2, padding=1), 13 + n))
    out = F.conv2d(h, state[f"main.{15 + n}.weight"], padding=3)
    upright = torch.bmm(out.permute(0, 2, 3, 1).reshape(len(x), -1, 3), r.permute(0, 2, 1)).permute(0, 2, 1).reshape(out.shape).clone()
    for rows, cols in OFFICIAL_HOLES:
        upright[:, :, rows, cols] = 0
    flipped = torch.flip(upright, dims=[2])
    sym = torch.stack([upright[:, 0] + flipped[:, 0], upright[:, 1] - flipped[:, 1], upright[:, 2] - flipped[:, 2]], 1) * c[:, 22].view(-1, 1, 1, 1)
    vertices = F.grid_sample(out, grid.view(1, 1, -1, 2).expand(len(x), -1, -1, -1), mode="bilinear", padding_mode="border", align_corners=False)
    return vertices[:, :, 0].permute(0, 2, 1), sym


def test_official_generator_converts_and_matches_the_official_forward(tmp_path, template):
    h5py = pytest.importorskip("h5py")
    g128 = GeometricMap.from_template(template.vertices, template.faces, template.mirror, 128)
    tables = g128.official_tables()
    (tmp_path / "saved_model").mkdir()
    with h5py.File(tmp_path / "grid.hdf5", "w") as f:  # the official repository's layout
        for key, value in tables.items():
            f[key] = value
    state = _official_state(conv_dim=4, repeat=2)
    torch.save(state, tmp_path / "saved_model" / "g_model.pth")
    model = zoo.load("ssgmap", weights=tmp_path / "saved_model" / "g_model.pth", official=True)
    assert (model.config.conv_dim, model.config.repeat_num, model.config.grid_file) == (4, 2, str(tmp_path / "grid.hdf5"))
    x, c = faces(2)
    r = torch.from_numpy(np.stack([np.eye(3), np.array([[0.98, -0.17, 0], [0.17, 0.98, 0], [0, 0, 1]])])).float()
    ref_v, ref_sym = _official_forward(state, tables, x, c, r)
    with torch.no_grad():
        ours_v, ours_sym = model.inference_net(x, c, r)
        assert torch.equal(model(x, c), ours_v)
    assert float((ours_v - ref_v).abs().max()) < 1e-4 and float((ours_sym - ref_sym).abs().max()) < 1e-4
    assert float((ref_v - x).abs().max()) > 0.1  # the fixture is not trivially satisfied
    for key in ("stem.1.running_mean", "blocks.1.body.4.running_var", "up.1.1.weight", "head.weight"):
        assert key in model.net.state_dict()


def test_converter_refuses_other_checkpoints(tmp_path):
    torch.save({"model.1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "g.pth")
    with pytest.raises(ValueError, match="StarGAN Generator"):
        zoo.load("ssgmap", weights=tmp_path / "g.pth", official=True)


# --------------------------------------------------------------------------------------------- data
def test_procedural_attributes_are_known_and_paired():
    data = ProceduralFaceDataset(64, seed=3, augment=False, paired=True)
    model = SSGMap({"map_size": 64, "conv_dim": 4, "repeat_num": 1})
    for i in range(12):
        item, f = data[i], data.factors(i)
        assert decode_label(item["label"].numpy())[:2] == (f.expression, f.gender)
        err = float(model.mirror_error(item["shape"][None]))
        assert (err > 1e-3) if f.expression in ASYMMETRIC_EXPRESSIONS else (err < 1e-5)
        same = data.faces.shape(f.with_attributes(*decode_label(item["target_label"].numpy())))
        np.testing.assert_allclose(item["target_shape"].numpy(), same, atol=1e-5)
    assert len({decode_label(data[i]["label"].numpy())[0] for i in range(64)}) > 12
    assert EXPRESSIONS[4] == "jaw_left" and EXPRESSIONS[8] == "mouth_right"


def test_mean_face_is_the_expected_face_and_symmetric(template):
    from zoo.data.faces3d import ProceduralFaces

    mean = ProceduralFaces().mean_shape()
    np.testing.assert_allclose(mean, mean[template.mirror] * FLIP.numpy(), atol=1e-12)
    shapes, _ = faces(2000, seed=5)
    assert np.abs(shapes.numpy().mean(0) - mean).max() < 0.01  # the sample mean of 2000 faces (measured 0.002)


def test_augmentation_switches_apply_scale_and_rotation_separately():
    plain = ProceduralFaceDataset(4, seed=1, augment=False)[2]
    rot_only = ProceduralFaceDataset(4, seed=1, random_scale=False)[2]
    both = ProceduralFaceDataset(4, seed=1)[2]
    assert float(rot_only["scale"]) == 1.0 and float(both["scale"]) != 1.0
    torch.testing.assert_close(rot_only["rotation"], both["rotation"])
    torch.testing.assert_close(rot_only["shape"], plain["shape"] @ rot_only["rotation"])


def test_face_normalisation_follows_the_input_position_and_size():
    """With ``normalisation="face"`` the generator's output moves and stretches (per axis) with its input exactly
    (instance norm makes the official one blind to both); the default is the official model."""
    x, c = faces(2)
    gain, shift = torch.tensor([1.3, 0.8, 1.1]), torch.tensor([0.2, -0.1, 0.05])
    moved = gain * x + shift
    torch.manual_seed(0)
    face = SSGMap({"map_size": 64, "conv_dim": 4, "repeat_num": 1, "normalisation": "face"}).eval()
    torch.testing.assert_close(face(moved, c), gain * face(x, c) + shift, atol=2e-5, rtol=1e-4)
    torch.manual_seed(0)
    plain = SSGMap({"map_size": 64, "conv_dim": 4, "repeat_num": 1}).eval()
    assert float((plain(moved, c) - gain * plain(x, c) - shift).abs().max()) > 1e-2
    with pytest.raises(ValueError, match="normalisation"):
        SSGMap({"map_size": 64, "conv_dim": 4, "repeat_num": 1, "normalisation": "per_axis"})


def test_mean_face_normalisation_adds_the_mean_back(gmap64):
    """``normalisation="mean_face"``: G(x) = G_0(x - mean) + mean, and D sees ``x - mean``."""
    from zoo.data.faces3d import ProceduralFaces

    mean = torch.from_numpy(ProceduralFaces().mean_shape()).float()
    x, c = faces(2)
    torch.manual_seed(0)
    official = SSGMapGenerator(gmap64, conv_dim=4, repeat_num=1).eval()
    centred = SSGMapGenerator(gmap64, conv_dim=4, repeat_num=1, centre=mean).eval()
    centred.load_state_dict(official.state_dict())
    torch.testing.assert_close(centred(x, c)[0], official(x - mean, c)[0] + mean, atol=1e-5, rtol=1e-5)
    assert set(centred.state_dict()) == set(official.state_dict())  # the weights files keep the official keys


def test_facescape_hdf5_module_reads_the_official_layout(tmp_path):
    shapes, labels = faces(6)
    path = write_facescape_hdf5(tmp_path / "training_data.hdf5", shapes.numpy(), labels.numpy())
    dm = Faces3DDataModule(path=str(path), eval_length=2, batch_size=2, seed=5)
    dm.setup("fit")
    assert len(dm.train_set) == 4 and len(dm.eval_set) == 2
    batch = next(iter(dm.train_dataloader()))
    assert batch["shape"].shape == (2, shapes.shape[1], 3) and batch["label"].shape == (2, 25)
    again = next(iter(dm.train_dataloader()))
    assert torch.equal(batch["shape"], again["shape"])  # seeded order and augmentation
    item, plain = dm.train_set[0], dm.eval_set.__class__(path, augment=False)[0]
    torch.testing.assert_close(item["shape"], plain["shape"] * item["scale"] @ item["rotation"], atol=1e-5, rtol=0)
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "bad.hdf5", "w") as f:
        f["shape"] = shapes.numpy()
    with pytest.raises(ValueError, match="expected keys 'shape' and 'label'"):
        dm.train_set.__class__(tmp_path / "bad.hdf5")


def test_resume_is_exact(tmp_path):
    import lightning as L

    cfg = {"map_size": 32, "conv_dim": 4, "repeat_num": 1, "d_conv_dim": 4, "d_repeat_num": 5, "num_iters": 4, "num_iters_decay": 2, "lr_update_step": 1}

    def run(steps, ckpt=None, root="a"):
        torch.manual_seed(0)
        model = SSGMap(cfg)
        dm = Faces3DDataModule(train_length=8, eval_length=2, batch_size=2, seed=1)
        trainer = L.Trainer(
            max_epochs=steps, limit_train_batches=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
            default_root_dir=tmp_path / root, num_sanity_val_steps=0, limit_val_batches=0, accelerator="cpu",
        )
        trainer.fit(model, dm, ckpt_path=ckpt)
        return model, trainer

    straight, _ = run(4)
    _, first = run(2, root="b")
    ckpt = tmp_path / "half.ckpt"
    first.save_checkpoint(ckpt)
    resumed, _ = run(4, ckpt=str(ckpt), root="b")
    assert int(resumed.generator_steps) == 4
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_steps_are_counted_as_the_official_solver(tmp_path):
    import lightning as L

    # n_critic 2: D steps every iteration, G every second; training stops after num_iters iterations (data for 8).
    cfg = {"map_size": 32, "conv_dim": 4, "repeat_num": 1, "d_conv_dim": 4, "d_repeat_num": 5, "num_iters": 5, "num_iters_decay": 0, "n_critic": 2}
    model = SSGMap(cfg)
    dm = Faces3DDataModule(train_length=16, eval_length=2, batch_size=2, seed=1)
    trainer = L.Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
        default_root_dir=tmp_path, num_sanity_val_steps=0, limit_val_batches=0, accelerator="cpu",
    )
    trainer.fit(model, dm)
    assert model.step_counts() == {"iterations": 5, "discriminator_steps": 5, "generator_steps": 2}
    assert trainer.global_step == 5 + 2  # Lightning counts both optimisers' steps


def test_card_gives_the_reason_of_each_short_run_change():
    from zoo.models.ssgmap.card import SHORT_RUN_REASONS, _reasons
    from zoo.models.ssgmap.module import SSGMapConfig

    assert _reasons(SSGMapConfig()) == ""
    text = _reasons(SSGMapConfig(lambda_idn=10.0))
    assert "`lambda_idn`" in text and SHORT_RUN_REASONS["lambda_idn"] in text and "`g_lr`" not in text


def test_card_reports_what_each_rows_discriminator_reads():
    from types import SimpleNamespace

    from zoo.models.ssgmap.card import _discriminator_sentence

    assert _discriminator_sentence(SimpleNamespace(row_discriminator_accuracy={})) == ""  # a record from before the field
    record = SimpleNamespace(row_discriminator_accuracy={
        "SSGMap": {"expression_accuracy": 0.0625, "gender_accuracy": 0.9375, "age_error_years": 4.25},
        "naive cylindrical UV map": {"expression_accuracy": 0.125, "gender_accuracy": 0.5, "age_error_years": 12.0},
    })
    text = _discriminator_sentence(record)
    assert "SSGMap: expression 6 %, gender 94 %, age error 4.2 years" in text
    assert "naive cylindrical UV map: expression 12 %, gender 50 %, age error 12.0 years" in text
    same = {"expression_accuracy": 0.04, "gender_accuracy": 0.49, "age_error_years": 13.4, "expression_answers": 1}
    text = _discriminator_sentence(SimpleNamespace(row_discriminator_accuracy={"SSGMap": same, "naive cylindrical UV map": same}))
    assert "every row: expression 4 %, gender 49 %, age error 13.4 years, the same expression answered for every face" in text


# ------------------------------------------------------------------------------------------ predict
@pytest.fixture(scope="module")
def tiny():
    return zoo.create("ssgmap_tiny").eval()


def test_predict_translates_meshes_and_arrays(tiny, tmp_path, template):
    trimesh = pytest.importorskip("trimesh")
    x, _ = faces(1)
    out = tiny.predict(x[0].numpy(), expression="smile", gender="female", age="60")
    assert out.shape == (template.num_vertices, 3) and out.dtype == np.float32
    mesh_path = tmp_path / "face.ply"
    trimesh.Trimesh(x[0].numpy(), template.faces, process=False).export(mesh_path)
    mesh = tiny.predict(str(mesh_path), expression="smile")
    assert isinstance(mesh, trimesh.Trimesh) and np.array_equal(mesh.faces, template.faces)
    np.testing.assert_allclose(mesh.vertices, tiny.predict(x[0].numpy(), expression="smile"), atol=1e-5)
    for suffix in (".ply", ".obj"):
        written = tiny.predict_to_file(str(mesh_path), tmp_path / f"out{suffix}", expression="grin")
        assert len(trimesh.load(written, process=False).vertices) == template.num_vertices
    pair = tiny.predict(tiny.example_predict_input(), expression="smile")
    assert pair[0].shape == (template.num_vertices, 3) and np.array_equal(pair[1], template.faces)
    with pytest.raises(ValueError, match="faces: expected an integer array"):
        tiny.predict((x[0], template.faces + 10_000))
    tensor = tiny.predict(x, age=20)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == x.shape
    variants = tiny.predict_all(x[0].numpy(), source="expression=neutral,gender=male,age=25")
    assert len(variants) == 31 and list(variants)[:2] == ["input", "expression=neutral"]
    np.testing.assert_array_equal(variants["input"], x[0].numpy())


def test_predict_refuses_bad_input(tiny, template):
    x = faces(1)[0][0].numpy()
    with pytest.raises(ValueError, match=f"expected shape \\({template.num_vertices}, 3\\)"):
        tiny.predict(x[:-1], expression="smile")
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        tiny.predict(bad, expression="smile")
    with pytest.raises(ValueError, match="expression: expected one of"):
        tiny.predict(x, expression="laughing")
    with pytest.raises(ValueError, match="gender: expected one of"):
        tiny.predict(x, gender="other")
    with pytest.raises(ValueError, match=r"age: expected a number of years in \[17, 70\]"):
        tiny.predict(x, age="ninety")
    with pytest.raises(ValueError, match="age: expected"):
        tiny.predict(x, age=90)
    with pytest.raises(ValueError, match="source: expected keys"):
        tiny.predict(x, source={"mood": "happy"})
    with pytest.raises(ValueError, match="mesh: expected an existing file"):
        tiny.predict("missing.ply")
