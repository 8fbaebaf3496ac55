"""Weights resolution: shipped copy, Hugging Face cache offline, tampering, corrupt files, clear errors."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import zoo
from zoo import hub
from zoo.hub import ChecksumError, WeightsNotFoundError
from zoo.registry import checkpoint_record, get_spec, pin_tag, pinned_revision, resolve_class

NAME = "lightweight_isp_efficient"


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A private copy of the shipped weights tree, so that tests may damage it."""
    if not checkpoint_record(NAME):
        pytest.skip("no shipped checkpoint recorded yet (run tools/make_weights.py)")
    root = tmp_path / "weights"
    shutil.copytree(hub.SHIPPED_WEIGHTS / NAME, root / NAME)
    monkeypatch.setattr(hub, "SHIPPED_WEIGHTS", root)
    return root / NAME


def test_tampered_weights_refused(shipped):
    zoo.load(NAME)  # the intact copy loads
    data = bytearray((shipped / "model.safetensors").read_bytes())
    data[-1] ^= 0x01
    (shipped / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="expected sha256"):
        zoo.load(NAME)


def test_tampered_config_refused(shipped):
    (shipped / "config.json").write_text((shipped / "config.json").read_text().replace('"efficient"', '"robust"'))
    with pytest.raises(ChecksumError, match="config.json"):
        zoo.load(NAME)


def test_corrupt_local_directory_refused(tmp_path):
    model = zoo.create(NAME)
    model.save_pretrained(tmp_path, manifest=False)  # without a manifest: the files' own checks
    (tmp_path / "model.safetensors").write_bytes((tmp_path / "model.safetensors").read_bytes()[:100])
    with pytest.raises(ValueError, match="valid safetensors"):
        zoo.load(NAME, weights=tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="valid JSON"):
        zoo.load(NAME, weights=tmp_path)


def test_local_directory_must_hold_weights(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="missing model.safetensors"):
        zoo.load(NAME, weights=tmp_path)


def test_config_of_another_architecture_refused(tmp_path):
    model = zoo.create(NAME)
    model.save_pretrained(tmp_path, manifest=False)
    text = (tmp_path / "config.json").read_text().replace("zoo.models.lightweight_isp.module:LightweightISP", "os:system")
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ValueError, match="expected architecture"):
        zoo.load(NAME, weights=tmp_path)


PINNED = "0123456789abcdef0123456789abcdef01234567"
NEWER = "89abcdef0123456789abcdef0123456789abcdef"


def _seed_hf_cache(cache, repo_id, files, commit=PINNED, ref="main"):
    """Lay files out as huggingface_hub's cache does: blobs, refs/<ref> (None: no ref), snapshots/<commit>/<file>."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    if ref:
        (repo / "refs" / ref).write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for path in files:
        blob = repo / "blobs" / hub.sha256_file(path)
        shutil.copy(path, blob)
        (snapshot / path.name).symlink_to(blob)
    return snapshot


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(hub, "SHIPPED_WEIGHTS", tmp_path / "no-shipped-weights")
    return tmp_path / "hf"


def test_load_from_hf_cache_offline(offline_cache):
    record = checkpoint_record(NAME)
    if not record:
        pytest.skip("no shipped checkpoint recorded yet")
    spec = zoo.registry.get_spec(NAME)
    files = [hub.REPO_ROOT / "weights" / NAME / f for f in record.sha256]
    _seed_hf_cache(offline_cache, spec.hub_repo, files, ref=_tag())  # the pin tag; main alone would not do
    model = zoo.load(NAME)
    reference = zoo.load(NAME, weights=hub.REPO_ROOT / "weights" / NAME)
    x = model.example_input()
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_missing_offline_gives_clear_error(offline_cache):
    with pytest.raises(WeightsNotFoundError) as info:
        zoo.load(NAME)
    message = str(info.value)
    assert "weights/lightweight_isp_efficient" in message and "zoo-models/lightweight_isp_efficient" in message
    assert "HF_HUB_OFFLINE" in message and "weights=" in message


def test_hub_copy_is_hash_checked(offline_cache, tmp_path):
    record = checkpoint_record(NAME)
    if not record:
        pytest.skip("no shipped checkpoint recorded yet")
    spec = zoo.registry.get_spec(NAME)
    damaged = tmp_path / "damaged"
    shutil.copytree(hub.REPO_ROOT / "weights" / NAME, damaged)
    (damaged / "model.safetensors").write_bytes((damaged / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    _seed_hf_cache(offline_cache, spec.hub_repo, [damaged / f for f in record.sha256], ref=_tag())
    with pytest.raises(ChecksumError):
        zoo.load(NAME)


# ---------------------------------------------------------------- pinned Hub revisions


def _tag():
    """NAME's pin: the content-addressed tag of its recorded files, which push_to_hub creates on the pushed commit."""
    return pin_tag(checkpoint_record(NAME).sha256)


@pytest.fixture
def pinned(offline_cache):
    """NAME's spec, whose default revision is its pin tag (in these tests the tag names the commit PINNED), and its
    shipped files (the record's, that revision's)."""
    record = checkpoint_record(NAME)
    if not record:
        pytest.skip("no shipped checkpoint recorded yet")
    spec = zoo.registry.get_spec(NAME)
    assert not spec.hub_revision and pinned_revision(spec) == _tag() and _tag().startswith("zoo-")
    return spec, {f: hub.REPO_ROOT / "weights" / NAME / f for f in record.sha256}


def _edited(path, tmp_path):
    """A copy of ``path`` (same name) with a line appended: a card edited on the Hub."""
    edited = tmp_path / "edited" / path.name
    edited.parent.mkdir(exist_ok=True)
    edited.write_text(path.read_text() + "\nEdited on the Hub.\n")
    return edited


def _same_outputs(model, reference):
    x = model.example_input()
    with torch.no_grad():
        return torch.equal(model(x), reference(x))


def test_load_at_the_pinned_revision_whatever_main_holds(pinned, offline_cache, tmp_path):
    """End to end, offline: the pin tag names the pushed commit; main moved on with an edited card and other weights."""
    spec, files = pinned
    _seed_hf_cache(offline_cache, spec.hub_repo, list(files.values()), commit=PINNED, ref=_tag())
    other = zoo.create(NAME).save_pretrained(tmp_path / "other", manifest=False)
    _seed_hf_cache(offline_cache, spec.hub_repo, [other / "model.safetensors", other / "config.json", _edited(files["README.md"], tmp_path)], commit=NEWER)
    reference = zoo.load(NAME, weights=hub.REPO_ROOT / "weights" / NAME)
    assert hub.resolve_weights(NAME)[0].name == PINNED  # the tag's commit, not main's
    assert _same_outputs(zoo.load(NAME), reference)  # the pinned revision, checked against its record
    light = zoo.pipeline(NAME).net.state_dict()  # the light pipeline reads the same pinned copy
    assert light.keys() == reference.net.state_dict().keys() and all(torch.equal(v, reference.net.state_dict()[k]) for k, v in light.items())
    assert _same_outputs(zoo.load(NAME, revision=_tag()), reference)
    assert _same_outputs(zoo.load(NAME, revision=PINNED), reference)  # the commit sha itself
    newer = zoo.load(NAME, revision="main")  # asked for explicitly: another revision, as the Hub serves it
    assert _same_outputs(newer, zoo.load(NAME, weights=other))


def test_edited_card_in_the_pinned_snapshot_does_not_break_loading(pinned, offline_cache, tmp_path):
    spec, files = pinned
    seeded = [p for f, p in files.items() if f != "README.md"] + [_edited(files["README.md"], tmp_path)]
    _seed_hf_cache(offline_cache, spec.hub_repo, seeded, commit=PINNED, ref=_tag())
    assert _same_outputs(zoo.load(NAME), zoo.load(NAME, weights=hub.REPO_ROOT / "weights" / NAME))


def test_only_weights_and_config_are_needed_from_the_hub(pinned, offline_cache):
    spec, files = pinned
    _seed_hf_cache(offline_cache, spec.hub_repo, [files["model.safetensors"], files["config.json"]], commit=PINNED, ref=_tag())
    zoo.load(NAME)  # no card, no image in the cache


def test_tampered_weights_at_the_pinned_revision_refused(pinned, offline_cache, tmp_path):
    spec, files = pinned
    damaged = tmp_path / "damaged" / "model.safetensors"
    damaged.parent.mkdir()
    damaged.write_bytes(files["model.safetensors"].read_bytes()[:-4] + b"\0\0\0\0")
    _seed_hf_cache(offline_cache, spec.hub_repo, [damaged, files["config.json"]], commit=PINNED, ref=_tag())
    with pytest.raises(ChecksumError, match=f"{PINNED}/model.safetensors: expected sha256"):
        zoo.load(NAME)
    with pytest.raises(ChecksumError, match=f"{PINNED}/model.safetensors: expected sha256"):
        zoo.load(NAME, revision=_tag())  # named explicitly: still the pin, still checked


def test_local_files_only_with_nothing_cached(pinned, tmp_path, monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants as constants

    def no_network(*args, **kwargs):
        raise AssertionError("local_files_only=True asked the Hub")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", no_network)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    spec, _ = pinned
    with pytest.raises(WeightsNotFoundError) as info:
        zoo.load(NAME, local_files_only=True)
    message = str(info.value)
    assert "local_files_only=True" in message and f"`hf download {spec.hub_repo} model.safetensors config.json --revision {_tag()}`" in message
    assert "weights=" in message


def test_a_revision_other_than_the_shipped_one_skips_the_shipped_copy(offline_cache, monkeypatch):
    monkeypatch.setattr(hub, "SHIPPED_WEIGHTS", hub.REPO_ROOT / "weights")
    if not checkpoint_record(NAME):
        pytest.skip("no shipped checkpoint recorded yet")
    zoo.load(NAME)  # the pinned revision: the shipped copy
    assert hub.resolve_weights(NAME, revision=_tag())[1] == "shipped"
    with pytest.raises(WeightsNotFoundError, match=f"that copy is revision '{_tag()}'.*revision '{NEWER}'"):
        zoo.load(NAME, revision=NEWER)
    with pytest.raises(WeightsNotFoundError, match=f"that copy is revision '{_tag()}'.*revision 'main'"):
        zoo.load(NAME, revision="main")


def test_download_fetches_only_what_loading_needs_at_the_pinned_revision(pinned, offline_cache, monkeypatch):
    """Online (the Hub faked): one metadata request for the weights at the revision, then one snapshot_download
    restricted to model.safetensors and config.json."""
    import huggingface_hub
    import huggingface_hub.constants as constants

    spec, files = pinned
    calls = []

    def metadata(url, **kwargs):
        calls.append(("metadata", url, kwargs))

    def snapshot_download(repo_id, **kwargs):
        calls.append(("snapshot", repo_id, kwargs))
        wanted = [p for f, p in files.items() if f in kwargs["allow_patterns"]]
        return str(_seed_hf_cache(offline_cache, repo_id, wanted, commit=PINNED, ref=kwargs["revision"]))

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", metadata)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    zoo.load(NAME)
    (_, url, meta), (_, repo_id, kwargs) = calls
    assert url.endswith(f"/{spec.hub_repo}/resolve/{_tag()}/model.safetensors") and meta["timeout"] <= 2
    assert repo_id == spec.hub_repo and kwargs["revision"] == _tag() and kwargs["allow_patterns"] == ["model.safetensors", "config.json"]
    calls.clear()
    zoo.load(NAME)  # now cached: no request at all
    assert calls == []


def test_edited_shipped_card_breaks_neither_load_nor_hides_from_card(shipped):
    (shipped / "README.md").write_text((shipped / "README.md").read_text() + "\nEdited.\n")
    zoo.load(NAME)
    with pytest.raises(ChecksumError, match="README.md"):
        zoo.card(NAME)


def test_pin_tag_is_content_addressed():
    """The tag depends on the files loading reads, not on the card or its images, and exists for every record."""
    digests = {"model.safetensors": "a" * 64, "config.json": "b" * 64, "README.md": "c" * 64, "samples.png": "d" * 64}
    tag = pin_tag(digests)
    assert tag.startswith("zoo-") and len(tag) == 16 and int(tag[4:], 16) >= 0
    assert pin_tag({**digests, "README.md": "e" * 64, "samples.png": "f" * 64}) == tag  # a card edit keeps the pin
    assert pin_tag({**digests, "model.safetensors": "0" * 64}) != tag  # new weights: a new pin
    assert pin_tag({**digests, "backbone.safetensors": "1" * 64}) != tag  # a companion file loading reads counts
    with pytest.raises(ValueError, match="received none for config.json"):
        pin_tag({"model.safetensors": "a" * 64})
    for name in zoo.list_models(pretrained=True):
        record = checkpoint_record(name)
        assert pinned_revision(get_spec(name)) == (record.hub_commit or pin_tag(record.sha256)), name
    assert pinned_revision(get_spec("rawformer_base")) == "main"  # nothing recorded: nothing to pin


def test_a_recorded_hub_commit_is_the_pin(pinned, offline_cache, monkeypatch):
    """A record that carries the pushed commit (push_to_hub --record) pins that sha, ahead of the tag."""
    import zoo.registry as registry

    spec, files = pinned
    records = {**registry._checkpoint_records(), NAME: {**registry._checkpoint_records()[NAME], "hub_commit": PINNED}}
    monkeypatch.setattr(registry, "_checkpoint_records", lambda: records)
    assert pinned_revision(spec) == PINNED and hub.is_pinned(spec, _tag()) and not hub.is_pinned(spec, "main")
    _seed_hf_cache(offline_cache, spec.hub_repo, [files["model.safetensors"], files["config.json"]], commit=PINNED, ref=None)
    assert _same_outputs(zoo.load(NAME), zoo.load(NAME, weights=hub.REPO_ROOT / "weights" / NAME))
    with pytest.raises(ValueError, match="hub_commit: expected a Hub commit sha"):
        spec.record_type.from_dict({**records[NAME], "hub_commit": "main"})


class FakeHub:
    """``HfApi`` as push_to_hub uses it: one repo, its tags, and the files of each commit."""

    def __init__(self, tags=None, files_at_tag=None):
        self.tags = dict(tags or {})  # tag -> commit
        self.files_at_tag = files_at_tag  # path -> RepoFile, at every tag
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id))

    def list_repo_refs(self, repo_id, **kwargs):
        from huggingface_hub.hf_api import GitRefInfo, GitRefs

        tags = [GitRefInfo(name=n, ref=f"refs/tags/{n}", target_commit=c) for n, c in self.tags.items()]
        return GitRefs(branches=[], converts=[], tags=tags)

    def get_paths_info(self, repo_id, paths, revision=None, **kwargs):
        self.calls.append(("get_paths_info", revision))
        return [self.files_at_tag[p] for p in paths if p in self.files_at_tag]

    def upload_folder(self, **kwargs):
        from huggingface_hub import CommitInfo

        commit = f"{len(self.calls):040x}"
        self.calls.append(("upload_folder", kwargs["repo_id"]))
        return CommitInfo(commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/{commit}", commit_message="", commit_description="", oid=commit)

    def create_tag(self, repo_id, *, tag, revision, **kwargs):
        if tag in self.tags:
            raise AssertionError(f"create_tag: {tag} exists")  # the Hub answers 409: push_to_hub must not get here
        self.tags[tag] = revision
        self.calls.append(("create_tag", tag, revision))


def _hub_files(name, tamper=()):
    """The pinned files of ``name``'s record as the Hub lists them (model.safetensors in LFS, the rest as git blobs)."""
    import hashlib

    from huggingface_hub.hf_api import RepoFile

    from zoo.registry import pinned_files

    entries = {}
    for filename, digest in pinned_files(checkpoint_record(name).sha256).items():
        data = (hub.SHIPPED_WEIGHTS / name / filename).read_bytes() + (b"x" if filename in tamper else b"")
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        lfs = {"size": len(data), "oid": ("0" * 64 if filename in tamper else digest), "pointerSize": 134} if filename.endswith(".safetensors") else None
        entries[filename] = RepoFile(path=filename, size=len(data), oid=blob, lfs=lfs)
    return entries


def test_push_to_hub_creates_the_pin_tag_and_never_moves_it():
    import sys

    if not checkpoint_record(NAME):
        pytest.skip("no shipped checkpoint recorded yet")
    sys.path.insert(0, str(hub.REPO_ROOT / "tools"))
    import push_to_hub

    api = FakeHub()
    first = push_to_hub.push(NAME, "me/isp", api=api)
    assert first.tag == _tag() and first.tag_created and api.tags == {_tag(): first.commit}
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder", "create_tag"] and first.commit_url.endswith(first.commit)
    # the same files again (say, a card edited on main): a new commit, the tag stays where it was, after a check
    api.files_at_tag = _hub_files(NAME)
    second = push_to_hub.push(NAME, "me/isp", api=api)
    assert second.commit != first.commit and not second.tag_created and second.tag_commit == first.commit
    assert api.tags == {_tag(): first.commit} and ("get_paths_info", _tag()) in api.calls
    for tampered in ("model.safetensors", "config.json"):  # a tag whose files are not the record's: nothing is sent
        api.files_at_tag, api.calls = _hub_files(NAME, tamper=(tampered,)), []
        with pytest.raises(ValueError, match=f"expected {tampered} with sha256 .* refusing to move the tag"):
            push_to_hub.push(NAME, "me/isp", api=api)
        assert "upload_folder" not in [c[0] for c in api.calls]
    api.files_at_tag = {}
    with pytest.raises(ValueError, match="received no such file"):
        push_to_hub.push(NAME, "me/isp", api=api)


# ------------------------------------------------- save_pretrained / from_pretrained / push_to_hub


class UnregisteredISP(resolve_class(get_spec(NAME))):
    """A user's subclass of a zoo model, registered nowhere."""


@pytest.fixture
def saved(tmp_path):
    """A randomly initialised NAME saved by zoo's save_pretrained, with its defaults."""
    model = zoo.create(NAME).eval()
    return model, model.save_pretrained(tmp_path / "saved")


def test_save_pretrained_writes_card_and_manifest(saved):
    from huggingface_hub import ModelCard

    _, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "sha256.json"]
    manifest = json.loads((folder / "sha256.json").read_text())
    assert manifest == {f: hub.sha256_file(folder / f) for f in ("README.md", "config.json", "model.safetensors")}
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "zoo" and card.data.model_name == NAME
    assert "LightweightISP.from_pretrained(" in card.text and f'zoo.load("{NAME}", weights=' in card.text


def test_save_pretrained_without_card_and_manifest_writes_the_same_weights(saved, tmp_path):
    model, folder = saved
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "sha256.json").write_text("{}")  # a stale manifest is removed
    bare = model.save_pretrained(tmp_path / "bare", card=False, manifest=False)
    assert sorted(p.name for p in bare.iterdir()) == ["config.json", "model.safetensors"]
    for f in ("config.json", "model.safetensors"):
        assert (bare / f).read_bytes() == (folder / f).read_bytes()


def test_shipped_files_are_what_save_pretrained_writes(tmp_path):
    """The shipped model.safetensors and config.json stay byte-identical through load and save_pretrained."""
    record = checkpoint_record(NAME)
    if not record:
        pytest.skip("no shipped checkpoint recorded yet")
    folder = zoo.load(NAME).save_pretrained(tmp_path, card=False, manifest=False)
    assert {f: hub.sha256_file(folder / f) for f in ("config.json", "model.safetensors")} == {f: record.sha256[f] for f in ("config.json", "model.safetensors")}


def test_manifest_is_checked_on_load(saved):
    _, folder = saved
    zoo.load(NAME, weights=folder)
    (folder / "README.md").write_text("edited card\n")  # not what loading reads
    zoo.load(NAME, weights=folder)
    config = (folder / "config.json").read_text()
    (folder / "config.json").write_text(config.replace('"efficient"', '"robust"'))
    with pytest.raises(ChecksumError, match="config.json: expected sha256"):
        zoo.load(NAME, weights=folder)
    (folder / "config.json").write_text(config)
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-1] ^= 0x01
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="model.safetensors: expected sha256"):
        zoo.load(NAME, weights=folder)
    with pytest.raises(ChecksumError, match="model.safetensors"):
        type(saved[0]).from_pretrained(folder)
    (folder / "sha256.json").write_text("{not json")
    with pytest.raises(ChecksumError, match="sha256.json: expected a JSON object"):
        zoo.load(NAME, weights=folder)
    (folder / "sha256.json").write_text('{"README.md": "' + "0" * 64 + '"}')
    with pytest.raises(ChecksumError, match="received none for model.safetensors, config.json"):
        zoo.load(NAME, weights=folder)


def test_from_pretrained_reads_a_zoo_folder(saved):
    from zoo.core.module import ZooModule
    from zoo.models.lightweight_isp.module import LightweightISP

    model, folder = saved
    for loaded in (ZooModule.from_pretrained(folder), LightweightISP.from_pretrained(folder), LightweightISP.from_pretrained(str(folder)), zoo.load(NAME, weights=folder)):
        assert type(loaded) is LightweightISP and not loaded.training
        assert _same_outputs(loaded, model)
    assert LightweightISP.from_pretrained(folder, g_lr=1e-3).config.g_lr == 1e-3  # config overrides, as zoo.load's


def test_from_pretrained_of_a_rawformer_folder(tmp_path):
    from zoo.core.module import ZooModule
    from zoo.models.rawformer.module import Rawformer

    model = zoo.create("rawformer").eval()
    folder = model.save_pretrained(tmp_path)
    x = torch.rand(1, 3, 64, 64)
    for loaded in (Rawformer.from_pretrained(folder), ZooModule.from_pretrained(folder), zoo.load("rawformer", weights=folder)):
        assert type(loaded) is Rawformer
        with torch.no_grad():
            assert torch.equal(loaded(x), model(x))
    with pytest.raises(ValueError, match="expected architecture 'zoo.models.lightweight_isp.module:LightweightISP'"):
        resolve_class(get_spec(NAME)).from_pretrained(folder)


def test_from_pretrained_imports_no_architecture_it_does_not_know(saved):
    from zoo.core.module import ZooModule

    _, folder = saved
    (folder / "sha256.json").unlink()
    text = (folder / "config.json").read_text().replace("zoo.models.lightweight_isp.module:LightweightISP", "os:system")
    (folder / "config.json").write_text(text)
    with pytest.raises(ValueError, match="expected architecture 'zoo.core.module:ZooModule' or a registered model derived from it, received 'os:system'"):
        ZooModule.from_pretrained(folder)


def test_unregistered_subclass_round_trip(tmp_path):
    from huggingface_hub import ModelCard

    model = UnregisteredISP().eval()
    folder = model.save_pretrained(tmp_path)
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "zoo" and "UnregisteredISP.from_pretrained(" in card.text
    loaded = UnregisteredISP.from_pretrained(folder)
    assert type(loaded) is UnregisteredISP and _same_outputs(loaded, model)


def test_from_pretrained_of_a_hub_repo_from_the_cache(pinned, offline_cache):
    from zoo.core.module import ZooModule

    spec, files = pinned
    _seed_hf_cache(offline_cache, spec.hub_repo, [files["model.safetensors"], files["config.json"]], commit=PINNED, ref=_tag())
    reference = zoo.load(NAME, weights=hub.REPO_ROOT / "weights" / NAME)
    assert _same_outputs(ZooModule.from_pretrained(spec.hub_repo), reference)  # the registered repo's pinned revision
    assert _same_outputs(ZooModule.from_pretrained(spec.hub_repo, revision=PINNED, local_files_only=True), reference)
    with pytest.raises(WeightsNotFoundError, match=f"no weights at 'me/nothing'.*revision 'main'.*hf download me/nothing"):
        ZooModule.from_pretrained("me/nothing")
    with pytest.raises(WeightsNotFoundError, match="expected a weights directory or a Hub repo id"):
        ZooModule.from_pretrained("./no/such//dir")


def test_push_to_hub_uploads_the_saved_folder(monkeypatch, tmp_path):
    import huggingface_hub

    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, **kwargs):
            calls["create"] = (repo_id, kwargs)
            return type("RepoUrl", (), {"repo_id": repo_id})()

        def upload_folder(self, **kwargs):
            folder = Path(kwargs["folder_path"])
            calls["upload"] = kwargs
            calls["files"] = sorted(p.name for p in folder.iterdir())
            calls["loads"] = zoo.load(NAME, weights=folder) is not None  # the uploaded folder is a valid, checked one
            return "https://huggingface.co/me/isp/commit/1"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    model = zoo.create(NAME)
    assert model.push_to_hub("me/isp", private=True, token="t", branch="dev").endswith("/commit/1")
    assert calls["token"] == "t" and calls["create"] == ("me/isp", {"private": True, "exist_ok": True})
    assert calls["upload"]["repo_id"] == "me/isp" and calls["upload"]["repo_type"] == "model" and calls["upload"]["revision"] == "dev"
    assert calls["files"] == ["README.md", "config.json", "model.safetensors", "sha256.json"] and calls["loads"]
    calls.clear()
    folder = model.save_pretrained(tmp_path / "isp", push_to_hub=True, commit_message="v1")
    assert calls["upload"]["repo_id"] == "isp" and calls["upload"]["commit_message"] == "v1"
    assert (folder / "sha256.json").is_file()


def test_resolve_weights_fetches_the_files_asked_for(pinned, offline_cache):
    """A package that reads another file of the folder (unem's backbone) asks for it by name."""
    spec, files = pinned
    _seed_hf_cache(offline_cache, spec.hub_repo, [files["model.safetensors"], files["config.json"]], commit=PINNED, ref=_tag())
    directory, source = hub.resolve_weights(NAME)
    assert source == "hub" and directory.name == PINNED
    with pytest.raises(WeightsNotFoundError, match="not cached: README.md"):
        hub.resolve_weights(NAME, files=("README.md",))


def test_hub_methods_take_the_mixins_arguments():
    """ZooModule's from_pretrained / save_pretrained / push_to_hub are called as PyTorchModelHubMixin's are."""
    import inspect

    from huggingface_hub import PyTorchModelHubMixin

    from zoo.core.module import ZooModule

    own_only = {"card", "manifest"}  # zoo's additions: the card and the sha256 manifest can be left out
    for method in ("from_pretrained", "save_pretrained", "push_to_hub"):
        ours = inspect.signature(getattr(ZooModule, method)).parameters
        theirs = inspect.signature(getattr(PyTorchModelHubMixin, method)).parameters
        names = [n for n, p in ours.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and n not in own_only]
        assert set(names) <= set(theirs), f"{method}: {sorted(set(names) - set(theirs))} are not the mixin's"
        positional = [[n for n, p in params.items() if p.kind == p.POSITIONAL_OR_KEYWORD] for params in (ours, theirs)]
        assert positional[0] == positional[1], method
