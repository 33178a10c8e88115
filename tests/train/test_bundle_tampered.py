"""A tampered or truncated model.json is refused with one line naming the file and the field; never unpickled."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inseason.errors import InputError
from inseason.train import load_bundle
from inseason.train.bundle import MANIFEST, WEIGHTS


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda m: m.pop(key)


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("missing classes", _drop("classes"), r"field 'classes' is missing"),
    ("missing normalization", _drop("normalization"), r"field 'normalization' is missing"),
    ("missing model", _drop("model"), r"field 'model' is missing"),
    ("class without colour", lambda m: m["classes"][1].pop("color"), r"field 'classes\[1\].color' \(class '"),
    ("colour out of range", lambda m: m["classes"][0].update(color=[0, 300, 0]), r"'classes\[0\].color'"),
    ("class without name", lambda m: m["classes"][0].pop("name"), r"field 'classes\[0\]' has no name"),
    (
        "non-numeric normalisation",
        lambda m: m["normalization"]["mean"].__setitem__(0, "abc"),
        r"field 'normalization.mean' is not a list of numbers",
    ),
    (
        "normalisation of another shape",
        lambda m: m["normalization"]["std"].pop(),
        r"field 'normalization.std' has \d+ values for the model's \d+ inputs",
    ),
    ("prior of another shape", lambda m: m["prior"].append(0.5), r"field 'prior' is not \d+ numbers"),
    ("bands not names", lambda m: m.update(bands=[1, 2]), r"field 'bands' is not a list of band names"),
    ("adapter not valid", lambda m: m["adapter"].update(kind="nosuch"), r"field 'adapter' is not valid"),
    ("model spec of other sizes", lambda m: m["model"].update(n_bands=99), r"normalization.mean' has \d+ values"),
]


@pytest.mark.parametrize(("case", "tamper", "message"), CASES, ids=[c[0] for c in CASES])
def test_tampered_manifest_is_one_line_naming_file_and_field(
    case: str,
    tamper: Callable[[dict[str, Any]], None],
    message: str,
    trained_run: Any,
    tmp_path: Path,
    no_unpickling: None,
) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in (MANIFEST, WEIGHTS):
        shutil.copy(trained_run[0] / name, bundle / name)
    manifest = json.loads((bundle / MANIFEST).read_text())
    tamper(manifest)
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=message) as caught:
        load_bundle(bundle)
    assert str(caught.value).startswith(f"{bundle / MANIFEST}: field ")
    assert "\n" not in str(caught.value)


def test_a_manifest_that_is_not_an_object_is_refused(trained_run: Any, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(trained_run[0] / WEIGHTS, bundle / WEIGHTS)
    (bundle / MANIFEST).write_text("[1, 2]")
    with pytest.raises(InputError, match=r"model.json is not a JSON object"):
        load_bundle(bundle)


def test_the_untouched_bundle_still_loads(trained_run: Any, no_unpickling: None) -> None:
    assert load_bundle(trained_run[0]).class_names
