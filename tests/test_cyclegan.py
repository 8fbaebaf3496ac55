"""CycleGAN: official checkpoint layout, the training step and schedule, the image pool, predict, recipes."""

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image
from torch.utils.data import DataLoader

import zoo
from zoo.models.cyclegan.convert import official_config
from zoo.models.cyclegan.model import ImagePool, linear_decay_rule
from zoo.models.cyclegan.module import CycleGAN, CycleGANConfig
from zoo.nets.cyclegan import PatchGAN, ResnetGenerator
from zoo.training import run_cli

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(ngf=4, n_blocks=1, ndf=4, n_layers_d=2)


def _official_generator(seed, ngf, n_blocks, norm="instance"):
    """A stand-in for an official ResnetGenerator: same layers, [-1, 1] in and out, random non-trivial weights."""
    torch.manual_seed(seed)
    net = ResnetGenerator(3, ngf, n_blocks, norm, unit_range=False).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.1 * torch.randn_like(p))
        for name, buffer in net.named_buffers():
            if "running_var" in name:
                buffer.uniform_(0.5, 1.5)
            elif "running_mean" in name:
                buffer.normal_(0.0, 0.1)
    return net


def _official_output(net, x):
    """The official pipeline on an image in [0, 1]: normalise to [-1, 1], run, map back (``tensor2im``)."""
    with torch.no_grad():
        return (net(2 * x - 1) + 1) / 2


def _as_official_state(net, norm, dropout=False):
    """The state_dict the official code would save for ``net``: with ``--use_dropout`` each block's second conv and
    norm sit one index later; with ``--norm none`` the convs (but the last) have no bias."""
    state = dict(net.state_dict())
    if norm is None:
        last = max(int(k.split(".")[1]) for k in state)
        for key in [k for k in state if k.endswith(".bias") and int(k.split(".")[1]) != last]:
            del state[key]
    if dropout:
        renamed = {}
        for key, value in state.items():
            parts = key.split(".")
            if len(parts) > 3 and parts[2] == "conv_block" and int(parts[3]) >= 5:
                parts[3] = str(int(parts[3]) + 1)
            renamed[".".join(parts)] = value
        state = renamed
    return state


X = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_official_run_directory_loads_at_the_preset_shape(tmp_path):
    g_a, g_b = _official_generator(1, 64, 6), _official_generator(2, 64, 6)
    d_a, d_b = PatchGAN(3, 8, 2), PatchGAN(3, 8, 2)
    torch.save(g_a.state_dict(), tmp_path / "latest_net_G_A.pth")
    # PyTorch < 0.4 checkpoints hold InstanceNorm running statistics; they are dropped, as the official loader does.
    torch.save({**g_b.state_dict(), "model.2.running_mean": torch.zeros(64)}, tmp_path / "latest_net_G_B.pth")
    torch.save(d_a.state_dict(), tmp_path / "latest_net_D_A.pth")
    torch.save(d_b.state_dict(), tmp_path / "latest_net_D_B.pth")
    options = ["----------------- Options ---------------", "               lambda_A: 5.0                           \t[default: 10.0]",
               "              pool_size: 20                            \t[default: 50]", "                     lr: 0.0001",
               "              direction: AtoB", "----------------- End -------------------"]
    (tmp_path / "train_opt.txt").write_text("\n".join(options) + "\n")

    model = zoo.load("cyclegan_resnet6", weights=tmp_path, official=True)
    cfg = model.config
    assert (cfg.ngf, cfg.n_blocks, cfg.norm, cfg.ndf, cfg.n_layers_d) == (64, 6, "instance", 8, 2)
    assert (cfg.lambda_a, cfg.lambda_b, cfg.pool_size, cfg.g_lr, cfg.d_lr) == (5.0, 10.0, 20, 1e-4, 1e-4)
    assert model.num_params() == zoo.registry.get_spec("cyclegan_resnet6").num_params
    with torch.no_grad():
        assert torch.equal(model(X), _official_output(g_a, X))
        assert torch.equal(model(X, reverse=True), _official_output(g_b, X))
    for ours, theirs in ((model.discriminators["D_A"], d_a), (model.discriminators["D_B"], d_b)):
        for (k, a), (k2, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert k == k2 and torch.equal(a, b), k


def test_official_btoa_run_swaps_the_domains(tmp_path):
    # A --direction BtoA run's G_A maps the dataset's B folder to A: it becomes zoo's B -> A, and its D_A zoo's D_B.
    g_a, g_b, d_a = _official_generator(1, 4, 1), _official_generator(2, 4, 1), PatchGAN(3, 4, 1)
    for name, net in (("G_A", g_a), ("G_B", g_b), ("D_A", d_a)):
        torch.save(net.state_dict(), tmp_path / f"latest_net_{name}.pth")
    (tmp_path / "train_opt.txt").write_text("          direction: BtoA                \t[default: AtoB]\n")
    model = zoo.load("cyclegan_resnet9", weights=tmp_path, official=True)
    assert (model.config.ngf, model.config.n_blocks, model.config.n_layers_d) == (4, 1, 1)
    with torch.no_grad():
        assert torch.equal(model(X, reverse=True), _official_output(g_a, X))
        assert torch.equal(model(X), _official_output(g_b, X))
    assert torch.equal(model.discriminators["D_B"].model[0].weight, d_a.model[0].weight)


@pytest.mark.parametrize(
    "ngf, n_blocks, norm, dropout, filename",
    [(8, 3, "instance", False, "latest_net_G.pth"), (6, 2, "batch", False, "7_net_G_B.pth"),
     (8, 2, None, False, "horse2zebra.pth"), (8, 2, "instance", True, "latest_net_G_A.pth")],
)
def test_official_single_generator_of_any_architecture(tmp_path, ngf, n_blocks, norm, dropout, filename):
    official = _official_generator(3, ngf, n_blocks, norm)
    if norm is None:  # the official --norm none convs have no bias: ours are zero
        with torch.no_grad():
            for m in official.modules():
                if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) and m is not official.model[-2]:
                    m.bias.zero_()
    torch.save(_as_official_state(official, norm, dropout), tmp_path / filename)
    assert official_config(tmp_path / filename) == {"channels": 3, "ngf": ngf, "n_blocks": n_blocks, "norm": norm}
    model = zoo.load("cyclegan_resnet6", weights=tmp_path / filename, official=True)
    reverse = "G_B" in filename
    with torch.no_grad():
        assert torch.equal(model(X, reverse=reverse), _official_output(official, X))
    if filename == "latest_net_G.pth":  # the released pretrained models' layout: a directory with one generator
        directory = zoo.load("cyclegan_resnet6", weights=tmp_path, official=True)
        with torch.no_grad():
            assert torch.equal(directory(X), _official_output(official, X))


def test_official_files_that_do_not_fit_are_refused(tmp_path):
    torch.save({"model.model.0.weight": torch.zeros(64, 3, 4, 4)}, tmp_path / "unet.pth")
    with pytest.raises(ValueError, match="U-Net"):
        zoo.load("cyclegan_resnet9", weights=tmp_path / "unet.pth", official=True)
    torch.save(PatchGAN(3, 8, 2).state_dict(), tmp_path / "latest_net_D_A.pth")
    with pytest.raises(ValueError, match="expected a generator file"):
        zoo.load("cyclegan_resnet9", weights=tmp_path / "latest_net_D_A.pth", official=True)
    state = ResnetGenerator(3, 4, 1).state_dict()
    state["model.1.weight"] = torch.zeros(4, 1, 7, 7)  # input_nc 1, output_nc 3
    torch.save(state, tmp_path / "gray.pth")
    with pytest.raises(ValueError, match="input_nc=1, output_nc=3"):
        zoo.load("cyclegan_resnet9", weights=tmp_path / "gray.pth", official=True)
    with pytest.raises(ValueError, match="latest_net_G_A.pth"):
        zoo.load("cyclegan_resnet9", weights=tmp_path, official=True)
    torch.save(ResnetGenerator(3, 8, 2).state_dict(), tmp_path / "latest_net_G_A.pth")
    model = CycleGAN(CycleGANConfig(ngf=4, n_blocks=2))
    from zoo.models.cyclegan.convert import load_official

    with pytest.raises(ValueError, match="mis-shaped"):
        load_official(model, tmp_path / "latest_net_G_A.pth")


def _batches(n, side=32):
    gen = torch.Generator().manual_seed(5)
    return [{"a": torch.rand(3, side, side, generator=gen), "b": torch.rand(3, side, side, generator=gen)} for _ in range(n)]


def _trainer(root, epochs, **kwargs):
    return L.Trainer(
        max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=0, default_root_dir=root, accelerator="cpu", **kwargs,
    )


def test_loss_terms_are_the_official_ones():
    model = CycleGAN(CycleGANConfig(**TINY, pool_size=0))
    model.build_training_parts()
    batch = {k: v[None] for k, v in _batches(1)[0].items()}
    terms, weights = model.generator_step_terms(batch)
    assert weights == {"G_A": 1.0, "G_B": 1.0, "cycle_A": 10.0, "cycle_B": 10.0, "idt_A": 5.0, "idt_B": 5.0}
    with torch.no_grad():
        fake_b = model.net.ab(batch["a"])
        # The official terms live in [-1, 1]: the L1 terms are twice the [0, 1] ones and D sees 2x - 1.
        assert torch.allclose(terms["cycle_A"], 2 * (model.net.ba(fake_b) - batch["a"]).abs().mean())
        assert torch.allclose(terms["idt_A"], 2 * (model.net.ab(batch["b"]) - batch["b"]).abs().mean())
        fake_logits = model.discriminators["D_A"](2 * fake_b - 1)
        assert torch.allclose(terms["G_A"], (fake_logits - 1).square().mean())
        real_logits = model.discriminators["D_A"](2 * batch["b"] - 1)
        expected = 0.5 * ((real_logits - 1).square().mean() + fake_logits.square().mean())
        assert torch.allclose(model.discriminator_loss("D_A", batch)["adv"], expected)
    rule = linear_decay_rule(100, 100)
    assert rule(0) == rule(99) == 1.0 and rule(100) == pytest.approx(100 / 101) and rule(199) == pytest.approx(1 / 101)


def test_training_changes_weights_and_resumes_to_the_same_weights_and_pools(tmp_path):
    cfg = CycleGANConfig(**TINY, pool_size=2, n_epochs=1, n_epochs_decay=1)
    data = lambda: DataLoader(_batches(3), batch_size=1)  # noqa: E731
    L.seed_everything(0)
    straight = CycleGAN(cfg)
    before = {k: v.clone() for k, v in straight.net.state_dict().items()}
    _trainer(tmp_path / "a", 2, enable_checkpointing=False).fit(straight, data())
    after = straight.net.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before)
    assert set(straight.discriminators) == {"D_A", "D_B"} and len(straight.pools["D_A"]) == len(straight.pools["D_B"]) == 2
    logged = straight.trainer.callback_metrics
    for key in ("g/G_A", "g/G_B", "g/cycle_A", "g/cycle_B", "g/idt_A", "g/idt_B", "d/D_A/adv", "d/D_B/adv"):
        assert key in logged, key
    # Epoch 0 ran at the initial rate, epoch 1 at half of it (the official linear rule, 1 constant + 1 decay epoch).
    assert all(opt.param_groups[0]["lr"] == pytest.approx(1e-4) for opt in straight.trainer.optimizers)

    L.seed_everything(0)
    first = CycleGAN(cfg)
    _trainer(tmp_path / "b", 1, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)]).fit(first, data())
    resumed = CycleGAN(cfg)
    _trainer(tmp_path / "b", 2, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)]).fit(
        resumed, data(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt")
    )
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and any(k.startswith("discriminators.D_A.") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    for name in ("D_A", "D_B"):
        assert all(torch.equal(x, y) for x, y in zip(straight.pools[name].images, resumed.pools[name].images))


def test_image_pool_behaves_as_the_official_one():
    images = lambda start, n: torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1)  # noqa: E731
    assert ImagePool(0).query(images(0, 3)).flatten().tolist() == [0.0, 1.0, 2.0]
    pool = ImagePool(4, seed=0)
    # Until full, every image is stored and returned as it is.
    assert pool.query(images(0, 3)).flatten().tolist() == [0.0, 1.0, 2.0]
    assert pool.query(images(3, 2)).flatten().tolist() == [3.0, 4.0]
    assert sorted(float(t) for t in pool.images) == [0.0, 1.0, 2.0, 3.0]  # image 4 found the pool full
    twin = ImagePool(4, seed=1)
    twin.load_state_dict(pool.state_dict())
    fresh = 0
    for step in range(2000):
        stored = sorted(float(t) for t in pool.images)
        new = float(5 + step)
        out = float(pool.query(images(new, 1)))
        assert float(twin.query(images(new, 1))) == out  # the state round-trips: same draws
        if out == new:  # returned as it is, the pool unchanged
            fresh += 1
            assert sorted(float(t) for t in pool.images) == stored
        else:  # a stored image came back and the new one took its place
            assert out in stored
            assert sorted(float(t) for t in pool.images) == sorted([*(s for s in stored if s != out), new])
    assert 0.45 < fresh / 2000 < 0.55
    with pytest.raises(ValueError, match="size"):
        ImagePool(4).load_state_dict(ImagePool(2).state_dict())


def test_predict_returns_the_input_kind_and_validates_it(tmp_path):
    model = CycleGAN(CycleGANConfig(**TINY)).eval()
    x = torch.rand(3, 30, 37, generator=torch.Generator().manual_seed(1))
    y = model.predict(x)
    assert y.shape == (3, 30, 37) and y.dtype == torch.float32 and 0 <= float(y.min()) <= float(y.max()) <= 1
    padded = model(torch.nn.functional.pad(x[None], (0, 3, 0, 2), mode="reflect"))[0, :, :30, :37]
    assert torch.allclose(y, padded.clamp(0, 1))
    assert not torch.equal(model.predict(x, direction="ba"), y)
    assert model.predict(torch.rand(2, 3, 5, 5)).shape == (2, 3, 5, 5)  # below the minimum side: padded to 8
    assert model.predict(x.double()).dtype == torch.float64
    array = (x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    out = model.predict(array)
    assert out.shape == (30, 37, 3) and out.dtype == np.uint8
    assert model.predict(array.astype(np.float32) / 255).dtype == np.float32
    assert model.predict((array.astype(np.uint16) * 257)).dtype == np.uint16
    Image.fromarray(array).save(tmp_path / "a.png")
    Image.fromarray(array[..., 0]).save(tmp_path / "gray.png")  # converted to RGB, as the official loader does
    for source in (Image.fromarray(array), str(tmp_path / "a.png"), tmp_path / "gray.png"):
        image = model.predict(source)
        assert isinstance(image, Image.Image) and image.size == (37, 30) and image.mode == "RGB"
    bad = [
        (torch.rand(4, 16, 16), r"expected shape \(3, H, W\)"),
        (torch.rand(3, 16, 16) * 2, r"expected values in \[0(\.0)?, 1(\.0)?\]"),
        (torch.full((3, 16, 16), float("nan")), "finite"),
        (torch.zeros(3, 16, 16, dtype=torch.uint8), "floating-point"),
        (np.zeros((16, 16), np.uint8), r"expected shape \(H, W, 3\)"),
        (np.zeros((16, 16, 3), np.int32), "uint8, uint16 or float"),
        (Image.new("L", (16, 16)), "mode 'RGB'"),
        ([0.5], "expected a tensor, numpy array, PIL image or file path"),
        (str(tmp_path / "missing.png"), "existing file"),
    ]
    for value, message in bad:
        with pytest.raises(ValueError, match=message):
            model.predict(value)
    with pytest.raises(ValueError, match="direction: expected 'ab' or 'ba'"):
        model.predict(x, direction="AtoB")
    with pytest.raises(ValueError, match="gan_mode"):
        CycleGAN(CycleGANConfig(gan_mode="wgangp"))


def test_tiny_recipe_instantiates_and_trains(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = ROOT / "recipes" / "cyclegan_resnet9" / "tiny.yaml"
    cli = run_cli(["--config", str(recipe), "--trainer.logger=false"], run=False)
    assert isinstance(cli.model, CycleGAN) and (cli.model.config.ngf, cli.model.config.n_blocks) == (16, 9)
    assert cli.trainer.max_epochs == cli.model.config.n_epochs + cli.model.config.n_epochs_decay
    overrides = ["--trainer.logger=false", "--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1",
                 "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--data.init_args.train_length=2",
                 "--data.init_args.eval_length=1", "--data.init_args.crop=64", *(f"--model.init_args.config.{k}={v}" for k, v in TINY.items())]
    cli = run_cli(["fit", "--config", str(recipe), *overrides])
    assert int(cli.model.generator_steps) == 2 and "val/cycle_psnr" in cli.trainer.callback_metrics
    paper = run_cli(["--config", str(ROOT / "recipes" / "cyclegan_resnet9" / "paper.yaml"), "--trainer.logger=false"], run=False)
    assert paper.model.config == CycleGANConfig() and paper.trainer.max_epochs == 200


def test_card_describes_the_config():
    text = str(zoo.card("cyclegan_resnet6"))
    assert "6 residual blocks" in text and "| `n_blocks` | 9 | 6 |" in text and "official=True" in text
    assert "None." in str(zoo.card("cyclegan_resnet9"))
