"""The digit/style classifier of the generative-unlearning family: one small CNN, a digit head and a style head,
trained on the UnlearnCanvas-style stylised digits (:mod:`zoo.data.stylized_digits`); it decides what a generator
drew and its pooled features are the FID / KID feature network of the family."""
