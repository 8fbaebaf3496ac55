import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from zoo.registry import REGISTRY, checkpoint_record, get_spec, list_models, models_table, validate_name

ROOT = Path(__file__).resolve().parents[1]


def test_list_models_without_torch():
    code = "import sys, zoo; names = zoo.list_models(); assert 'torch' not in sys.modules, 'torch imported'; print(len(names))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(REGISTRY)


def test_list_models_filter():
    assert list_models("*rmfa*") == ["lightweight_isp_rmfa_large", "lightweight_isp_rmfa_medium", "lightweight_isp_rmfa_tiny"]
    assert list_models("nothing*") == []


@pytest.mark.parametrize("bad", ["../weights", "a/b", "", "Lightweight", "x;rm", None])
def test_malformed_names_refused(bad):
    with pytest.raises(ValueError, match="model name must match"):
        validate_name(bad)


def test_unknown_name_lists_registered():
    with pytest.raises(KeyError, match="lightweight_isp_efficient"):
        get_spec("no_such_model")


def test_readme_table_is_generated_from_registry():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- models-table:start -->") + len("<!-- models-table:start -->")
    end = readme.index("<!-- models-table:end -->")
    assert readme[start:end].strip() == models_table().strip(), "run tools/make_weights.py or regenerate the README table"


def test_list_models_pretrained():
    shipped = list_models(pretrained=True)
    assert shipped and set(shipped) < set(list_models())
    assert shipped == sorted(n for n in list_models() if checkpoint_record(n) is not None)
    assert list_models("tecogan*", pretrained=True) == ["tecogan"]
    assert zoo.list_models(pretrained=True) == shipped


def test_list_models_pretrained_without_torch():
    code = "import sys, zoo; names = zoo.list_models(pretrained=True); assert 'torch' not in sys.modules, 'torch imported'; print(len(names))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(list_models(pretrained=True))


def test_unknown_name_suggests_the_closest():
    with pytest.raises(KeyError, match=r"unknown model 'tecogna'; did you mean 'tecogan'\? registered models: "):
        get_spec("tecogna")
    with pytest.raises(KeyError) as info:
        get_spec("qqqqqq")
    assert "did you mean" not in str(info.value)


def test_zoo_list_pretrained(capsys):
    from zoo.cli import main

    assert main(["list", "--pretrained"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines()[2:] if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list_models(pretrained=True)
    assert main(["list", "cyclegan*", "--pretrained"]) == 1
    assert "with a shipped checkpoint" in capsys.readouterr().err


def test_zoo_list_into_a_closed_pipe_exits_quietly():
    """``zoo list | head``: the reader closes the pipe before the table is written; no BrokenPipeError traceback."""
    process = subprocess.Popen([sys.executable, "-m", "zoo.cli", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait() == 1 and stderr == "", stderr
