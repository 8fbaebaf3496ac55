"""The bench: alternating rounds, per-round ratios, and the reference formulations held equal to the official
outputs (parity fixtures) and to zoo's networks. Correctness only; the bench itself measures speed."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

import zoo
from zoo import bench


def test_rounds_alternate_every_column():
    calls = []
    times = bench.measure_rounds([lambda: calls.append("a"), lambda: calls.append("b"), lambda: calls.append("c")], 2, torch.device("cpu"))
    assert calls == ["a", "b", "c"] * 2 and [len(t) for t in times] == [2, 2, 2]


def test_ratio_is_the_median_of_per_round_ratios():
    times = [[1.0, 2.0, 4.0], [0.5, 2.0, 1.0]]  # per round: 2, 1, 4 -> median 2 (the ratio of medians would be 2 / 1)
    assert bench.ratio_medians(times, 0) == [1.0, 2.0]
    assert bench.ratio_medians([[3.0, 3.0, 3.0], [1.0, 1.0, 9.0]], 0)[1] == 3.0  # one loaded round does not move it


def test_rounds_fit_the_budget_within_bounds():
    assert bench.rounds_for(1.0, 10.0, 20) == 10
    assert bench.rounds_for(100.0, 10.0, 20) == 3
    assert bench.rounds_for(0.001, 10.0, 20) == 20


def test_max_abs_diff_reads_tensors_arrays_and_lists():
    a = torch.zeros(2, 3)
    assert bench.max_abs_diff([a.numpy()], a + 0.5) == 0.5


def _check_rows(model, rows):
    assert rows, "a package with reference.bench_paths gives at least one row"
    with torch.no_grad():
        for row in rows:
            out = row.zoo(*row.inputs)
            if row.reference is not None:
                assert bench.max_abs_diff(row.reference(*row.inputs), out) <= 1e-5, row.what


@pytest.mark.parametrize(
    "name, batch, size",
    [("lightweight_isp_efficient", 1, 32), ("lightweight_isp_rmfa_tiny", 1, 32), ("rawformer", 1, 64), ("tecogan", 1, 16), ("unem_gaussian", 2, 16), ("meta_transformer_tiny", 2, 8)],
)
def test_bench_rows_run_and_the_reference_formulation_agrees_with_zoo(name, batch, size):
    model = zoo.create(name).eval()
    _check_rows(model, bench.model_paths(model, batch, size))


def test_default_rows_of_a_package_without_reference():
    model = zoo.create("allcnn_mnist_classifier").eval()
    (row,) = bench.model_paths(model, 2, None)
    assert row.reference is None and row.channels_last and row.inputs[0].shape[0] == 2


def test_unem_official_formulation_reproduces_the_official_output(parity_dir):
    from zoo.models.unem.reference import OfficialGaussianEM

    folder = parity_dir / "unem" / "gaussian"
    model = zoo.load("unem_gaussian", weights=folder / "params.safetensors", official=True)
    x = load_file(str(folder / "input.safetensors"))
    with torch.no_grad():
        u = OfficialGaussianEM(model.net)(x["support_features"], x["support_labels"], x["query_features"])
    assert (u - load_file(str(folder / "output.safetensors"))["U"]).abs().max() <= 1e-5


def test_rawformer_plain_formulation_reproduces_the_official_output(parity_dir):
    import json

    from zoo.models.rawformer.reference import PlainGenerator

    folder = parity_dir / "rawformer" / "small_64"
    heads = json.loads((folder / "meta.json").read_text())["constructor_args"]["n_heads"]
    model = zoo.load("rawformer_base", weights=folder / "official_state_dict.safetensors", official=True, vit_heads=heads)
    x = load_file(str(folder / "input.safetensors"))["input"]
    with torch.no_grad():
        y = PlainGenerator(model.net.ab).eval()(x)
    assert (y - load_file(str(folder / "output.safetensors"))["output"]).abs().max() <= 1e-5


@pytest.mark.slow
@pytest.mark.compile
def test_bench_of_one_small_model_reports_every_column():
    text = bench.run_bench("lightweight_isp_efficient", batch_size=1, size=32, repeats=3, device="cpu", budget_s=1.0, ops=False, onnx=False)
    for column in ("zoo eager", "zoo compiled", "zoo frozen"):
        assert column in text
    assert "max abs difference from zoo eager" in text and "nan" not in text


def _entry(what: str, ratio: float, **extra) -> dict:
    row = {"what": what, "columns": ["zoo eager", "zoo compiled", "zoo frozen"], "median_ms": {"zoo eager": 2.0, "zoo compiled": 1.0, "zoo frozen": 1.0 / ratio},
           "ratio": {"zoo eager": 0.5, "zoo compiled": 1.0, "zoo frozen": ratio}, "first_call_s": {}, "max_abs_diff": {"zoo frozen": 0.0},
           "peak_mib": {}, "rounds": 3, "notes": [], "gflops": 1.0, "ceiling": 10.0, "ceiling_share": {"zoo frozen": 0.5}, "threads": 1}
    return {"rows": [row], "ops": [], "device": "cpu (1 threads)", "torch": "x", "date": "today", "load": 1.0, "seconds": 1, "cpu_seconds": 1, **extra}


def test_page_rows_merge_per_model_and_a_failure_keeps_the_old_rows(tmp_path):
    from zoo import bench_page

    page = tmp_path / "bench.md"
    page.write_text("intro\n<!-- bench:start -->\nold\n<!-- bench:end -->\n<!-- goals:start -->\n<!-- goals:end -->\noutro\n")
    bench_page.merge_and_render(page, {"tecogan": _entry("step 1x3", 1.2), "rawformer": _entry("generator A->B", 1.1)})
    bench_page.merge_and_render(page, {"tecogan": _entry("step 1x3", 1.7)})  # tecogan again: only its row changes
    bench_page.merge_and_render(page, {"rawformer": {"failed": "RuntimeError: boom", "date": "later"}})
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "\nold\n" not in text
    assert "1.70×" in text and "1.20×" not in text and "| `rawformer` | generator A->B" in text
    assert "failed at later: RuntimeError: boom (the rows above are from the earlier run)" in text
    goals = text[text.index("<!-- goals:start -->"):]
    assert "| TecoGAN | ≥ 1.5× | 1.70× | zoo frozen 1.70×" in goals and "yes (zoo frozen)" in goals
    assert "| Rawformer | ≥ 1.6× | 1.10×" in goals and "| no |" in goals
    assert "| EfficientISP | ≥ 2× | not measured" in goals


def test_profile_ops_groups_self_time_by_op():
    conv = torch.nn.Conv2d(3, 8, 3)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        result = bench.profile_ops(lambda: torch.cat([conv(x), conv(x)]))
    assert abs(sum(result["groups"].values()) - 1.0) < 1e-6
    assert result["groups"]["conv"] > 0 and result["groups"]["copy_ / contiguous / cat"] > 0
    assert result["top"] and all(0 < share <= 1 for _, share in result["top"])
    assert bench._op_group("mkldnn::_convolution_pointwise") == "conv" and bench._op_group("graph_0_cpp_fused_add_0") == "Inductor fused kernels"


def test_max_abs_diff_skips_leaves_that_are_not_tensors():
    out = {"logits": torch.ones(2), "past_key_values": object()}  # a transformers output with its cache object
    assert bench.max_abs_diff(out, [torch.ones(2).numpy() + 0.25]) == 0.25
