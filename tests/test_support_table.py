"""The README's layer table is generated from the converter registry."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load_script():
    spec = importlib.util.spec_from_file_location("update_support_table", ROOT / "scripts" / "update_support_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_matches_registry():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _load_script().render(readme) == readme, "run: python scripts/update_support_table.py"


def test_registry_covers_every_layer_type():
    from convnetjs_keras.converters import CONVERTERS

    expected = {"input", "conv", "fc", "pool", "relu", "sigmoid", "tanh", "maxout", "dropout", "lrn",
                "softmax", "svm", "regression", "quadtransform"}
    assert set(CONVERTERS) == expected


def test_registering_twice_raises():
    import pytest

    from convnetjs_keras.converters.base import LayerConverter, register

    class Duplicate(LayerConverter):
        layer_type = "conv"

    with pytest.raises(RuntimeError, match="already registered"):
        register(Duplicate)
