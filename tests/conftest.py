import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")

SHARED = Path(__file__).resolve().parents[2] / "shared"
PARITY = SHARED / "parity"


def pytest_configure(config):
    config.addinivalue_line("markers", "compile: runs torch.compile (slow on CPU)")


@pytest.fixture
def parity_dir():
    if not PARITY.is_dir():
        pytest.skip(f"parity fixtures not found at {PARITY} (../shared is absent in this clone)")
    return PARITY
