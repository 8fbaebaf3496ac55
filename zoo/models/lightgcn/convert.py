"""Official LightGCN checkpoints (``gusye1234/LightGCN-PyTorch``) -> zoo weights.

The official PyTorch code saves ``torch.save(model.state_dict())`` with ``embedding_user.weight`` (U, D) and
``embedding_item.weight`` (I, D); the graph is not in the file, so it is given separately (the training
interactions, ``model.net.set_graph(edges)``). Sizes are read from the tensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.core.convert import read_official

_NAMES = {"embedding_user.weight": "user_embedding.weight", "embedding_item.weight": "item_embedding.weight"}


def official_config(path: Path) -> dict[str, Any]:
    """``num_users``, ``num_items`` and ``dim`` of the official checkpoint at ``path``."""
    state = read_official(path)
    missing = sorted(set(_NAMES) - set(state))
    if missing:
        raise ValueError(f"{path}: expected an official LightGCN state_dict with {sorted(_NAMES)}, missing {missing}")
    users, dim = state["embedding_user.weight"].shape
    return {"num_users": int(users), "num_items": int(state["embedding_item.weight"].shape[0]), "dim": int(dim)}


def load_official(model, path: str | Path) -> None:
    """Load the official embeddings into a :class:`~zoo.models.lightgcn.module.LightGCNRecommender`, keeping its graph.

    Raises:
        ValueError: names or shapes that differ, named.
    """
    state = read_official(path)
    missing = sorted(set(_NAMES) - set(state))
    if missing:
        raise ValueError(f"{path}: expected an official LightGCN state_dict with {sorted(_NAMES)}, missing {missing}")
    ours = {new: state[old] for old, new in _NAMES.items()}
    ours["edges"], ours["active"] = model.net.edges.cpu(), model.net.active.cpu()
    model.load_net_state(ours)
