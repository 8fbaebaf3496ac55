import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from zoo.registry import REGISTRY, get_spec, list_models, models_table, validate_name

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
