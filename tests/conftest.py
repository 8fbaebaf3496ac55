import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")

SHARED = Path(__file__).resolve().parents[2] / "shared"
PARITY = SHARED / "parity"


def pytest_configure(config):
    config.addinivalue_line("markers", "compile: runs torch.compile (slow on CPU)")
    config.addinivalue_line("markers", "slow: over 30 s (the wheel built, installed and run in a fresh venv); run by default, skip with -m 'not slow'")
    config.addinivalue_line("markers", "huge: builds a preset over zoo.registry.HUGE_PARAMS parameters (opt in: pytest -m huge)")


def pytest_collection_modifyitems(config, items):
    """Skip the huge presets unless the run selects them (``-m huge``), as timm caps model sizes in its tests."""
    if "huge" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="preset over HUGE_PARAMS parameters: run `pytest -m huge` to build it")
    for item in items:
        if "huge" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def parity_dir():
    if not PARITY.is_dir():
        pytest.skip(f"parity fixtures not found at {PARITY} (../shared is absent in this clone)")
    return PARITY
