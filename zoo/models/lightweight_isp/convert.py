"""Official checkpoint -> zoo weights for the learned lightweight ISP.

The official releases (``pretrained/models/{Fujifilm,ZRR}/*.pth``) are plain ``torch.save(state_dict)`` files
saved from ``cuda:0``. Their key names are the ones ``model.py`` uses, so conversion checks that the file
holds exactly the keys and shapes this variant expects, and copies. The authors' repository has no licence:
zoo never ships these weights; this converter reads a file the user already has.
"""

from __future__ import annotations

from pathlib import Path

from zoo.core.convert import match_state_dict, read_official


def load_official(model, path: str | Path) -> None:
    """Load the official checkpoint at ``path`` into a :class:`~zoo.models.lightweight_isp.module.LightweightISP`."""
    state = match_state_dict(read_official(path), model.net)
    model.net.load_state_dict(state, strict=True)
    if model.inference_net is not model.net:
        model.inference_net.load_state_dict(state, strict=True)
