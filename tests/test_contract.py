"""The package contract, checked for every model package and every registered model (in the style of
torchvision's test_naming_conventions and test_schema_meta_validation).

Every paper is one package ``zoo/models/<pkg>/`` with the same files; adding one edits no shared file.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

import zoo
import zoo.models
from zoo.cards import build_card, package_card_notes
from zoo.records import CheckpointRecord
from zoo.registry import HUGE_PARAMS, REGISTRY, checkpoint_record, get_spec, list_models, model_packages, resolve_class

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_FILES = ("__init__.py", "specs.py", "model.py", "module.py", "convert.py", "card.py")
PACKAGES = [p.rsplit(".", 1)[-1] for p in model_packages()]
SHIPPED = [n for n in list_models() if checkpoint_record(n)]


def sized(names):
    """Names as pytest params, the presets over HUGE_PARAMS marked ``huge`` (built only by ``pytest -m huge``)."""
    return [pytest.param(n, marks=pytest.mark.huge) if get_spec(n).num_params > HUGE_PARAMS else n for n in names]


def test_every_directory_under_models_is_a_contract_package():
    folders = sorted(p.name for p in (ROOT / "zoo" / "models").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted(PACKAGES), "every folder of zoo/models must be a package with a specs.py"


@pytest.mark.parametrize("package", PACKAGES)
def test_package_has_the_contract_files(package):
    folder = ROOT / "zoo" / "models" / package
    missing = [f for f in CONTRACT_FILES if not (folder / f).is_file()]
    assert not missing, f"zoo/models/{package} lacks {missing}"
    assert (ROOT / "tools" / "weights" / f"{package}.py").is_file() or not any(get_spec(n).package.endswith(f".{package}") for n in SHIPPED)


def test_specs_and_cards_import_no_torch():
    code = (
        "import sys, importlib, zoo; from zoo.registry import model_packages\n"
        "for p in model_packages(): importlib.import_module(p + '.specs')\n"
        "zoo.list_models(); assert 'torch' not in sys.modules, 'a specs module imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("package", PACKAGES)
def test_model_py_is_usable_without_lightning(package):
    code = f"import sys; import zoo.models.{package}.model; assert 'lightning' not in sys.modules, 'model.py imported lightning'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", sized(list_models()))
def test_every_registered_model_predicts_on_its_example_input(name):
    torch.manual_seed(0)
    model = zoo.create(name).eval()
    assert model.predict(model.example_predict_input()) is not None


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_has_tiny_and_paper_recipes(name):
    for recipe in ("tiny.yaml", "paper.yaml"):
        assert (ROOT / "recipes" / name / recipe).is_file(), f"recipes/{name}/{recipe} is missing"


@pytest.mark.parametrize("name", SHIPPED)
def test_record_validates_and_is_its_spec_type(name):
    record = checkpoint_record(name)
    assert type(record) is get_spec(name).record_type and isinstance(record, CheckpointRecord)
    assert type(record).from_dict(record.to_dict()) == record
    assert get_spec(name).headline_metric in record.metrics


@pytest.mark.parametrize("name", list_models())
def test_card_validates(name):
    card = zoo.card(name)
    assert isinstance(card, ModelCard)
    ModelCard(str(card))  # the YAML header parses
    notes = package_card_notes(get_spec(name), resolve_class(get_spec(name)).config_from_dict(dict(get_spec(name).config)), None)
    assert isinstance(notes, str)


def test_record_schema_refuses_bad_entries():
    good = checkpoint_record(SHIPPED[0]).to_dict()
    cls = get_spec(SHIPPED[0]).record_type
    with pytest.raises(ValueError, match="unknown keys"):
        cls.from_dict({**good, "surprise": 1})
    with pytest.raises(ValueError, match="missing keys"):
        cls.from_dict({k: v for k, v in good.items() if k != "metrics"})
    with pytest.raises(ValueError, match="num_params: expected int"):
        cls.from_dict({**good, "num_params": "many"})
    with pytest.raises(ValueError, match="expected a finite number"):
        cls.from_dict({**good, "metrics": {"psnr": float("nan")}})
    with pytest.raises(ValueError, match="64 lower-case hex"):
        cls.from_dict({**good, "sha256": {"model.safetensors": "abc"}})


TOY_FILES = {
    "__init__.py": '"""A throwaway paper package, written by the contract test."""\n',
    "specs.py": '''
        from zoo.registry import ModelSpec

        SPECS = (
            ModelSpec(name="toy_tiny", task="image-to-image", paper="Toy (2026)", paper_url="https://example.org",
                      official_repo="toy/toy", official_license="MIT", module="zoo.models.toy.module:Toy",
                      config={"width": 3}, num_params=2 * (3 * 3 * 3 * 3 + 3)),
        )
    ''',
    "model.py": '''
        from torch import nn

        class ToyNet(nn.Sequential):
            def __init__(self, width: int) -> None:
                super().__init__(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 3, 3, padding=1))
    ''',
    "module.py": '''
        import dataclasses

        import torch

        from zoo.core.module import ZooModule
        from zoo.models.toy.model import ToyNet

        @dataclasses.dataclass
        class ToyConfig:
            width: int = 8

        class Toy(ZooModule):
            config_class = ToyConfig

            def __init__(self, config=None):
                super().__init__(config)
                self.net = ToyNet(self.config.width)

            def example_input(self, batch_size=1):
                return torch.rand(batch_size, 3, 8, 8, generator=torch.Generator().manual_seed(0))

            def prepare_input(self, x):
                return torch.as_tensor(x, dtype=torch.float32), {}

            def postprocess(self, y, context):
                return y
    ''',
    "convert.py": '''
        def load_official(model, path):
            from zoo.core.convert import read_official
            model.load_net_state(read_official(path))
    ''',
    "card.py": '''
        def card_notes(spec, config, record):
            return f"## Toy\\nA width-{config.width} toy."
    ''',
}


@pytest.fixture
def toy_package(tmp_path, monkeypatch):
    folder = tmp_path / "toy"
    folder.mkdir()
    for filename, text in TOY_FILES.items():
        (folder / filename).write_text(textwrap.dedent(text).lstrip())
    monkeypatch.setattr(zoo.models, "__path__", [*zoo.models.__path__, str(tmp_path)])
    REGISTRY.reload()
    yield folder
    monkeypatch.undo()
    REGISTRY.reload()
    for module in [m for m in sys.modules if m.startswith("zoo.models.toy")]:
        del sys.modules[module]


def test_a_new_package_is_listed_created_saved_and_loaded_with_no_edit_outside_it(toy_package, tmp_path):
    assert "toy_tiny" in zoo.list_models() and "zoo.models.toy" in model_packages()
    model = zoo.create("toy_tiny")
    assert model.config.width == 3 and model.num_params() == get_spec("toy_tiny").num_params
    model.save_pretrained(tmp_path / "weights")
    loaded = zoo.load("toy_tiny", weights=tmp_path / "weights")
    x = model.example_input(2)
    assert torch.equal(loaded.predict(x), model.eval().predict(x))
    torch.save(model.net.state_dict(), tmp_path / "official.pth")
    official = zoo.load("toy_tiny", weights=tmp_path / "official.pth", official=True)
    assert torch.equal(official.predict(x), model.predict(x))
    assert "A width-3 toy." in str(build_card(get_spec("toy_tiny"), None, package_card_notes(get_spec("toy_tiny"), model.config, None)))
    assert "A width-3 toy." in str(zoo.card("toy_tiny"))


def test_the_toy_package_is_gone_after_the_fixture():
    assert "toy_tiny" not in zoo.list_models()


def test_a_package_may_not_register_a_name_twice(toy_package):
    (toy_package / "specs.py").write_text((toy_package / "specs.py").read_text().replace('name="toy_tiny"', 'name="rawformer"'))
    REGISTRY.reload()
    with pytest.raises(ValueError, match="registered twice"):
        zoo.list_models()
