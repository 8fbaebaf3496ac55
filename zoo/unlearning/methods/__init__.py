"""Every registered unlearning method, one module each: importing this package imports them all, which fills
:data:`zoo.unlearning.base.METHODS` (a new method file needs no edit here)."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
