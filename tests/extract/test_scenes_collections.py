"""Several collections in one scenes run: searched each, merged without duplicates, counted per month.

The recorded pass over 24MUV on 2025-07-31 exists in both Earth Search collections (``S2B_24MUV_20250731_0_L2A``
in ``sentinel-2-l2a``, flag true; ``S2B_T24MUV_20250731T130245_L2A`` in ``sentinel-2-c1-l2a``, offset -1000 in
``raster:bands``). A June copy of the old collection's item (id and datetime moved a month back) stands for the
months the c1 collection lacks.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from pyproj import Transformer
from shapely.geometry import box
from typer.testing import CliRunner

from inseason.errors import InputError
from inseason.extract.scenes import ScenesRequest, run_scenes
from inseason.testing import StacApiServer
from tests.extract.test_recorded_real import item_grid, recorded_item, utm_box, with_hrefs, write_catalog, write_files

OLD_ITEM, C1_ITEM = "S2B_24MUV_20250731_0_L2A", "S2B_T24MUV_20250731T130245_L2A"
OLD, C1 = "sentinel-2-l2a", "sentinel-2-c1-l2a"
JUNE = "S2B_24MUV_20250626_0_L2A"


@pytest.fixture(scope="module")
def two_collections(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Both collections' items over small real-layout COGs around the AOI, served by the loopback STAC API."""
    root = tmp_path_factory.mktemp("collections")
    old, c1 = recorded_item(OLD_ITEM), recorded_item(C1_ITEM)
    epsg, (x0, y0) = item_grid(c1)
    assert item_grid(old) == (epsg, (x0, y0))
    lon, lat = -40.0, -4.6  # inside both footprints
    x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    origin = (x0 + 60 * ((x - 3000 - x0) // 60), y0 - 60 * ((y0 - y - 3000) // 60))

    def files(name: str, blue: int) -> dict[str, Path]:
        return write_files(
            root / name,
            {
                "B02": lambda r, c: np.full((r.shape[0], c.shape[1]), blue, np.uint16),
                "SCL": lambda r, c: np.full((r.shape[0], c.shape[1]), 4, np.uint8),
            },
            epsg=epsg,
            origin=origin,
            size_10m=606,
        )

    def hrefs(paths: dict[str, Path]) -> dict[str, str]:
        return {band: str(p) for band, p in paths.items()}

    june = copy.deepcopy(old)
    june["id"] = JUNE
    june["properties"]["datetime"] = old["properties"]["datetime"].replace("2025-07-31", "2025-06-26")
    june["properties"]["s2:datatake_id"] = "GS2B_20250626T130249_043379_N05.11"
    catalog = write_catalog(
        root / "stac",
        {
            OLD: [with_hrefs(old, hrefs(files("old", 450))), with_hrefs(june, hrefs(files("june", 470)))],
            C1: [with_hrefs(c1, hrefs(files("c1", 1450)))],  # Collection 1 keeps the offset in the pixels
        },
    )
    with StacApiServer(catalog) as api:
        yield api, box(*utm_box(epsg, lon, lat, 1000))


def _run(two_collections: Any, out: Path, collection: Any) -> Any:
    api, aoi = two_collections
    return run_scenes(
        ScenesRequest.of(
            stac=api.url,
            aoi=aoi,
            start="2025-05-01",
            end="2025-07-31",
            out=str(out),
            collection=collection,
            min_valid=0.0,
            quiet=True,
            retries=0,
        )
    )


def test_both_collections_merge_and_count_per_month(two_collections: Any, tmp_path: Path) -> None:
    found = _run(two_collections, tmp_path / "m.parquet", [C1, OLD])
    rows = {r["scene_id"]: r for r in found.table.to_pylist()}
    assert set(rows) == {C1_ITEM, JUNE}  # the pass found in both is kept once (Collection 1's)
    assert [(d["scene_id"], d["kept"]) for d in found.info["duplicates"] or []] == [(OLD_ITEM, C1_ITEM)]
    assert (rows[C1_ITEM]["collection"], rows[C1_ITEM]["boa_offset"]) == (C1, -1000)  # checked: offset in pixels
    assert (rows[JUNE]["collection"], rows[JUNE]["boa_offset"]) == (OLD, 0)
    assert found.info["collection_months"] == {
        C1: {"2025-05": 0, "2025-06": 0, "2025-07": 1},
        OLD: {"2025-05": 0, "2025-06": 1, "2025-07": 1},
    }
    assert found.info["query"] is not None
    assert (found.info["query"]["collection"], found.info["query"]["collections"]) == (C1, [C1, OLD])
    assert found.info["counts"] is not None and found.info["counts"]["found"] == 3
    assert found.info["offset_from_pixels"] == []


def test_one_collection_shows_its_gap(two_collections: Any, tmp_path: Path) -> None:
    found = _run(two_collections, tmp_path / "m.parquet", C1)
    assert found.table.column("scene_id").to_pylist() == [C1_ITEM]
    assert found.info["collection_months"] == {C1: {"2025-05": 0, "2025-06": 0, "2025-07": 1}}
    assert found.info["query"] is not None and found.info["query"]["collections"] == [C1]


def test_collection_names_are_checked(two_collections: Any, tmp_path: Path) -> None:
    for bad in ([], [""], "  "):
        with pytest.raises(InputError, match="collection"):
            _run(two_collections, tmp_path / "m.parquet", bad)
    assert ScenesRequest.of(
        stac="x", aoi="0,0,1,1", start="2025-01-01", end="2025-01-02", out="m", collection=[C1, C1, OLD]
    ).collection == (C1, OLD)


def test_the_cli_repeats_collection_and_prints_the_months(two_collections: Any, tmp_path: Path) -> None:
    from inseason.cli import app

    api, aoi = two_collections
    w, s, e, n = aoi.bounds
    args = ["scenes", "--stac", api.url, "--aoi", f"{w},{s},{e},{n}", "--start", "2025-05-01", "--end", "2025-07-31"]
    args += ["--collection", C1, "--collection", OLD, "--min-valid", "0"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a.parquet"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["scenes"] == 2 and doc["collection_months"][C1]["2025-06"] == 0
    access = pq.read_schema(tmp_path / "a.parquet").metadata[b"inseason:input_access"]
    assert json.loads(access) == {"no_sign_request": False, "requester_pays": False, "signing": None}
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b.parquet"), "--no-sign-request"])
    assert result.exit_code == 0, result.output
    access = pq.read_schema(tmp_path / "b.parquet").metadata[b"inseason:input_access"]
    assert json.loads(access)["no_sign_request"] is True
    table_lines = [line for line in result.stdout.splitlines() if "2025-06" in line]
    assert len(table_lines) == 1
    assert [cell.strip() for cell in table_lines[0].strip("│ ").split("│")] == ["2025-06", "0", "1"]
