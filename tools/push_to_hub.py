"""Upload a model's weights folder (weights/<name>/) to a Hugging Face Hub repo.

    python tools/push_to_hub.py lightweight_isp_efficient my-org/lightweight_isp_efficient [--private]

The folder is verified against the sha256 recorded in zoo/checkpoints.json before anything is sent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.hub import SHIPPED_WEIGHTS, verify_files
from zoo.registry import checkpoint_record, get_spec


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


def push(name: str, repo_id: str, private: bool = False, api=None) -> str:
    """Create the repo if needed and upload the verified folder; returns the commit URL."""
    from huggingface_hub import HfApi

    kwargs = prepare_upload(name, repo_id)
    api = api or HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    return str(api.upload_folder(**kwargs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("repo_id")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args()
    print(push(args.name, args.repo_id, args.private))
    return 0


if __name__ == "__main__":
    sys.exit(main())
