"""A small unconditional GAN on real MNIST digits: a DCGAN generator driven by a StyleGAN-like mapping network
(z -> w, w modulating every block), the generator that Adapt-then-Unlearn unlearns a digit from."""
