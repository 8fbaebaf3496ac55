"""``zoo export``: every shipped model's ONNX graphs run in onnxruntime and agree with eager PyTorch.

Tolerance: both sides compute in float32 and differ only in the order of their reductions (GEMM blocking, fused
softmax / LayerNorm / attention kernels); on the shipped models' outputs (magnitudes of order 1 to 10) the measured
differences are 3e-10 to 6e-6. ``ATOL = 1e-4`` leaves more than 10x room over the largest of them and is still
orders of magnitude below what a wrong operator, layout or weight gives (differences of order 1e-2 and more).

Each model is exported once per test module (``exported``) and every check reuses the files. The fast set covers
each fixed failure (4-D attention in Rawformer, the symbolic class count of UNEM, the shape-static graph tokenizer)
and one network of each kind; the rest of the shipped models' graphs are marked ``compile`` (slow on CPU). The
Meta-Transformer's graph modality exports with its Laplacian node identifiers as an input (``predict`` computes them:
ONNX has no symmetric eigendecomposition).
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import onnxruntime  # noqa: E402

import zoo  # noqa: E402
from zoo.cli import main  # noqa: E402

ATOL = 1e-4
REPORTED = re.compile(r"^(\w+): wrote (\S+) \(max abs difference vs onnxruntime ([0-9.e+-]+); exported in ([0-9.]+) s", re.M)

FAST = {
    "allcnn_mnist_classifier": [],
    "allcnn_mnist_regressor": [],
    "lightweight_isp_efficient": [],
    "tecogan": [],
    "unem_gaussian": [],
    "lightgcn_tiny": [],  # the final embeddings frozen into the graph (ONNX has no sparse matmul)
    "tiny_moe": [],  # transformers' batched-matmul experts (ONNX has no grouped matmul)
    "meta_transformer_tiny": ["--modality", "image"],
    "rawformer": ["--direction", "ba", "--static"],  # its dynamic image sides take minutes to trace on CPU; "ab" is the same network
}
SLOW = {
    "frvsr_tiny": [],  # TecoGAN's generator, other weights
    "meta_transformer_tiny": ["--static"],  # every modality, one file each in a directory
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``(exit status, stdout, output path)`` of ``zoo export NAME -o ... OPTIONS``, run once per (name, options)."""
    cache = {}

    def run(name: str, options: list[str]):
        key = (name, tuple(options))
        if key not in cache:
            single = "--modality" in options or "--direction" in options or name not in ("meta_transformer_tiny", "rawformer")
            out = tmp_path_factory.mktemp(name) / ("model.onnx" if single else "graphs")
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout):
                status = main(["export", name, "-o", str(out), *options])
            cache[key] = (status, stdout.getvalue(), out)
        return cache[key]

    return run


def _reported(stdout: str) -> dict[str, tuple[Path, float]]:
    return {m[1]: (Path(m[2]), float(m[3])) for m in REPORTED.finditer(stdout)}


def _check(status: int, stdout: str, names: set[str]) -> dict[str, tuple[Path, float]]:
    reported = _reported(stdout)
    assert status == 0, stdout
    assert set(reported) == names, stdout
    for name, (path, diff) in reported.items():
        assert path.is_file() and path.suffix == ".onnx", name
        assert diff < ATOL, (name, diff)
    return reported


@pytest.mark.parametrize("name", list(FAST))
def test_export_runs_in_onnxruntime_within_tolerance(exported, name):
    status, stdout, _ = exported(name, FAST[name])
    options = FAST[name]
    expected = {options[options.index("--modality") + 1]} if "--modality" in options else {"ba"} if "--direction" in options else {"model"}
    _check(status, stdout, expected)


@pytest.mark.compile
@pytest.mark.parametrize("name", list(SLOW))
def test_every_graph_of_the_shipped_models_exports(exported, name):
    status, stdout, out = exported(name, SLOW[name])
    names = {"model"}
    if name == "meta_transformer_tiny":  # every modality, the graph one too (its node ids are pre-processing)
        names = set(zoo.load(name).modalities)
        assert {p.name for p in out.iterdir()} == {f"{n}.onnx" for n in names}
    _check(status, stdout, names)


def test_exported_batch_and_sides_are_dynamic(exported):
    """The ISP's graph takes another batch and image size than it was traced on, with the same result as PyTorch."""
    _, stdout, out = exported("lightweight_isp_efficient", [])
    session = onnxruntime.InferenceSession(str(out))
    assert [isinstance(d, int) for d in session.get_inputs()[0].shape] == [False, True, False, False]
    model = zoo.load("lightweight_isp_efficient")
    x = torch.rand(3, *model.example_input(1).shape[1:2], 24, 40, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model(x).numpy()
    assert abs(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0] - expected).max() < ATOL


def test_tecogan_frame_graph_takes_other_sizes(exported):
    """TecoGAN's frame step (traced on 16x16 LR frames) runs on other batches and sides (multiples of 8, as FNet's three
    poolings need), as PyTorch does: the
    warp builds its sampling grid from arange (linspace would fix the sides)."""
    _, _, out = exported("tecogan", [])
    session = onnxruntime.InferenceSession(str(out))
    gen = torch.Generator().manual_seed(2)
    inputs = (torch.rand(3, 1, 3, 24, 40, generator=gen), torch.rand(3, 3, 24, 40, generator=gen), torch.rand(3, 3, 96, 160, generator=gen))
    model = zoo.load("tecogan")
    with torch.no_grad():
        expected = model(*inputs)
    expected = expected[0] if isinstance(expected, tuple) else expected
    received = session.run(None, {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)})[0]
    assert received.shape == tuple(expected.shape)
    assert abs(received - expected.numpy()).max() < ATOL


def test_unem_graph_takes_any_number_of_classes(exported):
    """UNEM's class count is a symbolic size in the graph (it was traced on 5-way tasks): a 3-way task of other
    support, query and feature sizes gives PyTorch's assignments."""
    _, _, out = exported("unem_gaussian", [])
    session = onnxruntime.InferenceSession(str(out))
    gen = torch.Generator().manual_seed(1)
    labels = torch.arange(3).repeat(4).expand(2, -1).contiguous()
    support, query = torch.randn(2, 12, 5, generator=gen), torch.randn(2, 7, 5, generator=gen)
    with torch.no_grad():
        expected = zoo.load("unem_gaussian")(support, labels, query).numpy()
    received = session.run(None, {i.name: t.numpy() for i, t in zip(session.get_inputs(), (support, labels, query))})[0]
    assert received.shape == (2, 7, 3)
    assert abs(received - expected).max() < ATOL


def test_graph_tokenizer_traces_shape_static():
    """The graph tokenizer exports with ``torch.export`` (no data-dependent sizes): the program traced on one graph
    gives eager's tokens on graphs with other edges, fewer edges than ``max_edges`` slots included."""
    from zoo.models.meta_transformer.tokenizers import GraphTokenizer

    tok = GraphTokenizer(8, node_features=1, max_edges=12, eigenvectors=3).eval()
    gen = torch.Generator().manual_seed(0)

    def graph(p: float):
        a = torch.triu((torch.rand(2, 6, 6, generator=gen) < p).float(), 1)
        return torch.rand(2, 6, 1, generator=gen), a + a.transpose(1, 2)

    program = torch.export.export(tok, (graph(0.5),), strict=False)
    for p in (0.2, 0.6):
        g = graph(p)
        (tokens, padding), (ref_tokens, ref_padding) = program.module()(g), tok(g)
        assert torch.equal(padding, ref_padding) and torch.allclose(tokens, ref_tokens, atol=1e-6)
    assert int((~padding[:, 7:]).sum(1).max()) <= 12  # edge slots after the class token and 6 node tokens


def test_export_options_are_checked(tmp_path, capsys):
    assert main(["export", "meta_transformer_tiny", "-o", str(tmp_path / "all.onnx")]) == 2
    assert "expected a directory for 7 graphs" in capsys.readouterr().err
    assert main(["export", "meta_transformer_tiny", "--modality", "smell", "-o", str(tmp_path)]) == 2
    assert "--modality: expected one of" in capsys.readouterr().err
    assert main(["export", "unem_gaussian", "--direction", "ba", "-o", str(tmp_path / "x.onnx")]) == 2
    assert "--direction: expected only for models whose forward takes 'reverse'" in capsys.readouterr().err
