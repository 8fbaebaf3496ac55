"""``zoo.load(name, weights=<official file or run directory>, official=True)`` builds the architecture the file holds.

Every parity fixture loads through that one call and reproduces the official output; checkpoints at sizes no
preset has (TecoGAN-PyTorch nf/nb, Rawformer widths) load from a file and from a run directory whose configuration
(the port's YAML, the UVCGAN-style ``config.json``) supplies what no tensor shows; true mismatches are refused.
"""

import json
import re

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

import zoo
from zoo.models.meta_transformer.encoder import SharedEncoder
from zoo.models.rawformer.convert import to_official_generator

ISP = {"efficient_isp": "lightweight_isp_efficient", "robust_isp": "lightweight_isp_robust", "rmfa_net_tiny": "lightweight_isp_rmfa_tiny"}
RAWFORMER_WIDTH = {"image_size": 64, "unet_features": (8, 16, 24, 32), "vit_dim": 16, "vit_heads": 2, "vit_blocks": 2, "vit_ffn": 32, "vit_embed": 16}
"""A Rawformer no preset has (the heads are the one setting no tensor shows)."""


def _max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


# ----------------------------------------------------------------------------- parity fixtures, one call each
@pytest.mark.parametrize("folder", sorted(ISP))
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_lightweight_isp_parity_through_one_call(parity_dir, folder, suffix, tmp_path):
    fixture = parity_dir / "lightweight_isp_unpaired" / folder
    path = fixture / "official_state_dict.safetensors"
    if suffix == ".pth":
        path = tmp_path / "official.pth"
        torch.save(load_file(str(fixture / "official_state_dict.safetensors")), path)
    model = zoo.load(ISP[folder], weights=path, official=True)
    with torch.no_grad():
        y = model(load_file(str(fixture / "input.safetensors"))["input"])
    assert _max_error(y, load_file(str(fixture / "output.safetensors"))["output"]) <= 1e-5


def test_rmfa_size_is_read_from_the_file(parity_dir):
    """The tiny RMFA-Net file under the large name builds the tiny network (2 blocks of width 16)."""
    fixture = parity_dir / "lightweight_isp_unpaired" / "rmfa_net_tiny"
    model = zoo.load("lightweight_isp_rmfa_large", weights=fixture / "official_state_dict.safetensors", official=True)
    assert (model.config.rmfa_blocks, model.config.rmfa_width) == (2, 16)
    with torch.no_grad():
        y = model(load_file(str(fixture / "input.safetensors"))["input"])
    assert _max_error(y, load_file(str(fixture / "output.safetensors"))["output"]) <= 1e-5


def _uvcgan_config(constructor_args: dict) -> dict:
    """An official output directory's ``config.json`` (``Config.save``) for a generator built with these arguments."""
    args = {k: v for k, v in constructor_args.items() if k not in ("input_shape", "output_shape")}
    shape = list(constructor_args["input_shape"])
    return {
        "batch_size": 1,
        "data": {"datasets": [{"dataset": {"name": "cyclegan", "domain": d, "path": "image2image"}, "shape": shape} for d in "ab"], "merge_type": "unpaired"},
        "generator": {"model": "vit-rawnet", "model_args": args, "optimizer": {"name": "Adam", "lr": 5e-5}},
        "discriminator": {"model": "basic", "model_args": {"shrink_output": False}},
        "model": "rawformer",
        "model_args": {"lambda_a": 10.0, "lambda_b": 10.0, "lambda_idt": 0.5, "avg_momentum": 0.9999, "head_queue_size": 3},
    }


@pytest.mark.parametrize("name", ["small_64", "small_128"])
def test_rawformer_parity_through_one_call(parity_dir, name, tmp_path):
    """The fixture as one generator file (heads given, as no tensor shows them) and as an output directory whose
    config.json gives them."""
    folder = parity_dir / "rawformer" / name
    meta = json.loads((folder / "meta.json").read_text())
    x, expected = load_file(str(folder / "input.safetensors"))["input"], load_file(str(folder / "output.safetensors"))["output"]
    model = zoo.load("rawformer_base", weights=folder / "official_state_dict.safetensors", official=True, vit_heads=meta["constructor_args"]["n_heads"])
    assert model.config.image_size == meta["constructor_args"]["input_shape"][-1]
    with torch.no_grad():
        assert _max_error(model(x), expected) <= 1e-5

    state = load_file(str(folder / "official_state_dict.safetensors"))
    for direction in ("ab", "ba"):
        torch.save(state, tmp_path / f"net_gen_{direction}.pth")
    (tmp_path / "config.json").write_text(json.dumps(_uvcgan_config(meta["constructor_args"])))
    model = zoo.load("rawformer_base", weights=tmp_path, official=True)
    assert model.config.vit_heads == meta["constructor_args"]["n_heads"]
    with torch.no_grad():  # A -> B is the file checked above; B -> A comes from net_gen_ba.pth
        assert _max_error(model(x, reverse=True), expected) <= 1e-5


def test_tecogan_parity_through_one_call(parity_dir):
    folder = parity_dir / "tecogan"
    meta = json.loads((folder / "meta.json").read_text())
    model = zoo.load("tecogan_bd", weights=folder / "official_state_dict.safetensors", official=True)
    args = meta["constructor_args"]
    assert (model.config.nf, model.config.nb, model.config.degradation, model.config.scale) == (args["nf"], args["nb"], args["degradation"], args["scale"])
    lr = load_file(str(folder / "input.safetensors"))["input"]
    with torch.no_grad():
        y = model(lr[None])[0]
    assert _max_error(y, load_file(str(folder / "output.safetensors"))["output"]) <= meta["tolerance"]["max_abs_error"]["output"]


def _unem_inputs(folder, double: bool):
    x = load_file(str(folder / "input.safetensors"))
    cast = (lambda t: t.double()) if double else (lambda t: t)
    return cast(x["support_features"]), x["support_labels"], cast(x["query_features"])


@pytest.mark.parametrize("case", ["gaussian", "gaussian_repo_params"])
def test_unem_gaussian_parity_through_one_call(parity_dir, case):
    folder = parity_dir / "unem" / case
    model = zoo.load("unem_gaussian", weights=folder / "params.safetensors", official=True)
    with torch.no_grad():
        per_layer = model.net(*_unem_inputs(folder, False), return_all=True)
    assert _max_error(torch.stack(per_layer), load_file(str(folder / "output.safetensors"))["U_per_layer"]) <= 1e-5


@pytest.mark.parametrize("case", ["dirichlet", "dirichlet_repo_params"])
def test_unem_dirichlet_parity_through_one_call(parity_dir, case):
    folder = parity_dir / "unem" / case
    model = zoo.load("unem_dirichlet", weights=folder / "params.safetensors", official=True).double()
    with torch.no_grad():
        trace = model.net(*_unem_inputs(folder, True), return_all=True)
    assert _max_error(torch.stack(trace["U"]), load_file(str(folder / "output.safetensors"))["U_per_layer_fp64"]) <= 1e-8


def test_unem_depth_is_read_from_the_file(parity_dir, tmp_path):
    """The first five parameter pairs alone build a 5-layer model, whose output is the official U after layer 5."""
    folder = parity_dir / "unem" / "gaussian"
    params = load_file(str(folder / "params.safetensors"))
    keep = {k: v for k, v in params.items() if not re.match(r"^(gamma|t2)\.[5-9]$", k)}
    torch.save(keep, tmp_path / "U_PADDLE_EMBT_L_5layers.pt")
    model = zoo.load("unem_gaussian", weights=tmp_path / "U_PADDLE_EMBT_L_5layers.pt", official=True)
    assert model.config.n_layers == 5
    with torch.no_grad():
        u = model.net(*_unem_inputs(folder, False))
    assert _max_error(u, load_file(str(folder / "output.safetensors"))["U_per_layer"][4]) <= 1e-5


# ----------------------------------------------------------------------------- sizes no preset has
def _tecogan_source(degradation: str = "BD", seed: int = 0):
    torch.manual_seed(seed)
    return zoo.create("tecogan_bd", nf=24, nb=3, degradation=degradation).eval()


def _same_tecogan_outputs(loaded, source) -> None:
    lr = torch.rand(1, 3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(loaded(lr), source(lr), rtol=0, atol=0)


@pytest.mark.parametrize("degradation", ["BD", "BI"])
def test_tecogan_port_checkpoint_at_a_new_size(degradation, tmp_path):
    source = _tecogan_source(degradation)
    state = source.net.state_dict()  # the port's key layout is zoo's (convert.py checks and copies)
    assert {"fnet.encoder1.0.weight", "srnet.conv_in.0.weight", "srnet.resblocks.2.conv.2.bias", "srnet.conv_up.2.weight"} <= set(state)
    assert ("srnet.upsample_func.kernels" in state) == (degradation == "BD")
    torch.save(state, tmp_path / f"TecoGAN_{degradation}_iter1000.pth")
    loaded = zoo.load("tecogan_bd", weights=tmp_path / f"TecoGAN_{degradation}_iter1000.pth", official=True)
    assert (loaded.config.nf, loaded.config.nb, loaded.config.degradation) == (24, 3, degradation)
    _same_tecogan_outputs(loaded, source)


@pytest.mark.parametrize("config_file", ["train.yml", "test.yml"])
def test_tecogan_port_run_directory(config_file, tmp_path):
    """A port run directory: its YAML and the latest ``train/ckpt/G_iter<N>.pth`` (D checkpoints are not the generator)."""
    run = {
        "scale": 4,
        "manual_seed": 0,
        "dataset": {"degradation": {"type": "BD", "sigma": 1.5}},
        "model": {"name": "TecoGAN", "generator": {"name": "FRNet", "in_nc": 3, "out_nc": 3, "nf": 24, "nb": 3, "load_path": None}},
    }
    (tmp_path / config_file).write_text(yaml.safe_dump(run))
    ckpt = tmp_path / "train" / "ckpt"
    ckpt.mkdir(parents=True)
    torch.save(_tecogan_source(seed=1).net.state_dict(), ckpt / "G_iter900.pth")
    source = _tecogan_source(seed=2)
    torch.save(source.net.state_dict(), ckpt / "G_iter1000.pth")
    torch.save(source.discriminators["st"].state_dict(), ckpt / "D_iter1000.pth")
    loaded = zoo.load("tecogan_bd", weights=tmp_path, official=True)
    assert (loaded.config.nf, loaded.config.nb) == (24, 3)
    _same_tecogan_outputs(loaded, source)


def test_tecogan_tf_export_builds_the_tf_generator(tmp_path):
    """An exported official TF checkpoint under a port name: TF conventions and its size, from the slim names."""
    import numpy as np
    from test_tecogan import _to_tf  # the inverse of convert_tf, kept with the TF conversion tests

    torch.manual_seed(0)
    reference = zoo.create("tecogan_tf", nb=2, nf=16, fnet_width=8).net
    np.savez(tmp_path / "TecoGAN.npz", **_to_tf(reference.state_dict()))
    loaded = zoo.load("tecogan_bd", weights=tmp_path / "TecoGAN.npz", official=True)
    assert (loaded.config.conventions, loaded.config.nf, loaded.config.nb, loaded.config.fnet_width) == ("tf", 16, 2, 8)
    for key, value in reference.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[key], value), key


def test_rawformer_flat_model_args_are_read(tmp_path):
    """A config.json whose top-level ``model_args`` holds the generator's arguments (no ``generator`` section)."""
    from zoo.models.rawformer.convert import config_from_run

    (tmp_path / "config.json").write_text(json.dumps({"model_args": {"n_heads": 3, "features": 24, "input_shape": [3, 128, 128]}}))
    assert config_from_run(tmp_path) == {"vit_heads": 3, "vit_dim": 24, "channels": 3, "image_size": 128}
    (tmp_path / "config.json").write_text(json.dumps({"generator": {"model": "resnet_9blocks", "model_args": None}}))
    with pytest.raises(ValueError, match="expected generator.model 'vit-rawnet'"):
        config_from_run(tmp_path)


def _rawformer_run(directory, source, config: bool) -> None:
    """Write ``source`` as an official output directory: the four generator files and, optionally, config.json."""
    directory.mkdir(parents=True, exist_ok=True)
    for direction in ("ab", "ba"):
        torch.save(to_official_generator(getattr(source.net, direction).state_dict()), directory / f"net_gen_{direction}.pth")
        torch.save(to_official_generator(getattr(source.inference_net, direction).state_dict()), directory / f"net_avg_gen_{direction}.pth")
    if config:
        args = {
            "input_shape": [3, 64, 64], "features": 16, "n_heads": 2, "n_blocks": 2, "ffn_features": 32, "embed_features": 16,
            "activ": "gelu", "norm": "layer", "modnet_features_list": [8, 16, 24, 32], "modnet_activ": "leakyrelu",
            "modnet_norm": None, "modnet_downsample": "conv", "modnet_upsample": "upsample-conv", "modnet_rezero": False,
            "modnet_demod": True, "rezero": True, "activ_output": "sigmoid", "style_rezero": True, "style_bias": True,
            "n_ext": 1, "rawnet_num_heads": 1, "rawnet_token_size": 4,
        }
        (directory / "config.json").write_text(json.dumps(_uvcgan_config(args), indent=4))


def _random_rawformer():
    """A Rawformer at ``RAWFORMER_WIDTH`` with every parameter redrawn: the official init (N(0, 0.02), zero ReZero
    gains) gives an almost constant output that would hide a wrong mapping, as the parity fixture's notes explain."""
    torch.manual_seed(0)
    source = zoo.create("rawformer_base", **RAWFORMER_WIDTH, ema_decay=0.0).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in source.net.parameters():
            p.copy_(torch.nn.init.xavier_normal_(torch.empty_like(p), generator=g) if p.ndim > 1 else 0.5 * torch.randn(p.shape, generator=g))
    return source


def test_rawformer_output_directory_at_a_new_width(tmp_path):
    source = _random_rawformer()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = source(x), source(x, reverse=True)

    _rawformer_run(tmp_path / "with_config", source, config=True)
    _rawformer_run(tmp_path / "without_config", source, config=False)
    for loaded, directions in (
        (zoo.load("rawformer_base", weights=tmp_path / "with_config", official=True), (0, 1)),
        (zoo.load("rawformer_base", weights=tmp_path / "without_config", official=True, vit_heads=2), (0,)),
    ):
        assert {k: getattr(loaded.config, k) for k in RAWFORMER_WIDTH} == RAWFORMER_WIDTH
        with torch.no_grad():
            for reverse in directions:
                torch.testing.assert_close(loaded(x, reverse=bool(reverse)), expected[reverse], rtol=0, atol=1e-6)
    # the heads change the output but no tensor: a wrong override is not caught by the shapes
    wrong = zoo.load("rawformer_base", weights=tmp_path / "without_config", official=True, vit_heads=4)
    with torch.no_grad():
        assert _max_error(wrong(x), expected[0]) > 1e-5


def test_convnet_width_channels_and_classes_are_read_from_the_file(tmp_path):
    torch.manual_seed(0)
    source = zoo.create("allcnn_mnist_classifier", in_channels=3, filters_percentage=0.5, num_classes=7).eval()
    torch.save(source.net.state_dict(), tmp_path / "allcnn.pt")
    loaded = zoo.load("allcnn_mnist_classifier", weights=tmp_path / "allcnn.pt", official=True)
    assert (loaded.config.in_channels, loaded.config.filters_percentage, loaded.config.num_classes) == (3, 0.5, 7)
    x = torch.rand(2, 3, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match="classifier.0.weight"):
        zoo.load("allcnn_mnist_regressor", weights=tmp_path / "allcnn.pt", official=True)  # a classifier is no regressor


def test_meta_transformer_encoder_size_is_read_from_the_file(tmp_path):
    torch.manual_seed(0)
    encoder = SharedEncoder(32, 3, 4)
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, str(tmp_path / "encoder.safetensors"))
    loaded = zoo.load("meta_transformer_tiny", weights=tmp_path / "encoder.safetensors", official=True)
    assert (loaded.config.dim, loaded.config.depth, loaded.config.mlp_ratio) == (32, 3, 4.0)
    for key, value in encoder.state_dict().items():
        assert torch.equal(loaded.net.encoder.state_dict()[key], value), key


# ----------------------------------------------------------------------------- true mismatches
def test_a_file_of_another_family_is_refused(parity_dir):
    tecogan = parity_dir / "tecogan" / "official_state_dict.safetensors"
    rawformer = parity_dir / "rawformer" / "small_64" / "official_state_dict.safetensors"
    with pytest.raises(ValueError, match=r"official Rawformer generator: expected keys under net\.modnet"):
        zoo.load("rawformer_base", weights=tecogan, official=True)
    with pytest.raises(ValueError, match=r"missing \[.fnet\.decoder1\.0\.bias.*unexpected \[.net\.layer_input"):
        zoo.load("tecogan_bd", weights=rawformer, official=True)
    with pytest.raises(ValueError, match="missing"):
        zoo.load("lightweight_isp_efficient", weights=tecogan, official=True)


def test_a_truncated_file_is_refused(parity_dir, tmp_path):
    tecogan = load_file(str(parity_dir / "tecogan" / "official_state_dict.safetensors"))
    del tecogan["srnet.conv_out.weight"]
    torch.save(tecogan, tmp_path / "tecogan.pth")
    with pytest.raises(ValueError, match=r"missing \['srnet\.conv_out\.weight'\]"):
        zoo.load("tecogan_bd", weights=tmp_path / "tecogan.pth", official=True)

    rawformer = load_file(str(parity_dir / "rawformer" / "small_64" / "official_state_dict.safetensors"))
    block = next(k for k in rawformer if k.endswith("encoder.encoder.1.atten.out_proj.bias"))
    torch.save({k: v for k, v in rawformer.items() if k != block}, tmp_path / "net_gen_ab.pth")
    with pytest.raises(ValueError, match=r"does not match this model's configuration .*bottleneck\.blocks\.1\.attn\.out_proj\.bias"):
        zoo.load("rawformer_base", weights=tmp_path / "net_gen_ab.pth", official=True)
    torch.save({k: v for k, v in rawformer.items() if not k.startswith("net.layer_input.")}, tmp_path / "net_gen_ab.pth")
    with pytest.raises(ValueError, match="expected the key 'stem.0.weight'"):
        zoo.load("rawformer_base", weights=tmp_path / "net_gen_ab.pth", official=True)
