"""BVTON: the paper-doll data and the folder data module, the canonicalizing flow's known answer, each stage's losses,
predict's input checks, and exact resume."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

import zoo
from zoo.data.tryon import (
    GARMENT_PARTS, LOWER, NUM_KEYPOINTS, UPPER, PaperDollDataset, TryOnDataModule, TryOnFolderDataset, render_doll,
)
from zoo.models.bvton.flow import PyramidFlow, compose
from zoo.ops.warp import backward_warp

TRYON_TO_CIHP = {0: 0, 1: 13, 2: 5, 3: 9, 4: 14, 5: 15, 6: 16, 7: 10}
SMALL = {"synth_width": 8, "spade_hidden": 8, "d_filters": 8, "layout_width": 4, "flow_width": 4}


def batch_of(dataset, indices) -> dict[str, torch.Tensor]:
    items = [dataset[i] for i in indices]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


# ------------------------------------------------------------------------------------------------ the paper doll
def test_doll_is_seeded_and_its_references_agree():
    a, b = render_doll(7), render_doll(7)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(render_doll(8)["person"], a["person"])
    parsing = a["parsing"]
    assert {0, 1, UPPER, LOWER, 4, 5, 6} <= set(np.unique(parsing).tolist())
    # the visible garment parts tile the garment's layout class; visible in-shop pixels lie inside the garment
    assert np.array_equal(a["onmodel_parts"].sum(0) > 0, parsing == UPPER)
    assert a["onmodel_parts"].sum(0).max() == 1
    assert (a["garment_visible"] <= a["garment_mask"]).all() and a["garment_visible"].sum() > 50
    # occlusion: the amodal garment is larger than what is seen (arms / trousers over it), never smaller
    assert (a["amodal_mask"] >= (parsing == UPPER)).all()
    assert a["keypoints"].shape == (NUM_KEYPOINTS, 3)
    assert (a["keypoints"][:, 0] >= 0).all() and (a["keypoints"][:, 0] <= 47).all() and (a["keypoints"][:, 1] <= 63).all()
    # in-shop: white outside the garment; the sleeves are separate parts
    assert np.allclose(a["garment"][a["garment_mask"] == 0], 1.0)
    assert a["inshop_parts"].shape == (len(GARMENT_PARTS), 64, 48) and (a["inshop_parts"].sum((1, 2)) > 20).all()


def test_swapped_garment_is_the_same_body_in_another_garment():
    d = PaperDollDataset(3, seed=5, swap=True)[0]
    other = render_doll(6)
    assert torch.equal(d["swap_garment"], torch.from_numpy(other["garment"]).permute(2, 0, 1))
    own = torch.from_numpy(render_doll(5)["person"]).permute(2, 0, 1)
    head = torch.from_numpy(render_doll(5)["parsing"] == 1)
    assert torch.equal(d["swap_person"][:, head], own[:, head])  # the body is the same, the garment is not
    assert not torch.equal(d["swap_person"], own)


def test_unpaired_dolls_hide_the_garment_and_come_from_other_bodies():
    dm = TryOnDataModule(paired_count=4, paired_repeat=2, unpaired_count=4, eval_count=2, batch_size=2)
    dm.setup()
    assert len(dm.train_set) == 12
    unpaired = dm.train_set[8]
    assert unpaired["paired"] == 0 and unpaired["garment"].abs().sum() == 0
    assert not torch.equal(dm.train_set[0]["person"], unpaired["person"])
    assert "swap_person" in dm.eval_set[0]


# ---------------------------------------------------------------------------------------- the known-answer flows
@pytest.mark.parametrize("seed", [0, 3, 11])
def test_exact_part_flows_invert_the_doll_warp_and_compose_into_the_in_shop_garment(seed):
    d = render_doll(seed, size=(128, 96))
    person = torch.from_numpy(d["person"]).permute(2, 0, 1)[None]
    parts = torch.from_numpy(d["onmodel_parts"])[None]
    flows = torch.from_numpy(d["part_flows"])
    garment = person * (parts.sum(1, keepdim=True) > 0)
    images = [backward_warp(garment * parts[:, p : p + 1], flows[p][None]) for p in range(3)]
    masks = [backward_warp(parts[:, p : p + 1], flows[p][None]) for p in range(3)]
    proxy = compose(images, masks)["proxy"][0].permute(1, 2, 0).numpy()
    interior = ndimage.binary_erosion(d["garment_visible"] > 0, iterations=2)
    assert interior.sum() > 200
    assert np.abs(proxy - d["garment"])[interior].mean() < 0.03  # bilinear resampling of sharp stripes is all that differs
    zero = compose([garment * parts[:, p : p + 1] for p in range(3)], [parts[:, p : p + 1] for p in range(3)])["proxy"][0].permute(1, 2, 0).numpy()
    assert np.abs(zero - d["garment"])[interior].mean() > 3 * np.abs(proxy - d["garment"])[interior].mean()


def test_a_flow_network_learns_a_known_shift_with_the_stage_1_losses():
    """The on-model image is the in-shop garment shifted by (3, -2) pixels: the flow that canonicalizes it is (3, -2)."""
    torch.manual_seed(0)
    d = render_doll(2, size=(32, 24))
    inshop = torch.from_numpy(d["garment"]).permute(2, 0, 1)[None]
    mask = torch.from_numpy(d["garment_mask"])[None, None]
    shift = torch.tensor([3.0, -2.0]).view(1, 2, 1, 1)
    onmodel_mask = backward_warp(mask, -shift.expand(1, 2, 32, 24))
    onmodel = backward_warp(inshop * mask, -shift.expand(1, 2, 32, 24))
    net = PyramidFlow(4, 0, 8, 3)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    interior = torch.from_numpy(ndimage.binary_erosion(d["garment_mask"] > 0, iterations=3))
    for _ in range(120):
        flow, _ = net(torch.cat([onmodel, onmodel_mask], 1))
        warped, warped_mask = backward_warp(onmodel, flow), backward_warp(onmodel_mask, flow)
        loss = (warped - inshop * mask).abs().mean() + 10 * (warped_mask - mask).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    error = (flow[0] - shift[0]).norm(dim=0)[interior].mean()
    assert error < 1.0, f"end-point error {float(error):.2f} px of a 3.6 px shift"


# --------------------------------------------------------------------------------------------- the folder layout
def write_vitonhd_tree(root, names=("00001_00.jpg", "00002_00.jpg")):
    for split in ("train", "test"):
        for sub in ("image", "cloth", "cloth-mask", "image-parse-v3", "openpose_json"):
            (root / split / sub).mkdir(parents=True)
        (root / f"{split}_pairs.txt").write_text("".join(f"{n} {n}\n" for n in names))
        for i, name in enumerate(names):
            d = render_doll(40 + i, size=(128, 96))
            stem = name.rsplit(".", 1)[0]
            Image.fromarray((d["person"] * 255).round().astype(np.uint8)).save(root / split / "image" / name, quality=98)
            Image.fromarray((d["garment"] * 255).round().astype(np.uint8)).save(root / split / "cloth" / name, quality=98)
            Image.fromarray((d["garment_mask"] * 255).astype(np.uint8)).save(root / split / "cloth-mask" / name)
            cihp = np.vectorize(TRYON_TO_CIHP.get)(d["parsing"]).astype(np.uint8)
            parse = Image.fromarray(cihp, mode="P")
            parse.putpalette([v for c in range(256) for v in (c * 7 % 256, c * 13 % 256, c * 29 % 256)])
            parse.save(root / split / "image-parse-v3" / f"{stem}.png")
            pose = {"people": [{"pose_keypoints_2d": d["keypoints"].reshape(-1).tolist()}]}
            (root / split / "openpose_json" / f"{stem}_keypoints.json").write_text(json.dumps(pose))


def test_folder_data_module_reads_a_vitonhd_tree(tmp_path):
    write_vitonhd_tree(tmp_path)
    data = TryOnFolderDataset(tmp_path, "train", (64, 48))
    sample = data[1]
    doll = render_doll(41, size=(128, 96))
    assert sample["person"].shape == (3, 64, 48) and sample["garment"].shape == (3, 64, 48)
    expected = torch.from_numpy(doll["parsing"][::2, ::2].copy())
    assert (sample["parsing"] == expected).float().mean() > 0.9  # CIHP labels mapped back, nearest-neighbour resized
    assert torch.allclose(sample["keypoints"][:, :2], (torch.from_numpy(doll["keypoints"][:, :2]) + 0.5) * 0.5 - 0.5, atol=1e-4)
    assert sample["garment_mask"].sum() > 100 and torch.allclose(sample["garment"][:, sample["garment_mask"][0] == 0], torch.ones(1))
    parts = sample["onmodel_parts"]
    assert torch.equal(parts.sum(0) > 0, sample["parsing"] == UPPER) and parts[1:].sum() > 0  # sleeves found from the arms
    dm = TryOnDataModule(root=str(tmp_path), image_size=(64, 48), batch_size=2)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["person"].shape == (2, 3, 64, 48) and len(dm.eval_set) == 2
    unpaired = TryOnFolderDataset(tmp_path, "test", (64, 48), paired=False)[0]
    assert unpaired["swap_garment"].shape == (3, 64, 48)
    with pytest.raises(ValueError, match="expected a vitonhd folder"):
        TryOnFolderDataset(tmp_path / "missing", "train")


TRYON_TO_DRESSCODE = {0: 0, 1: 11, 2: 4, 3: 6, 4: 14, 5: 15, 6: 12, 7: 17}


def write_dresscode_tree(root, ids=("013563", "013564"), missing=7):
    """DressCode's upper_body layout: ``images/<id>_0.jpg`` (person, 1024 x 768 there; 128 x 96 here), ``<id>_1.jpg``
    (in-shop, no cloth mask), ``label_maps/<id>_4.png`` (ATR labels), ``keypoints/<id>_2.json`` (18 x [x, y, score, id]
    in the 384 x 512 frame, keypoint ``missing`` at -1), ``train_pairs.txt`` and ``test_pairs_paired.txt``."""
    base = root / "upper_body"
    for sub in ("images", "label_maps", "keypoints"):
        (base / sub).mkdir(parents=True)
    (base / "train_pairs.txt").write_text("".join(f"{i}_0.jpg {i}_1.jpg\n" for i in ids))
    (base / "test_pairs_paired.txt").write_text(f"{ids[0]}_0.jpg {ids[0]}_1.jpg\n")
    (base / "test_pairs_unpaired.txt").write_text(f"{ids[0]}_0.jpg {ids[1]}_1.jpg\n")
    for k, i in enumerate(ids):
        d = render_doll(50 + k, size=(128, 96))
        Image.fromarray((d["person"] * 255).round().astype(np.uint8)).save(base / "images" / f"{i}_0.jpg", quality=98)
        Image.fromarray((d["garment"] * 255).round().astype(np.uint8)).save(base / "images" / f"{i}_1.jpg", quality=98)
        Image.fromarray(np.vectorize(TRYON_TO_DRESSCODE.get)(d["parsing"]).astype(np.uint8)).save(base / "label_maps" / f"{i}_4.png")
        frame = (d["keypoints"][:, :2] + 0.5) * np.array([384 / 96, 512 / 128]) - 0.5  # pixel centres of the 128 x 96 image
        points = [[float(x), float(y), 0.9, j] for j, (x, y) in enumerate(frame)]
        points[missing] = [-1.0, -1.0, 0.0, missing]
        (base / "keypoints" / f"{i}_2.json").write_text(json.dumps({"keypoints": points}))


def test_folder_data_module_reads_a_dresscode_tree(tmp_path):
    write_dresscode_tree(tmp_path)
    data = TryOnFolderDataset(tmp_path, "train", (64, 48), layout="dresscode")
    assert len(data) == 2
    sample, doll = data[1], render_doll(51, size=(128, 96))
    assert sample["person"].shape == (3, 64, 48) and sample["garment"].shape == (3, 64, 48)
    expected = torch.from_numpy(doll["parsing"][::2, ::2].copy())
    assert (sample["parsing"] == expected).float().mean() > 0.9  # ATR labels mapped back, nearest-neighbour resized
    # keypoints read from the 384 x 512 frame (not the image's size) into the 64 x 48 sample; the missing one has confidence 0
    want = (torch.from_numpy(doll["keypoints"][:, :2]) + 0.5) * 0.5 - 0.5
    seen = torch.arange(NUM_KEYPOINTS) != 7
    assert torch.allclose(sample["keypoints"][seen, :2], want[seen], atol=1e-3)
    assert sample["keypoints"][7, 2] == 0 and (sample["keypoints"][seen, 2] == 1).all()
    # no cloth-mask folder: the mask is the in-shop image's non-white pixels
    true_mask = torch.from_numpy(doll["garment_mask"][::2, ::2].copy())
    assert (sample["garment_mask"][0] == true_mask).float().mean() > 0.95
    parts = sample["onmodel_parts"]
    assert torch.equal(parts.sum(0) > 0, sample["parsing"] == UPPER) and parts[1:].sum() > 0
    dm = TryOnDataModule(root=str(tmp_path), layout="dresscode", image_size=(64, 48), batch_size=2)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["person"].shape == (2, 3, 64, 48) and batch["keypoints"].shape == (2, NUM_KEYPOINTS, 3) and len(dm.eval_set) == 1
    unpaired = TryOnFolderDataset(tmp_path, "test", (64, 48), layout="dresscode", paired=False)
    assert unpaired.pairs == [tuple(line.split()) for line in (tmp_path / "upper_body" / "test_pairs_unpaired.txt").read_text().splitlines()]
    other = unpaired[0]
    assert torch.allclose(other["garment"], data[0]["garment"]) and not torch.allclose(other["swap_garment"], other["garment"])
    with pytest.raises(ValueError, match="expected a dresscode folder"):
        TryOnFolderDataset(tmp_path / "missing", "train", layout="dresscode")


# ------------------------------------------------------------------------------------------------- FID / KID
def test_inception_fid_runs_when_its_weights_file_is_given(tmp_path, monkeypatch):
    """The standard-FID path: torch-fidelity's FID Inception-v3 from a local weights file (here random weights of its
    exact architecture, written by the test: no download), 2048-d features into torchmetrics' FID / KID."""
    pytest.importorskip("torch_fidelity")
    import torch_fidelity.feature_extractor_inceptionv3 as fidelity

    from zoo.metrics.fid import fid_kid, inception_network

    with monkeypatch.context() as patch:  # build the architecture once without its download, save a state_dict
        patch.setattr(fidelity, "load_state_dict_from_url", lambda *args, **kwargs: None)
        patch.setattr(fidelity.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state, *a, **k: None)
        torch.manual_seed(0)
        state = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict()
    for key, value in state.items():  # He-normal convolutions: random features that still tell images apart at depth 48
        if value.ndim == 4:
            value.normal_(0, (2 / value[0].numel()) ** 0.5)
    torch.save(state, tmp_path / "pt_inception.pth")
    features = inception_network(str(tmp_path / "pt_inception.pth"))
    assert features.module.num_features == 2048 and "Inception-v3" in features.kind and "pt_inception.pth" in features.kind
    loaded = features.module.net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())  # the given file's weights, not a download's
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(2, 3, 64, 48, generator=g), torch.rand(2, 3, 64, 48, generator=g).mul(0.3)  # 299 x 299 inside: few images
    with torch.no_grad():
        assert features.module(real).shape == (2, 2048)
    same, apart = fid_kid(real, real, features, kid_subset_size=2, kid_subsets=2), fid_kid(real, fake, features, kid_subset_size=2, kid_subsets=2)
    assert abs(same["fid"]) < 1e-3 * apart["fid"] and apart["fid"] > 0 and apart["kid"] > abs(same["kid"])


# ------------------------------------------------------------------------------------------------- the stages
def stage_model(stage: str, **config):
    torch.manual_seed(0)
    return zoo.create("bvton_tiny", stage=stage, **SMALL, **config).train()


def synthetic_batch():
    paired = batch_of(PaperDollDataset(2, seed=0), [0, 1])
    unpaired = batch_of(PaperDollDataset(2, seed=100_000, paired=False), [0, 1])
    return {k: torch.cat([paired[k], unpaired[k]]) for k in paired}


@pytest.mark.parametrize("stage, watched", [("canonical", ("l1", "mask", "warp_mask")), ("layout", ("ce", "mask")), ("synthesizer", ("vgg", "fm"))])
def test_each_stage_losses_decrease_on_a_few_synthetic_batches(stage, watched):
    model = stage_model(stage, use_proxy=False)
    model.on_fit_start()
    batch = synthetic_batch()
    params = [p for m in model.stage_modules() for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=5e-3)
    d_opts = [torch.optim.Adam(d.parameters(), lr=2e-4) for d in model.discriminators.values()]
    history = []
    for _ in range(8):
        terms, weights = model.generator_step_terms(batch)
        history.append(sum(weights[k] * float(terms[k]) for k in watched))
        opt.zero_grad()
        sum(weights[k] * v for k, v in terms.items()).backward()
        opt.step()
        for (name, _), d_opt in zip(model.discriminators.items(), d_opts):
            d_opt.zero_grad()
            sum(model.discriminator_loss(name, batch).values()).backward()
            d_opt.step()
    assert history[-1] < 0.95 * history[0] and min(history[-3:]) < min(history[:3]), history
    if stage == "canonical":
        assert "cycle" in terms and float(terms["cycle"]) > 0  # the unpaired half trains through the forward warp


def test_stage_3_trains_only_the_synthesizer_and_its_pseudo_pairs_are_seeded_per_step():
    model = stage_model("synthesizer")
    model.on_fit_start()
    assert not any(p.requires_grad for p in model.net.layout.parameters())
    assert all(p.requires_grad for p in model.net.synthesizer.parameters())
    batch = synthetic_batch()
    x = model._inputs(batch)
    first = model._synthesizer_inputs(batch, x)[0]
    assert torch.equal(first, model._synthesizer_inputs(batch, x)[0])
    model.generator_steps += 1
    assert not torch.equal(first, model._synthesizer_inputs(batch, x)[0])


# ------------------------------------------------------------------------------------------------- predict
@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return zoo.create("bvton_tiny").eval()


def test_predict_takes_tensors_arrays_and_paths(tiny, tmp_path):
    person, garment, parsing, pose = tiny.example_predict_input()
    out = tiny.predict(person, garment, parsing=parsing, pose=pose)
    assert out.shape == (3, 64, 48) and out.dtype == torch.float32
    assert torch.equal(tiny.predict((person, garment, parsing, pose)), out)
    d = render_doll(9, size=(128, 96))  # another size: resized to the model's 64 x 48, keypoints scaled with it
    Image.fromarray((d["person"] * 255).astype(np.uint8)).save(tmp_path / "person.png")
    Image.fromarray((render_doll(10, size=(128, 96))["garment"] * 255).astype(np.uint8)).save(tmp_path / "garment.png")
    Image.fromarray(np.vectorize(TRYON_TO_CIHP.get)(d["parsing"]).astype(np.uint8)).save(tmp_path / "parse.png")
    (tmp_path / "pose_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": d["keypoints"].reshape(-1).tolist()}]}))
    image = tiny.predict(person=str(tmp_path / "person.png"), garment=str(tmp_path / "garment.png"), parsing=str(tmp_path / "parse.png"), pose=str(tmp_path / "pose_keypoints.json"))
    assert image.shape == (64, 48, 3) and image.dtype == np.uint8
    np.savez(tmp_path / "doll.npz", person=d["person"], parsing=d["parsing"], keypoints=d["keypoints"])
    bundled = tiny.predict(person=str(tmp_path / "doll.npz"), garment=str(tmp_path / "garment.png"))
    assert np.abs(bundled.astype(int) - image.astype(int)).mean() < 3  # the same person (PNG-quantised) and garment


def test_predict_names_what_is_missing(tiny):
    person, garment, parsing, pose = tiny.example_predict_input()
    with pytest.raises(ValueError, match=r"^parsing: expected the person's layout, which BVTON cannot infer.*received None$"):
        tiny.predict(person, garment, pose=pose)
    with pytest.raises(ValueError, match=r"^pose: expected the person's OpenPose-18 keypoints.*received None$"):
        tiny.predict(person, garment, parsing=parsing)
    with pytest.raises(ValueError, match=r"^garment: expected the in-shop garment.*received None$"):
        tiny.predict(person, parsing=parsing, pose=pose)
    with pytest.raises(ValueError, match=r"^person: expected .*received None$"):
        tiny.predict(garment=garment)


@pytest.mark.parametrize("case, fragment", [
    ("parsing_size", "parsing: expected the person's size 64x48, received 32x24"),
    ("person_channels", r"person: expected shape \(3, H, W\)"),
    ("garment_nan", "garment: expected finite values"),
    ("parsing_range", r"parsing: expected values in \[0, 7\]"),
    ("parsing_float", "parsing: expected an integer label map"),
    ("pose_shape", r"pose: expected \(18, 3\) or \(18, 2\)"),
    ("pose_inf", "pose: expected finite values"),
    ("tiny_side", "person: expected sides of at least 16 pixels, received 8x6"),
    ("garment_batch", "garment: expected a batch of 1 or 1"),
])
def test_predict_refuses_bad_sizes_channels_and_values(tiny, case, fragment):
    person, garment, parsing, pose = tiny.example_predict_input()
    args = {"person": person, "garment": garment, "parsing": parsing, "pose": pose}
    bad = {
        "parsing_size": {"parsing": parsing[::2, ::2]}, "person_channels": {"person": torch.cat([person, person[:1]])},
        "garment_nan": {"garment": garment.clone().index_put_((torch.tensor([0]), torch.tensor([3]), torch.tensor([3])), torch.tensor(float("nan")))},
        "parsing_range": {"parsing": parsing + 8}, "parsing_float": {"parsing": parsing.float()}, "pose_shape": {"pose": pose[:17]},
        "pose_inf": {"pose": pose.clone().fill_(float("inf"))}, "tiny_side": {"person": person[:, :8, :6], "parsing": parsing[:8, :6]},
        "garment_batch": {"garment": torch.stack([garment, garment])},
    }[case]
    with pytest.raises(ValueError, match=fragment):
        tiny.predict(**{**args, **bad})


def test_cli_predict_takes_the_person_and_garment_as_options(tiny, tmp_path, capsys):
    from zoo.cli import main

    tiny.save_pretrained(tmp_path / "weights")
    d = render_doll(9)
    np.savez(tmp_path / "doll.npz", person=d["person"], parsing=d["parsing"], keypoints=d["keypoints"])
    Image.fromarray((render_doll(10)["garment"] * 255).astype(np.uint8)).save(tmp_path / "garment.png")
    try:
        code = main(["predict", "bvton_tiny", "--person", str(tmp_path / "doll.npz"), "--garment", str(tmp_path / "garment.png"),
                     "--weights", str(tmp_path / "weights"), "-o", str(tmp_path / "out.png")])
    except SystemExit as error:  # an argparse refusal: this zoo's CLI does not pass named options through yet
        pytest.skip(f"zoo predict does not take --person / --garment yet ({error})")
    if code == 2 and "--person" in capsys.readouterr().err:
        pytest.skip("zoo predict does not take --person / --garment yet")
    assert code == 0, capsys.readouterr().err
    assert np.asarray(Image.open(tmp_path / "out.png")).shape == (64, 48, 3)


# --------------------------------------------------------------------------------------------------- bench
def test_bench_row_is_the_try_on_at_256x192_with_its_peak_memory(tiny):
    from zoo import bench

    (row,) = bench.model_paths(tiny, None, None)
    assert "256x192" in row.what and row.reference is None and [tuple(t.shape[-2:]) for t in row.inputs] == [(256, 192)] * 5
    with torch.no_grad():
        out = row.zoo(*row.inputs)
    assert out.shape == (1, 3, 256, 192) and torch.isfinite(out).all()
    assert bench.peak_mib(lambda: row.zoo(*row.inputs), torch.device("cpu")) > 1.0  # what the row's "peak MiB" column reports
    (small,) = bench.model_paths(tiny, 2, 64)  # --size H: H x 3H/4, on the pyramid's multiple
    assert small.inputs[0].shape == (2, 3, 64, 48) and small.items == 2


# -------------------------------------------------------------------------------------------------- resume
def test_resume_is_exact(tmp_path):
    """Stage 3 (adversarial, with per-step random misalignment): one epoch, interrupted, resumed for a second, equals
    two epochs straight."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    def fit(epochs: int, ckpt: str | None, folder: str) -> torch.nn.Module:
        L.seed_everything(0)
        model = zoo.create("bvton_tiny", stage="synthesizer", **SMALL)
        data = TryOnDataModule(paired_count=2, unpaired_count=2, eval_count=2, batch_size=2, seed=0)  # 2 generator steps an epoch
        trainer = L.Trainer(
            max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
            num_sanity_val_steps=0, callbacks=[ModelCheckpoint(dirpath=tmp_path / folder, save_last=True)], default_root_dir=tmp_path / folder,
        )
        trainer.fit(model, data, ckpt_path=ckpt)
        return model

    straight = fit(2, None, "a")
    fit(1, None, "b")
    resumed = fit(2, str(tmp_path / "b" / "last.ckpt"), "b")
    assert int(resumed.generator_steps) == int(straight.generator_steps) == 4
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and any(k.startswith("discriminators.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
