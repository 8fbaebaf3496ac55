"""Optional dependencies: imported where they are used, with an error that names the extra to install.

Inference needs only the core dependencies; training and the checkpoint tools need the extras (``train``: wandb, for
the recipes' logger; ``tools``: matplotlib and OpenCV, for ``tools/make_weights.py``'s figures and the video
metrics). This module imports nothing heavy.

    >>> cv2 = require("cv2", "tools", package="opencv-python-headless")
"""

from __future__ import annotations

import importlib
from types import ModuleType

DISTRIBUTION = "lightning-paper-zoo"


def require(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import and return ``module``, an optional dependency of the extra ``extra``.

    Args:
        module: the import name, e.g. ``"cv2"``.
        extra: the extra of this distribution that installs it, e.g. ``"tools"``.
        package: its distribution name where it differs from ``module`` (``"opencv-python-headless"``).

    Returns:
        The imported module.

    Raises:
        ModuleNotFoundError: ``module`` is not installed; the message names the extra and the install commands.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and error.name != module and not module.startswith(f"{error.name}."):
            raise  # the module is there but one of its own imports is missing: not ours to explain
        raise ModuleNotFoundError(
            f"this needs {package or module!r}, an optional dependency of zoo's {extra!r} extra, which is not installed: "
            f"pip install '{DISTRIBUTION}[{extra}]' (in a checkout: pip install -e '.[{extra}]')",
            name=module,
        ) from error
