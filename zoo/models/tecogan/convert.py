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
"""

from __future__ import annotations

import re
from pathlib import Path

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


def load_official(model, path: str | Path) -> None:
    """Load a port state_dict (``.pth`` / ``.safetensors``) or an exported TF variable dictionary (``.npz`` /
    ``.safetensors`` with slim names) into a :class:`~zoo.models.tecogan.module.TecoGAN`.

    For a TF export the model's generator is rebuilt with ``conventions="tf"`` first.
    """
    path = Path(path)
    state = read_tf_export(path) if path.suffix == ".npz" else read_official(path)
    if is_tf_export(state):
        model.use_conventions("tf")
        state = convert_tf(state)
        state.update({k: v for k, v in model.net.state_dict().items() if k.endswith("kernels")})
    state = match_state_dict(state, model.net)
    model.net.load_state_dict(state, strict=True)
    if model.inference_net is not model.net:
        model.inference_net.load_state_dict(state, strict=True)
