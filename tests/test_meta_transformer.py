"""Meta-Transformer: encoder converters against reference forwards of each layout, tokenizers, frozen-encoder contract."""

import math

import networkx as nx
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import zoo
from zoo.models.meta_transformer.convert import encoder_state
from zoo.models.meta_transformer.tokenizers import MODALITY_TOKENIZERS, farthest_point_sample
from zoo.registry import checkpoint_record

DIM, DEPTH, HEADS = 32, 2, 4
ALL = {
    "image": {"head": "classification", "outputs": 3, "tokenizer": {"patch_size": 4, "image_size": 16}},
    "infrared": {"head": "classification", "outputs": 3, "tokenizer": {"patch_size": 4, "image_size": 16}},
    "xray": {"head": "regression", "outputs": 1, "tokenizer": {"patch_size": 4, "image_size": 16}},
    "video": {"head": "classification", "outputs": 3, "tokenizer": {"patch_size": 4, "tubelet": 2, "frames": 4, "image_size": 8}},
    "audio": {"head": "classification", "outputs": 3, "tokenizer": {"n_fft": 62, "hop": 32, "patch_size": 8, "stride": 4, "frames": 41}},
    "time_series": {"head": "forecasting", "length": 32, "horizon": 4, "channels": 2, "tokenizer": {"channels": 2}},
    "imu": {"head": "classification", "outputs": 3, "tokenizer": {"channels": 6}},
    "tabular": {"head": "regression", "outputs": 2, "tokenizer": {"columns": 5}},
    "text": {"head": "classification", "outputs": 2, "tokenizer": {"max_length": 16}},
    "point_cloud": {"head": "classification", "outputs": 3, "tokenizer": {"groups": 8, "group_size": 4}},
    "graph": {"head": "classification", "outputs": 3, "tokenizer": {"max_edges": 16, "eigenvectors": 4}},
    "hyperspectral": {"head": "classification", "outputs": 3, "tokenizer": {"bands": 12, "patch_size": 3}},
}


def small(**kwargs):
    torch.manual_seed(0)
    return zoo.create("meta_transformer_b16", dim=DIM, depth=DEPTH, num_heads=HEADS, modalities=kwargs.pop("modalities", ALL), **kwargs).eval()


# ---- reference forwards written from each layout's definition (not from timm) -----------------------------------
def openclip_reference(state, x, depth, heads):
    """OpenCLIP ResidualAttentionBlock: x + out_proj(MHA(ln_1 x)), then x + c_proj(GELU(c_fc(ln_2 x)))."""
    dim = x.shape[-1]
    for i in range(depth):
        p = lambda name: state[f"visual.transformer.resblocks.{i}.{name}"]
        h = F.layer_norm(x, (dim,), p("ln_1.weight"), p("ln_1.bias"), 1e-5)
        q, k, v = (h @ p("attn.in_proj_weight").T + p("attn.in_proj_bias")).chunk(3, -1)
        split = lambda t: t.view(t.shape[0], t.shape[1], heads, dim // heads).transpose(1, 2)
        weights = (split(q) @ split(k).transpose(-1, -2) / math.sqrt(dim // heads)).softmax(-1)
        attended = (weights @ split(v)).transpose(1, 2).reshape(x.shape)
        x = x + attended @ p("attn.out_proj.weight").T + p("attn.out_proj.bias")
        h = F.layer_norm(x, (dim,), p("ln_2.weight"), p("ln_2.bias"), 1e-5)
        x = x + F.gelu(h @ p("mlp.c_fc.weight").T + p("mlp.c_fc.bias")) @ p("mlp.c_proj.weight").T + p("mlp.c_proj.bias")
    return x


def random_openclip_state(depth, dim, seed=0):
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen) * 0.2
    state = {"visual.conv1.weight": r(dim, 3, 4, 4), "visual.ln_post.weight": r(dim), "transformer.resblocks.0.ln_1.weight": r(dim)}
    for i in range(depth):
        pre = f"visual.transformer.resblocks.{i}."
        state.update({
            pre + "ln_1.weight": 1 + r(dim), pre + "ln_1.bias": r(dim),
            pre + "attn.in_proj_weight": r(3 * dim, dim), pre + "attn.in_proj_bias": r(3 * dim),
            pre + "attn.out_proj.weight": r(dim, dim), pre + "attn.out_proj.bias": r(dim),
            pre + "ln_2.weight": 1 + r(dim), pre + "ln_2.bias": r(dim),
            pre + "mlp.c_fc.weight": r(4 * dim, dim), pre + "mlp.c_fc.bias": r(4 * dim),
            pre + "mlp.c_proj.weight": r(dim, 4 * dim), pre + "mlp.c_proj.bias": r(dim),
        })
    return state


def official_from_openclip(state, depth):
    """The official Meta-Transformer file layout, built by hand from an OpenCLIP state ({i}.norm1, {i}.attn.qkv, ...)."""
    names = {"ln_1": "norm1", "ln_2": "norm2", "attn.in_proj_weight": "attn.qkv.weight", "attn.in_proj_bias": "attn.qkv.bias",
             "attn.out_proj": "attn.proj", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
    out = {}
    for i in range(depth):
        pre = f"visual.transformer.resblocks.{i}."
        for key, value in state.items():
            if key.startswith(pre):
                rest = key[len(pre):]
                for old, new in names.items():
                    rest = rest.replace(old, new)
                out[f"{i}.{rest}"] = value
    return out


@pytest.mark.parametrize("layout", ["openclip", "official", "official_blocks_prefix"])
def test_converted_encoder_matches_the_layouts_own_forward(layout, tmp_path):
    model = small(modalities={"image": ALL["image"]})
    state = random_openclip_state(DEPTH, DIM)
    source = state if layout == "openclip" else official_from_openclip(state, DEPTH)
    if layout == "official_blocks_prefix":
        source = {f"blocks.{k}": v for k, v in source.items()}
    path = tmp_path / ("enc.pth" if layout != "openclip" else "open_clip.safetensors")
    torch.save(source, path) if path.suffix == ".pth" else save_file(source, str(path))
    from zoo.models.meta_transformer.convert import load_official

    load_official(model, path)
    x = torch.randn(2, 7, DIM)
    with torch.no_grad():
        torch.testing.assert_close(model.net.encoder(x), openclip_reference(state, x, DEPTH, HEADS), rtol=1e-5, atol=1e-5)


def test_text_tower_and_stems_are_left_out():
    state = random_openclip_state(DEPTH, DIM)
    keys = set(encoder_state(state))
    assert "0.norm1.weight" in keys and not any("conv1" in k or "ln_post" in k for k in keys)
    assert len(keys) == DEPTH * 12


def test_wrong_size_file_is_refused(tmp_path):
    model = small(modalities={"image": ALL["image"]})
    torch.save(official_from_openclip(random_openclip_state(DEPTH + 1, DIM), DEPTH + 1), tmp_path / "enc.pth")
    from zoo.models.meta_transformer.convert import load_official

    with pytest.raises(ValueError, match="unexpected"):
        load_official(model, tmp_path / "enc.pth")


def test_loaded_encoder_is_the_one_used_and_stays_frozen(tmp_path):
    state = official_from_openclip(random_openclip_state(DEPTH, DIM), DEPTH)
    save_file(state, str(tmp_path / "enc.safetensors"))
    model = small(modalities={"tabular": ALL["tabular"]}, encoder_weights=str(tmp_path / "enc.safetensors")).train()
    for key, value in model.net.encoder.state_dict().items():
        assert torch.equal(value, state[key]), key  # nothing re-initialises the blocks after loading (official bug)
    assert not any(p.requires_grad for p in model.net.encoder.parameters())
    optimizer = model.configure_optimizers()
    x, y = torch.randn(8, 5), torch.randn(8, 2)
    for _ in range(3):
        optimizer.zero_grad()
        model.training_step({"tabular": (x, y)}, 0).backward()
        optimizer.step()
    for key, value in model.net.encoder.state_dict().items():
        assert torch.equal(value, state[key]), key
    random = small(modalities={"tabular": ALL["tabular"]})
    random.net.tokenizers.load_state_dict(model.net.tokenizers.state_dict())
    random.net.heads.load_state_dict(model.net.heads.state_dict())
    with torch.no_grad():
        assert not torch.allclose(random.eval()(x, "tabular"), model.eval()(x, "tabular"))


def test_every_modality_tokenizes_and_predicts():
    model = small()
    assert set(model.modalities) == set(MODALITY_TOKENIZERS)
    with torch.no_grad():
        for args, kwargs in model.example_calls(2):
            y = model(*args, **kwargs)
            assert y.shape[0] == 2 and torch.isfinite(y).all(), kwargs
    assert model.predict("a zebra", modality="text")["probabilities"].shape == (2,)
    assert model.predict(nx.cycle_graph(6), modality="graph")["probabilities"].shape == (3,)
    assert model.predict(torch.rand(40, 3), modality="point_cloud")["label"] in range(3)
    assert model.predict(torch.rand(32, 2), modality="time_series").shape == (4, 2)
    assert model.predict(torch.rand(3, 24, 24), modality="image")["probabilities"].shape == (3,)  # other size: positions resized
    assert model.predict(torch.rand(1280) * 2 - 1, modality="audio")["probabilities"].shape == (3,)


def test_bad_input_and_unknown_modality_are_named():
    model = small()
    with pytest.raises(ValueError, match="modality: expected one of"):
        model.predict(torch.rand(5), modality="smell")
    with pytest.raises(ValueError, match=r"image: expected shape \['N', '3', 'H', 'W'\]"):
        model.predict(torch.rand(1, 1, 16, 16), modality="image")
    with pytest.raises(ValueError, match="tabular: expected shape"):
        model.predict(torch.rand(4), modality="tabular")
    with pytest.raises(ValueError, match="expected at most 16 edges"):
        model.predict(nx.complete_graph(8), modality="graph")
    with pytest.raises(ValueError, match="text: expected"):
        model.predict(torch.rand(2, 4), modality="text")
    with pytest.raises(ValueError, match="unknown modality 'smell'"):
        zoo.create("meta_transformer_b16", dim=DIM, depth=1, num_heads=2, modalities={"smell": {"head": "classification", "outputs": 2}})


def test_farthest_point_sampling_spreads_out():
    points = torch.cat([torch.zeros(10, 3), torch.ones(1, 3), -torch.ones(1, 3)])[None]
    chosen = farthest_point_sample(points, 3)[0].tolist()
    assert chosen[0] == 0 and set(chosen[1:]) == {10, 11}


@pytest.mark.skipif(not checkpoint_record("meta_transformer_tiny"), reason="no shipped checkpoint")
def test_shipped_checkpoint_serves_seven_modalities():
    record = checkpoint_record("meta_transformer_tiny")
    assert len(record.metrics) >= 6
    model = zoo.load("meta_transformer_tiny")
    from zoo.data.modalities import DATASETS

    for modality in ("point_cloud", "audio"):
        _, test = DATASETS[modality]()
        x, y = test.tensors
        labels = model.predict(x[:64], modality=modality)["label"]
        assert (torch.from_numpy(labels) == y[:64]).float().mean() > 0.5


@pytest.mark.skipif(not checkpoint_record("meta_transformer_tiny"), reason="no shipped checkpoint")
def test_card_notes_render_from_the_record_and_without_one():
    from zoo.models.meta_transformer.card import card_notes
    from zoo.registry import get_spec

    spec, record = get_spec("meta_transformer_tiny"), checkpoint_record("meta_transformer_tiny")
    notes = card_notes(spec, zoo.create(spec.name).config, record)
    assert "| point_cloud | " in notes and f"{record.metrics['point_cloud_accuracy']:.3f}" in notes
    assert f"{record.trained_params['audio']:,} / {record.scratch_params['audio']:,}" in notes
    assert [k.rsplit("_", 1)[0] for k in record.metrics] == list(spec.config["modalities"])  # checkpoints.json keeps the card's order
    b16 = get_spec("meta_transformer_b16")
    bare = card_notes(b16, zoo.registry.resolve_class(b16).config_from_dict(dict(b16.config)), None)
    assert "## Deviations from the official code" in bare and "|" not in bare
