"""TecoGAN: temporally coherent GAN video super-resolution (Chu et al., ACM TOG 2020), and its FRVSR pre-training.

Train (CPU, minutes; the second starts from the first's weights)::

    zoo train recipes/frvsr_tiny/tiny.yaml
    zoo train recipes/tecogan/tiny.yaml

``stage="frvsr"``: content (Charbonnier) + warping loss (FNet trained through it and through G), no D.
``stage="tecogan"``: content, VGG-19 feature cosine loss (0.2), ping-pong loss (0.5) over the forward-backward
sequence, adversarial loss of the spatio-temporal D (0.01), D feature matching, and adaptive D updates (D steps
only while ``mean log D(real) - mean log D(fake) < 0.4``). Inference is streaming (:meth:`TecoGAN.stream`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from zoo.core import checks
from zoo.core.adversarial import AdversarialConfig, AdversarialModule
from zoo.losses.video import charbonnier, cosine_feature_loss, feature_matching_loss
from zoo.models.tecogan.model import FRNet, SpatioTemporalDiscriminator, triplet_input
from zoo.nets.frozen import VGG19Taps
from zoo.ops.warp import backward_warp

STAGES = ("frvsr", "tecogan")
DEFAULT_TILE = 256
"""LR tile side of inference when ``config.tile`` is 0: a 720p frame whole would need about 7.5 GB."""
MAX_FRAME_PIXELS = 2**22
"""The largest LR frame ``predict`` takes, in pixels (4.2 M: e.g. 2048 x 2048, upscaled to 8192 x 8192)."""
MIN_SIDE = 8
"""The smallest LR frame side."""


@dataclasses.dataclass
class TecoGANConfig(AdversarialConfig):
    """Configuration of :class:`TecoGAN` (defaults: the paper / the PyTorch port's train.yml).

    Args:
        nf: SRNet width.
        nb: SRNet residual blocks (10; 16 for the released TecoGAN).
        fnet_width: FNet base width (32: the paper's 32/64/128 encoder, 256/128/64 decoder).
        degradation: ``"BD"`` or ``"BI"`` (chooses the residual / flow upsampler).
        scale: 4.
        fused_ops: warp chain and residual blocks through the torch.compile'd ``zoo.ops``.
        conventions: ``"port"`` (the PyTorch port) or ``"tf"`` (the official TensorFlow graph, for its converted weights).
        tile: LR tile side for streaming inference of large frames (0: :data:`DEFAULT_TILE` for frames with a side
            above it, whole frames otherwise).
        tile_overlap: LR pixels of context around each tile.
        stage: ``"frvsr"`` (pre-training, no D) or ``"tecogan"``.
        pingpong: train on forward-backward sequences with the ping-pong loss.
        w_pixel, w_warp, w_feature, w_pingpong, w_adversarial, w_feature_matching: loss weights.
        feature_layers: indices in ``torchvision.models.vgg19().features`` of the cosine feature loss.
        vgg_weights: local torchvision VGG-19 state_dict; None: frozen random init from ``feature_seed``.
        feature_seed: seed of the random VGG-19.
        d_update_threshold: adaptive D update threshold (0.4).
        crop_border_ratio: centre fraction of the warped triplet D sees (0.75).
        d_spatial_size: HR crop side D's dense head is built for.
        init_weights: a ``model.safetensors`` (e.g. the FRVSR's) loaded into the generator when training starts.
    """

    nf: int = 64
    nb: int = 10
    fnet_width: int = 32
    degradation: str = "BD"
    scale: int = 4
    fused_ops: bool = False
    conventions: str = "port"
    tile: int = 0
    tile_overlap: int = 16
    stage: str = "tecogan"
    pingpong: bool = True
    w_pixel: float = 1.0
    w_warp: float = 1.0
    w_feature: float = 0.2
    w_pingpong: float = 0.5
    w_adversarial: float = 0.01
    w_feature_matching: float = 1.0
    feature_layers: tuple[int, ...] = (8, 17, 26, 35)
    vgg_weights: str | None = None
    feature_seed: int = 0
    d_update_threshold: float = 0.4
    crop_border_ratio: float = 0.75
    d_spatial_size: int = 128
    init_weights: str | None = None
    g_lr: float = 5e-5
    g_betas: tuple[float, float] = (0.9, 0.999)
    d_lr: float = 5e-5
    d_betas: tuple[float, float] = (0.9, 0.999)


class TecoGAN(AdversarialModule):
    """TecoGAN / FRVSR 4x video super-resolution (frame-recurrent generator, spatio-temporal discriminator).

    ``forward(lr)`` maps LR clips (N, T, 3, h, w) in [0, 1] to HR clips (N, T, 3, 4h, 4w); ``predict`` takes a
    video file, a frame folder, uint8 frames (T, H, W, 3) or a float tensor (T, 3, H, W) and returns uint8
    frames (T, 4H, 4W, 3) (a tensor for tensor input); ``predict_to_file(src, "out.mp4")`` streams a video to
    a video with memory that does not depend on its length.

    Example:
        >>> model = zoo.load("tecogan")
        >>> model.predict_to_file("clip.mp4", "out.mp4")
    """

    config_class = TecoGANConfig

    def __init__(self, config: TecoGANConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.stage not in STAGES:
            raise ValueError(f"stage: expected one of {STAGES}, received {cfg.stage!r}")
        self.net = self._generator()
        if cfg.stage == "tecogan":
            self.discriminators["st"] = SpatioTemporalDiscriminator(3, cfg.d_spatial_size)
        self.setup_ema()

    def _generator(self) -> FRNet:
        cfg = self.config
        return FRNet(3, cfg.nf, cfg.nb, cfg.degradation, cfg.scale, cfg.fnet_width, cfg.fused_ops, cfg.conventions)

    def use_conventions(self, conventions: str) -> None:
        """Rebuild the generator with ``conventions`` (``"port"`` or ``"tf"``); its weights are reset."""
        self.config = dataclasses.replace(self.config, conventions=conventions)
        self.net = self._generator().to(self.device)
        self.setup_ema()

    # ---------------------------------------------------------------- inference
    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """Three-frame LR clips (N, 3, 3, 16, 16)."""
        return torch.rand(batch_size, 3, 3, 16, 16, generator=torch.Generator().manual_seed(0)).to(self.device)

    def example_predict_input(self) -> torch.Tensor:
        """One three-frame LR clip (T, 3, H, W) in [0, 1], as ``predict`` takes it."""
        return self.example_input(1)[0]

    def example_calls(self, batch_size: int = 1) -> list[tuple[tuple, dict[str, Any]]]:
        """One frame continuing a stream (``lr``, ``lr_prev``, ``hr_prev``): it reaches SRNet and, through the warp,
        FNet, without the frame-to-frame growth that large random test weights give a longer recurrence at 16 blocks."""
        g = torch.Generator().manual_seed(0)
        lr, lr_prev = (torch.rand(batch_size, 3, 16, 16, generator=g).to(self.device) for _ in range(2))
        hr_prev = torch.rand(batch_size, 3, 16 * self.config.scale, 16 * self.config.scale, generator=g).to(self.device)
        return [((lr[:, None], lr_prev, hr_prev), {})]

    def _frames(self, x: Any) -> tuple[Iterable[torch.Tensor], dict[str, Any]]:
        """User input -> an iterable of LR frames (1, 3, h, w) in [0, 1] and an output context (``kind``, and ``frames``
        when the count is known before decoding)."""
        from zoo.data.video import VIDEO_SUFFIXES, iter_video, read_frame_folder

        if isinstance(x, (str, Path)):
            path = Path(x)
            if path.is_dir():
                return self._frames(read_frame_folder(path))
            if path.suffix.lower() not in VIDEO_SUFFIXES:
                raise ValueError(f"video: expected a video file ({', '.join(VIDEO_SUFFIXES)}) or a frame folder, received {str(x)!r}")
            checks.check_path(path, "video")
            frames = (self._check_frame(torch.from_numpy(f.copy()).permute(2, 0, 1).float() / 255.0) for f in iter_video(path))
            return frames, {"kind": "numpy"}
        if isinstance(x, np.ndarray):
            if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
                raise ValueError(f"frames: expected a uint8 array of shape (T, H, W, 3), received {checks.describe(x)}")
            checks.check_not_empty(x, "frames")
            self._check_frame_size(*x.shape[1:3])
            t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
            return (self._check_frame(f.float() / 255.0) for f in t), {"kind": "numpy", "frames": len(t)}
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"video: expected a file path, frame folder, uint8 array or tensor, received {checks.describe(x)}")
        checks.check_shape(x, ["T", "3", "H", "W"], "frames")
        checks.check_floating(x, "frames")
        checks.check_not_empty(x, "frames")
        self._check_frame_size(*x.shape[-2:])
        checks.check_finite(x, "frames")
        checks.check_range(x, 0.0, 1.0, "frames")
        return (self._check_frame(f) for f in x), {"kind": "tensor", "frames": len(x)}

    @staticmethod
    def _check_frame_size(h: int, w: int) -> None:
        if min(h, w) < MIN_SIDE or h * w > MAX_FRAME_PIXELS:
            raise ValueError(
                f"frames: expected LR frames with sides of at least {MIN_SIDE} and at most {MAX_FRAME_PIXELS:,} pixels, received {h}x{w}"
            )

    @classmethod
    def _check_frame(cls, frame: torch.Tensor) -> torch.Tensor:
        """A (3, h, w) frame -> (1, 3, h, w), after checking that its size is in range."""
        cls._check_frame_size(*frame.shape[-2:])
        return frame[None]

    def step(self, lr_curr: torch.Tensor, lr_prev: torch.Tensor, hr_prev: torch.Tensor) -> torch.Tensor:
        """One recurrent step of the inference generator (see :meth:`FRNet.step`), on LR tiles of ``config.tile`` pixels
        (:data:`DEFAULT_TILE` when it is 0) with ``config.tile_overlap`` pixels of context when the frame is larger."""
        net, tile, s = self.inference_net, self.config.tile or DEFAULT_TILE, self.config.scale
        h, w = lr_curr.shape[-2:]
        if h <= tile and w <= tile:
            return net.step(lr_curr, lr_prev, hr_prev)
        pad = self.config.tile_overlap
        out = hr_prev.new_empty(hr_prev.shape)
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                ya, xa, yb, xb = max(y0 - pad, 0), max(x0 - pad, 0), min(y1 + pad, h), min(x1 + pad, w)
                hr = net.step(lr_curr[..., ya:yb, xa:xb], lr_prev[..., ya:yb, xa:xb], hr_prev[..., ya * s : yb * s, xa * s : xb * s])
                out[..., y0 * s : y1 * s, x0 * s : x1 * s] = hr[..., (y0 - ya) * s : (y1 - ya) * s, (x0 - xa) * s : (x1 - xa) * s]
        return out

    def stream(self, x: Any) -> Iterator[torch.Tensor]:
        """Upscale frame by frame; only the previous LR and HR frames are kept.

        Args:
            x: a video file, frame folder, uint8 frames (T, H, W, 3) or float frames (T, 3, H, W) in [0, 1].

        Yields:
            HR frames (3, 4H, 4W), float, clamped to [0, 1], on the model's device.
        """
        return self._stream(self._frames(x)[0])

    @torch.no_grad()
    def _stream(self, frames: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        was_training = self.training
        self.eval()
        param = next(self.inference_net.parameters())
        lr_prev = hr_prev = None
        try:
            for lr in frames:
                lr = lr.to(device=param.device, dtype=param.dtype)
                if lr_prev is None or lr_prev.shape != lr.shape:
                    lr_prev = torch.zeros_like(lr)
                    hr_prev = lr.new_zeros(1, 3, lr.shape[-2] * self.config.scale, lr.shape[-1] * self.config.scale)
                hr_prev = self.step(lr, lr_prev, hr_prev)
                lr_prev = lr
                yield hr_prev[0].clamp(0, 1)
        finally:
            self.train(was_training)

    def prepare_input(self, x: Any) -> tuple[Any, dict[str, Any]]:
        """Validate ``x`` (see :meth:`stream`) -> an iterable of LR frames and the output context."""
        return self._frames(x)

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> Any:
        """HR frames (T, 3, H, W) -> the same for tensor input, else uint8 (T, H, W, 3)."""
        if context["kind"] == "tensor":
            return y
        return (y.permute(0, 2, 3, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()

    def predict(self, x: Any) -> Any:
        """Upscale a clip: see the class docstring. The frames are generated by :meth:`stream`; each is stored as the
        output's kind (uint8 for files and arrays) as it comes, in an output allocated once when the frame count is known.

        Raises:
            ValueError: bad input (see :meth:`stream`), or a video with no frame, naming what was expected and what was received.
        """
        frames, context = self._frames(x)
        count, out, collected = context.get("frames"), None, []
        for i, hr in enumerate(self._stream(frames)):
            frame = self.postprocess(hr[None], context)[0]
            if count is None:  # a video file: its length is known once decoded
                collected.append(frame)
                continue
            if out is None:
                out = frame.new_empty(count, *frame.shape) if isinstance(frame, torch.Tensor) else np.empty((count, *frame.shape), frame.dtype)
            out[i] = frame
        if count is not None:
            return out
        if not collected:
            raise ValueError(f"video: expected at least one frame, received none from {str(x)!r}")
        return np.stack(collected)

    def predict_to_file(self, x: Any, output: str | Path) -> Path:
        """Upscale ``x`` (see :meth:`stream`) into the video file ``output`` (H.264), streaming frame by frame."""
        from zoo.core.progress import progress
        from zoo.data.video import video_fps, write_video

        fps = video_fps(x) if isinstance(x, (str, Path)) and Path(x).is_file() else 25.0
        frames = (self.postprocess(f[None], {"kind": "numpy"})[0] for f in self.stream(x))
        frames = progress(frames, f"{type(self).__name__} x{self.config.scale}", unit="frame")  # a bar on a terminal only
        if write_video(output, frames, fps) == 0:
            raise ValueError(f"video: expected at least one frame, received none from {str(x) if isinstance(x, (str, Path)) else checks.describe(x)!r}")
        return Path(output)

    def bench_cases(self, batch_size: int | None, size: int | None) -> list:
        """Op rows of ``zoo bench`` (the step itself is the paths row, ``reference.py``): the warp chain and one
        residual block eager vs their compiled twins, on ``batch_size`` (default 1) frames of 180x144 -> 720x576."""
        from zoo.bench import BenchCase
        from zoo.ops.warp import residual_block, residual_block_fused, warp_space_to_depth_cat, warp_space_to_depth_cat_fused

        net, s, n = self.inference_net, self.config.scale, batch_size or 1
        g = torch.Generator().manual_seed(0)
        lr = torch.rand(n, 3, 144, 180, generator=g).to(self.device)
        hr_prev = F.interpolate(torch.roll(lr, 1, dims=-1), scale_factor=s, mode="bilinear")
        hr_flow = torch.randn(n, 2, 144 * s, 180 * s, generator=g).to(self.device)
        block = net.srnet.resblocks[0].conv
        feat = torch.rand(n, self.config.nf, 144, 180, generator=g).to(self.device)
        wb = (block[0].weight, block[0].bias, block[2].weight, block[2].bias)
        return [
            BenchCase("warp + space-to-depth + concat (op)", "eager", "compiled twin", lambda: warp_space_to_depth_cat(lr, hr_prev, hr_flow, s), lambda: warp_space_to_depth_cat_fused(lr, hr_prev, hr_flow, s), items=n),
            BenchCase(f"residual block (op, {self.config.nf} ch at LR)", "eager", "compiled twin", lambda: residual_block(feat, *wb), lambda: residual_block_fused(feat, *wb), items=n),
        ]

    # ----------------------------------------------------------------- training
    def on_fit_start(self) -> None:
        if self.config.init_weights and int(self.generator_steps) == 0:
            self.load_net_state(load_file(self.config.init_weights))

    def discriminators_active(self) -> bool:
        return self.config.stage == "tecogan"

    def _vgg(self) -> VGG19Taps:
        if "_vgg_features" not in self.__dict__:  # not a submodule: never saved, built on first use
            cfg = self.config
            self.__dict__["_vgg_features"] = VGG19Taps(tuple(cfg.feature_layers), cfg.vgg_weights, cfg.feature_seed).to(self.device)
        return self.__dict__["_vgg_features"]

    def _sequence(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = batch["lr"], batch["hr"]
        checks.check_shape(lr, ["N", "T", "3", "h", "w"], "batch['lr']")
        if hr.shape[-2:] != (lr.shape[-2] * self.config.scale, lr.shape[-1] * self.config.scale):
            raise ValueError(f"batch['hr']: expected {self.config.scale}x the LR size {tuple(lr.shape[-2:])}, received {tuple(hr.shape[-2:])}")
        if self.config.pingpong and self.config.stage == "tecogan":
            lr, hr = torch.cat([lr, lr.flip(1)[:, 1:]], 1), torch.cat([hr, hr.flip(1)[:, 1:]], 1)
        return lr, hr

    def _d_flows(self, lr: torch.Tensor, hr_flow: torch.Tensor) -> torch.Tensor:
        """Per triplet, the HR flows warping frames 0, 1, 2 onto frame 1 (detached). Shape: (N*K*3, 2, H, W)."""
        n, t = lr.shape[:2]
        t3 = t // 3 * 3
        backward = hr_flow[:, 0:t3:3]
        if self.config.pingpong:
            forward = hr_flow.flip(1)[:, 1:t3:3]  # the reversed half already holds FNet(frame 1, frame 2)
        else:
            c, h, w = lr.shape[2:]
            with torch.no_grad():
                flow = self.net.lr_flow(lr[:, 1:t3:3].reshape(-1, c, h, w), lr[:, 2:t3:3].reshape(-1, c, h, w))
                forward = self.net.hr_flow(flow).view(n, t3 // 3, 2, *hr_flow.shape[-2:])
        merged = torch.stack([backward, torch.zeros_like(backward), forward], dim=2)
        return merged.reshape(-1, 2, *hr_flow.shape[-2:]).detach()

    def _d_inputs(self, frames: torch.Tensor) -> torch.Tensor:
        t3 = frames.shape[1] // 3 * 3
        return triplet_input(frames[:, :t3], self._bicubic[:, :t3], self._flows, self.config.crop_border_ratio)

    def generator_step_terms(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        cfg = self.config
        lr, hr = self._sequence(batch)
        n, t, c, h, w = lr.shape
        fake, lr_flow, hr_flow = self.net(lr, return_flows=True)
        flat_fake, flat_real = fake.reshape(n * t, c, *hr.shape[-2:]), hr.reshape(n * t, c, *hr.shape[-2:])
        lr_prev, lr_curr = lr[:, :-1].reshape(-1, c, h, w), lr[:, 1:].reshape(-1, c, h, w)
        terms = {
            "pixel": charbonnier(fake, hr),
            "warp": charbonnier(backward_warp(lr_prev, lr_flow.reshape(-1, 2, h, w)), lr_curr),
        }
        weights = {"pixel": cfg.w_pixel, "warp": cfg.w_warp}
        self._fake, self._real = fake, hr
        if cfg.stage == "frvsr":
            return terms, weights
        if cfg.w_feature > 0:
            terms["feature"] = cosine_feature_loss(self._vgg()(flat_fake), [f.detach() for f in self._vgg()(flat_real)])
            weights["feature"] = cfg.w_feature
        if cfg.pingpong:
            half = (t + 1) // 2
            terms["pingpong"] = charbonnier(fake[:, : half - 1], fake[:, half:].flip(1))
            weights["pingpong"] = cfg.w_pingpong
        self._bicubic = self.net.upsample_func(lr.reshape(n * t, c, h, w)).view_as(fake).detach()
        self._flows = self._d_flows(lr, hr_flow)
        disc = self.discriminators["st"]
        fake_logits, fake_features = disc(self._d_inputs(fake))
        terms["adversarial"] = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        weights["adversarial"] = cfg.w_adversarial
        if cfg.w_feature_matching > 0:
            with torch.no_grad():
                _, real_features = disc(self._d_inputs(hr))
            terms["feature_matching"] = feature_matching_loss(fake_features, real_features)
            weights["feature_matching"] = cfg.w_feature_matching
        return terms, weights

    def discriminator_loss(self, name: str, batch: Any) -> dict[str, torch.Tensor]:
        disc = self.discriminators[name]
        real_logits, _ = disc(self._d_inputs(self._real))
        fake_logits, _ = disc(self._d_inputs(self._fake.detach()))
        with torch.no_grad():
            distance = F.logsigmoid(real_logits).mean() - F.logsigmoid(fake_logits).mean()
        self._d_distance = float(distance)
        self.log(f"d/{name}/distance", distance, on_step=True, on_epoch=True, sync_dist=True)
        return {
            "real": F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)),
            "fake": F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)),
        }

    def discriminator_should_step(self, name: str, terms: dict[str, torch.Tensor]) -> bool:
        """Adaptive D updates: step only while D's log-likelihood gap is below ``d_update_threshold``."""
        update = self._d_distance < self.config.d_update_threshold
        self.log(f"d/{name}/updated", float(update), on_step=True, on_epoch=True, sync_dist=True)
        return update
