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
