"""Official CycleGAN checkpoints (``junyanz/pytorch-CycleGAN-and-pix2pix``) -> zoo weights.

The official ``save_networks`` writes one ``torch.save(state_dict)`` per network into the run directory
``checkpoints/<name>/``: ``latest_net_G_A.pth`` (A -> B), ``latest_net_G_B.pth`` (B -> A), ``latest_net_D_A.pth``
(judges B), ``latest_net_D_B.pth`` (judges A), ``<epoch>_net_*.pth`` per saved epoch, and the options as
``train_opt.txt``. The released pretrained models are one generator each (``latest_net_G.pth`` after the download
script, A -> B).

The keys are ``model.N.*``, exactly the layout of :mod:`zoo.nets.cyclegan`, so the mapping is nearly the identity;
what it handles: a ``module.`` (DataParallel) prefix; stale InstanceNorm running statistics in checkpoints of old
PyTorch versions (the official ``load_networks`` deletes them too); ``--use_dropout`` generators (a Dropout inside
each residual block shifts its second conv; dropout is inactive at inference, so the weights map exactly); and
``--norm none``, whose convs carry no bias in the official code (ours do: the bias is set to zero, which is exact).

The architecture is read from the tensors (:func:`generator_layout`, :func:`discriminator_layout`); the run's
``train_opt.txt``, when present, supplies the training settings no tensor reveals (:func:`options_config`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.core.convert import read_official

OPTIONS_FILE = "train_opt.txt"
SUFFIXES = (".pth", ".safetensors")
GENERATORS = {"G_A": "ab", "G_B": "ba"}
"""Official generator name -> direction of :class:`~zoo.models.rawformer.model.CycleGenerators`."""
DISCRIMINATORS = ("D_A", "D_B")
_STALE = ("running_mean", "running_var", "num_batches_tracked")
_BLOCK = re.compile(r"^model\.(\d+)\.conv_block\.(\d+)\.(.+)$")
_NET_NAME = re.compile(r"net_([GD])(?:_([AB]))?$")


def clean_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a DataParallel ``module.`` prefix and the running statistics of InstanceNorm layers (a norm module with
    statistics but no ``weight`` is an affine-free InstanceNorm saved by PyTorch < 0.4)."""
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    out = {}
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        if leaf in _STALE and f"{module}.weight" not in state:
            continue
        out[key] = value
    return out


def _norm_of(state: dict[str, torch.Tensor], conv: int, norm: int) -> str | None:
    """The official ``--norm`` from the first conv + norm pair: BatchNorm has a weight (and the conv no bias);
    InstanceNorm (affine-free) has no tensor and the conv a bias; ``none`` neither."""
    if f"model.{norm}.weight" in state:
        return "batch"
    return "instance" if f"model.{conv}.bias" in state else None


@dataclass(frozen=True)
class GeneratorLayout:
    """What an official ``ResnetGenerator`` state_dict's tensors say about it.

    Args:
        in_channels: ``--input_nc``.
        out_channels: ``--output_nc``.
        ngf: ``--ngf``.
        n_blocks: residual blocks (``resnet_9blocks``: 9, ``resnet_6blocks``: 6).
        norm: ``"instance"``, ``"batch"`` or None (``--norm none``).
        dropout: trained with ``--use_dropout``.
    """

    in_channels: int
    out_channels: int
    ngf: int
    n_blocks: int
    norm: str | None
    dropout: bool

    def config(self) -> dict[str, Any]:
        """The :class:`~zoo.models.cyclegan.module.CycleGANConfig` fields it determines.

        Raises:
            ValueError: input and output channels differ (zoo's generators map C channels to C).
        """
        if self.in_channels != self.out_channels:
            raise ValueError(
                f"official generator: expected as many input as output channels (zoo's ResnetGenerator maps C to C), "
                f"received input_nc={self.in_channels}, output_nc={self.out_channels}"
            )
        return {"channels": self.in_channels, "ngf": self.ngf, "n_blocks": self.n_blocks, "norm": self.norm}


def generator_layout(state: dict[str, torch.Tensor]) -> GeneratorLayout:
    """Read an official ``ResnetGenerator`` state_dict's architecture from its keys and shapes.

    Raises:
        ValueError: it is not a ResNet generator (e.g. a ``unet_256`` one, keys ``model.model.*``).
    """
    state = clean_state(state)
    first = state.get("model.1.weight")
    blocks = sorted({int(m.group(1)) for m in map(_BLOCK.match, state) if m})
    last = state.get(f"model.{17 + len(blocks)}.weight")
    contiguous = bool(blocks) and blocks == list(range(10, 10 + len(blocks)))
    if first is None or first.ndim != 4 or first.shape[-1] != 7 or not contiguous or last is None:
        sample = sorted(state)[:3]
        raise ValueError(
            "official generator: expected a ResnetGenerator state_dict (--netG resnet_9blocks / resnet_6blocks; keys "
            f"model.1.weight, model.10.conv_block.1.weight, ...), received keys {sample} (U-Net generators are not supported)"
        )
    n_blocks = len(blocks)
    dropout_conv = state.get("model.10.conv_block.6.weight")
    return GeneratorLayout(
        in_channels=int(first.shape[1]), out_channels=int(last.shape[0]), ngf=int(first.shape[0]), n_blocks=n_blocks,
        norm=_norm_of(state, 1, 2), dropout=dropout_conv is not None and dropout_conv.ndim == 4,
    )


def _zero_missing_biases(state: dict[str, torch.Tensor], transposed: set[int]) -> dict[str, torch.Tensor]:
    """Add the zero bias of every conv that has none (``--norm none``); a transposed conv's outputs are dim 1."""
    out = dict(state)
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        if leaf == "weight" and value.ndim == 4 and f"{module}.bias" not in state:
            index = int(module.split(".")[1])
            out[f"{module}.bias"] = value.new_zeros(value.shape[1] if index in transposed else value.shape[0])
    return out


def convert_generator(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official ``ResnetGenerator`` state_dict -> :class:`~zoo.nets.cyclegan.ResnetGenerator`'s."""
    state = clean_state(state)
    layout = generator_layout(state)
    if layout.dropout:
        # Official block: pad, conv, norm, ReLU, Dropout, pad, conv, norm; ours has no Dropout (inactive at inference).
        renamed = {}
        for key, value in state.items():
            m = _BLOCK.match(key)
            if m and int(m.group(2)) >= 5:
                key = f"model.{m.group(1)}.conv_block.{int(m.group(2)) - 1}.{m.group(3)}"
            renamed[key] = value
        state = renamed
    if layout.norm is None:
        state = _zero_missing_biases(state, {10 + layout.n_blocks, 13 + layout.n_blocks})
    return state


def discriminator_layout(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``channels``, ``ndf``, ``n_layers_d`` and ``norm`` of an official ``NLayerDiscriminator`` state_dict.

    Raises:
        ValueError: it is not an N-layer PatchGAN (e.g. ``--netD pixel``).
    """
    state = clean_state(state)
    convs = sorted(int(k.split(".")[1]) for k, v in state.items() if re.fullmatch(r"model\.\d+\.weight", k) and v.ndim == 4)
    first = state.get("model.0.weight")
    if first is None or first.shape[-1] != 4 or len(convs) < 3:
        raise ValueError(
            f"official discriminator: expected an NLayerDiscriminator state_dict (--netD basic / n_layers; 4x4 convs "
            f"model.0, model.2, ...), received keys {sorted(state)[:3]}"
        )
    return {"channels": int(first.shape[1]), "ndf": int(first.shape[0]), "n_layers_d": len(convs) - 2, "norm": _norm_of(state, 2, 3)}


def convert_discriminator(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official ``NLayerDiscriminator`` state_dict -> :class:`~zoo.nets.cyclegan.PatchGAN`'s (with ``logits=True``)."""
    state = clean_state(state)
    return _zero_missing_biases(state, set()) if discriminator_layout(state)["norm"] is None else state


# ------------------------------------------------------------------------ run options
def read_options(path: str | Path) -> dict[str, str]:
    """The official ``train_opt.txt`` (``name: value  [default: d]`` lines) as ``{name: value}`` strings."""
    options = {}
    for line in Path(path).read_text().splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() and not name.strip().startswith("-"):
            options[name.strip()] = value.split("[default:")[0].strip()
    return options


def _flag(value: str) -> bool:
    return value.strip().lower() == "true"


def options_config(options: dict[str, str]) -> dict[str, Any]:
    """The training settings of :class:`~zoo.models.cyclegan.module.CycleGANConfig` a run's options hold (current and
    older option names: ``n_epochs`` / ``niter``, ``gan_mode`` / ``no_lsgan``). Shape options are left to the tensors.

    Raises:
        ValueError: the run is not a CycleGAN run (``--model`` other than ``cycle_gan`` / ``test``).
    """
    model = options.get("model", "cycle_gan")
    if model not in ("cycle_gan", "test"):
        raise ValueError(f"official options: expected a run of --model cycle_gan, received --model {model}")
    out: dict[str, Any] = {}
    for official, ours, kind in (
        ("lambda_A", "lambda_a", float), ("lambda_B", "lambda_b", float), ("lambda_identity", "lambda_identity", float),
        ("pool_size", "pool_size", int), ("init_type", "init_type", str), ("init_gain", "init_gain", float),
        ("n_epochs", "n_epochs", int), ("niter", "n_epochs", int), ("n_epochs_decay", "n_epochs_decay", int),
        ("niter_decay", "n_epochs_decay", int), ("gan_mode", "gan_mode", str),
    ):
        if official in options:
            out[ours] = kind(options[official])
    if "no_lsgan" in options and "gan_mode" not in options:
        out["gan_mode"] = "vanilla" if _flag(options["no_lsgan"]) else "lsgan"
    if "lr" in options:
        out["g_lr"] = out["d_lr"] = float(options["lr"])
    if "beta1" in options:
        out["g_betas"] = out["d_betas"] = (float(options["beta1"]), 0.999)
    return out


def swapped_domains(options: dict[str, str]) -> bool:
    """Whether the run trained with ``--direction BtoA``: its G_A then maps the dataset's B folder to A."""
    return options.get("direction", options.get("which_direction", "AtoB")) == "BtoA"


# ------------------------------------------------------------------------ files
def _net_name(path: Path) -> str | None:
    """``"G_A"``, ``"G_B"``, ``"G"``, ``"D_A"``, ... from an official file name (``latest_net_G_A.pth``); None otherwise."""
    m = _NET_NAME.search(path.stem)
    return None if m is None else m.group(1) + (f"_{m.group(2)}" if m.group(2) else "")


def run_files(directory: Path) -> dict[str, Path]:
    """The ``latest_net_*`` files of an official run directory by network name (``G_A``, ``G_B``, ``D_A``, ``D_B``), or
    ``{"G": ...}`` for a pretrained-model directory holding one generator.

    Raises:
        ValueError: neither both generators nor a single ``latest_net_G`` file is there.
    """
    found = {}
    for name in (*GENERATORS, *DISCRIMINATORS, "G"):
        for suffix in SUFFIXES:
            if (directory / f"latest_net_{name}{suffix}").is_file():
                found[name] = directory / f"latest_net_{name}{suffix}"
                break
    if all(g in found for g in GENERATORS):
        found.pop("G", None)
        return found
    if "G" in found:
        return {"G": found["G"]}
    present = sorted(p.name for p in directory.iterdir())[:8] if directory.is_dir() else []
    raise ValueError(
        f"official CycleGAN run {directory}: expected latest_net_G_A.pth and latest_net_G_B.pth (or one latest_net_G.pth), "
        f"found {present}"
    )


def _single_direction(path: Path) -> str:
    name = _net_name(path)
    if name is not None and name.startswith("D"):
        raise ValueError(
            f"official checkpoint {path.name}: expected a generator file (net_G_A / net_G_B / net_G), received a discriminator"
        )
    return "ba" if name == "G_B" else "ab"


def official_config(path: str | Path) -> dict[str, Any]:
    """Config fields of the official checkpoint at ``path``: a run directory or a single generator file.

    Generator shapes give ``channels``, ``ngf``, ``n_blocks`` and ``norm``; the discriminators, when saved, ``ndf`` and
    ``n_layers_d``; ``train_opt.txt``, when present, the training settings (:func:`options_config`).

    Raises:
        ValueError: the files are not CycleGAN's, or G_A and G_B (or G and D) disagree, naming what differs.
    """
    path = Path(path)
    if not path.is_dir():
        _single_direction(path)
        return generator_layout(read_official(path)).config()
    files = run_files(path)
    layouts = {name: generator_layout(read_official(files[name])) for name in (*GENERATORS, "G") if name in files}
    configs = {name: layout.config() for name, layout in layouts.items()}
    first = next(iter(configs.values()))
    for name, config in configs.items():
        if config != first:
            raise ValueError(f"official CycleGAN run {path}: expected G_A and G_B of one architecture, received {configs}")
    out = dict(first)
    for name in DISCRIMINATORS:
        if name in files:
            disc = discriminator_layout(read_official(files[name]))
            if disc["channels"] != out["channels"] or disc["norm"] != out["norm"]:
                raise ValueError(
                    f"official {files[name].name}: expected channels={out['channels']}, norm={out['norm']!r} as the generators, "
                    f"received {disc}"
                )
            out.update(ndf=disc["ndf"], n_layers_d=disc["n_layers_d"])
    if (path / OPTIONS_FILE).is_file():
        out.update(options_config(read_options(path / OPTIONS_FILE)))
    return out


def load_official(model, path: str | Path) -> None:
    """Load official weights into a :class:`~zoo.models.cyclegan.module.CycleGAN` built with :func:`official_config`.

    ``path`` is a run directory (``latest_net_G_A.pth`` -> ``ab``, ``latest_net_G_B.pth`` -> ``ba``, swapped for a
    ``--direction BtoA`` run; ``latest_net_D_A.pth`` / ``latest_net_D_B.pth``, when present, into the discriminators
    for further training), a pretrained-model directory with one ``latest_net_G.pth``, or one generator file: a name
    containing ``G_B`` loads B -> A, any other A -> B; then the other direction keeps its weights.

    Raises:
        ValueError: a file is not what is expected or does not fit the model's configuration.
    """
    path = Path(path)
    files = run_files(path) if path.is_dir() else {"file": path}
    if set(files) & set(GENERATORS):
        swap = path.is_dir() and (path / OPTIONS_FILE).is_file() and swapped_domains(read_options(path / OPTIONS_FILE))
        flip = {"ab": "ba", "ba": "ab"}
        state = {}
        for name, direction in GENERATORS.items():
            direction = flip[direction] if swap else direction
            state.update({f"{direction}.{k}": v for k, v in convert_generator(read_official(files[name])).items()})
        model.load_net_state(state)
        discs = [name for name in DISCRIMINATORS if name in files]
        if discs:
            model.build_training_parts()
        for name in discs:
            target = {"D_A": "D_B", "D_B": "D_A"}[name] if swap else name
            try:
                model.discriminators[target].load_state_dict(convert_discriminator(read_official(files[name])), strict=True)
            except RuntimeError as error:
                raise ValueError(f"official {files[name].name}: expected the model's discriminator layout ({error})") from error
        return
    single = next(iter(files.values()))
    direction = _single_direction(single)
    state = dict(model.net.state_dict())
    state.update({f"{direction}.{k}": v for k, v in convert_generator(read_official(single)).items()})
    model.load_net_state(state)
