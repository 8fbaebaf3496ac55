"""Upload a model's weights folder (weights/<name>/) to a Hugging Face Hub repo and tag the commit with its pin.

    python tools/push_to_hub.py lightweight_isp_efficient my-org/lightweight_isp_efficient [--private] [--record]

The folder is verified against the sha256 recorded in zoo/checkpoints.json before anything is sent. The commit the
upload makes is then tagged with the model's content-addressed pin (``zoo.registry.pin_tag``: ``zoo-<12 hex>`` of the
recorded files that loading reads), the revision ``zoo.load`` fetches by default. An existing tag is never moved: a
push of the same files (an edited card) leaves it on its first commit, after checking that the files there are the
recorded ones; a tag whose files differ from the record is refused before anything is uploaded. ``--record`` writes
the commit sha into the record (``hub_commit``), which then pins the model ahead of the tag.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass

from zoo.core.files import LOAD_FILES
from zoo.hub import SHIPPED_WEIGHTS, verify_files
from zoo.registry import CHECKPOINTS_FILE, checkpoint_record, get_spec, pin_tag, pinned_files, reload_checkpoint_records


@dataclass(frozen=True)
class Pushed:
    """What a push did.

    Args:
        commit_url: the upload's commit URL.
        commit: its sha (40 hex digits).
        tag: the pin tag.
        tag_commit: the commit the tag names (``commit``, or the earlier one of an existing tag).
        tag_created: whether this push created the tag.
    """

    commit_url: str
    commit: str
    tag: str
    tag_commit: str
    tag_created: bool


def prepare_upload(name: str, repo_id: str) -> dict:
    """Check the folder and return the keyword arguments of ``HfApi.upload_folder``."""
    spec = get_spec(name)
    record = checkpoint_record(name)
    if not record:
        raise ValueError(f"{name}: expected a shipped checkpoint recorded in zoo/checkpoints.json, received none (run tools/make_weights.py {name})")
    if repo_id.count("/") != 1 or any(not part for part in repo_id.split("/")):
        raise ValueError(f"repo_id: expected 'owner/name', received {repo_id!r}")
    folder = SHIPPED_WEIGHTS / spec.name
    verify_files(folder, record.sha256)
    return {
        "repo_id": repo_id,
        "folder_path": str(folder),
        "allow_patterns": sorted(record.sha256),
        "commit_message": f"zoo: {name} from {record.recipe}",
        "repo_type": "model",
    }


def _git_blob_sha1(path) -> str:
    """The git object id of a file (what the Hub reports as ``blob_id`` of a file not stored in LFS)."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _tagged_commit(api, repo_id: str, tag: str) -> str | None:
    """The commit ``tag`` names in ``repo_id``, or None when the repo has no such tag."""
    refs = api.list_repo_refs(repo_id, repo_type="model")
    return next((ref.target_commit for ref in refs.tags if ref.name == tag), None)


def check_tagged_files(api, repo_id: str, tag: str, name: str) -> None:
    """Check that the pinned files at ``tag`` on the Hub are the recorded ones (LFS sha256, or git blob id).

    Raises:
        ValueError: a file is missing at the tag or differs from the shipped one, naming it.
    """
    record = checkpoint_record(name)
    expected = pinned_files(record.sha256)
    folder = SHIPPED_WEIGHTS / get_spec(name).name
    remote = {entry.path: entry for entry in api.get_paths_info(repo_id, sorted(expected), revision=tag, repo_type="model")}
    for filename, digest in expected.items():
        entry = remote.get(filename)
        lfs = getattr(entry, "lfs", None)
        same = entry is not None and (lfs["sha256"] == digest if lfs else entry.blob_id == _git_blob_sha1(folder / filename))
        if not same:
            found = "no such file" if entry is None else "another file"
            raise ValueError(
                f"{repo_id}@{tag}: expected {filename} with sha256 {digest} (the record's), received {found}; refusing to move "
                f"the tag (it pins what installed zoos load) or to push under it: delete the tag on the Hub if it is wrong"
            )


def push(name: str, repo_id: str, private: bool = False, api=None) -> Pushed:
    """Create the repo if needed, upload the verified folder and tag the commit with the model's pin.

    Args:
        name: a registered model with a shipped checkpoint.
        repo_id: ``owner/name`` on the Hub.
        private: create the repo private.
        api: an ``HfApi`` (default: a new one, logged in as the user).

    Returns:
        What was pushed and where the pin tag points.

    Raises:
        ValueError: the folder does not verify, ``repo_id`` is malformed, or the tag exists with other files.
    """
    from huggingface_hub import HfApi

    kwargs = prepare_upload(name, repo_id)
    tag = pin_tag(checkpoint_record(name).sha256)
    api = api or HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    tagged = _tagged_commit(api, repo_id, tag)
    if tagged is not None:
        check_tagged_files(api, repo_id, tag, name)  # before uploading: a wrong tag stops the push
    info = api.upload_folder(**kwargs)
    commit = getattr(info, "oid", None)
    if not commit:
        raise ValueError(f"upload_folder: expected a CommitInfo with the commit's oid, received {info!r}")
    created = tagged is None
    if created:
        message = f"zoo: {name}, the files loading reads ({', '.join(LOAD_FILES)} ...) as recorded in zoo/checkpoints.json"
        api.create_tag(repo_id, tag=tag, revision=commit, tag_message=message, repo_type="model")
    return Pushed(commit_url=str(info), commit=commit, tag=tag, tag_commit=commit if created else tagged, tag_created=created)


def record_commit(name: str, commit: str) -> None:
    """Write ``commit`` as the record's ``hub_commit`` in zoo/checkpoints.json (validated by the record's schema), so
    that it pins the model ahead of the tag."""
    records = json.loads(CHECKPOINTS_FILE.read_text())
    entry = {**records[name], "hub_commit": commit}
    get_spec(name).record_type.from_dict(entry)
    records[name] = entry
    CHECKPOINTS_FILE.write_text(json.dumps({k: records[k] for k in sorted(records)}, indent=2) + "\n")
    reload_checkpoint_records()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("repo_id")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--record", action="store_true", help="write the tag's commit into zoo/checkpoints.json as hub_commit (then the pin, ahead of the tag)")
    args = parser.parse_args()
    pushed = push(args.name, args.repo_id, args.private)
    state = "created on" if pushed.tag_created else "kept on its earlier commit"
    print(f"{pushed.commit_url}\ntag {pushed.tag}: {state} {pushed.tag_commit}")
    if args.record:
        record_commit(args.name, pushed.tag_commit)
        print(f"recorded hub_commit {pushed.tag_commit} for {args.name} in {CHECKPOINTS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
