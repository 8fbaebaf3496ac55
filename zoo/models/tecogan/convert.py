"""Official checkpoints -> zoo weights for TecoGAN / FRVSR.

Two official layouts load:

- **The PyTorch port** (skycrapers/TecoGAN-PyTorch, ``TecoGAN_BD_iter500000.pth`` ...): a plain generator
  state_dict whose keys (``fnet.*``, ``srnet.*``, the BD kernel buffers ``upsample_func.kernels`` and
  ``srnet.upsample_func.kernels``) are the ones zoo uses, so it is checked and copied. Use a model with
  ``conventions="port"`` (the default).
- **The official TensorFlow checkpoint** (thunil/TecoGAN ``model/TecoGAN``), once its variables are exported to a
  dictionary of arrays (``.npz`` or ``.safetensors``) named as slim names them, e.g.
  ``generator/generator_unit/resblock_1/conv_1/Conv/weights`` and ``fnet/autoencode_unit/encoder_1/conv_1/Conv/weights``
  (export with ``{n: tf.train.load_variable(ckpt, n) for n, _ in tf.train.list_variables(ckpt)}``). The mapping:

  1. conv kernels HWIO -> OIHW; transposed-conv kernels (H, W, out, in) -> (in, out, H, W): both ``permute(3, 2, 0, 1)``;
  2. FNet's input is (previous, current) in TF and (current, previous) here: the two 3-channel input groups of
     ``fnet.encoder1.0.weight`` are swapped;
  3. TF warps with ``dense_image_warp``, sampling at ``pos - flow`` with channels (dy, dx); zoo samples at
     ``pos + flow`` with (dx, dy): the flow head's two output filters and biases are swapped and negated (tanh is
     odd, so this is exact);
  4. the model must use ``conventions="tf"`` (TF1 resizes, ``upscale_four`` flow upsampling, SAME transposed
     convolutions), which :func:`load_official` sets up.

Besides a file, a port run directory loads: the one holding its ``train.yml`` / ``test.yml`` and the checkpoints
``train/ckpt/G_iter<N>.pth`` (the highest ``N`` is read). :func:`official_config` reads the architecture (SRNet's
``nf`` and ``nb``, FNet's width, the scale, BD or BI, port or TF conventions) from the tensors, and from the run's
YAML (``scale``, ``dataset.degradation.type``, ``model.generator.nf`` / ``nb``) what the tensors do not show.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.core.convert import match_state_dict, read_official

_TF_PATTERNS = (
    (r"^fnet/autoencode_unit/(encoder|decoder)_(\d)/conv_(\d)/Conv/(weights|biases)$", lambda m: f"fnet.{m[1]}{m[2]}.{2 * (int(m[3]) - 1)}"),
    (r"^fnet/autoencode_unit/output_stage/conv(\d)/Conv/(weights|biases)$", lambda m: f"fnet.flow.{2 * (int(m[1]) - 1)}"),
    (r"^generator/generator_unit/input_stage/conv/Conv/(weights|biases)$", lambda m: "srnet.conv_in.0"),
    (r"^generator/generator_unit/resblock_(\d+)/conv_(\d)/Conv/(weights|biases)$", lambda m: f"srnet.resblocks.{int(m[1]) - 1}.conv.{2 * (int(m[2]) - 1)}"),
    (r"^generator/generator_unit/conv_tran2highres/conv_tran(\d)/Conv2d_transpose/(weights|biases)$", lambda m: f"srnet.conv_up.{2 * (int(m[1]) - 1)}"),
    (r"^generator/generator_unit/output_stage/conv/Conv/(weights|biases)$", lambda m: "srnet.conv_out"),
)


def read_tf_export(path: str | Path) -> dict[str, np.ndarray]:
    """Read an exported TF variable dictionary (``.npz`` or ``.safetensors``)."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    return {k: v.numpy() for k, v in read_official(path).items()}


def is_tf_export(state: dict) -> bool:
    """Whether a dictionary holds TF slim variable names (``generator/...``, ``fnet/...``)."""
    return any(k.startswith(("generator/", "fnet/")) for k in state)


def convert_tf(variables: dict[str, np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map exported TF generator + FNet variables onto zoo's (port-named) keys; other variables (Adam slots,
    discriminators, ``:0`` suffixes) are ignored.

    Returns:
        The state_dict of a ``conventions="tf"`` :class:`~zoo.models.tecogan.model.FRNet` without its BD kernel buffers.
    """
    out: dict[str, torch.Tensor] = {}
    for name, value in variables.items():
        name = name.split(":")[0]
        for pattern, target in _TF_PATTERNS:
            m = re.match(pattern, name)
            if m:
                t = torch.as_tensor(np.asarray(value), dtype=torch.float32)
                key = f"{target(m)}.{'weight' if name.endswith('weights') else 'bias'}"
                out[key] = t.permute(3, 2, 0, 1).contiguous() if t.ndim == 4 else t
                break
    if "fnet.encoder1.0.weight" in out:  # (prev, curr) -> (curr, prev)
        w = out["fnet.encoder1.0.weight"]
        c = w.shape[1] // 2
        out["fnet.encoder1.0.weight"] = torch.cat([w[:, c:], w[:, :c]], dim=1)
    for key in ("fnet.flow.2.weight", "fnet.flow.2.bias"):  # (dy, dx) at pos - flow -> (dx, dy) at pos + flow
        if key in out:
            out[key] = -out[key].flip(0)
    return out


RUN_CONFIGS = ("train.yml", "test.yml")
"""The port's run configuration files, in the order they are read."""
_CHECKPOINT = re.compile(r"^G_iter(\d+)\.(pth|safetensors)$")
_PORT_BLOCK = re.compile(r"^srnet\.resblocks\.(\d+)\.")
_TF_BLOCK = re.compile(r"^generator/generator_unit/resblock_(\d+)/")


def run_config(directory: Path) -> dict[str, Any]:
    """The YAML configuration of a TecoGAN-PyTorch run directory (``train.yml``, else ``test.yml``); empty when none.

    Raises:
        ValueError: the file is not valid YAML.
    """
    import yaml

    for name in RUN_CONFIGS:
        path = directory / name
        if path.is_file():
            try:
                return yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as error:
                raise ValueError(f"{path}: expected the port's YAML run configuration, received invalid YAML ({error})") from error
    return {}


def generator_file(path: Path) -> Path:
    """The generator checkpoint ``path`` names: the file itself, or in a run directory the ``G_iter<N>`` file with
    the highest ``N`` (anywhere below it, e.g. ``train/ckpt/``), else its only ``.pth`` / ``.safetensors`` / ``.npz``.

    Raises:
        ValueError: a directory with no generator checkpoint, or several candidates and no ``G_iter<N>`` file.
    """
    if not path.is_dir():
        return path
    iterations = [(int(m.group(1)), f) for f in path.rglob("G_iter*") if (m := _CHECKPOINT.match(f.name))]
    if iterations:
        return max(iterations)[1]
    files = sorted(f for suffix in ("pth", "safetensors", "npz") for f in path.glob(f"*.{suffix}"))
    if len(files) == 1:
        return files[0]
    raise ValueError(
        f"TecoGAN run directory {path}: expected a generator checkpoint train/ckpt/G_iter<N>.pth (or a single .pth / "
        f".safetensors / .npz file), received {[f.name for f in files] or 'none'}"
    )


def read_state(path: str | Path) -> dict:
    """The tensors of a port state_dict or an exported TF variable dictionary (file or run directory)."""
    path = generator_file(Path(path))
    return read_tf_export(path) if path.suffix == ".npz" else read_official(path)


def config_from_state(state: dict) -> dict[str, Any]:
    """The :class:`~zoo.models.tecogan.module.TecoGANConfig` fields a generator state determines.

    Args:
        state: a port state_dict or an exported TF variable dictionary.

    Returns:
        ``conventions``; ``nf``, ``nb``, ``fnet_width`` and ``scale`` where their tensors are present; for port files
        ``degradation`` (BD keeps its bicubic kernel buffers, BI has none). Nothing for a state of another model.
    """
    if is_tf_export(state):
        state = {k.split(":")[0]: v for k, v in state.items()}
        conv_in, fnet_in = "generator/generator_unit/input_stage/conv/Conv/weights", "fnet/autoencode_unit/encoder_1/conv_1/Conv/weights"
        out: dict[str, Any] = {"conventions": "tf"}
        blocks = {int(m.group(1)) for m in map(_TF_BLOCK.match, state) if m}
        if conv_in in state:  # HWIO
            in_ch, out_ch = np.shape(state[conv_in])[2:]
            out.update(nf=int(out_ch), scale=int(round((in_ch / 3 - 1) ** 0.5)))
        if blocks:
            out["nb"] = max(blocks)
        if fnet_in in state:
            out["fnet_width"] = int(np.shape(state[fnet_in])[3])
        return out
    if not any(k.startswith(("srnet.", "fnet.")) for k in state):
        return {}
    out = {"conventions": "port", "degradation": "BD" if "srnet.upsample_func.kernels" in state or "upsample_func.kernels" in state else "BI"}
    blocks = {int(m.group(1)) for m in map(_PORT_BLOCK.match, state) if m}
    if "srnet.conv_in.0.weight" in state:
        out_ch, in_ch = state["srnet.conv_in.0.weight"].shape[:2]
        out.update(nf=int(out_ch), scale=int(round((in_ch / 3 - 1) ** 0.5)))
    if blocks:
        out["nb"] = max(blocks) + 1
    if "fnet.encoder1.0.weight" in state:
        out["fnet_width"] = int(state["fnet.encoder1.0.weight"].shape[0])
    return out


def config_from_run(run: dict[str, Any]) -> dict[str, Any]:
    """TecoGANConfig fields from a port run's YAML (``scale``, ``dataset.degradation.type``, ``model.generator``).

    Raises:
        ValueError: the run's generator is not the port's ``FRNet``.
    """
    out: dict[str, Any] = {}
    generator = (run.get("model") or {}).get("generator") or {}
    if generator.get("name", "FRNet") != "FRNet":
        raise ValueError(f"TecoGAN-PyTorch run configuration: expected model.generator.name 'FRNet', received {generator['name']!r}")
    for key in ("nf", "nb"):
        if key in generator:
            out[key] = int(generator[key])
    if "scale" in run:
        out["scale"] = int(run["scale"])
    degradation = ((run.get("dataset") or {}).get("degradation") or {}).get("type")
    if degradation:
        out["degradation"] = str(degradation)
    return out


def official_config(path: Path) -> dict[str, Any]:
    """Config fields of the generator an official file or port run directory holds.

    Args:
        path: a port ``.pth`` / ``.safetensors``, an exported TF ``.npz`` / ``.safetensors``, or a port run directory.

    Returns:
        The run YAML's fields (for a directory), overridden by what the tensors show (see :func:`config_from_state`).
    """
    path = Path(path)
    from_run = config_from_run(run_config(path)) if path.is_dir() else {}
    return {**from_run, **config_from_state(read_state(path))}


def load_official(model, path: str | Path) -> None:
    """Load a port state_dict (``.pth`` / ``.safetensors``), an exported TF variable dictionary (``.npz`` /
    ``.safetensors`` with slim names) or a port run directory into a :class:`~zoo.models.tecogan.module.TecoGAN`.

    For a TF export the model's generator is rebuilt with ``conventions="tf"`` first when it is not built so.

    Args:
        model: the module, built at the file's configuration (``zoo.load(..., official=True)`` does that).
        path: the file or run directory.

    Raises:
        ValueError: keys or shapes differ (another size or model), naming them.
    """
    state = read_state(path)
    if is_tf_export(state):
        if model.config.conventions != "tf":
            model.use_conventions("tf")
        state = convert_tf(state)
        state.update({k: v for k, v in model.net.state_dict().items() if k.endswith("kernels")})
    model.load_net_state(match_state_dict(state, model.net))
