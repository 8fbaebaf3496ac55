"""O3's out-of-distribution detector (Gao et al., ICLR 2025): how much an input looks like one unlearning request's data.

As ``GCYZSL/O3-LLM-UNLEARNING`` (``src/ood/ood_model_selector.py``, ``src/ood/run_ood.py``) builds it, with the served
causal LM as the encoder (the official code fine-tunes RoBERTa; no second model is needed here):

- **Pooling**: a layer's feature of a prompt is its last token's hidden state (:func:`pool`; the official mean over
  RoBERTa's tokens is ``pooling="mean"``): in a causal LM only the last token has read the whole prompt, and on the
  tiny LM the mean is dominated by the question template that every author shares (the held-out forget prompts then
  score like retain ones).
- **Training** on the request's forget prompts: LoRA (r 8, alpha 32, dropout 0.1, attention q/k/v) on a copy of the
  encoder, loss = language-model loss on a masked view (15 % of the tokens replaced at random; the official MLM loss,
  causal here) + the **contrastive entropy** ``sum_l mean_i H(softmax_j(z_l,i . k_l,j))`` between the trainable
  encoder's mean-pooled layer-``l`` features ``z`` of the masked view and the frozen encoder's features ``k`` of the
  clean inputs (:func:`contrastive_entropy`). AdamW lr 1e-4, 1 epoch, batch 8, 6 % warm-up, weight decay 0.01.
- **Layer scores** (:func:`layer_scores`): per layer ``l`` >= 1, ``-0.5 * Mahalanobis^2`` to the training features
  (empirical covariance, pseudo-inverse) ``- c * max cosine`` to them (c = 1000: the official fitting constant; its
  inference path uses 100, we keep one constant). The layers' scores are **aggregated** by a one-class SVM (linear
  kernel, nu 0.01) fitted on the training prompts.
- **Soft weight** (:func:`soft_weight`): a two-Gaussian mixture of the SVM scores of the training prompts and of
  held-out forget prompts centred at ``x0`` (their means' midpoint); ``c = 1 - |F(x) - F(2 x0 - x)|``, ``w =
  sigmoid(10 c - 2)``, then 1 above 0.32, ``10 w^2`` above 0.2, else 0.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.core.progress import trange
from zoo.unlearning.llm.data import collate


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Row entropies ``-sum_j p_j log(p_j + 1e-5)`` (the official epsilon): (N, M) -> (N,)."""
    return -(p * torch.log(p + 1e-5)).sum(dim=1)


def contrastive_entropy(query: list[torch.Tensor], keys: list[torch.Tensor]) -> torch.Tensor:
    """O3's contrastive entropy loss: ``sum_l mean_i H(softmax_j(q_l,i . k_l,j))`` (keys carry no gradient).

    Shape:
        query, keys: per layer, (B, D) pooled features of the same B inputs.
    """
    total = torch.zeros((), device=query[0].device)
    for q, k in zip(query, keys, strict=True):
        total = total + entropy(F.softmax(q @ k.detach().T, dim=1)).mean()
    return total


def prompt_batch(dataset, indices: list[int]) -> dict[str, torch.Tensor]:
    """The prompts (the tokens before the answer: ``labels == -100``) of answer-labelled examples, right-padded."""
    examples = []
    for i in indices:
        ex = dataset[i]
        keep = (ex["labels"] == -100) & (ex["attention_mask"] == 1)
        ids = ex["input_ids"][keep]
        examples.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids})
    return collate(dataset, examples)


def common_suffix(dataset) -> list[int]:
    """The longest token suffix every prompt of ``dataset`` ends with (``"\\nAnswer:"`` for TOFU's template)."""
    prompts = [prompt_batch(dataset, [i]) for i in range(len(dataset))]
    seqs = [p["input_ids"][0].tolist() for p in prompts]
    suffix: list[int] = []
    for n in range(1, min(len(s) for s in seqs) + 1):
        tail = seqs[0][-n:]
        if any(s[-n:] != tail for s in seqs):
            break
        suffix = tail
    return suffix


def prompt_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, marker: list[int]) -> torch.Tensor:
    """Per row, the attended tokens up to the end of the first occurrence of ``marker`` (all attended tokens where it
    does not occur): what the detector scores of a question+answer sequence."""
    mask = attention_mask.bool()
    k = len(marker)
    if not k or input_ids.shape[1] < k:
        return mask
    windows = input_ids.unfold(1, k, 1)  # (B, L-k+1, k)
    hit = (windows == torch.tensor(marker, device=input_ids.device)).all(-1) & mask.unfold(1, k, 1).all(-1)
    found = hit.any(1)
    end = torch.where(found, hit.float().argmax(1) + k, torch.full_like(found, input_ids.shape[1], dtype=torch.long))
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    return mask & (positions[None] < end[:, None])


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str = "last") -> torch.Tensor:
    """(B, L, D) -> (B, D): the mean over the tokens of ``mask`` (``"mean"``, the official RoBERTa pooling) or the last
    token of ``mask`` (``"last"``: a causal LM's summary of the prompt, the default here)."""
    if pooling == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1)
    if pooling == "last":
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (mask.long() * (positions + 1)).argmax(1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"pooling: expected 'mean' or 'last', received {pooling!r}")


def pooled_hidden_states(model: nn.Module, input_ids: torch.Tensor, mask: torch.Tensor, pooling: str = "last") -> list[torch.Tensor]:
    """Every hidden state (embeddings first) of ``model``, pooled over the tokens of ``mask`` (:func:`pool`): (B, D) each."""
    out = model(input_ids=input_ids, attention_mask=mask.long(), output_hidden_states=True)
    return [pool(h, mask, pooling) for h in out.hidden_states]


class FeatureStatistics:
    """Per layer: the training features' mean, (pseudo-inverse) precision and normalised features.

    Args:
        features: per layer, (N, D) pooled features of the training prompts.
        cosine_weight: ``c`` of the score ``-0.5 Mahalanobis^2 - c * max cosine`` (1000).
    """

    def __init__(self, features: list[torch.Tensor], cosine_weight: float = 1000.0) -> None:
        from sklearn.covariance import EmpiricalCovariance

        self.cosine_weight = cosine_weight
        self.means, self.precisions, self.normalised = [], [], []
        for f in features:
            f = f.double().cpu()
            mean = f.mean(0)
            cov = EmpiricalCovariance(assume_centered=False).fit((f - mean).numpy())
            self.means.append(mean)
            self.precisions.append(torch.from_numpy(cov.precision_))
            self.normalised.append(F.normalize(f, dim=-1))

    def layer_scores(self, features: list[torch.Tensor]) -> np.ndarray:
        """(N, layers - 1) scores of new features (the embedding layer left out, as the official ``[:, 1:]``)."""
        cols = []
        for f, mean, precision, train in zip(features, self.means, self.precisions, self.normalised, strict=True):
            z = f.double().cpu() - mean
            gaussian = -0.5 * ((z @ precision) * z).sum(-1)
            cosine = (F.normalize(f.double().cpu(), dim=-1) @ train.T).max(1).values
            cols.append((gaussian - self.cosine_weight * cosine).numpy())
        return np.stack(cols[1:], axis=1)


def _normal_cdf(x: float, mean: float, std: float) -> float:
    return 0.5 * (1 + math.erf((x - mean) / (max(std, 1e-12) * math.sqrt(2))))


def soft_weight(score: float, train_mean: float, test_mean: float, test_std: float) -> float:
    """O3's weight of one aggregated score: the mixture ``0.5 N(train_mean, s) + 0.5 N(test_mean, s)`` (``s =
    test_std``, as the official code sets both covariances), ``x0`` the means' midpoint, ``c = 1 - |F(x) - F(2x0 - x)|``,
    ``w = sigmoid(10 c - 2)``; then 1 if ``w >= 0.32``, ``10 w^2`` if ``w > 0.2``, else 0."""
    x0 = (train_mean + test_mean) / 2

    def cdf(x):
        return 0.5 * _normal_cdf(x, train_mean, test_std) + 0.5 * _normal_cdf(x, test_mean, test_std)

    a, b = cdf(score), cdf(2 * x0 - score)
    c = 1 - max(a, b) + min(a, b)
    w = 1 / (1 + math.exp(-(10 * c - 2)))
    if w >= 0.32:
        return 1.0
    if w > 0.2:
        return 10 * w**2
    return 0.0


class OODDetector(nn.Module):
    """One request's detector: the LoRA-tuned encoder, its feature statistics, the SVM and the weight function.

    Args:
        encoder: the trained (LoRA) encoder.
        statistics: the training prompts' :class:`FeatureStatistics`.
        svm: the one-class SVM over layer scores.
        mixture: ``(train_mean, test_mean, test_std)`` of the SVM scores (:func:`soft_weight`).
        marker: the prompt suffix (:func:`common_suffix`).
        pooling: how features are pooled (:func:`pool`).
    """

    def __init__(self, encoder: nn.Module, statistics: FeatureStatistics, svm, mixture: tuple[float, float, float], marker: list[int], pooling: str = "last") -> None:
        super().__init__()
        self.encoder, self.statistics, self.svm, self.mixture, self.marker, self.pooling = encoder, statistics, svm, mixture, marker, pooling

    @torch.no_grad()
    def scores(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> np.ndarray:
        """The SVM's aggregated score of each row's prompt: (B,)."""
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        feats = pooled_hidden_states(self.encoder, input_ids, prompt_mask(input_ids, mask, self.marker), self.pooling)
        return self.svm.decision_function(self.statistics.layer_scores(feats))

    def weights(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """The soft weight of each row: (B,) in [0, 1]."""
        w = [soft_weight(float(s), *self.mixture) for s in self.scores(input_ids, attention_mask)]
        return torch.tensor(w, device=input_ids.device)


def _masked_view(batch: dict[str, torch.Tensor], vocab: int, rate: float, gen: torch.Generator) -> torch.Tensor:
    ids = batch["input_ids"].clone()
    pick = (torch.rand(ids.shape, generator=gen) < rate).to(ids.device) & batch["attention_mask"].bool()
    pick[:, 0] = False  # keep <bos>
    ids[pick] = torch.randint(3, vocab, (int(pick.sum()),), generator=gen).to(ids.device)
    return ids


def train_detector(
    backbone: nn.Module,
    forget,
    epochs: int = 1,
    lr: float = 1e-4,
    batch_size: int = 8,
    weight_decay: float = 0.01,
    warmup_ratio: float = 0.06,
    mask_rate: float = 0.15,
    holdout_fraction: float = 0.2,
    cosine_weight: float = 1000.0,
    pooling: str = "last",
    seed: int = 0,
) -> OODDetector:
    """Train and fit one request's :class:`OODDetector` on the prompts of ``forget``.

    Args:
        backbone: the encoder (the served LM before unlearning; a copy is tuned, the original is the frozen key encoder).
        forget: the request's answer-labelled examples (their prompts are used).
        holdout_fraction: forget prompts kept out of training for the mixture's second component (at least 1).
        pooling: ``"last"`` (default) or ``"mean"`` (:func:`pool`).

    Returns:
        The fitted detector.
    """
    from peft import LoraConfig, get_peft_model
    from sklearn.svm import OneClassSVM

    if len(forget) < 2:
        raise ValueError(f"forget: the OOD detector expects at least 2 examples, received {len(forget)}")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(forget), generator=gen).tolist()
    n_test = max(1, round(holdout_fraction * len(forget)))
    train_idx, test_idx = order[n_test:], order[:n_test]
    device = next(backbone.parameters()).device
    key = backbone.eval()
    names = sorted({n.rsplit(".", 1)[-1] for n, m in backbone.named_modules() if isinstance(m, nn.Linear) and n.rsplit(".", 1)[-1] in ("q_proj", "k_proj", "v_proj")})
    encoder = get_peft_model(copy.deepcopy(backbone), LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1, target_modules=names, bias="none"))
    params = [p for p in encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = max(1, epochs * (len(train_idx) // batch_size or 1))
    warmup = int(steps * warmup_ratio)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    vocab = encoder.config.vocab_size
    encoder.train()
    for _ in trange(epochs, "ood encoder", unit="epoch"):
        for start in range(0, max(1, len(train_idx) - batch_size + 1), batch_size):  # drop_last, as the official loader
            batch = {k: v.to(device) for k, v in prompt_batch(forget, train_idx[start : start + batch_size]).items()}
            masked = _masked_view(batch, vocab, mask_rate, gen)
            out = encoder(input_ids=masked, attention_mask=batch["attention_mask"], output_hidden_states=True)
            labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
            lm = F.cross_entropy(out.logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)
            query = [pool(h, batch["attention_mask"].bool(), pooling) for h in out.hidden_states]
            with torch.no_grad():
                keys = pooled_hidden_states(key, batch["input_ids"], batch["attention_mask"].bool(), pooling)
            loss = lm + contrastive_entropy(query, keys)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    encoder.eval().requires_grad_(False)
    with torch.no_grad():
        train = {k: v.to(device) for k, v in prompt_batch(forget, train_idx).items()}
        test = {k: v.to(device) for k, v in prompt_batch(forget, test_idx).items()}
        train_feats = pooled_hidden_states(encoder, train["input_ids"], train["attention_mask"].bool(), pooling)
        test_feats = pooled_hidden_states(encoder, test["input_ids"], test["attention_mask"].bool(), pooling)
    statistics = FeatureStatistics(train_feats, cosine_weight)
    svm = OneClassSVM(nu=0.01, kernel="linear").fit(statistics.layer_scores(train_feats))
    train_scores = svm.decision_function(statistics.layer_scores(train_feats))
    test_scores = svm.decision_function(statistics.layer_scores(test_feats))
    test_std = float(np.std(test_scores)) if len(test_scores) > 1 else float(np.std(train_scores))
    mixture = (float(np.mean(train_scores)), float(np.mean(test_scores)), max(test_std, 1e-6))
    return OODDetector(encoder, statistics, svm, mixture, common_suffix(forget), pooling)
