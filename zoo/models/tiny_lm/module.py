"""TinyLM: a tiny Llama (or sparse MoE) causal LM trained on the synthetic TOFU-like corpus.

    zoo train recipes/tiny_llama/tiny.yaml

The network is a plain transformers ``PreTrainedModel`` (``self.net``), so every method of
:mod:`zoo.unlearning.llm` runs on it as on any causal LM that transformers loads; :meth:`TinyLM.to_transformers`
writes it with its tokenizer as a transformers directory.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from zoo.core import checks
from zoo.core.module import ZooModule
from zoo.models.tiny_lm.model import build_causal_lm

MAX_PROMPTS = 64
MAX_PROMPT_CHARS = 2000


@dataclasses.dataclass
class TinyLMConfig:
    """Configuration of :class:`TinyLM`.

    Args:
        variant: ``"llama"`` or ``"moe"`` (Mixtral-style sparse MoE MLPs).
        vocab_size: the BPE vocabulary (the corpus tokenizer is trained to this size).
        hidden_size: model width.
        num_layers: decoder layers.
        num_heads: attention heads.
        num_kv_heads: key/value heads (grouped-query attention when fewer than ``num_heads``).
        intermediate_size: MLP width (per expert for the MoE).
        num_experts: experts per MoE layer.
        experts_per_token: experts each token is routed to (top-k).
        router_aux_loss_coef: weight of Mixtral's load-balancing loss in training.
        max_position: the longest sequence (RoPE positions).
        corpus_authors: fictitious authors of the corpus the tokenizer is trained on (``zoo.data.tofu``).
        corpus_seed: the corpus seed.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps, then cosine decay to 10% over the run.
        max_new_tokens: the default length of ``predict``'s generations.
    """

    variant: str = "llama"
    vocab_size: int = 1024
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 4
    intermediate_size: int = 512
    num_experts: int = 4
    experts_per_token: int = 2
    router_aux_loss_coef: float = 0.01
    max_position: int = 128
    corpus_authors: int = 20
    corpus_seed: int = 0
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    max_new_tokens: int = 32


class TinyLM(ZooModule):
    """A tiny causal LM that answers questions about the corpus's fictitious authors.

    Args:
        config: a :class:`TinyLMConfig` (or a dict of its fields).

    Shape:
        - ``forward(input_ids)``: (B, L) int64 token ids.
        - Output: (B, L, vocab_size) next-token logits.

    Example:
        >>> model = zoo.load("tiny_llama")
        >>> model.predict("Where was Salo Mife born?")   # a question (wrapped in the corpus prompt) or a raw prompt
    """

    config_class = TinyLMConfig
    progress_metrics = ("answer_accuracy",)

    def __init__(self, config: TinyLMConfig | dict | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.net = build_causal_lm(
            c.variant, c.vocab_size, c.hidden_size, c.num_layers, c.num_heads, c.num_kv_heads, c.intermediate_size,
            c.num_experts, c.experts_per_token, c.router_aux_loss_coef, c.max_position,
        )

    @cached_property
    def tokenizer(self):
        """The corpus's byte-level BPE tokenizer (``zoo.data.tofu.corpus_tokenizer``), a transformers fast tokenizer."""
        from zoo.data.tofu import corpus_tokenizer

        return corpus_tokenizer(self.config.corpus_authors, self.config.corpus_seed, self.config.vocab_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(input_ids=input_ids, attention_mask=attention_mask).logits

    def export_calls(self, batch_size: int = 2) -> list[tuple[tuple, dict[str, Any]]]:
        """As the default; a mixture-of-experts network first switches to transformers' ``"batched_mm"`` experts
        (each token's chosen experts' weights gathered into one batched matmul: the same values), because ONNX has no
        function for the grouped-matmul kernel and the ``"eager"`` loop over experts routes data-dependently. The switch
        stays on the exported model."""
        if getattr(self.net.config, "num_experts", None) or getattr(self.net.config, "num_local_experts", None):
            self.net.set_experts_implementation("batched_mm")
        return super().export_calls(batch_size)

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """Token ids of a corpus question prompt, repeated ``batch_size`` times: (B, L)."""
        from zoo.data.tofu import PROMPT

        ids = self.tokenizer(PROMPT.format(question=self.example_predict_input()))["input_ids"]
        return torch.tensor([self.tokenizer.bos_token_id, *ids], device=self.device).repeat(batch_size, 1)

    def example_predict_input(self) -> str:
        from zoo.data.tofu import make_corpus

        return make_corpus(self.config.corpus_authors, self.config.corpus_seed)["forget10"][0]["question"]

    def example_cli_args(self, folder: Path) -> tuple[list[str], str]:
        """``zoo predict NAME questions.txt --max-new-tokens 8 -o out.json``: one question per line of the INPUT file,
        the answers written as ``{"value": [text, ...]}``."""
        path = Path(folder) / "questions.txt"
        path.write_text(self.example_predict_input() + "\n")
        return [str(path), "--max-new-tokens", "8"], ".json"

    # ---------------------------------------------------------------- inference
    def prepare_input(self, x: Any) -> tuple[list[str], dict[str, Any]]:
        """Validate prompts: a string, a ``.txt`` file of one prompt per line, or a list of 1..``MAX_PROMPTS`` strings, each non-empty and at most
        ``MAX_PROMPT_CHARS`` characters. A prompt without ``"Answer:"`` is taken as a question and wrapped in the
        corpus prompt (``zoo.data.tofu.PROMPT``)."""
        from zoo.data.tofu import PROMPT

        if isinstance(x, (str, Path)) and str(x).endswith(".txt") and Path(x).is_file():
            x = [line for line in Path(x).read_text().splitlines() if line.strip()]
        single = isinstance(x, str)
        prompts = [x] if single else x
        if not isinstance(prompts, (list, tuple)) or not 1 <= len(prompts) <= MAX_PROMPTS or not all(isinstance(p, str) for p in prompts):
            raise ValueError(f"prompt: expected a string or a list of 1..{MAX_PROMPTS} strings, received {checks.describe(x)}")
        for p in prompts:
            if not p.strip() or len(p) > MAX_PROMPT_CHARS:
                raise ValueError(f"prompt: expected a non-empty string of at most {MAX_PROMPT_CHARS} characters, received {len(p)} characters")
        prompts = [p if "Answer:" in p else PROMPT.format(question=p.strip()) for p in prompts]
        return prompts, {"single": single}

    @torch.no_grad()
    def generate(self, prompts: list[str], max_new_tokens: int | None = None) -> list[str]:
        """Greedy continuations of ``prompts`` (left-padded batch), as text, up to ``<eos>``."""
        tok = self.tokenizer
        enc = tok([tok.bos_token + p for p in prompts], return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        budget = max_new_tokens or self.config.max_new_tokens
        budget = max(1, min(budget, self.config.max_position - enc["input_ids"].shape[1]))
        was_training = self.net.training
        self.net.eval()
        try:
            out = self.net.generate(**enc, max_new_tokens=budget, do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        finally:
            self.net.train(was_training)
        return [s.strip() for s in tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)]

    def predict(self, x: str | list[str], max_new_tokens: int | str | None = None) -> str | list[str]:
        """The model's greedy answer to a question (or list of questions / raw prompts).

        Args:
            x: a question, a prompt ending in ``"Answer:"``, a list of them, or a ``.txt`` file of one per line.
            max_new_tokens: the most generated tokens (a string from the command line is accepted).

        Returns:
            The generated text (a list for a list).
        """
        if max_new_tokens is not None:
            try:
                max_new_tokens = int(max_new_tokens)
            except (TypeError, ValueError):
                raise ValueError(f"max_new_tokens: expected a positive integer, received {max_new_tokens!r}") from None
            if max_new_tokens < 1:
                raise ValueError(f"max_new_tokens: expected a positive integer, received {max_new_tokens}")
        prompts, context = self.prepare_input(x)
        texts = self.generate(prompts, max_new_tokens)
        return texts[0] if context["single"] else texts

    def to_transformers(self, directory: str | Path) -> Path:
        """Write the network and its tokenizer as a transformers directory (``AutoModelForCausalLM.from_pretrained``
        and ``AutoTokenizer.from_pretrained`` read it back).

        Returns:
            The directory.
        """
        directory = Path(directory)
        self.net.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        return directory

    # ----------------------------------------------------------------- training
    def lm_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean answer-token NLL of a batch (plus the load-balancing loss for the MoE)."""
        moe = self.config.variant == "moe"
        kwargs = {"output_router_logits": True} if moe else {}
        out = self.net(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"], **kwargs)
        return out.loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.lm_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def evaluate_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Answer-token NLL and the fraction of answer tokens the argmax predicts."""
        logits = self.net(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        labels = batch["labels"][:, 1:]
        mask = labels != -100
        nll = torch.nn.functional.cross_entropy(logits[mask], labels[mask])
        return {"answer_nll": nll, "answer_accuracy": (logits.argmax(-1)[mask] == labels[mask]).float().mean()}

    def configure_optimizers(self):
        decay = [p for n, p in self.net.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in self.net.named_parameters() if p.ndim < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": self.config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=self.config.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches)) if self._trainer is not None else 1000
        warmup = min(self.config.warmup_steps, total)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return 0.1 + 0.9 * 0.5 * (1 + torch.cos(torch.tensor(progress * torch.pi)).item())

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
