"""Official MAAG TensorFlow checkpoints -> zoo weights.

The official code (TF 1.14) saves ``tf.train.Saver`` checkpoints (``checkpoint-<step>.index`` / ``.data-*``) whose
variables carry ``tf.layers``' default names:

- ``Generator/UNet/Encoder/encode_brick_<k>/{conv2d, conv2d_1}/{kernel, bias}`` and
  ``.../{batch_normalization, batch_normalization_1}/{gamma, beta, moving_mean, moving_variance}``;
- ``Generator/UNet/Bottleneck/code/...`` (the same two pairs, 1x1 kernels);
- ``Generator/UNet/Decoder/decode_brick_<k>/{conv2d, conv2d_1, conv2d_2}`` with ``batch_normalization{,_1,_2}``
  (upsampling conv, c2, c3) and ``.../AttentionMap/conv2d``;
- ``Generator/UNet/output/conv2d``;
- ``Discriminator/MultiResDiscriminator/conv2d`` (level 0), ``conv2d_1..3`` (squeeze), ``conv2d_4`` (output) and
  ``sn_conv_<i>[/sn_conv]/{kernel, bias, u}`` (spectral-norm convs; ``u`` is the power-iteration vector).

Kernels are HWIO and become OIHW. The spectral norm's ``u`` becomes PyTorch's ``(_u, _v)`` after the one power
iteration the official layer runs at every forward, so D's eval forward equals the official one. Adam slots
(``.../Adam``, ``.../Adam_1``) and counters are ignored. With ``tensorflow`` installed the checkpoint is read
directly; otherwise from a ``.npz`` of name -> array (exported with ``tf.train.load_checkpoint``).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from zoo.models.maag.model import DEPTH

G_PREFIX, D_PREFIX = "Generator/UNet/", "Discriminator/MultiResDiscriminator/"
_BN = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def read_tf_variables(path: str | Path) -> dict[str, np.ndarray]:
    """Name -> array of an official checkpoint: a ``.npz`` export, or (with ``tensorflow`` installed) a checkpoint
    prefix, its ``.index`` file or the directory holding its ``checkpoint`` file.

    Raises:
        ValueError: a missing or unreadable file, or a TF checkpoint without tensorflow installed.
    """
    path = Path(path)
    if path.suffix == ".npz":
        if not path.is_file():
            raise ValueError(f"official checkpoint: expected an existing .npz file, received {str(path)!r}")
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError) as error:
            raise ValueError(f"official checkpoint {path}: expected a .npz of name -> array, received a file that does not load ({error})") from None
    prefix = path.with_suffix("") if path.suffix == ".index" else path
    if importlib.util.find_spec("tensorflow") is None:
        raise ValueError(
            f"official checkpoint {str(path)!r}: reading a TensorFlow checkpoint needs tensorflow, which is not installed; "
            "install it, or export the variables elsewhere to a .npz: reader = tf.train.load_checkpoint(prefix); "
            "np.savez('maag.npz', **{n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()})"
        )
    import tensorflow as tf

    if prefix.is_dir():
        latest = tf.train.latest_checkpoint(str(prefix))
        if latest is None:
            raise ValueError(f"official checkpoint: expected a 'checkpoint' file in {str(prefix)!r}, received none")
        prefix = Path(latest)
    try:
        reader = tf.train.load_checkpoint(str(prefix))
    except Exception as error:  # tensorflow raises its own error types for unreadable checkpoints
        raise ValueError(f"official checkpoint {str(prefix)!r}: expected a TensorFlow checkpoint prefix ({error})") from None
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def _conv(variables: dict[str, np.ndarray], scope: str) -> dict[str, torch.Tensor]:
    kernel = torch.from_numpy(np.asarray(variables[f"{scope}/kernel"], np.float32)).permute(3, 2, 0, 1).contiguous()
    return {"weight": kernel, "bias": torch.from_numpy(np.asarray(variables[f"{scope}/bias"], np.float32))}


def _bn(variables: dict[str, np.ndarray], scope: str) -> dict[str, torch.Tensor]:
    out = {ours: torch.from_numpy(np.asarray(variables[f"{scope}/{tf}"], np.float32)) for tf, ours in _BN.items()}
    out["num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    return out


def _conv_bn(variables, scope: str, conv: str, bn: str, ours: str) -> dict[str, torch.Tensor]:
    state = {f"{ours}.conv.{k}": v for k, v in _conv(variables, f"{scope}/{conv}").items()}
    return state | {f"{ours}.bn.{k}": v for k, v in _bn(variables, f"{scope}/{bn}").items()}


def _strip(variables: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The variables under ``prefix`` (also found after any outer scope), without it; optimiser slots dropped."""
    out = {}
    for name, value in variables.items():
        at = name.find(prefix)
        if at >= 0 and not re.search(r"/Adam(_\d+)?$", name):
            out[name[at + len(prefix) :]] = value
    return out


def convert_segmentor(variables: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The ``Generator/UNet/`` variables -> a :class:`~zoo.models.maag.model.SAUNet` state_dict."""
    g = _strip(variables, G_PREFIX)
    if not g:
        raise ValueError(f"official checkpoint: expected variables under {G_PREFIX!r}, received names such as {sorted(variables)[:4]}")
    try:
        state: dict[str, torch.Tensor] = {}
        for k in range(DEPTH):
            scope = f"Encoder/encode_brick_{k}"
            state |= _conv_bn(g, scope, "conv2d", "batch_normalization", f"encoders.{k}.conv1")
            state |= _conv_bn(g, scope, "conv2d_1", "batch_normalization_1", f"encoders.{k}.conv2")
        state |= _conv_bn(g, "Bottleneck/code", "conv2d", "batch_normalization", "bottleneck.0")
        state |= _conv_bn(g, "Bottleneck/code", "conv2d_1", "batch_normalization_1", "bottleneck.1")
        for k in range(DEPTH):
            scope = f"Decoder/decode_brick_{k}"
            for i, part in enumerate(("up", "conv2", "conv3")):
                suffix = f"_{i}" if i else ""
                state |= _conv_bn(g, scope, f"conv2d{suffix}", f"batch_normalization{suffix}", f"decoders.{k}.{part}")
            if f"{scope}/AttentionMap/conv2d/kernel" in g:
                state |= {f"decoders.{k}.gate.conv.{n}": v for n, v in _conv(g, f"{scope}/AttentionMap/conv2d").items()}
        state |= {f"output.{n}": v for n, v in _conv(g, "output/conv2d").items()}
    except KeyError as error:
        raise ValueError(f"official checkpoint: expected the SAUNet variable {G_PREFIX}{error.args[0]}, received none (another architecture?)") from None
    return state


def _spectral_vectors(weight: torch.Tensor, u_tf: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch's ``(_u, _v)`` after one power iteration from the official ``u`` (as each official forward runs)."""
    matrix = weight.flatten(1)
    u = torch.from_numpy(np.asarray(u_tf, np.float32)).reshape(-1)
    v = F.normalize(matrix.t() @ u, dim=0, eps=1e-12)
    return F.normalize(matrix @ v, dim=0, eps=1e-12), v


def convert_discriminator(variables: dict[str, np.ndarray], n_blocks: int = 4) -> dict[str, torch.Tensor]:
    """The ``Discriminator/MultiResDiscriminator/`` variables -> a
    :class:`~zoo.models.maag.discriminator.MultiResDiscriminator` state_dict (empty when the checkpoint has none)."""
    d = _strip(variables, D_PREFIX)
    if not d:
        return {}
    try:
        state = {f"conv0.{n}": v for n, v in _conv(d, "conv2d").items()}
        for i in range(1, n_blocks):
            state |= {f"squeeze.{i - 1}.{n}": v for n, v in _conv(d, f"conv2d_{i}").items()}
            scope = next(s for s in (f"sn_conv_{i}/sn_conv", f"sn_conv_{i}") if f"{s}/kernel" in d)
            conv = _conv(d, scope)
            u, v = _spectral_vectors(conv["weight"], d[f"{scope}/u"])
            state |= {f"blocks.{i - 1}.bias": conv["bias"], f"blocks.{i - 1}.parametrizations.weight.original": conv["weight"],
                      f"blocks.{i - 1}.parametrizations.weight.0._u": u, f"blocks.{i - 1}.parametrizations.weight.0._v": v}
        state |= {f"output.{n}": v for n, v in _conv(d, f"conv2d_{n_blocks}").items()}
    except (KeyError, StopIteration) as error:
        raise ValueError(f"official checkpoint: expected the MultiResDiscriminator variables under {D_PREFIX!r}, missing {error}") from None
    return state


def official_config(path: str | Path) -> dict[str, Any]:
    """Config fields read from the official checkpoint's shapes: ``in_channels``, ``n_filters``, ``num_classes``,
    ``attention_gates``, and when the discriminator is saved ``d_filters`` and ``input_size`` (its output kernel's
    side times 8)."""
    g = _strip(variables := read_tf_variables(path), G_PREFIX)
    kernel = g.get("Encoder/encode_brick_0/conv2d/kernel")
    if kernel is None:
        raise ValueError(f"official checkpoint: expected {G_PREFIX}Encoder/encode_brick_0/conv2d/kernel, received names such as {sorted(variables)[:4]}")
    config = {"in_channels": int(kernel.shape[2]), "n_filters": int(kernel.shape[3]), "num_classes": int(g["output/conv2d/kernel"].shape[3]),
              "attention_gates": "Decoder/decode_brick_0/AttentionMap/conv2d/kernel" in g}
    d = _strip(variables, D_PREFIX)
    if "conv2d/kernel" in d and "conv2d_4/kernel" in d:
        config |= {"d_filters": int(d["conv2d/kernel"].shape[3]), "input_size": int(d["conv2d_4/kernel"].shape[0]) * 2 ** (DEPTH - 1)}
    return config


def load_official(model, path: str | Path) -> None:
    """Load an official checkpoint into a :class:`~zoo.models.maag.module.MAAG` (built from :func:`official_config`):
    the segmentor into ``model.net`` and, when saved, the discriminator for further training.

    Raises:
        ValueError: unreadable file, or names and shapes that differ from the model's, naming them.
    """
    variables = read_tf_variables(path)
    model.load_net_state(convert_segmentor(variables))
    disc = convert_discriminator(variables, model.config.d_blocks)
    if disc and model.config.adversarial:
        model.build_training_parts()
        try:
            model.discriminators["mask"].load_state_dict(disc, strict=True)
        except RuntimeError as error:
            raise ValueError(f"official checkpoint: expected the model's discriminator layout ({error})") from None
