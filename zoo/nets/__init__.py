"""Shared networks that are no paper of their own: CycleGAN's ResNet generator and PatchGAN (``cyclegan``)."""
