"""Progress bars for zoo's long loops: a tqdm bar on a terminal, none when stderr is not one or when ``ZOO_QUIET=1``.

The one place zoo makes a bar (``tests/test_progress.py`` fails on a direct tqdm import anywhere else):

    >>> for batch in progress(loader, "SSD importances", unit="batch"):
    ...     ...
    >>> for step in trange(steps, "PGA"):          # progress(range(steps), ...)
    ...     ...
    >>> with bar(steps, "T2UE generator") as b:      # a bar updated by hand (b.update(n), b.set_postfix(...))
    ...     ...
    >>> write("row done in 12 s")                    # a line on stderr that does not break a running bar

``enabled`` forces a bar on (True) or off (False); None (the default) decides by :func:`quiet`. Lightning's own bar
takes :func:`lightning_bar` (``L.Trainer(enable_progress_bar=lightning_bar(...))``).
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


def shown(enabled: bool | None = None) -> bool:
    """Whether a bar is shown: ``enabled`` when given, else not :func:`quiet`."""
    return not quiet() if enabled is None else bool(enabled)


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it", enabled: bool | None = None, leave: bool = False) -> Iterator[T]:
    """``iterable`` with a bar named ``desc`` (left on screen only while it runs, unless ``leave``).

    Args:
        iterable: what to loop over.
        desc: what the loop computes.
        total: its length, when ``len(iterable)`` does not give it.
        unit: what one step is.
        enabled: force the bar on or off (None: :func:`shown` decides).
        leave: keep the finished bar on screen.
    """
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, disable=not shown(enabled)))


def trange(n: int, desc: str, unit: str = "it", enabled: bool | None = None, leave: bool = False) -> Iterator[int]:
    """``range(n)`` with a bar: :func:`progress` over it."""
    return progress(range(n), desc, total=n, unit=unit, enabled=enabled, leave=leave)


def bar(total: int | None, desc: str, unit: str = "it", enabled: bool | None = None, leave: bool = False):
    """A bar advanced by hand, for loops whose steps are not one iterable: a ``tqdm`` (a context manager with
    ``update(n)``, ``set_postfix(...)`` and ``close()``), disabled as :func:`progress` is.

    Args:
        total: the number of steps (None: unknown).
        desc: what the loop computes.
        unit: what one step is.
        enabled: force the bar on or off (None: :func:`shown` decides).
        leave: keep the finished bar on screen.
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=leave, disable=not shown(enabled))


def write(message: str) -> None:
    """Print ``message`` on stderr above any running bar (``tqdm.write``), unless ``ZOO_QUIET=1``."""
    if os.environ.get("ZOO_QUIET") == "1":
        return
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def lightning_bar(enabled: bool | None = True) -> bool:
    """``enable_progress_bar`` of a Lightning ``Trainer``: its bar where zoo would show one (``enabled`` False: never)."""
    return bool(enabled) and not quiet()
