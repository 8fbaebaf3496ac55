"""Progress bars for zoo's long loops: a tqdm bar on a terminal, none when stderr is not one or when ``ZOO_QUIET=1``.

    >>> for batch in progress(loader, "SSD importances", unit="batch"):
    ...     ...
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def quiet() -> bool:
    """True when bars are off: ``ZOO_QUIET=1`` (``zoo ... --quiet`` sets it), or stderr is not a terminal."""
    return os.environ.get("ZOO_QUIET") == "1" or not sys.stderr.isatty()


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """``iterable`` with a bar named ``desc`` (left on screen only while it runs).

    Args:
        iterable: what to loop over.
        desc: what the loop computes.
        total: its length, when ``len(iterable)`` does not give it.
        unit: what one step is.
    """
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, leave=False, disable=quiet()))
