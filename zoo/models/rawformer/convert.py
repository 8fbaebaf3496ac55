"""Official Rawformer checkpoints -> zoo weights (and back, for the tests).

The official code (``gosha20777/rawformer``) saves one ``torch.save(state_dict)`` per sub-model:
``net_gen_ab.pth``, ``net_gen_ba.pth``, ``net_avg_gen_ab.pth``, ``net_avg_gen_ba.pth`` (the EMA copies),
``net_disc_a.pth``, ``net_disc_b.pth`` (final) or ``checkpoints/{epoch:04d}_net_<name>.pth`` (per epoch), and
the pre-training stage ``net_encoder.pth``.

Generator keys start with ``net.``; the U-Net levels are nested (``net.modnet.`` + ``inner_module.`` per level),
the ViT bottleneck sits one level below the deepest, and the state_dict holds its position buffers
(``trans_input.x_const`` / ``y_const``). Discriminator keys are ``_body.model.*`` (new-style spectral-norm
parametrisation: ``parametrizations.weight.original`` and ``.0._u`` / ``.0._v``) and ``_head.{norm,net}.*``.
Any configuration of the official constructor maps: the level count is read from the keys and
:func:`infer_config` recovers the sizes from the shapes; :func:`official_config` adds what no shape shows
(``vit_heads``, activations, ...) from the output directory's ``config.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from zoo.core.convert import read_official

_BLOCK_RENAMES = (
    ("attn.q_pwconv.", "attn.q_reduce."),
    ("attn.project_out.", "attn.proj."),
    ("ffn.pointwise_3x3_1.", "ffn.expand3."),
    ("ffn.depthwise_3x3.", "ffn.dw3."),
    ("ffn.pointwise_3x3_2.", "ffn.fuse3."),
    ("ffn.pointwise_5x5_1.", "ffn.expand5."),
    ("ffn.depthwise_5x5.", "ffn.dw5."),
    ("ffn.pointwise_5x5_2.", "ffn.fuse5."),
    ("style_block.affine_mod.", "style."),
    ("style_block.re_alpha", "style_gain"),
)
_LEVEL_RENAMES = (
    ("conv.block.", "encoders.{i}.block."),
    ("conv.downsample.", "encoders.{i}.down."),
    ("deconv.upsample.", "decoders.{i}.up."),
    ("deconv.re_alpha", "decoders.{i}.gain"),
    ("deconv.block.", "decoders.{i}.block."),
)
_VIT_RENAMES = (
    ("trans_input.x_const", "bottleneck.x_pos"),
    ("trans_input.y_const", "bottleneck.y_pos"),
    ("trans_input.embed.projector.", "bottleneck.pos_proj."),
    ("trans_input.output.", "bottleneck.input_proj."),
    ("extra_tokens", "bottleneck.extra_tokens"),
    ("trans_output.", "bottleneck.output_proj."),
)
_VIT_BLOCK_RENAMES = (
    ("re_alpha", "gain"),
    ("atten.", "attn."),
    ("ffn.net.", "mlp."),
)
_TOP_RENAMES = (("net.layer_input.", "stem."), ("net.layer_output.", "head."))
_VIT_BLOCK = re.compile(r"^encoder\.encoder\.(\d+)\.(.*)$")
_ZOO_VIT_BLOCK = re.compile(r"^bottleneck\.blocks\.(\d+)\.(.*)$")
_ZOO_LEVEL = re.compile(r"^(encoders|decoders)\.(\d+)\.(.*)$")


def _rename(key: str, table, reverse: bool = False) -> str | None:
    for official, ours in table:
        src, dst = (ours, official) if reverse else (official, ours)
        if key.startswith(src):
            return dst + key[len(src):]
    return None


def _strip_wrappers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a DataParallel ``module.`` prefix if every key has one."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def official_levels(state: dict[str, torch.Tensor]) -> int:
    """Number of U-Net levels of an official generator state_dict (from the ``inner_module`` nesting)."""
    depths = [k.count("inner_module.") for k in state if k.startswith("net.modnet.") and ".trans_input." in k]
    if not depths:
        raise ValueError("official Rawformer generator: expected keys under net.modnet.(inner_module.)*trans_input, found none")
    return depths[0]


def convert_generator(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official ``ViTRawNetGenerator`` state_dict -> :class:`~zoo.models.rawformer.model.RawformerGenerator`'s."""
    state = _strip_wrappers(state)
    levels = official_levels(state)
    out = {}
    for key, value in state.items():
        new = _rename(key, _TOP_RENAMES)
        if new is None:
            if not key.startswith("net.modnet."):
                raise ValueError(f"official Rawformer generator: unexpected key {key!r}")
            rest = key[len("net.modnet."):]
            depth = 0
            while rest.startswith("inner_module."):
                rest, depth = rest[len("inner_module."):], depth + 1
            if depth == levels:
                block = _VIT_BLOCK.match(rest)
                if block:
                    inner = _rename(block.group(2), _VIT_BLOCK_RENAMES) or block.group(2)
                    new = f"bottleneck.blocks.{block.group(1)}.{inner}"
                else:
                    new = _rename(rest, _VIT_RENAMES)
            else:
                renamed = _rename(rest, _LEVEL_RENAMES)
                if renamed is not None:
                    renamed = renamed.format(i=depth)
                    head, _, tail = renamed.partition(".block.")
                    new = f"{head}.block.{_rename(tail, _BLOCK_RENAMES) or tail}" if tail else renamed
            if new is None:
                raise ValueError(f"official Rawformer generator: unexpected key {key!r}")
        out[new] = value
    return out


def to_official_generator(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`convert_generator`: zoo generator state_dict -> the official key layout."""
    levels = 1 + max(int(m.group(2)) for m in map(_ZOO_LEVEL.match, state) if m)
    out = {}
    for key, value in state.items():
        new = _rename(key, _TOP_RENAMES, reverse=True)
        if new is None:
            level, block = _ZOO_LEVEL.match(key), _ZOO_VIT_BLOCK.match(key)
            if block:
                inner = _rename(block.group(2), _VIT_BLOCK_RENAMES, reverse=True) or block.group(2)
                new = "net.modnet." + "inner_module." * levels + f"encoder.encoder.{block.group(1)}.{inner}"
            elif level:
                kind, i, rest = level.group(1), int(level.group(2)), level.group(3)
                if rest.startswith("block."):
                    rest = "block." + (_rename(rest[len("block."):], _BLOCK_RENAMES, reverse=True) or rest[len("block."):])
                generic = f"{kind}.{{i}}.{rest}"
                official = _rename(generic, [(o, z) for o, z in _LEVEL_RENAMES], reverse=True)
                new = "net.modnet." + "inner_module." * i + official
            else:
                new = "net.modnet." + "inner_module." * levels + _rename(key, _VIT_RENAMES, reverse=True)
        out[new] = value
    return out


def convert_discriminator(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official ``BatchHeadWrapper`` (PatchGAN body + batch head) state_dict ->
    :class:`~zoo.models.rawformer.discriminator.BatchHeadDiscriminator`'s (without its queues)."""
    out = {}
    for key, value in _strip_wrappers(state).items():
        for official, ours in (("_body.", "body."), ("_head.", "head.")):
            if key.startswith(official):
                out[ours + key[len(official):]] = value
                break
        else:
            raise ValueError(f"official Rawformer discriminator: unexpected key {key!r}")
    return out


def infer_config(state: dict[str, torch.Tensor]) -> dict:
    """Architecture fields of :class:`~zoo.models.rawformer.module.RawformerConfig` recovered from the shapes of an
    official generator state_dict (``vit_heads`` does not change any shape: pass it yourself; official default 6)."""
    ours = convert_generator(state)
    levels = official_levels(_strip_wrappers(state))
    unet = tuple(int(ours[f"encoders.{i}.block.out_conv.weight"].shape[0]) for i in range(levels))
    blocks = len({k.split(".")[2] for k in ours if k.startswith("bottleneck.blocks.")})
    cells = int(ours["bottleneck.x_pos"].shape[1])
    side = int(round(cells**0.5))
    return {
        "channels": int(ours["stem.0.weight"].shape[1]),
        "image_size": side * 2**levels,
        "unet_features": unet,
        "vit_dim": int(ours["bottleneck.extra_tokens"].shape[-1]),
        "n_ext": int(ours["bottleneck.extra_tokens"].shape[1]),
        "vit_blocks": blocks,
        "vit_ffn": int(ours["bottleneck.blocks.0.mlp.0.weight"].shape[0]),
        "vit_embed": int(ours["bottleneck.pos_proj.weight"].shape[0]),
        "unet_rezero": "decoders.0.gain" in ours,
        "vit_rezero": "bottleneck.blocks.0.gain" in ours,
        "style_rezero": "decoders.0.block.style_gain" in ours,
        "style_bias": "decoders.0.block.style.bias" in ours,
        "vit_norm": "layer" if "bottleneck.blocks.0.norm1.weight" in ours else None,
    }


def _generator_state(gen: torch.nn.Module, path: Path) -> dict[str, torch.Tensor]:
    """The official generator file at ``path`` in zoo's names, checked against ``gen``'s keys and shapes."""
    converted = convert_generator(read_official(path))
    expected = gen.state_dict()
    problems = sorted(set(expected) ^ set(converted)) or [k for k in expected if expected[k].shape != converted[k].shape]
    if problems:
        raise ValueError(
            f"official checkpoint {path.name} does not match this model's configuration (first differing keys: {problems[:4]}); "
            "build the model with the official run's settings (zoo.load(..., official=True) reads them from the file and the "
            "run's config.json; zoo.models.rawformer.convert.official_config shows them)"
        )
    return converted


def _both(states: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``{"ab": state, "ba": state}`` -> the state_dict of :class:`~zoo.models.rawformer.model.CycleGenerators`."""
    return {f"{direction}.{k}": v for direction, state in states.items() for k, v in state.items()}


def _run_generator_files(directory: Path, direction: str) -> tuple[Path, Path]:
    """``(online, averaged)`` generator files of one direction in an official output directory (at least one exists)."""
    online, averaged = directory / f"net_gen_{direction}.pth", directory / f"net_avg_gen_{direction}.pth"
    if not online.exists() and not averaged.exists():
        raise ValueError(f"official Rawformer directory {directory}: expected net_gen_{direction}.pth or net_avg_gen_{direction}.pth")
    return online, averaged


def load_official(model, path: str | Path) -> None:
    """Load official weights into a :class:`~zoo.models.rawformer.module.Rawformer`.

    ``path`` is either an official output directory (``net_gen_ab.pth`` ... and, when present, the EMA copies
    ``net_avg_gen_*.pth`` for inference and the discriminators ``net_disc_*.pth`` for further training), or
    one generator file: a name containing ``gen_ba`` loads the B -> A direction, any other (``net_gen_ab.pth``,
    ``net_avg_gen_ab.pth``, ``net_encoder.pth``) the A -> B direction; with a single file the other direction
    keeps the weights of the model's training copy.

    The inference weights (the EMA copies, or the online generators when no EMA file exists or the model keeps no
    EMA) enter through :meth:`~zoo.core.module.ZooModule.load_net_state`; with both kinds of file, the training copy
    is then set to the online generators.

    Args:
        model: the module, built at the run's configuration (``zoo.load(..., official=True)`` does that).
        path: the output directory or one generator file.

    Raises:
        ValueError: a generator file does not match the model's configuration, naming the differing keys; a
            directory lacks a direction; a discriminator file does not match.
    """
    path = Path(path)
    if path.is_dir():
        online, averaged = {}, {}
        for direction in ("ab", "ba"):
            online_file, averaged_file = _run_generator_files(path, direction)
            gen = getattr(model.net, direction)
            online[direction] = _generator_state(gen, online_file if online_file.exists() else averaged_file)
            both = online_file.exists() and averaged_file.exists()
            averaged[direction] = _generator_state(gen, averaged_file) if both else online[direction]
        separate = any(averaged[d] is not online[d] for d in online)
        model.load_net_state(_both(averaged if model.net_ema is not None else online))
        if model.net_ema is not None and separate:
            # the training copy is not the shipped net: it continues from the online generators
            model.net.load_state_dict(_both(online), strict=True)
        for domain in ("a", "b"):
            disc_file = path / f"net_disc_{domain}.pth"
            if disc_file.exists() and domain in model.discriminators:
                missing, unexpected = model.discriminators[domain].load_state_dict(convert_discriminator(read_official(disc_file)), strict=False)
                missing = [k for k in missing if not k.startswith("queues.")]  # the official queues are not saved
                if missing or unexpected:
                    raise ValueError(f"official discriminator {disc_file.name}: missing {missing[:4]}, unexpected {unexpected[:4]}")
        return
    direction = "ba" if "gen_ba" in path.name else "ab"
    state = {k: v.clone() for k, v in model.net.state_dict().items()}
    state.update(_both({direction: _generator_state(getattr(model.net, direction), path)}))
    model.load_net_state(state)


OFFICIAL_ARGUMENTS = {
    "features": "vit_dim", "n_heads": "vit_heads", "n_blocks": "vit_blocks", "ffn_features": "vit_ffn",
    "embed_features": "vit_embed", "activ": "vit_act", "norm": "vit_norm", "modnet_features_list": "unet_features",
    "modnet_activ": "unet_act", "modnet_norm": "unet_norm", "modnet_downsample": "downsample", "modnet_upsample": "upsample",
    "modnet_rezero": "unet_rezero", "modnet_demod": "demod", "rezero": "vit_rezero", "activ_output": "output_act",
    "style_rezero": "style_rezero", "style_bias": "style_bias", "n_ext": "n_ext", "rawnet_token_size": "token",
}
"""Official ``ViTRawNetGenerator`` argument -> :class:`~zoo.models.rawformer.module.RawformerConfig` field."""


def config_from_official_args(args: dict) -> dict:
    """:class:`~zoo.models.rawformer.module.RawformerConfig` fields from the official generator's constructor arguments
    (``model_args`` of a preset or of the run's ``config.json``, plus ``input_shape``).

    ``rawnet_num_heads`` is accepted and ignored: the official condensed-query attention never uses it.
    """
    unknown = sorted(set(args) - set(OFFICIAL_ARGUMENTS) - {"input_shape", "output_shape", "rawnet_num_heads"})
    if unknown:
        raise ValueError(f"official Rawformer arguments: unknown {unknown}; expected a subset of {sorted(OFFICIAL_ARGUMENTS)}")
    out = {OFFICIAL_ARGUMENTS[k]: (tuple(v) if isinstance(v, list) else v) for k, v in args.items() if k in OFFICIAL_ARGUMENTS}
    if "input_shape" in args:
        channels, height, width = args["input_shape"]
        if height != width:
            raise ValueError(f"official Rawformer input_shape: expected a square training size, received {height}x{width}")
        out.update(channels=channels, image_size=height)
    return out


RUN_CONFIG = "config.json"
"""The official run configuration in an output directory (``Config.save``): ``generator.model_args``, data shapes."""


def config_from_run(directory: Path) -> dict[str, Any]:
    """RawformerConfig fields from an official output directory's ``config.json``; empty when it has none.

    The generator's constructor arguments are ``generator.model_args`` (a top-level ``model_args`` holding generator
    arguments is accepted too); the training shape is ``data.datasets[0].shape``.

    Raises:
        ValueError: the file is not valid JSON, or its generator is not ``vit-rawnet``.
    """
    path = directory / RUN_CONFIG
    if not path.is_file():
        return {}
    try:
        run = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: expected the official run's JSON configuration, received invalid JSON ({error})") from error
    generator = run.get("generator") or {}
    if generator.get("model", "vit-rawnet") != "vit-rawnet":
        raise ValueError(f"{path}: expected generator.model 'vit-rawnet' (Rawformer), received {generator['model']!r}")
    args = dict(generator.get("model_args") or {})
    top = run.get("model_args") or {}
    if not args and set(top) & set(OFFICIAL_ARGUMENTS):
        args = {k: v for k, v in top.items() if k in OFFICIAL_ARGUMENTS or k in ("input_shape", "output_shape", "rawnet_num_heads")}
    datasets = (run.get("data") or {}).get("datasets") or []
    if "input_shape" not in args and datasets and datasets[0].get("shape"):
        args["input_shape"] = list(datasets[0]["shape"])
    return config_from_official_args(args)


def official_config(path: Path) -> dict[str, Any]:
    """Config fields of the Rawformer an official output directory or generator file holds.

    Args:
        path: an output directory (``net_gen_ab.pth`` or ``net_avg_gen_ab.pth``, optionally ``config.json``) or one
            generator file.

    Returns:
        The run's ``config.json`` settings (directories only; e.g. ``vit_heads``, which no tensor shows), overridden
        by what the generator's tensors show (:func:`infer_config`).

    Raises:
        ValueError: the file is no official Rawformer generator (naming what it lacks).
    """
    path = Path(path)
    if path.is_dir():
        from_run = config_from_run(path)
        online, averaged = _run_generator_files(path, "ab")
        path = online if online.exists() else averaged
    else:
        from_run = {}
    try:
        inferred = infer_config(read_official(path))
    except KeyError as error:
        raise ValueError(f"official Rawformer generator {path.name}: expected the key {error} (mapped to zoo's name), received a file without it (truncated, or another model's)") from error
    return {**from_run, **inferred}
