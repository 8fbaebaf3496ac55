"""Weights: resolve (local directory -> shipped ``weights/<name>/`` -> Hugging Face Hub), verify, load, cards.

A weights folder has the Hub layout: ``model.safetensors``, ``config.json``, ``README.md`` (the model card)
and the card's images. The sha256 of every shipped file is recorded in ``zoo/checkpoints.json``; shipped and
Hub copies are checked against it, and any mismatch is refused.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path
from typing import Any

from zoo.core.files import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME
from zoo.registry import ModelSpec, checkpoint_record, get_spec, resolve_class

__all__ = ["CARD_NAME", "CONFIG_NAME", "WEIGHTS_NAME", "card", "create", "load", "resolve_weights", "verify_files"]
REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_WEIGHTS = REPO_ROOT / "weights"


class ChecksumError(ValueError):
    """A weights file does not match the sha256 recorded for it."""


class WeightsNotFoundError(FileNotFoundError):
    """No copy of a model's weights could be found (locally, shipped or in the Hub cache)."""


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(directory: Path, expected: dict[str, str]) -> None:
    """Check every file named in ``expected`` against its sha256.

    Raises:
        ChecksumError: a file is missing or its digest differs.
    """
    for filename, digest in expected.items():
        path = directory / filename
        if not path.is_file():
            raise ChecksumError(f"{path}: expected a file with sha256 {digest}, received no file")
        actual = sha256_file(path)
        if actual != digest:
            raise ChecksumError(
                f"{path}: expected sha256 {digest}, received {actual}. The file is corrupt or was modified; "
                "refusing to load it. Restore it (git checkout weights/, or delete the Hub cache entry and download again)."
            )


def _download_from_hub(spec: ModelSpec, filenames: list[str]) -> Path:
    """The Hub copy of ``filenames``: from the Hugging Face cache, else downloaded from ``spec.hub_repo``.

    ``hf_hub_download`` retries an unreachable Hub for about 25 s before it falls back to the cache, so the cache is
    read first (no network), then the Hub gets one metadata request with a short timeout, and the download starts
    only once it answered. With ``HF_HUB_OFFLINE`` set nothing is sent.

    Args:
        spec: the model's spec (its ``hub_repo``).
        filenames: the files to fetch, the weights file first.

    Returns:
        The snapshot directory that holds them.

    Raises:
        WeightsNotFoundError: not all in the cache, and the Hub is offline, unreachable or lacks them.
    """
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache

    timeout = 2.0  # seconds; a reachable Hub answers a metadata request well within this
    cached = [try_to_load_from_cache(spec.hub_repo, filename) for filename in filenames]
    if all(isinstance(path, str) for path in cached):
        return Path(cached[0]).parent
    reason = "not cached: " + ", ".join(f for f, path in zip(filenames, cached) if not isinstance(path, str))
    cause = None
    if not constants.HF_HUB_OFFLINE:
        try:
            get_hf_file_metadata(hf_hub_url(spec.hub_repo, filenames[0]), timeout=timeout)
            paths = [Path(hf_hub_download(repo_id=spec.hub_repo, filename=filename, etag_timeout=timeout)) for filename in filenames]
            return paths[0].parent
        except Exception as error:  # noqa: BLE001  (the HTTP client's transport errors are no OSError)
            reason, cause = f"{type(error).__name__}: {error}", error
    raise WeightsNotFoundError(
        f"no weights for {spec.name!r}: not in weights/{spec.name}/ of this installation, and the Hub repo "
        f"{spec.hub_repo!r} could not be reached and has no complete copy in the Hugging Face cache "
        f"({reason}). Either connect and unset HF_HUB_OFFLINE, download once with "
        f"`hf download {spec.hub_repo}`, or pass weights=<directory with {WEIGHTS_NAME} and {CONFIG_NAME}>."
    ) from cause


def resolve_weights(name: str, weights: str | Path | None = None) -> tuple[Path, str]:
    """Find the weights folder of ``name``.

    Order: ``weights`` (an explicit local directory) -> ``weights/<name>/`` shipped with zoo -> the Hub repo of
    the model's spec via ``huggingface_hub.hf_hub_download`` (which honours ``HF_HUB_OFFLINE`` and the cache).

    Returns:
        ``(directory, source)`` with source ``"local"``, ``"shipped"`` or ``"hub"``.
    """
    spec = get_spec(name)
    if weights is not None:
        directory = Path(weights)
        for filename in (WEIGHTS_NAME, CONFIG_NAME):
            if not (directory / filename).is_file():
                raise WeightsNotFoundError(f"weights={str(weights)!r}: expected a directory holding {WEIGHTS_NAME} and {CONFIG_NAME}, missing {filename}")
        return directory, "local"
    shipped = SHIPPED_WEIGHTS / spec.name
    if (shipped / WEIGHTS_NAME).is_file():
        return shipped, "shipped"
    record = checkpoint_record(spec.name)
    filenames = sorted(record.sha256) if record else [WEIGHTS_NAME, CONFIG_NAME, CARD_NAME]
    filenames.sort(key=lambda f: f != WEIGHTS_NAME)
    return _download_from_hub(spec, filenames), "hub"


def read_config(directory: Path, spec: ModelSpec) -> dict[str, Any]:
    """``config.json`` without its ``architecture`` key, after checking the architecture is the spec's."""
    try:
        config = json.loads((directory / CONFIG_NAME).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{directory / CONFIG_NAME}: expected valid JSON, received a corrupt file ({error})") from error
    architecture = config.pop("architecture", None)
    if architecture != spec.module:
        raise ValueError(f"{directory / CONFIG_NAME}: expected architecture {spec.module!r}, received {architecture!r}")
    return config


def create(name: str, **overrides: Any):
    """Build model ``name`` randomly initialised from its config dataclass (spec defaults, then ``overrides``)."""
    spec = get_spec(name)
    cls = resolve_class(spec)
    return cls(cls.config_from_dict({**spec.config, **overrides}))


def load(name: str, weights: str | Path | None = None, device: Any = None, official: bool = False, **overrides: Any):
    """The pretrained model ``name`` in eval mode.

    Args:
        name: registered model name.
        weights: a local weights directory (Hub layout); with ``official=True``, the authors' checkpoint file or
            run directory.
        device: where to put the model (default: CPU).
        official: read ``weights`` through the model package's ``convert.py``. The architecture is the one the
            file holds: ``convert.official_config`` infers its shape-determining settings from the tensors, or
            reads them from the run's own configuration file.
        overrides: config fields set explicitly (with ``official=True``: settings no tensor reveals, such as
            Rawformer's ``vit_heads``; they take precedence over what was inferred).

    Raises:
        WeightsNotFoundError: no copy found; the message says where it looked and what to do.
        ChecksumError: a shipped or downloaded file does not match its recorded sha256.
        ValueError: the official file does not match the architecture, naming what differs.
    """
    spec = get_spec(name)
    if official:
        if weights is None:
            raise ValueError("official=True: expected weights=<path to the official checkpoint file or run directory>, received None")
        convert = importlib.import_module(f"{spec.package}.convert")
        inferred = convert.official_config(Path(weights)) if hasattr(convert, "official_config") else {}
        model = create(name, **{**inferred, **overrides})
        convert.load_official(model, weights)
    else:
        directory, source = resolve_weights(name, weights)
        record = checkpoint_record(name)
        if source in ("shipped", "hub") and record:
            verify_files(directory, record.sha256)
        cls = resolve_class(spec)
        model = cls(cls.config_from_dict({**read_config(directory, spec), **overrides}))
        try:
            model.load_net_weights(directory / WEIGHTS_NAME)
        except Exception as error:  # safetensors raises its own error types for truncated or invalid files
            raise ValueError(f"{directory / WEIGHTS_NAME}: expected a valid safetensors file for {name!r}, received one that fails to load ({error})") from error
    model.eval()
    if device is not None:
        model.to(device)
    return model


def card(name: str):
    """The model card of ``name`` as it stands (or would stand) on the Hub: a ``huggingface_hub.ModelCard``.

    The shipped ``README.md`` when weights are shipped (hash-checked), else one built from the registry and the
    package's ``card.py`` alone.
    """
    from huggingface_hub import ModelCard

    spec = get_spec(name)
    shipped = SHIPPED_WEIGHTS / spec.name / CARD_NAME
    record = checkpoint_record(name)
    if shipped.is_file():
        if record and CARD_NAME in record.sha256:
            verify_files(shipped.parent, {CARD_NAME: record.sha256[CARD_NAME]})
        return ModelCard.load(shipped)
    from zoo.cards import build_card, package_card_notes

    config = resolve_class(spec).config_from_dict(dict(spec.config))  # the config alone: no network is built
    return build_card(spec, None, package_card_notes(spec, config, None))
