"""The public API documents itself (Google style), so an API reference can be generated from the docstrings.

Every public function and public method of a public class in the package (test support in
:mod:`inseason.testing` included) has a docstring; one that takes arguments has an ``Args:`` section naming
each of them, and one that returns something has a ``Returns:`` (or, for generators, ``Yields:``) section.
``Raises:`` cannot be checked from the source reliably and is left to review. The format itself (a summary
line, sections) is ruff's pydocstyle rules with the Google convention.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "inseason"

#: Methods whose contract is their base class's (documented there): Lightning and torch hooks, pydantic.
INHERITED = {
    "forward",
    "training_step",
    "validation_step",
    "test_step",
    "predict_step",
    "configure_optimizers",
    "on_train_epoch_end",
    "on_validation_epoch_end",
    "on_train_start",
    "on_train_end",
    "on_fit_start",
    "on_fit_end",
    "on_train_batch_end",
    "on_validation_batch_end",
    "on_save_checkpoint",
    "on_load_checkpoint",
    "on_exception",
    "setup",
    "teardown",
    "state_dict",
    "load_state_dict",
    "train_dataloader",
    "val_dataloader",
    "test_dataloader",
    "predict_dataloader",
    "model_post_init",
    "emit",
    "do_GET",
    "do_HEAD",
    "do_POST",
    "log_message",
}


@dataclass(frozen=True)
class Documented:
    """One public function or method and what its docstring says."""

    module: str
    name: str
    params: tuple[str, ...]
    returns_value: bool
    generator: bool
    doc: str


def _public_modules() -> list[Path]:
    return sorted(
        path
        for path in SRC.rglob("*.py")
        if not any(part.startswith("_") and part != "__init__.py" for part in path.relative_to(SRC).parts)
    )


def _returns_value(node: ast.FunctionDef) -> bool:
    ret = node.returns
    if ret is None:
        return False
    text = ast.unparse(ret)
    return text not in {"None", "NoReturn", "Never", "typing.NoReturn"}


def _is_generator(node: ast.FunctionDef) -> bool:
    return ast.unparse(node.returns or ast.Constant(None)).split("[")[0].split(".")[-1] in {
        "Iterator",
        "Generator",
        "AsyncIterator",
    } and any(isinstance(n, ast.Yield | ast.YieldFrom) for n in ast.walk(node))


def _entry(module: str, node: ast.FunctionDef, owner: str | None) -> Documented:
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    if owner is not None and names and names[0] in {"self", "cls"}:
        names = names[1:]
    if args.vararg:
        names.append("*" + args.vararg.arg)
    if args.kwarg:
        names.append("**" + args.kwarg.arg)
    is_property = any(ast.unparse(d).endswith(("property", "setter")) for d in node.decorator_list)
    return Documented(
        module=module,
        name=f"{owner}.{node.name}" if owner else node.name,
        params=tuple(names),
        returns_value=_returns_value(node) and not is_property and node.name != "__init__",
        generator=_is_generator(node),
        doc=ast.get_docstring(node) or "",
    )


def public_api() -> list[Documented]:
    """Every public function and method of a public class, with its parameters and docstring."""
    found = []
    for path in _public_modules():
        module = ".".join(("inseason", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if (
                isinstance(node, ast.FunctionDef)
                and not node.name.startswith("_")
                and not any(ast.unparse(d) == "overload" for d in node.decorator_list)
            ):
                found.append(_entry(module, node, None))
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                for item in node.body:
                    if (
                        isinstance(item, ast.FunctionDef)
                        and not item.name.startswith("_")
                        and item.name not in INHERITED
                        and not any(ast.unparse(d) == "overload" for d in item.decorator_list)
                    ):
                        found.append(_entry(module, item, node.name))
    return found


def _section(doc: str, title: str) -> str | None:
    """The indented body of a Google-style section (``Args:``), or None when the docstring has none."""
    match = re.search(rf"^{title}:\s*$\n((?:^(?:[ \t]+.*)?\n?)*)", doc, flags=re.MULTILINE)
    return None if match is None else match.group(1)


def problems(item: Documented) -> list[str]:
    """What a docstring lacks: the docstring itself, an ``Args:`` entry per parameter, a ``Returns:``."""
    if not item.doc.strip():
        return ["no docstring"]
    found = []
    if item.params:
        args = _section(item.doc, "Args")
        if args is None:
            found.append("no Args: section")
        else:
            named = set(re.findall(r"^[ \t]+(\*{0,2}\w+)(?: \([^)]*\))?:", args, flags=re.MULTILINE))
            missing = [p for p in item.params if p not in named]
            if missing:
                found.append(f"Args: lacks {missing}")
    if item.returns_value:
        wanted = "Yields" if item.generator else "Returns"
        if _section(item.doc, wanted) is None:
            found.append(f"no {wanted}: section")
    return found


API = public_api()


def test_the_scan_sees_the_public_api() -> None:
    names = {f"{item.module}.{item.name}" for item in API}
    assert {"inseason.series.split.split_series", "inseason.train.run.train", "inseason.storage.write_bytes"} <= names
    assert not any(".\u005f" in name for name in names)  # nothing private
    sample = Documented("m", "f", ("a", "*rest"), True, False, "Do it.\n\nArgs:\n    a: one.\n    *rest: more.\n")
    assert problems(sample) == ["no Returns: section"]
    assert problems(Documented("m", "f", ("a", "b"), False, False, "Do.\n\nArgs:\n    a (int): one.\n")) == [
        "Args: lacks ['b']"
    ]


@pytest.mark.parametrize("module", sorted({item.module for item in API}))
def test_public_functions_say_args_and_returns(module: str) -> None:
    lacking = {item.name: found for item in API if item.module == module if (found := problems(item))}
    assert not lacking, f"{module}: " + "; ".join(f"{name}: {', '.join(p)}" for name, p in lacking.items())
