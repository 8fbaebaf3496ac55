"""How ``tools/make_weights.py`` makes the shipped tiny CLIP (``digit_clip_tiny``).

1. Train with ``recipes/digit_clip_tiny/tiny.yaml`` (symmetric InfoNCE on stylised MNIST digits and their captions).
2. Retrieval on the held-out split (6,000 test pairs: 1,000 digits x 6 styles, one caption each): recall@1/5 of the
   images querying the distinct captions and of the distinct captions querying the images, a hit being an item of
   the query's digit and style; the untrained network and
   the expected recall of a random ranking as the baselines.

Run with ``OMP_NUM_THREADS=1`` on a shared CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch
from weights.common import device_name, fit_or_restore

from zoo.records import CheckpointRecord, EvalDataset

RECIPE = "recipes/digit_clip_tiny/tiny.yaml"


def test_pairs(context_length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The held-out gallery: images, caption ids and concepts of every test item (caption seed 0)."""
    from zoo.data.stylized_digits import StylizedDigits
    from zoo.models.digit_clip.model import tokenize

    data = StylizedDigits("test", caption_seed=0)
    images, digits, styles = data.tensors()
    captions = [data[i]["caption"] for i in range(len(data))]
    return images, tokenize(captions, context_length), digits * 100 + styles


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> CheckpointRecord:
    """Train, evaluate and write ``out_dir``.

    Args:
        spec: the ``digit_clip_tiny`` spec.
        out_dir: the weights folder.
        ckpt: resume the recipe's run (``"last"``) or None.
        overrides: LightningCLI overrides of the recipe.

    Returns:
        The measured record.
    """
    import zoo
    from zoo.models.digit_clip.module import retrieval_recall

    run = fit_or_restore(RECIPE, overrides, ckpt)
    run.model.save_pretrained(out_dir, card=False, manifest=False)
    model = zoo.load(spec.name, weights=out_dir)
    images, ids, concepts = test_pairs(model.config.context_length)
    metrics = retrieval_recall(model.net, images, ids, concepts)
    torch.manual_seed(0)
    untrained = zoo.create(spec.name)
    baselines = {"untrained (same architecture, seed 0)": retrieval_recall(untrained.net, images, ids, concepts),
                 "random ranking (expected)": retrieval_recall(None, images, ids, concepts)}
    print({"metrics": metrics, "baselines": baselines})
    return CheckpointRecord(
        num_params=model.num_params(),
        metrics=metrics,
        baselines=baselines,
        eval_dataset=EvalDataset(
            name="stylised MNIST digits with captions (test split)",
            type="zoo-stylized-digits",
            split="test (1,000 digits x 6 styles)",
            num_samples=len(images),
            unit="image-caption pairs",
            description="zoo.data.stylized_digits.StylizedDigits('test', caption_seed=0): the 1,000 test digits of the fixed "
            "MNIST-5k split in 6 styles, one caption each (3 templates). Recall@k (fractions): each of the 6,000 images queries "
            "the distinct captions (I2T) and each distinct caption the 6,000 images (T2I); a hit is an item of the query's digit "
            "and style.",
        ),
        eval_command=f"OMP_NUM_THREADS=1 python tools/make_weights.py {spec.name}",
        train_dataset="zoo.data.stylized_digits.StylizedDigitsDataModule (seed 0): 3,600 training digits x 6 styles with captions",
        recipe=RECIPE,
        train_steps=run.steps,
        train_seconds=run.seconds,
        train_device=device_name(),
    )
