"""Package namespaces that import their submodules on first use (PEP 562).

A package's ``__init__`` names its public API in an ``if TYPE_CHECKING:`` block of ``from … import …``
statements (what type checkers and readers see) and hands its ``__getattr__``/``__dir__`` to
:func:`lazy_exports`, which reads that block once and imports a name's submodule only when the name is first
used. Why: importing ``inseason.train`` for a bundle loader must not pay for Lightning, nor a map worker
process for scikit-learn and the synthetic world — every spawned worker and every CLI call imports them
again (6 s of CPU each before this, about 2 s after).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _exports(path: Path) -> dict[str, tuple[str, str]]:
    """``{public name: (module, name in that module)}`` from the ``if TYPE_CHECKING:`` block of ``path``."""
    exports: dict[str, tuple[str, str]] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            continue
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom) and statement.module and statement.level == 0:
                for alias in statement.names:
                    exports[alias.asname or alias.name] = (statement.module, alias.name)
    return exports


def lazy_exports(package: str, init_file: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names are imported on first use.

    Args:
        package: the package's ``__name__``.
        init_file: the package's ``__file__`` (its ``if TYPE_CHECKING:`` imports name the exports).

    Returns:
        ``(__getattr__, __dir__)`` for the package's module namespace.

    Raises:
        ValueError: the file declares no exports (a lazy package without a ``TYPE_CHECKING`` block).
    """
    exports = _exports(Path(init_file))
    if not exports:
        raise ValueError(f"{init_file} has no `if TYPE_CHECKING:` imports to export lazily")
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        try:
            module, attribute = exports[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), attribute)
        namespace[name] = value  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
