"""Scene manifests made from the extraction tests' inputs: subsets, replaced hrefs, spread dates."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from inseason.tables import SCENE_MANIFEST, read_table, write_table

if TYPE_CHECKING:
    from tests.extract.conftest import Inputs


def scene_rows(inputs: Inputs) -> list[dict[str, Any]]:
    """The rows of the inputs' scene manifest."""
    return read_table(inputs.scenes, SCENE_MANIFEST, what="scene manifest").to_pylist()


def subset_manifest(
    inputs: Inputs,
    out: Path,
    keep: Sequence[str] | None = None,
    hrefs: dict[str, dict[str, str]] | None = None,
    **columns: Any,
) -> Path:
    """A copy of the scene manifest with only the ``keep`` scenes, some hrefs replaced, or columns set."""
    table = read_table(inputs.scenes, SCENE_MANIFEST, what="scene manifest")
    rows = [r for r in table.to_pylist() if keep is None or r["scene_id"] in keep]
    for row in rows:
        row["hrefs"] = list({**dict(row["hrefs"]), **(hrefs or {}).get(row["scene_id"], {})}.items())
        row.update(columns)
    write_table(pa.Table.from_pylist(rows, schema=table.schema), out)
    return out


def spread_scenes(inputs: Inputs, n: int) -> list[str]:
    """``n`` scene ids spread over the whole period (both sides of the 2022-01-25 offset change)."""
    rows = scene_rows(inputs)
    return [rows[i]["scene_id"] for i in np.linspace(0, len(rows) - 1, n).astype(int)]
