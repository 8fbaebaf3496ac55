"""MAAG: learning to segment from scribbles with multi-scale adversarial attention gates (Valvano, Leo, Tsaftaris;
IEEE TMI 2021). The SAUNet segmentor, its multi-resolution discriminator, the training of the official TF code."""
