"""Label-Agnostic Forgetting (LAF; Shen et al., "Label-Agnostic Forgetting: A Supervision-Free Unlearning in Deep
Models", ICLR 2024; official code ShaofeiShen768/LAF, ``VUnlearning.py``, ``Train.py``, ``Model.py``, ``LAF.ipynb``,
``hyperparameter.md``). No labels are used: ``laf`` refuses labelled samples.

The embedding e(x) is the input of the network's head (its last ``nn.Linear``; the official models return it).

0. Two VAEs on frozen embeddings of the original model (encoder D-128-32-(mu, log var), decoder latent-32-128-D with
   a sigmoid output; loss: summed squared error / N + 0.025 KL; Adam 1e-3, 10 epochs, batch 32): ``s_vae`` on the
   training embeddings (the notebook trains it on the whole training set, forget samples included, although the paper
   says the remaining data; we follow the code) and ``u_vae`` on the forget embeddings.
1. Per pair of (forget, retain) batches (``zip``: as many pairs as the smaller set has batches), two Adam steps on
   every weight:
   - extractor unlearning (lr ``lr_ue``): ``L_UE = sum_r exp(e_r / (e_r + 1)) - sum_f exp(e_f / (e_f + 1))``,
     e = summed squared reconstruction error of the embedding by ``s_vae`` (retain) or ``u_vae`` (forget);
   - representation alignment (lr ``lr_ra``), contrastive against the frozen original g0:
     ``L_RA = sum_r log( exp(c_r) / sum_f exp(c_f / tau) )``, c = 1 - cos(g(x), g0(x)) (``CosineEmbeddingLoss``).
2. LAF+R (``laf_r``, semi-supervised): then fine-tune the head alone with cross-entropy on labelled retain samples.

Defaults (CNN on MNIST / Fashion-MNIST): latent 8, 20 epochs, lr_ue 5e-5, lr_ra 1e-4, tau 5 (random forgetting;
20 for class forgetting), batch 32. The head fine-tuning's epochs and lr are not in the repository: ours, 5 epochs,
Adam 1e-3.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from zoo.core.progress import trange
from zoo.unlearning.base import Unlearner, register
from zoo.unlearning.data import UnlearningData
from zoo.unlearning.methods.dmm import last_linear


class Unlabelled(Dataset):
    """The inputs of a dataset of ``(x, y, ...)`` without the labels: samples ``(x,)``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        sample = self.dataset[index]
        return (sample[0] if isinstance(sample, (tuple, list)) else sample,)


def is_labelled(dataset: Dataset) -> bool:
    """Whether the samples of ``dataset`` carry a label (are tuples of two or more)."""
    sample = dataset[0]
    return isinstance(sample, (tuple, list)) and len(sample) >= 2


def _inputs(batch) -> torch.Tensor:
    return batch[0] if isinstance(batch, (tuple, list)) else batch


class EmbeddingVAE(nn.Module):
    """The official embedding VAE. Shape: (N, D) -> reconstruction (N, D), mu (N, latent), sigma (N, latent)."""

    def __init__(self, dim: int, latent: int = 8) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(dim, 128), nn.ReLU(), nn.Linear(128, 32), nn.ReLU())
        self.mu, self.log_var = nn.Linear(32, latent), nn.Linear(32, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, 32), nn.ReLU(), nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, dim), nn.Sigmoid())

    def forward(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.encoder(e)
        mu, sigma = self.mu(h), torch.exp(0.5 * self.log_var(h))
        return self.decoder(mu + sigma * torch.randn_like(sigma)), mu, sigma


def vae_loss(recon: torch.Tensor, e: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Summed squared error / N + 0.025 * KL(q(z|e) || N(0, I)) / N (``Train.vae_loss_function``)."""
    kl = -0.5 * torch.sum(torch.log(sigma.pow(2) + 1e-8) + 1 - mu.pow(2) - sigma.pow(2))
    return (F.mse_loss(recon, e, reduction="sum") + 0.025 * kl) / len(e)


def exp_reconstruction(recon: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """``sum_i exp(err_i / (err_i + 1))``, err_i the summed squared error of sample i (``extractor_loss_functionnmse``)."""
    err = (recon - e).pow(2).sum(1)
    return torch.exp(err / (err + 1)).sum()


def alignment_loss(retain: torch.Tensor, retain_original: torch.Tensor, forget: torch.Tensor, forget_original: torch.Tensor, temperature: float) -> torch.Tensor:
    """``sum_r log(exp(c_r) / sum_f exp(c_f / tau))``, c = 1 - cos(embedding, original embedding)."""
    c_r = 1 - F.cosine_similarity(retain, retain_original, dim=1)
    c_f = 1 - F.cosine_similarity(forget, forget_original, dim=1)
    return (c_r - torch.logsumexp(c_f / temperature, dim=0)).sum()


def embed(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``model(x)`` and the input of its head (with gradients). Shape: (N, ...) -> (N, C), (N, D)."""
    grabbed = []
    handle = last_linear(model).register_forward_hook(lambda _m, inputs, _out: grabbed.append(inputs[0]))
    try:
        out = model(x)
    finally:
        handle.remove()
    return out, grabbed[-1].flatten(1)


def train_vae(vae: EmbeddingVAE, embeddings: torch.Tensor, epochs: int = 10, lr: float = 1e-3, batch_size: int = 32, seed: int = 0) -> EmbeddingVAE:
    """Fit ``vae`` to ``embeddings`` (N, D) with :func:`vae_loss` (Adam)."""
    optimizer = torch.optim.Adam(vae.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    vae.train()
    for _ in trange(epochs, "LAF VAE", unit="epoch"):
        for (e,) in DataLoader(torch.utils.data.TensorDataset(embeddings), batch_size, shuffle=True, generator=gen):
            recon, mu, sigma = vae(e)
            loss = vae_loss(recon, e, mu, sigma)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return vae.eval().requires_grad_(False)


@register("laf")
class LabelAgnosticForgetting(Unlearner):
    """LAF: VAE-guided extractor unlearning and contrastive representation alignment, without labels.

    Args:
        latent: VAE latent size (official 8 for the MNIST CNN, 16 for ResNet).
        vae_epochs: VAE training epochs (official 10).
        lr_ue, lr_ra: Adam learning rates of the two steps.
        temperature: tau of the alignment loss.
        epochs: unlearning epochs (each as many batch pairs as the smaller set has batches).
        (others: :class:`Unlearner`; batch 32 as the official loaders)
    """

    data_mode = "paired"
    label_free = True  # callers that hold labels must drop them (``Unlabelled``)
    needs_retain_labels = False

    def __init__(
        self,
        model: nn.Module,
        task: str,
        *,
        latent: int = 8,
        vae_epochs: int = 10,
        lr_ue: float = 5e-5,
        lr_ra: float = 1e-4,
        temperature: float = 5.0,
        epochs: float = 20,
        batch_size: int = 32,
        **kwargs,
    ) -> None:
        super().__init__(model, task, epochs=epochs, batch_size=batch_size, **kwargs)
        self.latent, self.vae_epochs, self.lr_ue, self.lr_ra, self.temperature = latent, vae_epochs, lr_ue, lr_ra, temperature
        self.automatic_optimization = False
        self.original: nn.Module | None = None
        self.s_vae: EmbeddingVAE | None = None
        self.u_vae: EmbeddingVAE | None = None

    def check_labels(self, data: UnlearningData) -> None:
        """Refuse labelled samples where the method is label-free."""
        sets = {"forget": data.forget} if self.needs_retain_labels else {"forget": data.forget, "retain": data.retain}
        for name, dataset in sets.items():
            if is_labelled(dataset):
                raise ValueError(
                    f"{self.method_name}: expected unlabelled {name} samples (a Dataset of x or (x,); LAF uses no labels), "
                    f"received (x, y) pairs; drop the labels with zoo.unlearning.methods.laf.Unlabelled(dataset)"
                )

    @torch.no_grad()
    def embeddings(self, dataset: Dataset) -> torch.Tensor:
        self.model.eval()
        device = next(self.model.parameters()).device
        return torch.cat([embed(self.model, _inputs(b).to(device))[1].cpu() for b in DataLoader(dataset, 256)])

    def prepare(self, data: UnlearningData) -> None:
        self.original = copy.deepcopy(self.model).eval().requires_grad_(False)
        forget = self.embeddings(data.forget)
        everything = torch.cat([forget, self.embeddings(data.retain)])
        torch.manual_seed(self.seed)
        self.s_vae = train_vae(EmbeddingVAE(forget.shape[1], self.latent), everything, self.vae_epochs, seed=self.seed)
        self.u_vae = train_vae(EmbeddingVAE(forget.shape[1], self.latent), forget, self.vae_epochs, seed=self.seed + 1)

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        for frozen in (self.original, self.s_vae, self.u_vae):
            frozen.eval()

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=self.lr_ue), torch.optim.Adam(params, lr=self.lr_ra)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        xf, xr = _inputs(batch["forget"]), _inputs(batch["retain"])
        ue, ra = self.optimizers()
        _, e_r = embed(self.model, xr)
        _, e_f = embed(self.model, xf)
        loss_ue = exp_reconstruction(self.s_vae(e_r)[0], e_r) - exp_reconstruction(self.u_vae(e_f)[0], e_f)
        ue.zero_grad()
        self.manual_backward(loss_ue)
        ue.step()
        _, e_r = embed(self.model, xr)
        _, e_f = embed(self.model, xf)
        with torch.no_grad():
            o_r, o_f = embed(self.original, xr)[1], embed(self.original, xf)[1]
        loss_ra = alignment_loss(e_r, o_r, e_f, o_f, self.temperature)
        ra.zero_grad()
        self.manual_backward(loss_ra)
        ra.step()
        self.log_dict({"laf_ue": loss_ue.detach(), "laf_ra": loss_ra.detach()}, prog_bar=True)
        return loss_ra.detach()

    def run(self, data: UnlearningData) -> nn.Module:
        self.check_labels(data)
        stream = data.with_mode(self.data_mode, self.batch_size, self.seed)
        pairs = min(-(-len(data.forget) // self.batch_size), -(-len(data.retain) // self.batch_size))
        cycled = max(-(-len(data.forget) // self.batch_size), -(-len(data.retain) // self.batch_size))
        epochs = self.epochs
        self.epochs = epochs * pairs / cycled  # the official zip: as many pairs per epoch as the smaller set's batches
        try:
            return super().run(stream)
        finally:
            self.epochs = epochs


@register("laf_r")
class LabelAgnosticForgettingR(LabelAgnosticForgetting):
    """LAF+R: LAF, then the head fine-tuned with cross-entropy on labelled retain samples (forget samples stay unlabelled).

    Args:
        head_epochs: epochs of the head's fine-tuning (ours).
        head_lr: its Adam learning rate (ours).
        (others: :class:`LabelAgnosticForgetting`)
    """

    needs_retain_labels = True

    def __init__(self, model: nn.Module, task: str, *, head_epochs: int = 5, head_lr: float = 1e-3, **kwargs) -> None:
        super().__init__(model, task, **kwargs)
        self.head_epochs, self.head_lr = head_epochs, head_lr

    def check_labels(self, data: UnlearningData) -> None:
        super().check_labels(data)
        if not is_labelled(data.retain):
            raise ValueError("laf_r: expected labelled retain samples (x, y) for the head's fine-tuning, received unlabelled ones; use laf without labels")

    def run(self, data: UnlearningData) -> nn.Module:
        return self.finetune_head(super().run(data), data)

    def finetune_head(self, model: nn.Module, data: UnlearningData) -> nn.Module:
        """Step 2: cross-entropy on the labelled retain samples, the head's parameters only."""
        head = last_linear(model)
        optimizer = torch.optim.Adam(head.parameters(), lr=self.head_lr)
        gen = torch.Generator().manual_seed(self.seed)
        device = next(model.parameters()).device
        model.eval()  # only the head trains; the extractor's batch-norm statistics stay
        for _ in trange(self.head_epochs, "LAF head", unit="epoch"):
            for x, y in DataLoader(data.retain, self.batch_size, shuffle=True, generator=gen):
                loss = self.loss(model(x.to(device)), y.to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return model.eval()
