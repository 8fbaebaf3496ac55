"""CycleGAN (Zhu, Park, Isola, Efros; ICCV 2017): unpaired image-to-image translation with cycle-consistent GANs.

Specs in ``specs.py``; the generator pair, image pool and learning-rate rule in ``model.py``; training and
``predict`` in ``module.py``; official ``pytorch-CycleGAN-and-pix2pix`` checkpoints in ``convert.py``; the card's
prose in ``card.py``.
"""
