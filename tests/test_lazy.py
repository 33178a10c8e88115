"""Packages that import their submodules on first use: every public name resolves to its module's object,
and the processes that start often (map workers, the CLI) do not import what they do not use."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from inseason.lazy import lazy_exports

LAZY = ("inseason.data", "inseason.evaluate", "inseason.predict", "inseason.synth", "inseason.train")


@pytest.mark.parametrize("package", LAZY)
def test_every_public_name_is_its_modules_object(package: str) -> None:
    module = importlib.import_module(package)
    source = Path(module.__file__ or "").read_text()
    assert "lazy_exports(__name__, __file__)" in source
    assert sorted(module.__all__) == sorted(set(module.__all__))
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None, name
        origin = getattr(value, "__module__", None)
        if origin is not None and origin.startswith("inseason."):
            assert getattr(importlib.import_module(origin), name, value) is value, name
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


def test_the_exports_are_the_type_checking_imports_and_only_those(tmp_path: Path) -> None:
    init = tmp_path / "__init__.py"
    init.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from inseason.season import season_start as start, day_of_season\n"
        "from inseason.errors import InputError\n"
    )
    getter, lister = lazy_exports("inseason.errors", str(init))
    from inseason.season import day_of_season, season_start

    assert getter("start") is season_start and getter("day_of_season") is day_of_season
    assert {"start", "day_of_season"} <= set(lister())
    with pytest.raises(AttributeError):
        getter("InputError")  # imported at run time, not exported lazily
    init.write_text("from inseason.errors import InputError\n")
    with pytest.raises(ValueError, match="no `if TYPE_CHECKING:` imports"):
        lazy_exports("inseason.errors", str(init))


def _loaded_after(statement: str, candidates: tuple[str, ...]) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {candidates!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(result.stdout.split())


def test_a_map_worker_imports_neither_lightning_nor_scikit_learn_nor_the_synthetic_world() -> None:
    heavy = ("lightning", "sklearn", "scipy", "inseason.synth.world", "duckdb", "plotly", "onnxruntime")
    assert _loaded_after("import inseason.predict.maps", heavy) == set()
    # ... and they are there when asked for
    assert _loaded_after("from inseason.train import train", heavy) >= {"lightning"}
    assert _loaded_after(
        "from inseason.models import create_model; create_model('random_forest', n_bands=2, n_steps=3, n_classes=2)",
        heavy,
    ) >= {"sklearn"}


def test_the_cli_starts_without_torch() -> None:
    assert _loaded_after("import inseason.cli", ("torch", "lightning", "sklearn", "pyspark")) == set()
