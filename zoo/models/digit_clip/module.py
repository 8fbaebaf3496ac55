"""A tiny CLIP (Radford et al., 2021) on stylised digits and their captions: the LightningModule.

    zoo train recipes/digit_clip_tiny/tiny.yaml

Training minimises the symmetric InfoNCE (``zoo.losses.ranking.symmetric_info_nce``) over each batch of
``{"image", "caption"}`` pairs (``zoo.data.stylized_digits.StylizedDigitsDataModule``) with AdamW, a linear warm-up and
a cosine decay, as CLIP does.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.core import checks
from zoo.core.module import ZooModule
from zoo.losses.ranking import symmetric_info_nce
from zoo.models.digit_clip.model import DigitCLIPConfig, DigitCLIPNet, tokenize

MAX_IMAGES = 4096
MAX_TEXTS = 4096
MAX_TEXT_CHARS = 1000


def concept_of(batch: dict[str, Any]) -> torch.Tensor:
    """Each item's (digit, style) concept as one id, ``digit * 100 + style`` (what a retrieval hit must match)."""
    return torch.as_tensor(batch["digit"]) * 100 + torch.as_tensor(batch["style"])


def recall_at_k(similarity: torch.Tensor, query_concepts: torch.Tensor, gallery_concepts: torch.Tensor, k: int) -> torch.Tensor:
    """Share of queries whose top-``k`` gallery items include one of the query's concept.

    Shape:
        - similarity: (Q, G); query_concepts: (Q,); gallery_concepts: (G,); output: ().
    """
    top = similarity.topk(min(k, similarity.shape[1]), dim=1).indices
    return (gallery_concepts.to(top.device)[top] == query_concepts.to(top.device)[:, None]).any(1).float().mean()


def caption_gallery(ids: torch.Tensor, concepts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct captions of a set of pairs and each one's concept (captions repeat across pairs; a caption shared
    by two concepts keeps its first one).

    Shape:
        - ids: (N, L); concepts: (N,); outputs: (U, L) and (U,).
    """
    unique, inverse = ids.unique(dim=0, return_inverse=True)
    first = torch.full((len(unique),), len(ids), dtype=torch.long).scatter_reduce(0, inverse, torch.arange(len(ids)), "amin")
    return unique, concepts[first]


def chance_recall(query_concepts: torch.Tensor, gallery_concepts: torch.Tensor, k: int) -> float:
    """Expected recall@k of a random ranking: ``1 - C(G - n, k) / C(G, k)`` for a query whose concept has ``n`` of the
    ``G`` gallery items, averaged over the queries."""
    n = (query_concepts[:, None] == gallery_concepts[None, :]).sum(1).double()
    g, miss = float(len(gallery_concepts)), torch.ones_like(n)
    for i in range(min(k, len(gallery_concepts))):
        miss = miss * (g - n - i).clamp_min(0) / (g - i)
    return float((1 - miss).mean())


@torch.no_grad()
def retrieval_recall(net: DigitCLIPNet | None, images: torch.Tensor, ids: torch.Tensor, concepts: torch.Tensor, ks: tuple[int, ...] = (1, 5), batch_size: int = 500) -> dict[str, float]:
    """Recall@k both ways between a set's images and its distinct captions: ``i2t_recall@k`` (every image queries the
    distinct captions) and ``t2i_recall@k`` (every distinct caption queries the images); a hit is an item of the
    query's concept (digit and style).

    Args:
        net: the dual encoder; None gives the expected recall of a random ranking instead.
        images: the pairs' images in [0, 1].
        ids: their captions' token ids.
        concepts: each pair's concept (:func:`concept_of`).
        ks: the cut-offs.
        batch_size: items encoded at once.

    Returns:
        Metric name -> fraction of the queries.

    Shape:
        - images: (N, 3, H, W); ids: (N, L); concepts: (N,).
    """
    captions, caption_concepts = caption_gallery(ids, concepts)
    if net is None:
        return {f"{way}_recall@{k}": chance_recall(q, g, k) for k in ks for way, q, g in (("i2t", concepts, caption_concepts), ("t2i", caption_concepts, concepts))}
    net.eval()
    param = next(net.parameters())
    image = torch.cat([net.encode_image(images[i : i + batch_size].to(param)) for i in range(0, len(images), batch_size)])
    text = torch.cat([net.encode_text(captions[i : i + batch_size].to(param.device)) for i in range(0, len(captions), batch_size)])
    similarity = image @ text.T
    out = {}
    for k in ks:
        out[f"i2t_recall@{k}"] = float(recall_at_k(similarity, concepts, caption_concepts, k))
        out[f"t2i_recall@{k}"] = float(recall_at_k(similarity.T, caption_concepts, concepts, k))
    return out


class DigitCLIP(ZooModule):
    """Image and text towers with a shared embedding space.

    Args:
        config: a :class:`DigitCLIPConfig` (or a dict of its fields).

    Example:
        >>> model = zoo.load("digit_clip_tiny")
        >>> model.predict(images, ["a seven in the thick style", "a two in the sunset style"])["probabilities"]
    """

    config_class = DigitCLIPConfig
    progress_metrics = ("i2t_recall@1",)

    def __init__(self, config: DigitCLIPConfig | dict | None = None) -> None:
        super().__init__(config)
        self.net = DigitCLIPNet(self.config)

    # ---------------------------------------------------------------- training
    def tokens(self, texts: list[str]) -> torch.Tensor:
        return tokenize(list(texts), self.config.context_length).to(self.device)

    def loss(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """The symmetric InfoNCE of a batch of pairs."""
        return symmetric_info_nce(self.net.encode_image(images), self.net.encode_text(self.tokens(texts)), self.net.logit_scale())

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.loss(batch["image"], batch["caption"])
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch["caption"]))
        return loss

    def evaluate_batch(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """In-batch retrieval: ``i2t_recall@1`` / ``t2i_recall@1`` (a hit shows the same digit and style) and ``loss``."""
        image, text = self.net.encode_image(batch["image"]), self.net.encode_text(self.tokens(batch["caption"]))
        similarity, concepts = image @ text.T, concept_of(batch)
        return {
            "i2t_recall@1": recall_at_k(similarity, concepts, concepts, 1),
            "t2i_recall@1": recall_at_k(similarity.T, concepts, concepts, 1),
            "loss": symmetric_info_nce(image, text, self.net.logit_scale()),
        }

    def configure_optimizers(self):
        c = self.config
        decay = [p for n, p in self.net.named_parameters() if p.ndim >= 2 and "embedding" not in n]
        rest = [p for n, p in self.net.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": c.weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=c.lr, betas=(0.9, 0.98), eps=1e-6)

        def schedule(step: int) -> float:
            if step < c.warmup_steps:
                return (step + 1) / c.warmup_steps
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - c.warmup_steps) / max(1, c.max_steps - c.warmup_steps))))

        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, schedule), "interval": "step"}}

    # --------------------------------------------------------------- inference
    def example_input(self, batch_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(0)
        images = torch.rand(batch_size, 3, self.config.image_size, self.config.image_size, generator=gen).to(self.device)
        return images, self.tokens(["a seven in the thick style", "a two in the sunset style"][: max(1, batch_size)] * batch_size)[:batch_size]

    def example_predict_input(self) -> dict[str, Any]:
        return {"images": self.example_input(1)[0][0].cpu(), "texts": ["a seven in the thick style", "a two in the sunset style"]}

    def example_cli_args(self, folder: Path) -> tuple[list[str], str]:
        path = Path(folder) / "digit.npy"
        np.save(path, self.example_input(1)[0][0].cpu().numpy())
        return [str(path), "--texts", "a seven in the thick style"], ".npz"

    def _images(self, images: Any) -> tuple[torch.Tensor, bool]:
        if isinstance(images, (str, Path)):
            image = checks.open_image(images, "images").convert("RGB")
            images = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()
        elif isinstance(images, np.ndarray):
            if images.dtype.kind not in "f":
                raise ValueError(f"images: expected a float array in [0, 1] (C, H, W) or (N, C, H, W), received {checks.describe(images)}")
            images = torch.from_numpy(np.ascontiguousarray(images))
        x, batched = checks.check_image_batch(images, 3, "images", max_values=MAX_IMAGES * 3 * 224 * 224)
        if len(x) > MAX_IMAGES:
            raise ValueError(f"images: expected at most {MAX_IMAGES} images per call, received {checks.describe(x)}")
        if min(x.shape[-2:]) < self.config.patch_size:
            raise ValueError(f"images: expected sides of at least {self.config.patch_size} px, received {checks.describe(x)}")
        return x, batched

    @staticmethod
    def _texts(texts: Any) -> tuple[list[str], bool]:
        if isinstance(texts, str):
            texts, batched = [texts], False
        else:
            batched = True
        if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"texts: expected a string or a non-empty list of strings, received {checks.describe(texts)}")
        if len(texts) > MAX_TEXTS or any(len(t) > MAX_TEXT_CHARS for t in texts):
            raise ValueError(f"texts: expected at most {MAX_TEXTS} texts of at most {MAX_TEXT_CHARS} characters, received {len(texts)} "
                             f"texts, the longest {max(len(t) for t in texts)} characters")
        return list(texts), batched

    def prepare_input(self, x: Any, texts: Any = None) -> tuple[tuple[torch.Tensor, torch.Tensor], dict[str, Any]]:
        """Validate images and texts before any of the network runs.

        Args:
            x: images: a float tensor or array (3, H, W) or (N, 3, H, W) in [0, 1], or an image file path; or a dict
                ``{"images": ..., "texts": ...}``.
            texts: a caption or a list of captions.

        Returns:
            ``(images, token ids)`` and ``{"batched_images", "batched_texts"}``.

        Raises:
            ValueError: wrong type, shape, dtype, range, size or missing texts, naming what was expected and received.
        """
        if isinstance(x, dict):
            x, texts = x.get("images"), x.get("texts", texts)
        if texts is None:
            raise ValueError("texts: expected a string or a list of strings to compare the images with, received None")
        images, batched_images = self._images(x)
        texts, batched_texts = self._texts(texts)
        return (images, tokenize(texts, self.config.context_length)), {"batched_images": batched_images, "batched_texts": batched_texts}

    def postprocess(self, y: torch.Tensor, context: dict[str, Any]) -> dict[str, np.ndarray]:
        """``{"similarity": cosine similarities (N, M), "probabilities": softmax over the texts of the scaled logits}``
        (axes dropped for an unbatched image or a single text)."""
        logits = y.float().cpu()
        out = {"similarity": (logits / float(self.net.logit_scale())).numpy(), "probabilities": logits.softmax(1).numpy()}
        if not context["batched_images"]:
            out = {k: v[0] for k, v in out.items()}
        return out

    @torch.no_grad()
    def predict(self, images: Any, texts: Any = None) -> dict[str, np.ndarray]:
        """Similarities of images and texts (see :meth:`prepare_input`); bad input raises a ValueError."""
        (x, ids), context = self.prepare_input(images, texts)
        param = next(self.net.parameters())
        was_training = self.training
        self.eval()
        try:
            y = self.net(x.to(param), ids.to(param.device))
        finally:
            self.train(was_training)
        return self.postprocess(y, context)
