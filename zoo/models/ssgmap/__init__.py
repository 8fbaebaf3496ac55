"""SSGMap (Fan, Zhang, Yang, Zhong, Cao, Xia; ICCV 2023): unpaired multi-domain attribute translation of 3-D facial
shapes with a square and symmetric geometric map.

Specs in ``specs.py``; the map (mesh <-> image tables, computed for any template or read from the official
``grid.hdf5``) in ``geomap.py``; the generator in ``model.py`` and the hierarchical discriminator in
``discriminator.py``; training and ``predict`` in ``module.py``; the official ``g_model.pth`` in ``convert.py``; the
card's prose in ``card.py``.
"""
