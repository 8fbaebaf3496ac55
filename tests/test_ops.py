"""zoo.ops: compiled twins that keep themselves only where they win, and the frozen inference path.

No timed assertions: the choices are checked on callables whose speeds differ by orders of magnitude, and every
compiled path is checked for equal values.
"""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from zoo.ops import compile as zc


def test_per_round_ratio_alternates_the_two_callables():
    calls = []
    zc.per_round_ratio(lambda: calls.append("b"), lambda: calls.append("c"), rounds=3)
    assert calls == ["b", "c"] * 4  # one warm-up each, then three alternating rounds


def test_faster_of_keeps_the_compiled_candidate_only_when_it_wins():
    fast, slow = (lambda x: x), (lambda x: time.sleep(0.01) or x)
    assert zc.faster_of(slow, fast, (1,))[1] == "compiled"
    fn, name, ratio = zc.faster_of(fast, slow, (1,))
    assert (fn, name) == (fast, "eager") and ratio < 1


def test_lazy_twin_is_the_eager_op_inside_an_enclosing_compile(monkeypatch):
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    twin = zc.lazy_compile(lambda x: x + 1)
    assert twin(torch.zeros(2)).tolist() == [1.0, 1.0] and not twin.choices  # nothing compiled, nothing timed


@pytest.mark.compile
def test_lazy_twin_records_one_choice_per_signature_and_matches_eager(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))  # no choice stored by an earlier run: this one times them
    from zoo.ops.color import white_balance_normalize_gamma, white_balance_normalize_gamma_fused as twin

    gains = torch.tensor([1.6, 1.2, 1.4])
    twin.choices.clear()  # other tests may have called the twin at other shapes
    for shape in ((1, 3, 8, 8), (2, 3, 8, 8), (1, 3, 8, 8)):
        rgb = torch.rand(shape)
        assert torch.allclose(twin(rgb, gains), white_balance_normalize_gamma(rgb, gains), atol=1e-6)
    assert len(twin.choices) == 2 and {name for name, _ in twin.choices.values()} <= {"eager", "compiled"}


class _TinyConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


@pytest.mark.compile
@pytest.mark.parametrize("channels_last", [False, True])
def test_frozen_path_matches_eager_and_leaves_the_network_as_it_was(channels_last):
    net = _TinyConvNet().eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        eager = net(x)
        out = zc.frozen(net, channels_last)(x)
    assert torch.allclose(out, eager, atol=1e-5)
    assert net.a.weight.is_contiguous()  # the channels-last copy is a copy


@pytest.mark.compile
def test_inference_path_returns_a_callable_of_equal_values():
    net = _TinyConvNet().eval()
    x = torch.rand(1, 3, 16, 16)
    fn, name, ratio = zc.inference_path(net, (x,), channels_last=True)
    with torch.no_grad():
        assert torch.allclose(fn(x), net(x), atol=1e-5)
    assert name in ("eager", "frozen") and ratio > 0


def test_unknown_backend_is_refused_by_name():
    import zoo

    with pytest.raises(ValueError, match=r"backend: expected one of \['torch', 'onnxruntime'\], received 'tvm'"):
        zoo.load("lightweight_isp_efficient", backend="tvm")


@pytest.mark.slow
def test_onnxruntime_backend_predicts_what_torch_predicts_and_caches_its_export(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    import zoo

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    raw = torch.rand(1, 4, 24, 32, generator=torch.Generator().manual_seed(0))
    expected = zoo.load("lightweight_isp_efficient").predict(raw)
    model = zoo.load("lightweight_isp_efficient", backend="onnxruntime")
    assert torch.allclose(torch.as_tensor(model.predict(raw)), torch.as_tensor(expected), atol=1e-5)
    assert torch.allclose(torch.as_tensor(model.predict(raw[..., :16, :16])), torch.as_tensor(zoo.load("lightweight_isp_efficient").predict(raw[..., :16, :16])), atol=1e-5)
    (graphs,) = (tmp_path / "onnxruntime").iterdir()
    stamp = (graphs / "model.onnx").stat().st_mtime_ns
    zoo.load("lightweight_isp_efficient", backend="onnxruntime")
    assert (graphs / "model.onnx").stat().st_mtime_ns == stamp  # the second load reuses the export


@pytest.mark.compile
def test_unem_inference_path_serves_one_task_with_the_networks_values(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    import zoo
    from zoo.models.unem.reference import tasks

    model = zoo.create("unem_gaussian").eval()
    x = tasks(1, 16)
    fn, name, _ = model.inference_path(*x)
    with torch.no_grad():
        assert torch.allclose(fn(*x), model.inference_net(*x), atol=1e-5)
    assert name in ("eager", "frozen")


def test_a_twins_choice_is_timed_once_per_machine_not_once_per_process(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))

    def op(x):
        return x * 2

    first = zc.lazy_compile(op)
    monkeypatch.setattr(zc, "faster_of", lambda eager, compiled, args, kwargs: (eager, "eager", 0.5))
    assert first(torch.ones(3)).tolist() == [2.0] * 3
    assert zc.stored_choice(op, next(iter(first.choices))) == ("eager", 0.5)

    def no_timing(*args, **kwargs):
        raise AssertionError("a stored choice must not be timed again")

    monkeypatch.setattr(zc, "faster_of", no_timing)
    monkeypatch.setattr(torch, "compile", no_timing)  # eager was chosen: a later process does not even compile
    second = zc.lazy_compile(op)  # as a fresh process would build it
    assert second(torch.ones(3)).tolist() == [2.0] * 3 and list(second.choices.values()) == [("eager", 0.5)]


def test_inference_path_reuses_a_stored_eager_choice_without_compiling(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    net, x = _TinyConvNet().eval(), torch.rand(1, 3, 8, 8)
    zc.store_choice(_TinyConvNet, zc.inference_path_key(net, (x,)), "eager", 0.8)
    wider = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3)).eval()
    assert zc.inference_path_key(wider, (x,)) != zc.inference_path_key(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3)), (x,))  # presets differ

    def no_compile(*args, **kwargs):
        raise AssertionError("a stored eager choice must not compile")

    monkeypatch.setattr(zc, "frozen", no_compile)
    assert zc.inference_path(net, (x,)) == (net, "eager", 0.8)
