"""How each shipped checkpoint is made: one script per model package (``tools/weights/<pkg>.py``), run by
``tools/make_weights.py``. Outside the installed package: they need a checkout (recipes/, outputs/).

Each script defines ``make_checkpoint(spec, out_dir, ckpt, overrides) -> (record, has_image)``: train (or restore)
from the recipe, write the Hub folder's weights and images into ``out_dir``, evaluate on held-out data and return
the typed :class:`zoo.records.CheckpointRecord`. The card's prose is the package's ``card.py``; the shared parts
(fit or restore, device description, evaluation loop) are in :mod:`weights.common`.
"""
