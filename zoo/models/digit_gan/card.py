"""The digit GAN's card prose: the fine-tuning API, what the classifier reads in its samples, FID / KID, the setting."""

from __future__ import annotations

from typing import Any

from zoo.models.digit_gan.specs import HISTOGRAM_NAME, SAMPLES_NAME, GANRecord
from zoo.registry import ModelSpec

USAGE = """## Use
```python
import zoo, torch
gan = zoo.load("{name}")
images = gan.predict(16, seed=0)                                 # (16, 1, 28, 28) in [0, 1]
images = gan.sample(1000, generator=torch.Generator().manual_seed(1))
gan.generator, gan.discriminator, gan.latent_dim                 # for fine-tuning (Adapt-then-Unlearn): z -> [-1, 1] images, logits
```
```bash
zoo predict {name} -o samples.npz --n 16 --seed 0
zoo predict {name} -o samples.png --n 64 --grid true     # the samples tiled 8 to a row
```
The discriminator is training-only: it ships as `discriminator.safetensors` beside the generator (not counted in the
parameters above) so that the GAN can be fine-tuned adversarially without its training data."""

MODEL = """## Model
A DCGAN generator driven by a StyleGAN-like mapping network: z ({latent} dims, pixel-normalised) -> {layers} Linear +
LeakyReLU layers -> w ({w} dims); w -> Linear to ({c4}, 7, 7), a 4x4 transposed convolution to ({c2}, 14, 14), a 4x4
transposed convolution to one channel at 28x28, tanh; both hidden blocks take w again as a per-channel scale and bias
(StyleGAN's style input, without normalisation). The discriminator: three strided convolutions (width {d}),
LeakyReLU, StyleGAN's minibatch standard deviation before the last one (added because a pilot run without it collapsed to
a single sample), a linear logit. StyleGAN2's losses: the non-saturating logistic loss and an R1 penalty (gamma {r1:g}) on
real digits; Adam ({lr:g}, betas {betas}); the shipped generator is the EMA copy (decay {ema:g}). The official
Adapt-then-Unlearn MNIST generator is a StyleGAN2 at 32x32 (latent 512, 8 mapping layers, lr 0.002, betas (0, 0.99),
batch 16, R1 10, 200k iterations): `paper.yaml` maps those settings onto this network; StyleGAN2's modulated
convolutions with demodulation, noise inputs, path-length regulariser and lazy R1 are not reproduced."""


def card_notes(spec: ModelSpec, config: Any, record: GANRecord | None) -> str:
    """Markdown for the GAN's card.

    Args:
        spec: the model's spec.
        config: its ``DigitGANConfig``.
        record: the measured record (None: no shipped checkpoint).

    Returns:
        Usage and the model; with a record, the samples, the class histogram, FID / KID against the baselines.
    """
    model = MODEL.format(latent=config.latent_dim, layers=config.mapping_layers, w=config.w_dim, c4=4 * config.width, c2=2 * config.width,
                         d=config.d_width, r1=config.r1_gamma, lr=config.g_lr, betas=tuple(config.g_betas), ema=config.ema_decay)
    parts = [USAGE.format(name=spec.name), model]
    if record is not None:
        parts.append(_results(record))
    return "\n\n".join(parts)


def _results(record: GANRecord) -> str:
    m, ev = record.metrics, record.evaluation
    rows = ["| | FID | KID | classifier confidence | rarest digit share | commonest digit share |", "|---|---|---|---|---|---|"]
    for name, values in {"**this GAN**": m, **record.baselines}.items():
        rows.append(f"| {name} | {values['fid']:.2f} | {values['kid']:.4f} | {values['confidence']:.3f} | {values['min_class_share']:.3f} | {values['max_class_share']:.3f} |")
    hist = " | ".join(f"{100 * record.class_histogram[str(d)]:.1f}" for d in range(10))
    rare = min(record.class_histogram, key=record.class_histogram.get)
    return f"""## Samples and what the classifier reads in them (measured by `{record.eval_command}`)
![64 samples, seed 0]({SAMPLES_NAME})

{int(ev['samples']):,} samples judged by `{ev['classifier']}`; FID / KID against {ev['reference']}, with {ev['features']}.

{chr(10).join(rows)}

Class histogram of the samples (% read as each digit; 10% each for a balanced generator; the rarest is {rare}):

| digit | {' | '.join(str(d) for d in range(10))} |
|---|{'---|' * 10}
| % | {hist} |

![class histogram of the samples against the real training digits]({HISTOGRAM_NAME})

Sampling: {record.ms_per_image:.3f} ms per image (batches of 512) on {record.train_device}. Trained {record.train_steps:,} generator
iterations in {record.train_seconds or 0:.0f} s (`{record.recipe}`); the training noise of iteration k is drawn from the
seed and k, so `--ckpt_path last` resumes to the weights of an uninterrupted run."""
