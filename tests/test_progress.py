"""Progress bars: on a terminal only, and never with ZOO_QUIET=1 (zoo predict --quiet)."""

import io
import sys

from zoo.core import progress as progress_module


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_on_a_terminal_and_none_when_quiet(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.delenv("ZOO_QUIET", raising=False)
    assert list(progress_module.progress(range(3), "counting", unit="step")) == [0, 1, 2]
    assert "counting" in terminal.getvalue()
    monkeypatch.setenv("ZOO_QUIET", "1")
    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert list(progress_module.progress(range(3), "counting")) == [0, 1, 2]
    assert quiet.getvalue() == ""


def test_no_bar_when_stderr_is_not_a_terminal(monkeypatch):
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    monkeypatch.delenv("ZOO_QUIET", raising=False)
    assert progress_module.quiet()
    list(progress_module.progress(range(2), "piped"))
    assert piped.getvalue() == ""


def test_importance_loop_shows_a_bar(monkeypatch):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from zoo.unlearning.importance import squared_gradients

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.delenv("ZOO_QUIET", raising=False)
    net = torch.nn.Linear(3, 2)
    loader = DataLoader(TensorDataset(torch.randn(8, 3), torch.randint(0, 2, (8,))), batch_size=4)
    squared_gradients(net, loader, torch.nn.functional.cross_entropy)
    assert "squared gradients" in terminal.getvalue()


def test_trange_bar_and_forced_switches(monkeypatch):
    """``trange`` and the manual ``bar`` obey the same switch; ``enabled`` forces a bar on or off."""
    monkeypatch.delenv("ZOO_QUIET", raising=False)
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    assert list(progress_module.trange(3, "steps")) == [0, 1, 2] and piped.getvalue() == ""
    list(progress_module.trange(2, "forced on", enabled=True))
    assert "forced on" in piped.getvalue()
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with progress_module.bar(4, "by hand", unit="step") as manual:
        manual.update(4)
    assert "by hand" in terminal.getvalue()
    list(progress_module.progress(range(2), "forced off", enabled=False))
    assert "forced off" not in terminal.getvalue()
    assert progress_module.lightning_bar() and not progress_module.lightning_bar(False)
    monkeypatch.setenv("ZOO_QUIET", "1")
    assert not progress_module.lightning_bar() and not progress_module.shown()
    progress_module.write("not written")
    assert "not written" not in terminal.getvalue()


def test_lm_unlearning_loop_shows_a_bar(monkeypatch):
    """The LM family's loop (every method built on LMUnlearner) goes through zoo.core.progress."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from zoo.unlearning.llm.methods.grad_ascent import GradAscent

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.delenv("ZOO_QUIET", raising=False)
    torch.manual_seed(0)
    net = LlamaForCausalLM(LlamaConfig(vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=8))
    ids = torch.randint(1, 16, (6,))
    forget = [{"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids} for _ in range(4)]
    GradAscent(lr=1e-3, epochs=2, batch_size=2).run(net, forget, None)
    assert "grad_ascent" in terminal.getvalue() and "0/4 " in terminal.getvalue()  # 2 epochs of 2 batches


def test_no_direct_tqdm_outside_the_shared_helper():
    """Every bar goes through zoo/core/progress.py (one switch: terminal, ZOO_QUIET, --quiet): a new direct tqdm use
    in the package or the tools fails here."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    direct = re.compile(r"^\s*(from\s+tqdm\b|import\s+tqdm\b)|\btqdm\.(auto\.)?t(qdm|range)\(", re.MULTILINE)
    offenders = [
        str(path.relative_to(root))
        for folder in ("zoo", "tools")
        for path in sorted((root / folder).rglob("*.py"))
        if path != root / "zoo" / "core" / "progress.py" and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], f"use zoo.core.progress (progress / trange / bar / write) instead of tqdm in {offenders}"
