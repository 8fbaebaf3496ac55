"""Official UNEM learned-parameter files -> zoo weights.

The official repository publishes its learned hyper-parameters as small ``torch.save(state_dict)`` files
(``U_PADDLE_EMBT_L_<k>shots.pt``: ``t1``, ``gamma.<l>``, ``t2.<l>``; ``U_EM_DIRICHLET_EMBT_L_<k>shots.pt``:
``emb_t``, ``gamma.<l>``, ``t.<l>``), values before softplus. The names are those of ``model.py``, so conversion
checks names and shapes and copies; the number of layers must match the model's ``n_layers``.
"""

from __future__ import annotations

from pathlib import Path

from zoo.core.convert import match_state_dict, read_official


def load_official(model, path: str | Path) -> None:
    """Load an official learned-parameter file into a :class:`~zoo.models.unem.module.UNEM`."""
    state = match_state_dict(read_official(path), model.net)
    model.net.load_state_dict(state, strict=True)
