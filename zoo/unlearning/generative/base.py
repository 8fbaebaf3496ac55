"""What the generative unlearning methods work on: a diffusion model or a GAN, described generically.

- :class:`Diffusion`: a diffusers UNet (``UNet2DModel`` with class embeddings, or ``UNet2DConditionModel`` with text
  embeddings), a DDPM noise schedule, and how conditions are encoded. Conditions are class labels (an int64 tensor),
  prompts (a list of strings, encoded by ``encode``) or ready text embeddings (an (N, L, D) float tensor).
- :class:`Gan`: a generator ``z -> image``, its discriminator and latent size.
- :func:`as_diffusion` / :func:`as_gan`: the zoo's digit models (or any object with the same attributes) as either.
- :func:`ddim_sample`: deterministic DDIM sampling under a seed (diffusers' ``DDIMScheduler``, eta 0), with
  classifier-free guidance when the model has a null condition; :func:`sample_images` chooses between it and the zoo
  model's own sampler.

Images are in the models' data range [-1, 1]; :func:`to_unit` maps them to [0, 1] for classifiers and FID.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from zoo.core.checks import describe

Condition = Any  # int64 labels (N,), a list of N prompts, or (N, L, D) text embeddings


@dataclass
class Diffusion:
    """A conditional epsilon-prediction diffusion model.

    Attributes:
        unet: diffusers ``UNet2DModel`` (``class_labels=``) or ``UNet2DConditionModel`` (``encoder_hidden_states=``).
        alphas_cumprod: (T,) cumulative products of the DDPM alphas (``scheduler.alphas_cumprod``).
        encode: prompts -> (N, L, D) text embeddings, for text models.
        null_condition: the unconditional condition of classifier-free guidance (a label, or the empty prompt "").
        sample_shape: (C, H, W) of one image.
        guidance_scale: the model's own guidance weight (what its samples are evaluated at).
        owner: the object this was built from (a zoo model), so that an unlearned copy can be handed back.
    """

    unet: nn.Module
    alphas_cumprod: torch.Tensor
    encode: Callable[[list[str]], torch.Tensor] | None = None
    null_condition: Any = None
    sample_shape: tuple[int, int, int] = (1, 28, 28)
    guidance_scale: float = 1.0
    owner: Any = field(default=None, repr=False)

    @property
    def num_timesteps(self) -> int:
        return len(self.alphas_cumprod)

    @property
    def is_text(self) -> bool:
        return self.encode is not None or "encoder_hidden_states" in _forward_args(self.unet)

    def condition(self, cond: Condition, n: int, device: torch.device) -> torch.Tensor:
        """``cond`` as the tensor the UNet takes: int64 labels (N,) or (N, L, D) embeddings."""
        if isinstance(cond, int):
            cond = torch.full((n,), cond, dtype=torch.long)
        if isinstance(cond, str):
            cond = [cond] * n
        if isinstance(cond, (list, tuple)) and cond and all(isinstance(c, int) for c in cond):
            cond = torch.tensor(cond, dtype=torch.long)
        if isinstance(cond, (list, tuple)):
            if self.encode is None:
                raise ValueError(f"condition: expected class labels for this class-conditional model, received prompts {list(cond)[:3]}")
            cond = self.encode(list(cond))
        if not isinstance(cond, torch.Tensor):
            raise ValueError(f"condition: expected labels, prompts or text embeddings, received {describe(cond)}")
        return cond.to(device)

    def eps(self, unet: nn.Module | None, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """epsilon-prediction of ``unet`` (default: this model's) at (x_t, t) under ``cond`` (already a tensor)."""
        unet = self.unet if unet is None else unet
        t = t.expand(len(x)) if t.ndim == 0 else t
        if cond.is_floating_point():
            return unet(x, t, encoder_hidden_states=cond).sample
        return unet(x, t, class_labels=cond).sample

    def alpha_sigma(self, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sqrt(abar_t), sqrt(1 - abar_t)), shaped to broadcast against ``like``."""
        abar = self.alphas_cumprod.to(like.device, like.dtype)[t].view(-1, *([1] * (like.ndim - 1)))
        return abar.sqrt(), (1 - abar).sqrt()

    def add_noise(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise."""
        a, s = self.alpha_sigma(t, x0)
        return a * x0 + s * noise

    def x0_from_eps(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The DDPM x0-prediction (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
        a, s = self.alpha_sigma(t, x_t)
        return (x_t - s * eps) / a

    def copy(self, unet: nn.Module | None = None) -> "Diffusion":
        """The same model around ``unet`` (default: a deep copy of this one's)."""
        return Diffusion(copy.deepcopy(self.unet) if unet is None else unet, self.alphas_cumprod, self.encode, self.null_condition, self.sample_shape, self.guidance_scale, self.owner)


def make_config(config_class: type, method: str, hparams: dict[str, Any]) -> Any:
    """``config_class(**hparams)``, refusing unknown hyper-parameters by name."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(hparams) - known)
    if unknown:
        raise ValueError(f"{method}: unknown hyper-parameters {unknown}; expected a subset of {sorted(known)}")
    return config_class(**hparams)


def _forward_args(module: nn.Module) -> tuple[str, ...]:
    import inspect

    return tuple(inspect.signature(module.forward).parameters)


def _first(obj: Any, names: Sequence[str]) -> Any:
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def as_diffusion(model: Any) -> Diffusion:
    """A :class:`Diffusion` from itself, a zoo digit diffusion model, or any object with a UNet and a DDPM schedule.

    Looks for the UNet at ``unet`` of the model, of its ``inference_net`` (the zoo's EMA copy, which samples) or of
    its ``net``; the schedule at ``noise_scheduler`` / ``scheduler`` (``alphas_cumprod``) or ``model.alphas_cumprod``;
    prompts are encoded by ``model.encode_prompt`` (without gradients: the text encoder is not trained here); the
    guidance null condition is ``model.null_condition(1)`` (a label) or the empty prompt; the default guidance weight
    ``model.config.guidance``.
    """
    if isinstance(model, Diffusion):
        return model
    holders = [h for h in (model, getattr(model, "inference_net", None), getattr(model, "net", None)) if h is not None]
    unet = next((h.unet for h in holders if isinstance(getattr(h, "unet", None), nn.Module)), None)
    if unet is None and type(getattr(model, "net", None)).__name__.startswith("UNet2D"):
        unet = model.net
    scheduler = next((s for h in holders for s in (getattr(h, "noise_scheduler", None), getattr(h, "scheduler", None)) if hasattr(s, "alphas_cumprod")), None)
    abar = scheduler.alphas_cumprod if scheduler is not None else getattr(model, "alphas_cumprod", None)
    if unet is None or abar is None:
        raise ValueError(f"model: expected a diffusion model with a diffusers UNet and a DDPM schedule (unet, scheduler.alphas_cumprod), received {type(model).__name__}")
    prompt_encoder = getattr(model, "encode_prompt", None)
    encode = None
    if callable(prompt_encoder):
        def encode(prompts: list[str]) -> torch.Tensor:
            with torch.no_grad():
                return prompt_encoder(prompts)
    null = getattr(model, "null_label", None)
    if null is None and encode is not None:
        null = ""
    elif null is None and callable(getattr(model, "null_condition", None)):
        null = int(model.null_condition(1).reshape(-1)[0])
    config = getattr(unet, "config", None)
    shape = (int(config.in_channels), int(config.sample_size), int(config.sample_size)) if config is not None else (1, 28, 28)
    guidance = float(getattr(getattr(model, "config", None), "guidance", 1.0) or 1.0)
    return Diffusion(unet, torch.as_tensor(abar).detach().float().cpu(), encode, null, shape, guidance, owner=model)


@torch.no_grad()
def ddim_sample(
    diffusion: Diffusion, cond: Condition, n: int | None = None, steps: int = 50, seed: int = 0, guidance_scale: float | None = None,
    unet: nn.Module | None = None, progress: bool | None = None,
) -> torch.Tensor:
    """DDIM samples (eta 0) from pure noise drawn under ``seed``: the same seed gives the same images.

    Args:
        diffusion: the model.
        cond: labels (N,), N prompts, or a single label / prompt with ``n``.
        n: the number of samples when ``cond`` is a single label or prompt.
        steps: DDIM steps.
        seed: the noise seed (a private generator: the global RNG is untouched).
        guidance_scale: classifier-free guidance weight w in eps_u + w (eps_c - eps_u); 1 is plain conditional
            (default: the model's ``guidance_scale``).
        unet: sample from this UNet instead of the model's (an unlearned copy).
        progress: the bar over the steps (None: on a terminal, as :mod:`zoo.core.progress` decides; False: never).

    Returns:
        Images (N, C, H, W) in [-1, 1].
    """
    from diffusers import DDIMScheduler

    from zoo.core.progress import progress as bar

    unet = diffusion.unet if unet is None else unet
    device = next(unet.parameters()).device
    count = n if n is not None else len(cond)
    c = diffusion.condition(cond, count, device)
    scheduler = DDIMScheduler(num_train_timesteps=diffusion.num_timesteps, trained_betas=_betas(diffusion.alphas_cumprod).numpy(), clip_sample=False, set_alpha_to_one=False)
    scheduler.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(count, *diffusion.sample_shape, generator=g).to(device)
    guidance_scale = diffusion.guidance_scale if guidance_scale is None else guidance_scale
    guided = guidance_scale != 1.0 and diffusion.null_condition is not None
    u = diffusion.condition(diffusion.null_condition, count, device) if guided else None
    was_training = unet.training
    unet.eval()
    for t in bar(scheduler.timesteps, "DDIM sampling", enabled=progress):
        tt = torch.full((count,), int(t), device=device, dtype=torch.long)
        eps = diffusion.eps(unet, x, tt, c)
        if guided:
            eps_u = diffusion.eps(unet, x, tt, u)
            eps = eps_u + guidance_scale * (eps - eps_u)
        x = scheduler.step(eps, t, x).prev_sample
    unet.train(was_training)
    return x.clamp(-1, 1)


@torch.no_grad()
def sample_images(
    diffusion: Diffusion, cond: Condition, n: int | None = None, steps: int = 50, seed: int = 0, guidance_scale: float | None = None,
    sampler: str = "ddim", batch_size: int = 256,
) -> torch.Tensor:
    """Samples under ``seed`` with ``sampler``: ``"ddim"`` (:func:`ddim_sample`) or ``"model"``, the ``sample`` method of
    the zoo model the diffusion was built from (its own, shipped sampler: what its card measures; the tiny digit
    DDPMs' is ancestral DDPM, whose samples their judges read far better than DDIM's).

    Args:
        diffusion, cond, n, steps, seed, guidance_scale: as :func:`ddim_sample`.
        sampler: ``"ddim"`` or ``"model"``.
        batch_size: conditions per call of the model's sampler (one generator runs through all of them).

    Returns:
        Images (N, C, H, W) in [-1, 1].
    """
    if sampler == "ddim":
        return ddim_sample(diffusion, cond, n=n, steps=steps, seed=seed, guidance_scale=guidance_scale)
    owner = diffusion.owner
    if sampler != "model" or not callable(getattr(owner, "sample", None)):
        raise ValueError(f"sampler: expected 'ddim', or 'model' for a diffusion built from a zoo model with its own sample(), received {sampler!r} "
                         f"for {type(owner).__name__}")
    if isinstance(cond, (int, str)):
        cond = [cond] * (1 if n is None else n)
    conds = cond.tolist() if isinstance(cond, torch.Tensor) else list(cond)
    g = torch.Generator().manual_seed(seed)
    guidance = diffusion.guidance_scale if guidance_scale is None else guidance_scale
    return torch.cat([owner.sample(conds[i : i + batch_size], steps=steps, guidance=guidance, generator=g).cpu() for i in range(0, len(conds), batch_size)]) * 2 - 1


def _betas(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    abar = alphas_cumprod.double().cpu()
    return (1 - abar / torch.cat([abar.new_ones(1), abar[:-1]])).float()


@dataclass
class Gan:
    """An unconditional GAN.

    Attributes:
        generator: ``z (N, latent_dim) -> images (N, C, H, W)`` in [-1, 1].
        discriminator: ``images -> logits (N,)`` or (N, 1).
        latent_dim: the size of z.
        owner: the object this was built from.
    """

    generator: nn.Module
    discriminator: nn.Module
    latent_dim: int
    owner: Any = field(default=None, repr=False)

    def sample(self, n: int, seed: int = 0, generator: nn.Module | None = None, batch_size: int = 256) -> torch.Tensor:
        """``n`` images from z drawn under ``seed`` (deterministic), without gradients."""
        net = self.generator if generator is None else generator
        device = next(net.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
        was_training = net.training
        net.eval()
        with torch.no_grad():
            out = torch.cat([net(chunk) for chunk in z.split(batch_size)])
        net.train(was_training)
        return out


def as_gan(model: Any) -> Gan:
    """A :class:`Gan` from itself or any object with ``generator``, ``discriminator`` and ``latent_dim`` (also under ``.net``)."""
    if isinstance(model, Gan):
        return model
    for holder in (model, getattr(model, "net", None)):
        if holder is None:
            continue
        g, d = _first(holder, ("generator", "G")), _first(holder, ("discriminator", "D"))
        dim = _first(holder, ("latent_dim", "z_dim", "nz"))
        if dim is None and getattr(model, "config", None) is not None:
            dim = _first(model.config, ("latent_dim", "z_dim"))
        if g is not None and d is not None and dim is not None:
            return Gan(g, d, int(dim), owner=model)
    raise ValueError(f"model: expected a GAN with generator, discriminator and latent_dim, received {type(model).__name__}")


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images -> [0, 1]."""
    return ((x + 1) / 2).clamp(0, 1)


def class_rate(images: torch.Tensor, classifier: Callable[[torch.Tensor], torch.Tensor], label: int, batch_size: int = 256) -> float:
    """The fraction of ``images`` ([-1, 1]) that ``classifier`` (on [0, 1] images -> logits) assigns to ``label``."""
    return float((predict_labels(images, classifier, batch_size) == label).float().mean())


@torch.no_grad()
def predict_labels(images: torch.Tensor, classifier: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 256) -> torch.Tensor:
    """argmax of ``classifier`` on [0, 1] versions of ``images`` ([-1, 1]), batched."""
    return torch.cat([classifier(to_unit(chunk)).argmax(-1).cpu() for chunk in images.split(batch_size)])
