"""The digit diffusion models' card prose: the model, the API the unlearning methods use, and the measured samples."""

from __future__ import annotations

from typing import Any

from zoo.models.digit_diffusion.specs import GRID_NAME, DigitDiffusionRecord
from zoo.registry import ModelSpec

API = {
    "class": """## API for unlearning methods (SFD, Adapt-then-Unlearn-style evaluations)
```python
model = zoo.load("{name}")
eps = model.eps(x_t, t, labels)                  # ε_θ(x_t, t, c) of the EMA network, with gradients; labels 0..9, 10 = null
score = -eps / (1 - model.alphas_cumprod[t]).sqrt().view(-1, 1, 1, 1)   # the teacher score SFD distils
x_t = model.add_noise(x0, noise, t)              # x0 in [-1, 1]; model.betas, model.noise_scheduler (diffusers DDPMScheduler)
images = model.sample(labels, steps=25, guidance=2.0, generator=torch.Generator().manual_seed(0))  # (N, 1, 28, 28) in [0, 1]
```""",
    "text": """## API for concept erasure and T2UE
```python
model = zoo.load("{name}")
states = model.encode_prompt(["a seven", ""])    # (N, L, D) per-token prompt states ("" = the null prompt); model.tokenize(prompts) -> ids
eps = model.eps(x_t, t, states)                   # ε_θ from embeddings (or token ids from model.tokenize(prompts))
images = model.sample(["a seven in the thick style"], steps=25, guidance=2.0, generator=torch.Generator().manual_seed(0))
model.net.unet, model.net.text_encoder            # the diffusers UNet2DConditionModel and the transformers CLIPTextModel
```
The parameters that read the prompt, which DoCo trains, are the UNet's cross-attention keys and values (`attn2.to_k` /
`attn2.to_v`) and, when the UNet pools the prompt into its timestep embedding, that pooling (`add_embedding`).""",
}


def _architecture(config: Any) -> str:
    levels = ", ".join(f"{c}{' + attention' if a else ''}" for c, a in zip(config.channels, config.attention))
    unet = "UNet2DConditionModel (cross-attention to the prompt)" if config.conditioning == "text" else "UNet2DModel with a class embedding of 11 rows (10 digits + the null label)"
    text = _text_encoder(config) if config.conditioning == "text" else ""
    return f"""## Model
diffusers {unet}: levels {levels} channels, {config.layers_per_block} ResNet block(s) per level, GroupNorm {config.norm_groups}.{text}
Training is DDPM's ε-prediction loss over T = {config.num_train_timesteps} steps (linear betas {config.beta_start:g}..{config.beta_end:g}), with the
condition dropped to the null one with probability {config.cond_dropout:g} (classifier-free guidance); an EMA of the weights
(decay {config.ema_decay:g}) is what is shipped and samples. Sampling: ancestral DDPM (`sampler="ddpm"`) or DDIM (`sampler="ddim"`, η = {config.eta:g}), "trailing" timesteps, x_0
clipped to [-1, 1], with guidance
ε = ε(x_t, ∅) + w (ε(x_t, c) − ε(x_t, ∅)), w = {config.guidance:g} by default (w = 1: conditional, 0: unconditional).
Default sampler: {config.sampler.upper()} ({config.sample_steps} steps): at this training budget the deterministic DDIM samples keep a speckled
background that the judging classifiers misread, and ancestral DDPM sampling removes it.
Every sampler is deterministic under a seed (`generator=` / `seed=`)."""


def _text_encoder(config: Any) -> str:
    """How the prompt is encoded: the frozen pretrained tower, or the one trained jointly."""
    vocabulary = f"a closed vocabulary of {len(config.vocabulary)} words (a prompt with another word is refused)"
    if config.text_encoder == "joint":
        return (f" The prompt goes through a transformers `CLIPTextModel` of {config.text_layers} layers of {config.text_width} ({config.text_heads} heads), "
                f"trained jointly with the UNet from scratch on word-level tokens of {vocabulary}, at most {config.max_prompt_tokens - 2} words.")
    return (f" The prompt goes through the text tower of the shipped `{config.text_encoder}` (a transformers `CLIPTextModel` of {config.text_layers} layers of "
            f"{config.text_width}, {config.text_heads} heads, over UTF-8 bytes, at most {config.max_prompt_tokens - 2}), copied in when training starts and kept "
            "frozen, as Stable Diffusion keeps its pretrained CLIP text encoder: the UNet learns only the denoiser, and its cross-attention reads the tower's "
            f"per-token last hidden states (padding masked inside the tower).{_pooled(config)} Every word of a prompt must come from {vocabulary}. The frozen "
            "tower ships inside this checkpoint, so loading it needs no other model.")


def _pooled(config: Any) -> str:
    if not getattr(config, "pooled_text", False):
        return ""
    return (" An attention-pooled summary of those states (diffusers' `addition_embed_type=\"text\"`, "
            f"{config.text_heads} heads) is also added to the timestep embedding, as Imagen and DeepFloyd IF do, so the prompt reaches every "
            "resolution, as the class model's label does; Stable Diffusion, which the paper recipe follows, has no such path "
            "(`pooled_text: false` there).")


def _row(values: dict[str, float]) -> str:
    return "| " + " | ".join(values) + " |\n|" + "---|" * len(values) + "\n| " + " | ".join(f"{v:.0f}" for v in values.values()) + " |"


def _results(record: DigitDiffusionRecord, config: Any) -> str:
    kind = "prompt" if config.conditioning == "text" else "digit"
    text = bool(record.per_style)
    n = record.eval_dataset.num_samples
    m = record.metrics
    sweep = "\n".join(f"| {w} | {row['classifier_accuracy']:.1f} | {row.get('style_accuracy', float('nan')):.1f} | {row['fid']:.2f} | {row['kid']:.4f} |"
                      if text else f"| {w} | {row['classifier_accuracy']:.1f} | {row['fid']:.2f} | {row['kid']:.4f} |"
                      for w, row in sorted(record.guidance_sweep.items(), key=lambda kv: float(kv[0])))
    sweep_head = "| guidance w | digit accuracy (%) | style accuracy (%) | FID | KID |\n|---|---|---|---|---|" if text else "| guidance w | accuracy (%) | FID | KID |\n|---|---|---|---|"
    floor = record.baselines.get("real images", {})
    real = ", ".join(f"{head} {v:.1f}%" for head, v in record.judge_on_real.items())
    s = record.sampling
    reduced = "\n".join(f"- {line}" for line in record.reduced)
    cpu = (f" ({record.train_cpu_seconds / 60:.1f} CPU-minutes of its one thread)" if record.train_cpu_seconds > 60
           else " (restored from the run's checkpoint: its CPU time was not measured by this process)")
    second = f"; judged by `allcnn_mnist_classifier` instead: {m['allcnn_accuracy']:.1f}%" if "allcnn_accuracy" in m else ""
    grid = "a row per style, a column per digit" if kind == "prompt" else "one digit per row, 0 to 9"
    styles = (f"\n\nStyle accuracy per style (share of the samples the judge's style head labels as the asked style; {m['style_accuracy']:.1f}% overall):\n\n"
              + _row(record.per_style)) if record.per_style else ""
    cast = _cast(record)
    return f"""## Samples (measured by `{record.eval_command}`)
![samples: {grid}]({GRID_NAME})

{n:,} samples ({s['steps']:.0f} {config.sampler.upper()} steps, guidance {s['guidance']:g}, seed 0){', "a <digit> in the <style> style" for every digit and style' if kind == 'prompt' else ''}.
Judge: {record.judge}. The judge on real test images: {real} (what a perfect generator would score).

Digit accuracy per digit (share of the samples the judge labels as the asked digit; {m['classifier_accuracy']:.1f}% overall{second}):

{_row(record.per_class)}{styles}{cast}

FID {m['fid']:.2f}, KID {m['kid']:.4f} against the real test images (real training images against the same: FID {floor.get('fid', float('nan')):.2f},
KID {floor.get('kid', float('nan')):.4f}, the metric's floor). Feature network: {record.feature_network}.

Guidance sweep (the shipped weight as above; the others with a quarter of the samples and another seed, so their FID is biased upwards):

{sweep_head}
{sweep}

Sampling time on {record.train_device}: {s['seconds_per_image'] * 1000:.1f} ms per image in batches of 100, {s['seconds_single_image']:.2f} s for one image alone
({s['steps']:.0f} {config.sampler.upper()} steps, {'two network passes per step (guidance)' if s['guidance'] != 1 else 'one pass per step'}, {s['threads']:.0f} thread(s), on a shared CPU).

## What the tiny recipe reduces
{reduced}

Trained {record.train_steps:,} steps in {record.train_seconds or 0:.0f} s of wall time on {record.train_device}{cpu}."""


def _cast(record: DigitDiffusionRecord) -> str:
    """The colour-cast diagnostic of the text model's samples, from the record."""
    b = record.background
    if not b:
        return ""
    return (f"\n\nThe samples' backgrounds (their 4x4 corners) differ from the nearest real style background by {b['sample_error']:.3f} per channel on "
            f"average (real test images: {b['real_error']:.3f}; values in [0, 1]): a colour cast, which the judge, trained on clean backgrounds, misreads. "
            f"Shifted by that difference, the same samples are judged the asked digit {b['classifier_accuracy']:.1f}% of the time and the asked style "
            f"{b['style_accuracy']:.1f}% (a diagnostic of what the judge misses, not the card's score).")


def card_notes(spec: ModelSpec, config: Any, record: DigitDiffusionRecord | None) -> str:
    """Markdown for a digit diffusion model's card.

    Args:
        spec: the model's spec.
        config: its ``DigitDiffusionConfig``.
        record: the measured record (None: no shipped checkpoint).
    """
    parts = [_architecture(config), API[config.conditioning].format(name=spec.name)]
    if record is not None:
        parts.append(_results(record, config))
        parts.append(_near_chance(record))
    return "\n\n".join(p for p in parts if p)


def _near_chance(record: DigitDiffusionRecord) -> str:
    """A warning, from the record, when the samples are judged the asked digit (or style) at most twice as often as
    chance, or less than half as often as the judge labels real images: the checkpoint is then under-trained, not (or
    only weakly) a testbed for the unlearning methods."""
    m = record.metrics
    from zoo.data.stylized_digits import STYLES

    digit_chance, style_chance = 100.0 / 10, 100.0 / len(STYLES)
    near = m["classifier_accuracy"] <= 2 * digit_chance or m.get("style_accuracy", 100.0) <= 2 * style_chance
    real = record.judge_on_real
    far = m["classifier_accuracy"] < 0.5 * real.get("digit", 0.0) or m.get("style_accuracy", 100.0) < 0.5 * real.get("style", 0.0)
    if not (near or far):
        return ""
    style = f" and {m['style_accuracy']:.1f}% the prompted style (chance {style_chance:.1f}%)" if "style_accuracy" in m else ""
    reals = " and ".join(f"{v:.1f}% ({head})" for head, v in real.items())
    if near:
        return (f"**Under-trained checkpoint.** After {record.train_steps:,} steps its samples are near chance: "
                f"{m['classifier_accuracy']:.1f}% are judged the asked digit (chance {digit_chance:.0f}%){style}. It is not yet "
                "a usable concept-erasure testbed.")
    b = record.background
    share = "Most" if b and b["classifier_accuracy"] - m["classifier_accuracy"] > 0.5 * (real.get("digit", 0.0) - m["classifier_accuracy"]) else "Part"
    why = (f" {share} of the gap is the samples' colour cast: with it removed the judge reads {b['classifier_accuracy']:.1f}% of them as the asked "
           "digit (see Samples)." if b else "")
    return (f"**Under-trained checkpoint.** After {record.train_steps:,} steps its samples follow the prompt above chance but far below "
            f"what the judge reads on real images ({reals}): {m['classifier_accuracy']:.1f}% are judged the asked digit (chance "
            f"{digit_chance:.0f}%){style}.{why} Erasure figures measured on it are indicative only; the recipe's run, continued at its "
            "constant learning rate, collapsed (see the recipe's comment).")
