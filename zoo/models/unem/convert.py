"""Official UNEM learned-parameter files -> zoo weights.

The official repository publishes its learned hyper-parameters as small ``torch.save(state_dict)`` files
(``U_PADDLE_EMBT_L_<k>shots.pt``: ``t1``, ``gamma.<l>``, ``t2.<l>``; ``U_EM_DIRICHLET_EMBT_L_<k>shots.pt``:
``emb_t``, ``gamma.<l>``, ``t.<l>``), values before softplus. The names are those of ``model.py``, so conversion
checks names and shapes and copies. The number of layers is read from the file (:func:`official_config`); the
variant is the registered name's choice.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from zoo.core.convert import match_state_dict, read_official

_LAYER = re.compile(r"^gamma\.(\d+)$")


def official_config(path: Path) -> dict[str, Any]:
    """Config fields of the official parameter file at ``path``.

    Args:
        path: the official ``.pt`` / ``.safetensors`` file.

    Returns:
        ``n_layers`` (one ``gamma.<l>`` per unrolled layer), or nothing when the file has no ``gamma.<l>``.
    """
    layers = {int(m.group(1)) for m in map(_LAYER.match, read_official(path)) if m}
    return {"n_layers": max(layers) + 1} if layers else {}


def load_official(model, path: str | Path) -> None:
    """Load an official learned-parameter file into a :class:`~zoo.models.unem.module.UNEM`.

    Args:
        model: the UNEM module (its variant and depth must be the file's).
        path: the official ``.pt`` / ``.safetensors`` file.

    Raises:
        ValueError: the names or shapes differ (another variant or depth), naming them.
    """
    model.load_net_state(match_state_dict(read_official(path), model.net))
