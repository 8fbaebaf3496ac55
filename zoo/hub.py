"""Weights: resolve (local directory -> shipped ``weights/<name>/`` -> Hugging Face Hub at the model's pinned
revision), verify, load, cards.

A weights folder has the Hub layout: ``model.safetensors``, ``config.json``, ``README.md`` (the model card)
and the card's images. The sha256 of every shipped file is recorded in ``zoo/checkpoints.json``: they are the files
of the pinned revision (:func:`zoo.registry.pinned_revision`: the record's ``hub_commit`` once pushed, else the
content-addressed tag ``zoo-<12 hex>`` that ``tools/push_to_hub.py`` creates), never of ``main``. Loading reads, downloads and checks only ``model.safetensors`` and ``config.json``
(:data:`~zoo.core.files.LOAD_FILES`), so that an edit of the card or of an image, on the Hub or in a copy, can never
break it; a mismatch of those two is refused. A folder written by ``save_pretrained`` carries a manifest
(``sha256.json``), which loading checks the same way.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path
from typing import Any

from zoo.core.files import CARD_NAME, CONFIG_NAME, LOAD_FILES, MANIFEST_NAME, WEIGHTS_NAME
from zoo.registry import REGISTRY, ModelSpec, checkpoint_record, get_spec, pinned_revision, pinned_revisions, resolve_class

__all__ = [
    "CARD_NAME", "CONFIG_NAME", "MANIFEST_NAME", "WEIGHTS_NAME", "card", "create", "folder_card", "from_pretrained", "load",
    "resolve_weights", "verify_files", "verify_manifest", "write_manifest",
]
_RESTORE_HINT = "Restore it (git checkout weights/, or delete the Hub cache entry and download again)."
REPO_ROOT = Path(__file__).resolve().parent.parent
# zoo/_weights: in a wheel, the package data copied from weights/; in a checkout, a link to weights/ (resolved, so
# that tools/make_weights.py writes to the checkout's folder); the checkout's weights/ where the link is not a folder.
SHIPPED_WEIGHTS = (Path(__file__).resolve().parent / "_weights").resolve()
SHIPPED_WEIGHTS = SHIPPED_WEIGHTS if SHIPPED_WEIGHTS.is_dir() else REPO_ROOT / "weights"


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


def verify_files(directory: Path, expected: dict[str, str], hint: str = _RESTORE_HINT) -> None:
    """Check every file named in ``expected`` against its sha256.

    Args:
        directory: the folder holding the files.
        expected: file name -> hex sha256.
        hint: what the error tells the user to do about a mismatch.

    Raises:
        ChecksumError: a file is missing or its digest differs.
    """
    for filename, digest in expected.items():
        path = directory / filename
        if not path.is_file():
            raise ChecksumError(f"{path}: expected a file with sha256 {digest}, received no file")
        actual = sha256_file(path)
        if actual != digest:
            raise ChecksumError(f"{path}: expected sha256 {digest}, received {actual}. The file is corrupt or was modified; refusing to load it. {hint}")


def write_manifest(directory: str | Path) -> Path:
    """Write ``sha256.json`` into a weights folder: file name -> hex sha256 of every other file in it (sub-folders
    excluded), which :func:`verify_manifest` checks when the folder is loaded.

    Args:
        directory: the weights folder.

    Returns:
        The manifest's path.
    """
    directory = Path(directory)
    digests = {p.name: sha256_file(p) for p in sorted(directory.iterdir()) if p.is_file() and p.name != MANIFEST_NAME}
    path = directory / MANIFEST_NAME
    path.write_text(json.dumps(digests, indent=2) + "\n")
    return path


def verify_manifest(directory: str | Path) -> bool:
    """Check the files loading reads (``model.safetensors``, ``config.json``) against the folder's ``sha256.json``,
    when it has one. The other files it lists (card, images) are not checked: editing them cannot break loading.

    Args:
        directory: a weights folder.

    Returns:
        True when the folder has a manifest and the files match it; False when it has none.

    Raises:
        ChecksumError: the manifest is unreadable, lacks the digest of a file loading reads, or a digest differs
            (naming the file).
    """
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ChecksumError(f"{path}: expected a JSON object of file name -> sha256, received a corrupt file ({error})") from error
    if not isinstance(manifest, dict) or not all(isinstance(v, str) for v in manifest.values()):
        raise ChecksumError(f"{path}: expected a JSON object of file name -> sha256, received {type(manifest).__name__} {manifest!r:.80}")
    absent = [f for f in LOAD_FILES if f not in manifest]
    if absent:
        raise ChecksumError(f"{path}: expected the sha256 of {', '.join(LOAD_FILES)}, received none for {', '.join(absent)}")
    hint = f"Save the model again (save_pretrained), or delete {MANIFEST_NAME} if the change was yours."
    verify_files(Path(directory), {f: manifest[f] for f in LOAD_FILES}, hint)
    return True


def is_pinned(spec: ModelSpec, revision: str | None) -> bool:
    """Whether ``revision`` is the pinned one of ``spec`` (None, or any name of it: the spec's ``hub_revision``, the
    record's ``hub_commit``, the pin tag), whose files the record and the shipped copy hold."""
    return revision is None or revision in (pinned_revisions(spec) or ("main",))


def _recorded_digests(spec: ModelSpec, revision: str | None) -> dict[str, str]:
    """The recorded sha256 of the files loading reads, when the record is that of ``revision`` (None: the pinned
    revision, whose files the record holds); empty for another revision or an unrecorded model."""
    record = checkpoint_record(spec.name)
    if record is None or not is_pinned(spec, revision):
        return {}
    return {f: record.sha256[f] for f in LOAD_FILES if f in record.sha256}


def _weights_directory(directory: str | Path, argument: str) -> Path:
    """``directory`` as a Path, after checking it holds the files loading reads.

    Raises:
        WeightsNotFoundError: one is missing (named, with the argument it came from).
    """
    for filename in LOAD_FILES:
        if not (Path(directory) / filename).is_file():
            raise WeightsNotFoundError(f"{argument}={str(directory)!r}: expected a directory holding {WEIGHTS_NAME} and {CONFIG_NAME}, missing {filename}")
    return Path(directory)


def _download_from_hub(
    repo_id: str,
    revision: str,
    subject: str,
    alternative: str,
    local_files_only: bool = False,
    cache_dir: str | Path | None = None,
    token: str | bool | None = None,
    files: tuple[str, ...] = LOAD_FILES,
) -> Path:
    """The snapshot of ``repo_id`` at ``revision`` holding ``files`` (and nothing else): from the Hugging Face cache,
    else downloaded.

    ``hf_hub_download`` retries an unreachable Hub for about 25 s before it falls back to the cache, so the cache is
    read first (no network), then the Hub gets one metadata request with a short timeout, and the download starts
    only once it answered. With ``HF_HUB_OFFLINE`` set or ``local_files_only`` nothing is sent. The download is one
    ``snapshot_download`` restricted to ``files``, so they come from one commit and the card and images are never
    fetched.

    Args:
        repo_id: the Hub repo.
        revision: a branch, tag or commit sha.
        subject: the start of the error message (what was looked for, and where else), ending in ``"and "``.
        alternative: the last remedy the error message offers.
        local_files_only: read the cache only, as in ``huggingface_hub``.
        cache_dir: the Hugging Face cache (default: ``HF_HUB_CACHE``).
        token: the Hub token (default: the logged-in one).
        files: what to fetch, the one the metadata request asks about first (default: what loading reads).

    Returns:
        The snapshot directory that holds them.

    Raises:
        WeightsNotFoundError: not all in the cache, and the Hub is offline, unreachable or lacks them.
    """
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url, snapshot_download, try_to_load_from_cache

    timeout = 2.0  # seconds; a reachable Hub answers a metadata request well within this
    cached = [try_to_load_from_cache(repo_id, f, cache_dir=cache_dir, revision=revision) for f in files]
    if all(isinstance(path, str) for path in cached):
        return Path(cached[0]).parent
    reason = "not cached: " + ", ".join(f for f, path in zip(files, cached) if not isinstance(path, str))
    cause = None
    if constants.HF_HUB_OFFLINE or local_files_only:
        reason += "; HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "; local_files_only=True"
    else:
        try:
            get_hf_file_metadata(hf_hub_url(repo_id, files[0], revision=revision), token=token, timeout=timeout)
            snapshot = Path(snapshot_download(repo_id, revision=revision, allow_patterns=list(files), cache_dir=cache_dir, token=token, etag_timeout=timeout))
            absent = [f for f in files if not (snapshot / f).is_file()]
            if not absent:
                return snapshot
            reason = f"the revision has no {', '.join(absent)}"
        except Exception as error:  # noqa: BLE001  (the HTTP client's transport errors are no OSError)
            reason, cause = f"{type(error).__name__}: {error}", error
    raise WeightsNotFoundError(
        f"{subject}the Hub repo {repo_id!r} at revision {revision!r} has no complete copy in the Hugging Face cache, "
        f"and none could be downloaded ({reason}). Either connect (unset HF_HUB_OFFLINE, drop local_files_only), download "
        f"once with `hf download {repo_id} {' '.join(files)} --revision {revision}`, or {alternative}."
    ) from cause


def resolve_weights(
    name: str, weights: str | Path | None = None, revision: str | None = None, local_files_only: bool = False, files: tuple[str, ...] = LOAD_FILES
) -> tuple[Path, str]:
    """Find the weights folder of ``name``.

    Order: ``weights`` (an explicit local directory) -> ``weights/<name>/`` shipped with zoo (the files of the pinned
    revision) -> the spec's Hub repo at ``revision`` (default: the pinned revision,
    :func:`zoo.registry.pinned_revision`), from the Hugging Face cache or downloaded; ``HF_HUB_OFFLINE`` and
    ``local_files_only`` keep it to the cache.

    Args:
        name: registered model name.
        weights: a local weights directory.
        revision: the Hub revision (a branch, tag or commit sha); one that is not a name of the pinned revision (for
            example ``"main"``) skips the shipped copy.
        local_files_only: never ask the Hub.
        files: what a Hub copy must hold (default: what loading reads; ``unem``'s backbone asks for its own file).

    Returns:
        ``(directory, source)`` with source ``"local"``, ``"shipped"`` or ``"hub"``.

    Raises:
        WeightsNotFoundError: ``weights`` lacks a file, or no copy was found (the message says what to do).
    """
    spec = get_spec(name)
    if weights is not None:
        return _weights_directory(weights, "weights"), "local"
    pinned = is_pinned(spec, revision)
    shipped = SHIPPED_WEIGHTS / spec.name
    if pinned and (shipped / WEIGHTS_NAME).is_file():
        return shipped, "shipped"
    where = "" if pinned else f" (that copy is revision {pinned_revision(spec)!r})"
    directory = _download_from_hub(
        spec.hub_repo,
        revision or pinned_revision(spec),
        subject=f"no weights for {spec.name!r}: not in weights/{spec.name}/ of this installation{where}, and ",
        alternative=f"pass weights=<directory with {WEIGHTS_NAME} and {CONFIG_NAME}>",
        local_files_only=local_files_only,
        files=files,
    )
    return directory, "hub"


def _read_config_file(directory: Path) -> tuple[Any, dict[str, Any]]:
    """``config.json`` of a weights folder: ``(its architecture, the other keys)``.

    Raises:
        ValueError: the file is no valid JSON object.
    """
    try:
        config = json.loads((directory / CONFIG_NAME).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{directory / CONFIG_NAME}: expected valid JSON, received a corrupt file ({error})") from error
    if not isinstance(config, dict):
        raise ValueError(f"{directory / CONFIG_NAME}: expected a JSON object, received {type(config).__name__}")
    return config.pop("architecture", None), config


def read_config(directory: Path, spec: ModelSpec) -> dict[str, Any]:
    """``config.json`` without its ``architecture`` key, after checking the architecture is the spec's.

    Args:
        directory: the weights folder.
        spec: the model's spec.

    Returns:
        The config fields.

    Raises:
        ValueError: invalid JSON, or another architecture.
    """
    architecture, config = _read_config_file(directory)
    if architecture != spec.module:
        raise ValueError(f"{directory / CONFIG_NAME}: expected architecture {spec.module!r}, received {architecture!r}")
    return config


def verified_weights(name: str, weights: str | Path | None = None, revision: str | None = None, local_files_only: bool = False) -> tuple[Path, dict[str, Any]]:
    """The weights folder of ``name`` (:func:`resolve_weights`), hash-checked, and its config fields.

    A local directory is checked against its ``sha256.json``; a shipped or Hub copy against the record of its
    revision. Used by :func:`load` and by the light :func:`zoo.pipelines.pipeline`.

    Returns:
        ``(directory, config)``: the folder and its ``config.json`` without ``architecture``.

    Raises:
        WeightsNotFoundError, ChecksumError, ValueError: no copy, a file that does not match, another architecture.
    """
    spec = get_spec(name)
    directory, source = resolve_weights(name, weights, revision=revision, local_files_only=local_files_only)
    if source == "local":
        verify_manifest(directory)
    else:
        verify_files(directory, _recorded_digests(spec, revision))
    return directory, read_config(directory, spec)


def _build(cls: type, directory: Path, config: dict[str, Any], overrides: dict[str, Any], name: str) -> Any:
    """``cls`` built from ``config`` (then ``overrides``) with the weights of ``directory``, in eval mode.

    Raises:
        ValueError: the weights file is no valid safetensors file for this model.
    """
    model = cls(cls.config_from_dict({**config, **overrides}))
    try:
        model.load_net_weights(directory / WEIGHTS_NAME)
    except Exception as error:  # safetensors raises its own error types for truncated or invalid files
        raise ValueError(f"{directory / WEIGHTS_NAME}: expected a valid safetensors file for {name!r}, received one that fails to load ({error})") from error
    return model.eval()


def create(name: str, **overrides: Any):
    """Build model ``name`` randomly initialised from its config dataclass (spec defaults, then ``overrides``)."""
    spec = get_spec(name)
    cls = resolve_class(spec)
    return cls(cls.config_from_dict({**spec.config, **overrides}))


def load(
    name: str,
    weights: str | Path | None = None,
    device: Any = None,
    official: bool = False,
    revision: str | None = None,
    local_files_only: bool = False,
    backend: str = "torch",
    **overrides: Any,
):
    """The pretrained model ``name`` in eval mode.

    Args:
        name: registered model name.
        weights: a local weights directory (Hub layout); with ``official=True``, the authors' checkpoint file or
            run directory.
        device: where to put the model (default: CPU).
        official: read ``weights`` through the model package's ``convert.py``. The architecture is the one the
            file holds: ``convert.official_config`` infers its shape-determining settings from the tensors, or
            reads them from the run's own configuration file.
        revision: the Hub revision (branch, tag or commit sha; default: the pinned one,
            :func:`zoo.registry.pinned_revision`: the pin tag ``zoo-<12 hex>`` or the recorded ``hub_commit``). The
            recorded sha256 are those of the pinned revision, whose files the shipped copy holds: another revision
            (``"main"``) is downloaded or read from the cache and loaded as the Hub serves it.
        local_files_only: use the shipped copy or the Hugging Face cache only, never the network.
        overrides: config fields set explicitly (with ``official=True``: settings no tensor reveals, such as
            Rawformer's ``vit_heads``; they take precedence over what was inferred).
        backend: ``"torch"``, or ``"onnxruntime"``: eval-mode ``forward`` and ``predict`` run by onnxruntime on the
            model's ONNX export (made once, cached; CPU; the ``export`` extra; see ``zoo.ops.runtime`` and
            docs/benchmarks.md for where it is faster).

    Returns:
        The model (the spec's ZooModule), in eval mode.

    Raises:
        WeightsNotFoundError: no copy found; the message says where it looked and what to do.
        ChecksumError: ``model.safetensors`` or ``config.json`` does not match its recorded sha256 (shipped or Hub
            copy) or the folder's ``sha256.json`` (a local directory).
        ValueError: the official file does not match the architecture, naming what differs.
    """
    spec = get_spec(name)
    from zoo.ops.runtime import check_backend

    check_backend(backend)
    if official:
        if weights is None:
            raise ValueError("official=True: expected weights=<path to the official checkpoint file or run directory>, received None")
        convert = importlib.import_module(f"{spec.package}.convert")
        inferred = convert.official_config(Path(weights)) if hasattr(convert, "official_config") else {}
        model = create(name, **{**inferred, **overrides})
        convert.load_official(model, weights)
    else:
        directory, config = verified_weights(name, weights, revision=revision, local_files_only=local_files_only)
        model = _build(resolve_class(spec), directory, config, overrides, name)
    model.eval()
    if device is not None:
        model.to(device)
    if backend == "onnxruntime":
        from zoo.ops.runtime import use_onnxruntime

        use_onnxruntime(model, name)
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


def _architecture_class(cls: type, architecture: Any, directory: Path) -> type:
    """The class a folder's ``architecture`` names: ``cls`` itself, or a registered model class derived from it.

    Only registered classes are imported, so that a ``config.json`` from anywhere can never import a module of its
    choosing.

    Raises:
        ValueError: another architecture, naming the expected and the received.
    """
    own = f"{cls.__module__}:{cls.__qualname__}"
    if architecture == own:
        return cls
    spec = next((s for s in REGISTRY.values() if s.module == architecture), None)
    if spec is not None and issubclass(resolve_class(spec), cls):
        return resolve_class(spec)
    raise ValueError(f"{directory / CONFIG_NAME}: expected architecture {own!r} or a registered model derived from it, received {architecture!r}")


def from_pretrained(
    cls: type, pretrained_model_name_or_path: str | Path, revision: str | None = None, cache_dir: str | Path | None = None,
    token: str | bool | None = None, local_files_only: bool = False, **overrides: Any,
) -> Any:
    """``ZooModule.from_pretrained``: a model of ``cls`` from a weights folder or a Hub repo, in eval mode.

    A local directory is checked against its ``sha256.json`` when it has one. A Hub repo is read as
    :func:`load` reads one (cache first, one short metadata request, only ``model.safetensors`` and ``config.json``);
    when it is a registered model's repo at its pinned revision, the files are checked against the record.

    Args:
        cls: the class asked for (``ZooModule`` itself or a base class: the registered class ``config.json`` names).
        pretrained_model_name_or_path: a local weights directory or a Hub repo id (``owner/name``).
        revision: the Hub revision (default: a registered repo's pinned revision, else ``"main"``).
        cache_dir: the Hugging Face cache (default: ``HF_HUB_CACHE``).
        token: the Hub token.
        local_files_only: use the Hugging Face cache only.
        overrides: config fields set explicitly.

    Returns:
        The model.

    Raises:
        WeightsNotFoundError: neither a weights directory nor a reachable or cached Hub repo.
        ChecksumError: a file does not match the manifest or the record.
        ValueError: ``config.json`` names another architecture, or the weights do not load.
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    source = str(pretrained_model_name_or_path)
    if Path(source).is_dir():
        directory = _weights_directory(source, "pretrained_model_name_or_path")
        verify_manifest(directory)
    else:
        try:
            validate_repo_id(source)
        except HFValidationError as error:
            raise WeightsNotFoundError(f"pretrained_model_name_or_path={source!r}: expected a weights directory or a Hub repo id 'owner/name', received neither ({error})") from error
        spec = next((s for s in REGISTRY.values() if s.hub_repo == source), None)
        directory = _download_from_hub(
            source,
            revision or (pinned_revision(spec) if spec else "main"),
            subject=f"no weights at {source!r}: no local directory of that name, and ",
            alternative=f"pass the path of a directory with {WEIGHTS_NAME} and {CONFIG_NAME}",
            local_files_only=local_files_only,
            cache_dir=cache_dir,
            token=token,
        )
        if spec is not None:
            verify_files(directory, _recorded_digests(spec, revision))
    architecture, config = _read_config_file(directory)
    return _build(_architecture_class(cls, architecture, directory), directory, config, overrides, str(architecture))


def folder_card(model: Any):
    """The card ``save_pretrained`` writes: the registered spec's card (its package's notes for this config, no
    measured record) and how to load the folder; a minimal card for an unregistered class.

    The spec is the one whose module is the model's class, preferring the one whose config equals the model's.

    Args:
        model: a ZooModule.

    Returns:
        A ``huggingface_hub.ModelCard``.
    """
    from huggingface_hub import ModelCard, ModelCardData

    cls = type(model)
    architecture = f"{cls.__module__}:{cls.__qualname__}"
    loading = (
        f"## This folder\n\nWritten by `save_pretrained` from a `{cls.__qualname__}`; {CONFIG_NAME} holds its configuration. Load it "
        f'with `{cls.__qualname__}.from_pretrained("<this folder or its Hub repo>")`'
    )
    specs = sorted((s for s in REGISTRY.values() if s.module == architecture), key=lambda s: cls.config_from_dict(dict(s.config)) != model.config)
    if not specs:
        data = ModelCardData(library_name="zoo", tags=["zoo"], model_name=cls.__qualname__)
        return ModelCard(f"---\n{data.to_yaml()}\n---\n\n# {cls.__qualname__}\n\n{loading}.\n")
    from zoo.cards import build_card, package_card_notes

    spec = specs[0]
    notes = package_card_notes(spec, model.config, None)
    return build_card(spec, None, f'{notes}\n\n{loading} or `zoo.load("{spec.name}", weights="<this folder>")`.')
