"""Extraction on a world of two overlapping 4.8 km tiles: windowed reads over HTTP proven by the file
server's byte counts, and one observation per point and date where the tiles overlap."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pyproj import Transformer

from inseason.extract.scenes import find_scenes
from inseason.extract.stage import extract
from inseason.observations import read_observations
from inseason.tables import LABEL_POINTS, SCENE_MANIFEST, read_table, write_table
from inseason.testing import serve_world

if TYPE_CHECKING:
    from tests.extract.conftest import Inputs

WEST_TILE, EAST_TILE = "15SYT", "15SZT"


def tile_bounds(inputs: Inputs) -> dict[str, tuple[float, float, float, float]]:
    info = json.loads((inputs.world / "world.json").read_text())
    return {t["name"]: tuple(t["bounds"]) for t in info["tiles"]}


def utm(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    x, y = Transformer.from_crs(4326, 32615, always_xy=True).transform(
        table.column("lon").to_numpy(), table.column("lat").to_numpy()
    )
    return np.asarray(x), np.asarray(y)


def depth(x: np.ndarray, y: np.ndarray, bounds: tuple[float, float, float, float]) -> np.ndarray:
    left, bottom, right, top = bounds
    return np.minimum.reduce([x - left, right - x, y - bottom, top - y])


@pytest.fixture(scope="module")
def wide_run(wide_inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wide-obs") / "obs"
    extract(wide_inputs.points, wide_inputs.scenes, out=out, workers=2, quiet=True)
    return out


# ------------------------------------------------------------------------------------- windowed reads


def test_http_reads_fetch_only_the_blocks_holding_points(wide_inputs: Inputs, wide_run: Path, tmp_path: Path) -> None:
    points = read_table(wide_inputs.points, LABEL_POINTS, what="label points")
    x, y = utm(points)
    left, _, _, top = tile_bounds(wide_inputs)[WEST_TILE]
    corner = (x - left < 1200) & (top - y < 1200)  # inside the first 128 px block of the west tile's 10 m grid
    write_table(points.filter(pa.array(corner)), tmp_path / "corner.parquet")
    assert corner.sum() >= 20

    with serve_world(wide_inputs.world) as servers:
        find_scenes(
            stac=servers.stac.url,
            aoi=str(wide_inputs.world / "aoi.geojson"),
            start="2022-06-01",
            end="2022-06-30",
            out=tmp_path / "scenes.parquet",
            min_valid=0.0,
            quiet=True,
        )
        scenes = read_table(tmp_path / "scenes.parquet", SCENE_MANIFEST, what="scene manifest").to_pylist()
        assert all(href.startswith(servers.files.url) for s in scenes for _, href in s["hrefs"])
        servers.files.reset_stats()
        totals = extract(
            tmp_path / "corner.parquet", tmp_path / "scenes.parquet", out=tmp_path / "obs", workers=1, quiet=True
        )
        stats = servers.files.stats()
        base = servers.files.url

    west = [s for s in scenes if s["tile"] == WEST_TILE]
    assert totals.scenes == len(west) and totals.skipped == 0
    sizes = {f"/{s['tile']}/{band}": 0 for s in west for band, _ in s["hrefs"]}
    served = dict.fromkeys(sizes, 0)
    for s in west:
        for band, href in s["hrefs"]:
            path = "/" + href.removeprefix(base)
            sizes[f"/{s['tile']}/{band}"] += (wide_inputs.world / path.lstrip("/")).stat().st_size
            served[f"/{s['tile']}/{band}"] += stats.bytes_by_path.get(path, 0)
    whole = sum(sizes.values())
    # 10 m bands: 1 of 16 blocks plus the header. The 20 m bands (4 blocks) and the 60 m bands (1 block) of
    # these small files are read almost whole, as GDAL fetches 16 KB chunks with read-ahead; the SCL was
    # cached by this process's GDAL when find_scenes measured the AOI quality.
    ten_m = ("B02", "B03", "B04", "B08")
    for band in ten_m:
        assert served[f"/{WEST_TILE}/{band}"] < 0.25 * sizes[f"/{WEST_TILE}/{band}"], band
    assert sum(served[f"/{WEST_TILE}/{b}"] for b in ten_m) < 0.2 * sum(sizes[f"/{WEST_TILE}/{b}"] for b in ten_m)
    assert stats.bytes_sent < 0.45 * whole
    assert all(r.status == 206 and r.range for r in stats.log if r.method == "GET")  # never a whole file
    assert not any(WEST_TILE not in r.path and "B02" not in r.path for r in stats.log)  # east: one header

    # the same observations as read from the local files
    local = read_observations(wide_run)
    corner_ids = pa.array(points.filter(pa.array(corner)).column("point_id"))
    expected = local.filter(pc.is_in(local.column("point_id"), value_set=corner_ids))
    assert read_observations(tmp_path / "obs").drop(["year"]).equals(expected.drop(["year"]))


# ---------------------------------------------------------------------------------------- overlaps


def test_a_point_in_two_tiles_gets_one_observation_per_date(wide_inputs: Inputs, wide_run: Path) -> None:
    points = read_table(wide_inputs.points, LABEL_POINTS, what="label points")
    x, y = utm(points)
    bounds = tile_bounds(wide_inputs)
    d_west, d_east = depth(x, y, bounds[WEST_TILE]), depth(x, y, bounds[EAST_TILE])
    overlap = set(points.column("point_id").to_numpy()[(d_west > 0) & (d_east > 0)].tolist())
    deeper = dict(zip(points.column("point_id").to_pylist(), np.where(d_west >= d_east, WEST_TILE, EAST_TILE)))
    assert len(overlap) >= 50

    scenes = read_table(wide_inputs.scenes, SCENE_MANIFEST, what="scene manifest").to_pylist()
    both = {d for d, n in Counter(s["date"] for s in scenes).items() if n == 2}
    assert len(both) >= 3  # the premise: dates imaged in both tiles

    rows = read_observations(wide_run).to_pylist()
    pairs = Counter((r["point_id"], r["date"]) for r in rows)
    assert max(pairs.values()) == 1
    in_overlap = [r for r in rows if r["point_id"] in overlap and r["date"] in both]
    assert len(in_overlap) >= 50
    assert all(r["tile"] == deeper[r["point_id"]] for r in in_overlap)  # from the tile it lies deeper in


def test_a_date_missing_in_one_tile_is_taken_from_the_other(
    wide_inputs: Inputs, wide_run: Path, tmp_path: Path
) -> None:
    """A point's preferred tile may lack a scene on a date (e.g. dropped by --min-valid): the other tile's
    scene of that date then gives the observation, so the overlap has no gap."""
    scenes = read_table(wide_inputs.scenes, SCENE_MANIFEST, what="scene manifest")
    rows = scenes.to_pylist()
    dates = Counter(r["date"] for r in rows)
    day = min(d for d, n in dates.items() if n == 2)
    dropped = next(r["scene_id"] for r in rows if r["date"] == day and r["tile"] == WEST_TILE)
    write_table(
        pa.Table.from_pylist([r for r in rows if r["scene_id"] != dropped], schema=scenes.schema),
        tmp_path / "scenes.parquet",
    )
    extract(wide_inputs.points, tmp_path / "scenes.parquet", out=tmp_path / "obs", workers=1, quiet=True)

    points = read_table(wide_inputs.points, LABEL_POINTS, what="label points")
    x, y = utm(points)
    bounds = tile_bounds(wide_inputs)
    east_ids = set(points.column("point_id").to_numpy()[depth(x, y, bounds[EAST_TILE]) > 0].tolist())

    def by_pair(table: pa.Table) -> dict[tuple[int, dt.date], dict[str, Any]]:
        return {(r["point_id"], r["date"]): r for r in table.to_pylist()}

    before, after = by_pair(read_observations(wide_run)), by_pair(read_observations(tmp_path / "obs"))
    lost = {k for k in before if k[1] == day and k[0] not in east_ids}  # only the west tile saw these
    assert lost and set(after) == set(before) - lost
    moved = [k for k in after if k[1] == day and before[k]["tile"] == WEST_TILE]
    assert len(moved) >= 10
    for key in moved:  # same pixels (the tiles share the grid), now from the east tile's scene
        assert after[key]["tile"] == EAST_TILE
        assert {b: v for b, v in after[key].items() if b not in ("scene_id", "tile")} == {
            b: v for b, v in before[key].items() if b not in ("scene_id", "tile")
        }
    assert (
        pq.read_metadata(next((tmp_path / "obs").glob(f"year=2022/tile={EAST_TILE}/part-*{day:%Y%m%d}*"))).num_rows > 0
    )
