"""A clean install: every third-party import is declared in the group allowed to use it, the lock files pin
every declared requirement exactly, and the package imports and runs its CLI without the ``spark`` extra.

Groups (pyproject.toml):

* ``[project].dependencies`` (runtime) covers every module of ``src/inseason`` — what ``pip install inseason``
  and ``make demo`` give a user;
* the ``spark`` extra may be used only by :mod:`inseason.engines.spark` and :mod:`inseason.bench.engines`,
  which the rest of the package imports lazily, when Spark is asked for;
* the ``test`` extra may be used only by the test-support modules :mod:`inseason.testing.s3` (moto),
  :mod:`inseason.testing.pytest_plugin` (pytest) and :mod:`inseason.testing.browser` (selenium). The loopback
  HTTP and STAC servers (:mod:`inseason.testing`) are runtime: the demo serves its world with them;
* ``tests/`` may use all three.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "inseason"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
TEST_LOCK = ROOT / "requirements" / "test.txt"

#: Modules (paths relative to src/inseason) allowed to import an extra's packages, and which extras.
EXTRA_USERS: dict[str, tuple[str, ...]] = {
    "engines/spark.py": ("spark",),
    "bench/engines.py": ("spark",),
    "testing/s3.py": ("test",),
    "testing/pytest_plugin.py": ("test",),
    "testing/browser.py": ("test",),
}
#: Modules that need the spark extra; nothing else in the package may import them at module level.
SPARK_MODULES = ("inseason.engines.spark", "inseason.bench.engines")
#: Modules that need the test extra (test support), left out of the import-without-Spark check.
TEST_SUPPORT_MODULES = ("inseason.testing.s3", "inseason.testing.pytest_plugin", "inseason.testing.browser")
SPARK_FIX = "pip install 'inseason[spark]'"


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a Python file, at any depth (module level or in functions).

    Args:
        path: a ``.py`` file.

    Returns:
        e.g. ``{"numpy", "inseason", "os"}`` for ``import numpy as np; from inseason.x import y; import os.path``.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def third_party(names: Iterable[str], local: Iterable[str] = ()) -> set[str]:
    """The names that are neither the standard library, ``__future__``, this package nor ``local`` modules."""
    skip = set(sys.stdlib_module_names) | {"__future__", "inseason"} | set(local)
    return {name for name in names if name not in skip}


@cache
def declared() -> dict[str, set[str]]:
    """Canonical distribution names declared in pyproject.toml, by group: ``runtime`` and each extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"runtime": project["dependencies"], **project["optional-dependencies"]}
    return {group: {canonicalize_name(Requirement(req).name) for req in reqs} for group, reqs in groups.items()}


def requirements(group: str) -> list[Requirement]:
    """The parsed requirements of one group of pyproject.toml (``runtime`` or an extra's name)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = project["dependencies"] if group == "runtime" else project["optional-dependencies"][group]
    return [Requirement(req) for req in reqs]


@cache
def _packages_distributions() -> Mapping[str, list[str]]:
    """``importlib.metadata.packages_distributions()`` once: it reads every installed distribution's files."""
    return importlib.metadata.packages_distributions()


def undeclared(modules: set[str], groups: Iterable[str]) -> dict[str, list[str]]:
    """The modules that no distribution declared in ``groups`` provides, each with the distributions that do.

    Args:
        modules: top-level module names (third-party only).
        groups: the pyproject groups allowed (``runtime``, ``spark``, ``test``).

    Returns:
        ``{module: [providing distributions]}``; an empty list means the module is not installed at all.
    """
    provided_by = _packages_distributions()
    allowed = set().union(*(declared()[group] for group in groups))
    missing: dict[str, list[str]] = {}
    for module in sorted(modules):
        dists = sorted(canonicalize_name(dist) for dist in provided_by.get(module, []))
        if not allowed.intersection(dists):
            missing[module] = dists
    return missing


def read_lock(path: Path) -> dict[str, str]:
    """``{canonical name: version}`` of a pip-compile lock; every requirement line must be an exact pin.

    Raises:
        AssertionError: for a line that is not ``name==version`` (a range, a URL, an option).
    """
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;=<>!~]+)", line)
        assert match, f"{path.name}: {line!r} is not an exact name==version pin"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def test_imported_modules_and_third_party_filtering(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from __future__ import annotations\nimport os.path, numpy as np\nfrom . import x\n"
        "from inseason.errors import InputError\ndef f():\n    from pyspark.sql import SparkSession\n"
        "    import helper\n",
        encoding="utf-8",
    )
    names = imported_modules(sample)
    assert names == {"__future__", "os", "numpy", "inseason", "pyspark", "helper"}
    assert third_party(names, local=["helper"]) == {"numpy", "pyspark"}


def test_undeclared_names_a_module_outside_the_allowed_groups() -> None:
    assert undeclared({"numpy", "boto3"}, ["runtime"]) == {}
    assert undeclared({"pyspark"}, ["runtime"]) == {"pyspark": ["pyspark"]}
    assert undeclared({"pyspark"}, ["runtime", "spark"]) == {}
    assert undeclared({"no_such_module_anywhere"}, ["runtime", "test", "spark"]) == {"no_such_module_anywhere": []}


def test_every_import_of_the_package_is_declared_in_its_group() -> None:
    assert set(EXTRA_USERS) <= {str(p.relative_to(SRC)) for p in SRC.rglob("*.py")}, "a listed module moved"
    problems = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = str(path.relative_to(SRC))
        groups = ("runtime", *EXTRA_USERS.get(relative, ()))
        missing = undeclared(third_party(imported_modules(path)), groups)
        if missing:
            problems[relative] = missing
    assert problems == {}, f"imports not declared in {{module: {{import: distributions}}}} form: {problems}"


def test_every_import_of_the_tests_is_declared() -> None:
    tests = ROOT / "tests"
    local = {"tests"} | {p.stem for p in tests.rglob("*.py")} | {p.name for p in tests.rglob("*") if p.is_dir()}
    modules: set[str] = set()
    for path in tests.rglob("*.py"):
        modules |= third_party(imported_modules(path), local)
    assert {"pytest", "pyspark", "rio_cogeo"} <= modules  # the scan sees what the suite is known to use
    assert undeclared(modules, ("runtime", "test", "spark")) == {}


def test_spark_and_test_only_packages_are_not_runtime_dependencies() -> None:
    runtime = declared()["runtime"]
    assert {"pyspark", "pandas"} <= declared()["spark"]
    assert {"rio-cogeo", "moto", "pytest", "selenium"} <= declared()["test"]
    assert not runtime & {"pyspark", "pandas", "rio-cogeo", "moto", "pytest", "selenium"}
    assert {"boto3", "affine", "urllib3"} <= runtime  # imported directly by src/inseason


@pytest.mark.parametrize(("lock", "groups"), [(RUNTIME_LOCK, ("runtime",)), (TEST_LOCK, ("runtime", "test", "spark"))])
def test_lock_pins_every_declared_requirement_within_its_range(lock: Path, groups: tuple[str, ...]) -> None:
    pins = read_lock(lock)
    for group in groups:
        for req in requirements(group):
            name = canonicalize_name(req.name)
            assert name in pins, f"{lock.name} lacks {req.name} ({group}): run `make lock`"
            assert req.specifier.contains(Version(pins[name]), prereleases=True), (
                f"{lock.name} pins {name}=={pins[name]} outside {req} ({group}): run `make lock`"
            )
            for extra in req.extras:  # e.g. pyspark[connect]: its extra's own requirements are locked too
                assert all(canonicalize_name(r.name) in pins for r in _extra_requirements(req.name, extra))


def _extra_requirements(dist: str, extra: str) -> list[Requirement]:
    """The requirements an installed distribution declares for one of its extras."""
    found = []
    for text in importlib.metadata.requires(dist) or []:
        req = Requirement(text)
        if req.marker is not None and req.marker.evaluate({"extra": extra}) and not req.marker.evaluate({"extra": ""}):
            found.append(req)
    assert found, f"{dist} declares nothing for its extra {extra!r}"
    return found


def test_locks_agree_pin_cpu_torch_and_no_cuda_packages() -> None:
    runtime, test = read_lock(RUNTIME_LOCK), read_lock(TEST_LOCK)
    assert {name: test.get(name) for name in runtime} == runtime  # the test lock is compiled under the runtime one
    for pins in (runtime, test):
        assert pins["torch"] == "2.13.0"  # no local label: pip takes the CPU wheel where the wheel folder has it
        assert not [name for name in pins if name.startswith("nvidia-")]
        assert not set(pins) & {"inseason", "pip"}
    assert not set(runtime) & {"pyspark", "pandas", "moto", "pytest", "rio-cogeo"}


def test_this_environment_is_the_test_lock() -> None:
    """`make test` installs the test lock; a stale environment (the lock changed, not reinstalled) shows here."""
    stale = {}
    for name, version in read_lock(TEST_LOCK).items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            stale[name] = (version, None)
            continue
        if Version(installed).public != Version(version).public:  # 2.13.0+cpu is the lock's torch==2.13.0
            stale[name] = (version, installed)
    assert stale == {}, f"{{package: (locked, installed)}} differ: run `make test` to reinstall: {stale}"


_WITHOUT_PYSPARK = """
import importlib, json, pkgutil, sys
sys.modules["pyspark"] = None  # as if PySpark were not installed: every import of it fails
import inseason
from inseason.errors import InputError
skip = set(json.loads(sys.argv[1]))
imported = []
for info in pkgutil.walk_packages(inseason.__path__, "inseason."):
    if info.name not in skip:
        importlib.import_module(info.name)
        imported.append(info.name)
errors = {}
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
    except InputError as exc:
        errors[name] = str(exc)
print(json.dumps({"imported": imported, "errors": errors, "pyspark_loaded": sys.modules["pyspark"] is not None}))
"""


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with the repository as working directory; output captured as text."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_package_imports_without_pyspark_and_spark_says_how_to_install_it() -> None:
    done = _python("-c", _WITHOUT_PYSPARK, json.dumps(SPARK_MODULES + TEST_SUPPORT_MODULES), json.dumps(SPARK_MODULES))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {
        "inseason.cli",
        "inseason.engines.local",
        "inseason.extract.stage",
        "inseason.series.build",
        "inseason.predict.maps",
        "inseason.storage",
        "inseason.tables",
        "inseason.demo",
    } <= set(result["imported"])
    assert result["pyspark_loaded"] is False
    assert set(result["errors"]) == set(SPARK_MODULES)
    for message in result["errors"].values():
        assert "\n" not in message and message.endswith(SPARK_FIX) and "needs PySpark" in message


_CLI_WITHOUT_PYSPARK = """
import sys
sys.modules["pyspark"] = None
sys.argv = ["inseason", *sys.argv[1:]]
from inseason.cli import main
main()
"""


def test_cli_help_works_and_spark_fails_in_one_line_without_pyspark() -> None:
    helped = _python("-c", _CLI_WITHOUT_PYSPARK, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "extract" in helped.stdout and "demo" in helped.stdout
    failed = _python("-c", _CLI_WITHOUT_PYSPARK, "bench", "engines", "--size", "tiny")
    assert failed.returncode == 2
    assert "Traceback" not in failed.stderr
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and SPARK_FIX in lines[0], failed.stderr


def test_spark_engine_without_pyspark_leaves_no_output_behind(tmp_path: Path) -> None:
    """extract, series and predict check the engine before they write anything into --out."""
    for args in (
        ["extract", "points.parquet", "scenes.parquet"],
        ["series", "obs", "--points", "points.parquet"],
        ["predict", "run", "--aoi", "0,0,1,1", "--as-of", "2022-06-01", "--scenes", "s.parquet"],
    ):
        out = tmp_path / args[0]
        failed = _python("-c", _CLI_WITHOUT_PYSPARK, *args, "--engine", "spark", "--out", str(out))
        assert failed.returncode == 2, failed.stderr
        assert SPARK_FIX in failed.stderr and "Traceback" not in failed.stderr
        assert not out.exists(), args[0]


def test_loopback_s3_without_moto_says_to_install_the_test_extra() -> None:
    script = (
        "import sys\nsys.modules['moto'] = None\nfrom inseason.errors import InputError\n"
        "try:\n    import inseason.testing.s3\nexcept InputError as exc:\n    print(exc)\n"
    )
    done = _python("-c", script)
    assert done.returncode == 0, done.stderr
    message = done.stdout.strip()
    assert message.startswith("inseason.testing.s3 (the loopback S3 server of the tests) needs moto")
    assert "\n" not in message and message.endswith("): pip install 'inseason[test]'")
