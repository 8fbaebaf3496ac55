"""BVTON: high-fidelity virtual try-on with large-scale unpaired learning (Yang, Zang, Liu, arXiv 2411.01593).

Three stages, each trained by its own recipe from the previous stage's weights (``config.stage``)::

    zoo train recipes/bvton_tiny/stage1_tiny.yaml   # canonicalizing flow (+ the paired forward warp of the cycle)
    zoo train recipes/bvton_tiny/stage2_tiny.yaml   # layered condition generator, on canonical proxies
    zoo train recipes/bvton_tiny/tiny.yaml          # unpaired SPADE synthesizer on random-misalignment pseudo pairs

``stage="canonical"``: per-part flows warp the on-model garment into the in-shop frame; L1 + VGG on the composed proxy
and L1 on its mask against the visible in-shop garment, TV on the flows (paired samples); the forward warp (the
condition generator's flow, HR-VITON's losses: 10 L1 mask, VGG, 2 TV) learns in-shop -> on-model on the paired
samples, and unpaired samples train the canonicalizer through it (its weights held): proxy -> forward warp -> the
person's garment (L1 + VGG). ``stage="layout"``: HR-VITON's condition-generator losses (10 CE, 10 L1 on the
occlusion-removed warped mask, VGG, 2 TV, LSGAN with a multi-scale D), with canonical proxies as the garment when
``use_proxy``. ``stage="synthesizer"``: hinge GAN + 10 feature matching + 10 VGG (HR-VITON's image generator), the
garment being the person's own after a random affine / sine-bend misalignment when ``pseudo_pairs`` (else the
in-shop garment warped by the trained condition generator: the paired-only baseline).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from zoo.core import checks
from zoo.core.adversarial import AdversarialConfig, AdversarialModule
from zoo.losses.adversarial import hinge_discriminator_loss, hinge_generator_loss, least_squares_loss, multiscale_feature_matching
from zoo.losses.perceptual import weighted_feature_l1
from zoo.models.bvton.conditioning import UPPER, one_hot, person_conditions, random_misalign
from zoo.models.bvton.layout import remove_overlap
from zoo.models.bvton.model import OCCLUDERS, BVTONNet
from zoo.nets.frozen import VGG19Taps
from zoo.nets.multiscale import MultiscaleDiscriminator
from zoo.ops.warp import backward_warp

STAGES = ("canonical", "layout", "synthesizer")
MAX_PIXELS = 2**24
"""The most values ``predict`` takes in one image (e.g. 3 x 2048 x 2048)."""
MIN_SIDE = 16


@dataclasses.dataclass
class BVTONConfig(AdversarialConfig):
    """Configuration of :class:`BVTON` (defaults: the paper's 1024 x 768 setting; values no code confirms are inferred
    from the anchors, see ``recipes/bvton_tiny/paper.yaml``).

    Args:
        image_size: ``(H, W)`` that ``predict`` resizes to.
        flow_width, flow_levels: each part's canonicalizing flow (GP-VTON-like pyramid).
        layout_width, layout_levels: the condition generator (HR-VITON: ngf 96).
        synth_width, synth_levels, spade_hidden, spectral: the SPADE generator (HR-VITON: ngf 64, spectral instance norm).
        stage: the stage that trains (``"canonical"``, ``"layout"`` or ``"synthesizer"``).
        use_proxy: stage 2 reads canonical proxies made by stage 1 instead of in-shop garments.
        pseudo_pairs: stage 3 trains on random-misalignment pseudo pairs (False: on the stage-2-warped in-shop garment).
        w_l1, w_vgg, w_mask, w_tv, w_cycle: stage 1 weights (proxy L1, VGG, mask L1, flow TV, unpaired cycle).
        w_warp_mask, w_warp_vgg, w_warp_tv: the forward warp's weights (stages 1 and 2, HR-VITON: 10, 1, 2).
        w_ce, w_layout_gan: stage 2's cross-entropy and LSGAN weights (HR-VITON: 10, 1).
        w_gan, w_fm, w_synth_vgg: stage 3's hinge GAN, feature matching and VGG weights (HR-VITON: 1, 10, 10).
        misalign_rotate, misalign_scale, misalign_shift, misalign_bend: stage 3's jitter (degrees, fractions).
        d_filters, d_layers, d_scales: the multi-scale PatchGAN discriminators.
        vgg_layers, vgg_layer_weights: VGG-19 taps (``features`` indices) and weights of the perceptual losses.
        vgg_weights: a local torchvision VGG-19 state_dict; None: frozen random init (seed 0).
        init_weights: a ``model.safetensors`` of this network loaded when training starts (the previous stage).
        seed: seed of the per-step misalignment draws.
    """

    image_size: tuple[int, int] = (1024, 768)
    flow_width: int = 32
    flow_levels: int = 6
    layout_width: int = 96
    layout_levels: int = 5
    synth_width: int = 64
    synth_levels: int = 6
    spade_hidden: int = 128
    spectral: bool = True
    stage: str = "synthesizer"
    use_proxy: bool = True
    pseudo_pairs: bool = True
    w_l1: float = 1.0
    w_vgg: float = 1.0
    w_mask: float = 10.0
    w_tv: float = 2.0
    w_cycle: float = 1.0
    w_warp_mask: float = 10.0
    w_warp_vgg: float = 1.0
    w_warp_tv: float = 2.0
    w_ce: float = 10.0
    w_layout_gan: float = 1.0
    w_gan: float = 1.0
    w_fm: float = 10.0
    w_synth_vgg: float = 10.0
    misalign_rotate: float = 8.0
    misalign_scale: float = 0.1
    misalign_shift: float = 0.08
    misalign_bend: float = 0.03
    d_filters: int = 64
    d_layers: int = 3
    d_scales: int = 2
    vgg_layers: tuple[int, ...] = (1, 6, 11, 20, 29)
    vgg_layer_weights: tuple[float, ...] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
    vgg_weights: str | None = None
    init_weights: str | None = None
    seed: int = 0
    g_lr: float = 1e-4
    g_betas: tuple[float, float] = (0.0, 0.9)
    d_lr: float = 4e-4
    d_betas: tuple[float, float] = (0.0, 0.9)


def _masked_l1(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean |a - b| per sample, averaged with per-sample ``weight`` (N,) (zero when every weight is)."""
    per = (a - b).abs().flatten(1).mean(1)
    return (per * weight).sum() / weight.sum().clamp_min(1.0)


def _tv(flow: torch.Tensor) -> torch.Tensor:
    """Mean absolute flow gradient (HR-VITON's TV loss on flows); a stack of part flows (N, P, 2, H, W) is flattened."""
    return kornia.losses.total_variation(flow.flatten(0, flow.ndim - 4), reduction="mean").mean()


class BVTON(AdversarialModule):
    """BVTON virtual try-on: ``predict(person, garment, parsing=..., pose=...)`` -> the person wearing the garment.

    ``forward(garment, garment_mask, agnostic, parse_agnostic, pose)`` is the try-on on tensors (stages 2 and 3);
    ``forward(..., entry="canonicalize")`` with ``(garment, parts, pose)`` is stage 1 and returns the proxy.

    Example:
        >>> model = zoo.load("bvton_tiny")
        >>> out = model.predict(person="doll.npz", garment="shirt.png")   # the .npz bundles person, parsing, keypoints
    """

    config_class = BVTONConfig
    progress_metrics = ("ssim",)

    def __init__(self, config: BVTONConfig | dict | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        if cfg.stage not in STAGES:
            raise ValueError(f"stage: expected one of {STAGES}, received {cfg.stage!r}")
        if len(cfg.vgg_layers) != len(cfg.vgg_layer_weights):
            raise ValueError(f"vgg_layer_weights: expected one weight per VGG layer ({len(cfg.vgg_layers)}), received {len(cfg.vgg_layer_weights)}")
        self.net = BVTONNet(cfg.flow_width, cfg.flow_levels, cfg.layout_width, cfg.layout_levels, cfg.synth_width, cfg.synth_levels, cfg.spade_hidden, cfg.spectral)
        if cfg.stage == "layout":
            self.discriminators["layout"] = MultiscaleDiscriminator(8 + 8 + 18, cfg.d_filters, cfg.d_layers, cfg.d_scales)
        elif cfg.stage == "synthesizer":
            self.discriminators["image"] = MultiscaleDiscriminator(8 + 3, cfg.d_filters, cfg.d_layers, cfg.d_scales, spectral_norm=True)
        self.setup_ema()

    # ------------------------------------------------------------------------------------------------ tensors
    @property
    def multiple(self) -> int:
        """H and W must be multiples of this (the deepest pyramid)."""
        cfg = self.config
        return 2 ** max(cfg.flow_levels - 1, cfg.layout_levels - 1, cfg.synth_levels)

    def example_size(self) -> tuple[int, int]:
        """A small valid ``(H, W)`` for the example inputs: 64 x 48 for the tiny preset, larger for deep pyramids."""
        m = self.multiple
        return -(-64 // m) * m, -(-48 // m) * m

    def example_input(self, batch_size: int = 1) -> tuple[torch.Tensor, ...]:
        """Random try-on inputs ``(garment, garment_mask, agnostic, parse_agnostic, pose)`` at :meth:`example_size`."""
        g = torch.Generator().manual_seed(0)
        h, w = self.example_size()
        parsing = torch.randint(0, 8, (batch_size, h, w), generator=g)
        keypoints = torch.rand(batch_size, 18, 3, generator=g) * torch.tensor([w, h, 1.0])
        cond = person_conditions(torch.rand(batch_size, 3, h, w, generator=g), parsing, keypoints.round())
        garment_mask = (torch.rand(batch_size, 1, h, w, generator=g) > 0.3).float()
        garment = torch.rand(batch_size, 3, h, w, generator=g) * garment_mask + (1 - garment_mask)
        return tuple(t.to(self.device) for t in (garment, garment_mask, cond["agnostic"], cond["parse_agnostic"], cond["pose"]))

    def example_calls(self, batch_size: int = 1) -> list[tuple[tuple, dict[str, Any]]]:
        """The try-on (stages 2 and 3) and the canonicalization (stage 1): together they reach every parameter."""
        garment, mask, agnostic, parse_agnostic, pose = self.example_input(batch_size)
        parts = torch.cat([mask * (parse_agnostic[:, :1] > 0.5), mask * (parse_agnostic[:, :1] <= 0.5), 1 - mask], 1)
        return [((garment, mask, agnostic, parse_agnostic, pose), {}), ((garment, parts, pose), {"entry": "canonicalize"})]

    def forward(self, *inputs: torch.Tensor, entry: str = "tryon") -> torch.Tensor:
        net = self.net if self.training else self.inference_net
        if entry == "canonicalize":
            return net.canonicalize(*inputs)["proxy"]
        if entry != "tryon":
            raise ValueError(f"entry: expected 'tryon' or 'canonicalize', received {entry!r}")
        return net(*inputs)

    # ------------------------------------------------------------------------------------------- predict
    def example_predict_input(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(person, garment, parsing, keypoints)`` of a paper doll at :meth:`example_size`: (3, H, W), (3, H, W),
        (H, W) int64, (18, 3)."""
        from zoo.data.tryon import render_doll

        d = render_doll(200_000, 200_001, size=self.example_size())
        own = render_doll(200_001, size=self.example_size())
        return (torch.from_numpy(d["person"]).permute(2, 0, 1).contiguous(), torch.from_numpy(own["garment"]).permute(2, 0, 1).contiguous(),
                torch.from_numpy(d["parsing"]), torch.from_numpy(d["keypoints"]))

    def example_cli_args(self, folder: Path) -> tuple[list[str], str]:
        """``--person doll.npz --garment garment.png`` of a paper doll written into ``folder`` (the doll's image,
        parsing and keypoints bundled as the synthetic samples are saved), and a ``.png`` output."""
        import numpy as np
        from PIL import Image

        from zoo.data.tryon import render_doll

        doll, other = render_doll(9, size=self.example_size()), render_doll(10, size=self.example_size())
        np.savez(Path(folder) / "doll.npz", person=doll["person"], parsing=doll["parsing"], keypoints=doll["keypoints"])
        Image.fromarray((other["garment"] * 255).astype(np.uint8)).save(Path(folder) / "garment.png")
        return ["--person", str(Path(folder) / "doll.npz"), "--garment", str(Path(folder) / "garment.png")], ".png"

    @torch.no_grad()
    def predict(self, person: Any = None, garment: Any = None, parsing: Any = None, pose: Any = None, garment_mask: Any = None) -> Any:
        """Dress ``person`` in ``garment``.

        Args:
            person: the person image: a file path, PIL image, (H, W, 3) uint8 or float array, or (3, H, W) / (N, 3, H, W)
                float tensor in [0, 1]; or an ``.npz`` path bundling ``person`` (H, W, 3), ``parsing`` (H, W) and
                ``keypoints`` (18, 3) (and optionally ``garment``), as the paper-doll samples are saved; or a tuple
                ``(person, garment, parsing, pose)``.
            garment: the in-shop garment on a white background (path, PIL image, array or tensor, any size).
            parsing: the person's layout: an (H, W) integer array / tensor in ``zoo.data.tryon.TRYON_CLASSES``
                (0..7), or the path of a VITON-HD ``image-parse-v3`` PNG (CIHP labels, mapped).
            pose: the person's OpenPose-18 keypoints: an (18, 3) or (18, 2) array / tensor in the person's pixels, an
                ``.npy`` of it, or the path of an OpenPose ``*_keypoints.json``.
            garment_mask: the garment's mask (same forms as an image, one channel); default: the non-white pixels.

        Returns:
            The try-on at ``config.image_size``: a (3, H, W) float tensor (batched: (N, 3, H, W)) for tensor input, else
            a uint8 array (H, W, 3).

        Raises:
            ValueError: a missing person, garment, parsing or pose (naming which, and how to supply it); a bad size,
                channel count, dtype, NaN / Inf or out-of-range value.
        """
        from zoo.models.bvton.inputs import gather_inputs

        fields, as_tensor, batched = gather_inputs(person, garment, parsing, pose, garment_mask, self.config.image_size, MAX_PIXELS, MIN_SIDE)
        param = next(self.inference_net.parameters())
        fields = {k: v.to(param.device, param.dtype if v.is_floating_point() else v.dtype) for k, v in fields.items()}
        cond = person_conditions(fields["person"], fields["parsing"], fields["keypoints"])
        was_training = self.training
        self.eval()
        try:
            image = self.inference_net(fields["garment"], fields["garment_mask"], cond["agnostic"], cond["parse_agnostic"], cond["pose"]).clamp(0, 1)
        finally:
            self.train(was_training)
        if as_tensor:
            return image if batched else image[0]
        return (image[0].permute(1, 2, 0).float().cpu().numpy() * 255 + 0.5).astype(np.uint8)

    # ---------------------------------------------------------------------------------------------- training
    def stage_modules(self) -> list[nn.Module]:
        """The networks the configured stage trains."""
        net = self.net
        return {"canonical": [net.canonicalizer, net.layout], "layout": [net.layout], "synthesizer": [net.synthesizer]}[self.config.stage]

    def configure_optimizers(self):
        cfg = self.config
        params = [p for m in self.stage_modules() for p in m.parameters()]
        opts = [torch.optim.Adam(params, lr=cfg.g_lr, betas=tuple(cfg.g_betas))]
        opts += [torch.optim.Adam(d.parameters(), lr=cfg.d_lr, betas=tuple(cfg.d_betas)) for d in self.discriminators.values()]
        return opts

    def on_fit_start(self) -> None:
        if self.config.init_weights and int(self.generator_steps) == 0:
            self.load_net_state(load_file(self.config.init_weights))
        trained = {id(p) for m in self.stage_modules() for p in m.parameters()}
        for p in self.net.parameters():
            p.requires_grad_(id(p) in trained)

    def _vgg(self) -> VGG19Taps:
        if "_vgg_features" not in self.__dict__:  # not a submodule: never saved, built on first use
            cfg = self.config
            self.__dict__["_vgg_features"] = VGG19Taps(tuple(cfg.vgg_layers), cfg.vgg_weights, 0).to(self.device)
        return self.__dict__["_vgg_features"]

    def vgg_loss(self, generated: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """pix2pixHD's weighted VGG-19 L1 (:func:`zoo.losses.perceptual.weighted_feature_l1`)."""
        return weighted_feature_l1(self._vgg(), generated, reference, tuple(self.config.vgg_layer_weights))

    def _inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        person, parsing = batch["person"], batch["parsing"]
        checks.check_shape(person, ["N", "3", "H", "W"], "batch['person']")
        checks.check_divisible(person, self.multiple, "batch['person']")
        cond = person_conditions(person, parsing, batch["keypoints"])
        upper = (parsing == UPPER)[:, None].float()
        occluded = one_hot(parsing)[:, list(OCCLUDERS)].sum(1, keepdim=True)
        return cond | {"upper": upper, "occluded": occluded, "person_garment": person * upper}

    def _forward_warp_terms(self, garment, mask, x, weights: torch.Tensor, params: dict | None = None) -> dict[str, torch.Tensor]:
        """The forward warp's losses (HR-VITON's, against the person's parsing): L1 of the warped mask outside the
        occluders, VGG and L1 of the warped garment on the garment region, TV of the flow; per-sample ``weights``."""
        layout = self.net.layout
        if params is None:
            flow, _ = layout(garment, mask, x["parse_agnostic"], x["pose"])
        else:
            flow, _ = torch.func.functional_call(layout, params, (garment, mask, x["parse_agnostic"], x["pose"]))
        warped, warped_mask = backward_warp(garment, flow), backward_warp(mask, flow)
        keep = weights > 0
        terms = {
            "mask": _masked_l1(warped_mask * (1 - x["occluded"]), x["upper"], weights),
            "l1": _masked_l1(warped * x["upper"], x["person_garment"], weights),
            "tv": _tv(flow),
        }
        terms["vgg"] = self.vgg_loss((warped * x["upper"])[keep], x["person_garment"][keep]) if keep.any() else warped.sum() * 0
        return terms

    def generator_step_terms(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        return {"canonical": self._canonical_terms, "layout": self._layout_terms, "synthesizer": self._synthesizer_terms}[self.config.stage](batch)

    def _canonical_terms(self, batch):
        cfg, x = self.config, self._inputs(batch)
        paired = batch["paired"].float()
        out = self.net.canonicalize(x["person_garment"], batch["onmodel_parts"], x["pose"])
        visible = batch["garment_visible"]
        target = batch["garment"] * visible + (1 - visible)
        terms = {"l1": _masked_l1(out["proxy"], target, paired), "mask": _masked_l1(out["proxy_mask"], visible, paired), "tv": _tv(out["flows"])}
        keep = paired > 0
        terms["vgg"] = self.vgg_loss(out["proxy"][keep], target[keep]) if keep.any() else out["proxy"].sum() * 0
        weights = {"l1": cfg.w_l1, "mask": cfg.w_mask, "tv": cfg.w_tv, "vgg": cfg.w_vgg}
        for name, value in self._forward_warp_terms(batch["garment"], batch["garment_mask"], x, paired).items():
            terms[f"warp_{name}"] = value
        weights.update({"warp_mask": cfg.w_warp_mask, "warp_l1": 1.0, "warp_tv": cfg.w_warp_tv, "warp_vgg": cfg.w_warp_vgg})
        if cfg.w_cycle > 0 and bool((paired < 1).any()):
            held = {k: v.detach() for k, v in self.net.layout.named_parameters()}  # the cycle trains the canonicalizer only
            cycle = self._forward_warp_terms(out["proxy"], out["proxy_mask"], x, 1 - paired, held)
            terms["cycle"] = cycle["l1"] + cycle["vgg"] + cycle["mask"]
            weights["cycle"] = cfg.w_cycle
        self._fake = out["proxy"]
        return terms, weights

    def _layout_garment(self, batch, x) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.config.use_proxy:
            return batch["garment"], batch["garment_mask"]
        with torch.no_grad():
            out = self.net.canonicalize(x["person_garment"], batch["onmodel_parts"], x["pose"])
        return out["proxy"], (out["proxy_mask"] > 0.5).float()

    def _layout_terms(self, batch):
        cfg, x = self.config, self._inputs(batch)
        garment, mask = self._layout_garment(batch, x)
        flow, logits = self.net.layout(garment, mask, x["parse_agnostic"], x["pose"])
        seg = logits.softmax(1)
        warped_mask = remove_overlap(seg, backward_warp(mask, flow), OCCLUDERS)
        warped = backward_warp(garment, flow)
        context = torch.cat([x["parse_agnostic"], x["pose"]], 1)
        self._fake, self._real = torch.cat([seg, context], 1), torch.cat([one_hot(batch["parsing"]), context], 1)
        gan = sum(least_squares_loss(scale[-1], 1.0) for scale in self.discriminators["layout"](self._fake))
        terms = {
            "ce": F.cross_entropy(logits, batch["parsing"]), "mask": F.l1_loss(warped_mask, x["upper"]),
            "vgg": self.vgg_loss(warped * x["upper"], x["person_garment"]), "tv": _tv(flow), "gan": gan,
        }
        return terms, {"ce": cfg.w_ce, "mask": cfg.w_warp_mask, "vgg": cfg.w_warp_vgg, "tv": cfg.w_warp_tv, "gan": cfg.w_layout_gan}

    def _synthesizer_inputs(self, batch, x) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Stage 3's garment, its mask and the layout: a pseudo pair, or the stage-2 try-on condition."""
        cfg = self.config
        if cfg.pseudo_pairs:
            g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + int(self.generator_steps))
            garment, mask = random_misalign(x["person_garment"], x["upper"], g, cfg.misalign_rotate, cfg.misalign_scale, cfg.misalign_shift, cfg.misalign_bend)
            return garment, mask, one_hot(batch["parsing"])
        with torch.no_grad():
            cond = self.net.condition(batch["garment"], batch["garment_mask"], x["parse_agnostic"], x["pose"])
        return cond["warped"], cond["warped_mask"], cond["layout"]

    def _synthesizer_terms(self, batch):
        cfg, x = self.config, self._inputs(batch)
        garment, mask, layout = self._synthesizer_inputs(batch, x)
        image = self.net.synthesize(x["agnostic"], x["pose"], garment, mask, layout)
        disc = self.discriminators["image"]
        self._fake, self._real = torch.cat([layout, image], 1), torch.cat([layout, batch["person"]], 1)
        fake = disc(self._fake)
        with torch.no_grad():
            real = disc(self._real)
        terms = {
            "gan": sum(hinge_generator_loss(scale[-1]) for scale in fake) / len(fake),
            "fm": multiscale_feature_matching(fake, real),
            "vgg": self.vgg_loss(image, batch["person"]),
        }
        return terms, {"gan": cfg.w_gan, "fm": cfg.w_fm, "vgg": cfg.w_synth_vgg}

    def discriminator_loss(self, name: str, batch: Any) -> dict[str, torch.Tensor]:
        disc = self.discriminators[name]
        real, fake = disc(self._real.detach()), disc(self._fake.detach())
        if name == "layout":
            return {"adv": sum(0.5 * (least_squares_loss(r[-1], 1.0) + least_squares_loss(f[-1], 0.0)) for r, f in zip(real, fake))}
        return {"adv": sum(hinge_discriminator_loss(r[-1], f[-1]) for r, f in zip(real, fake)) / len(real)}

    # -------------------------------------------------------------------------------------------- evaluation
    def _lpips(self):
        if "_lpips_net" not in self.__dict__:
            from zoo.metrics.video import LPIPS

            self.__dict__["_lpips_net"] = LPIPS().to(self.device)
        return self.__dict__["_lpips_net"]

    @torch.no_grad()
    def tryon_batch(self, batch: dict[str, torch.Tensor], garment_key: str = "garment") -> dict[str, torch.Tensor]:
        """The try-on of a dataset batch with its ``garment_key`` garment (``"swap_garment"``: the unpaired setting);
        every intermediate (``warped``, ``layout``, ``image`` ...)."""
        cond = person_conditions(batch["person"], batch["parsing"], batch["keypoints"])
        mask_key = "swap_garment_mask" if garment_key == "swap_garment" else "garment_mask"
        return self.inference_net.tryon(batch[garment_key], batch[mask_key], cond["agnostic"], cond["parse_agnostic"], cond["pose"])

    def evaluate_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """SSIM / LPIPS of the unpaired try-on (``swap_garment`` on the person) against its exact image ``swap_person``,
        and SSIM of the paired reconstruction (the person's own garment)."""
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        swap = self.tryon_batch(batch, "swap_garment")["image"].clamp(0, 1)
        own = self.tryon_batch(batch, "garment")["image"].clamp(0, 1)
        return {
            "ssim": ssim(swap, batch["swap_person"], data_range=1.0), "lpips": self._lpips()(swap, batch["swap_person"]).mean(),
            "ssim_paired": ssim(own, batch["person"], data_range=1.0),
        }

