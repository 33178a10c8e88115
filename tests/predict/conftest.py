"""Fixtures of the map tests: the tiny world's scene manifest and AOI, built once per session (read-only)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from shapely.geometry.base import BaseGeometry

from inseason.extract.scenes import find_scenes
from inseason.sources.aoi import read_aoi
from inseason.synth import centre_square


@pytest.fixture(scope="session")
def tiny_scenes(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    """Every scene of the tiny world (2021 and 2022), no quality filter."""
    out = tmp_path_factory.mktemp("predict-scenes") / "scenes.parquet"
    return find_scenes(
        stac=str(tiny_world / "stac" / "catalog.json"),
        aoi=str(tiny_world / "aoi.geojson"),
        start="2021-01-01",
        end="2022-12-31",
        out=out,
        min_valid=0.0,
        quiet=True,
    )


@pytest.fixture(scope="session")
def tiny_aoi(tiny_world: Path) -> BaseGeometry:
    """The tiny world's AOI in lon/lat."""
    return read_aoi(tiny_world / "aoi.geojson")


@pytest.fixture(scope="session")
def map_square(tiny_world: Path) -> BaseGeometry:
    """A 1 km square at the tiny world's centre (lon/lat): about a sixth of its pixels (four blocks of 64 px);
    where map tests that compare runs draw, so the model runs on fewer pixels."""
    return centre_square(json.loads((tiny_world / "world.json").read_text()), side_m=1000.0)


@pytest.fixture(scope="session")
def map_square_file(map_square: BaseGeometry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`map_square` as a GeoJSON file (read-only), for map runs started in another process."""
    from shapely.geometry import mapping

    path = tmp_path_factory.mktemp("map-square") / "square.geojson"
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": mapping(map_square)}))
    return path


#: Truth CDL code → class name of the test model (CDL names, so the bundle gets CDL colours).
CLASSES = {1: "Corn", 2: "Cotton", 3: "Rice", 5: "Soybeans", 24: "Winter Wheat", 26: "Dbl Crop WinWht/Soybeans"}
OTHER = "Other"


def pixel_series(
    world: Path, scenes: pa.Table, aoi: BaseGeometry, *, year: int, stride: int, seed: int = 0, until: object = None
) -> pa.Table:
    """A series table of every ``stride``-th pixel of the world's map grid in ``year`` (scenes up to
    ``until``, default the year's end), read with the map reader and labelled with the generator's truth
    (splits train/val 80/20)."""
    import datetime as dt

    import numpy as np

    from inseason.predict.read import map_grid, plan_blocks, read_block, scene_refs
    from inseason.predict.truth import world_truth
    from inseason.tables import S2_BANDS, series_schema

    refs = scene_refs(scenes, since=dt.date(year, 1, 1), until=until or dt.date(year, 12, 31))
    grid = map_grid(aoi, refs)
    rows: dict[str, list] = {k: [] for k in ("sample_id", "label", "label_code", "dates", "values", "scl")}
    for block in plan_blocks(grid, aoi, block_size=256):
        series = read_block(block, grid=grid, scenes=refs, aoi=aoi)
        pick = np.flatnonzero(series.counts > 0)[::stride]
        truth = world_truth(world, grid=grid, block=block, pixels=series.pixels[pick], year=year)
        for i, code in zip(pick, truth.codes):
            obs = slice(series.offsets[i], series.offsets[i + 1])
            rows["sample_id"].append(int(block.index * 10**6 + series.pixels[i]))
            rows["label"].append(CLASSES.get(int(code), OTHER))
            rows["label_code"].append(int(code))
            rows["dates"].append([dt.date(1970, 1, 1) + dt.timedelta(days=int(d)) for d in series.days[obs]])
            rows["values"].append(series.values[obs].tolist())
            rows["scl"].append(series.scl[obs].tolist())
    n = len(rows["label"])
    split = np.where(np.random.default_rng(seed).random(n) < 0.8, "train", "val")
    columns = {
        **rows,
        "year": [year] * n,
        "field_id": [None] * n,
        "lon": [None] * n,
        "lat": [None] * n,
        "x": [0.0] * n,
        "y": [0.0] * n,
        "crs": [f"EPSG:{grid.epsg}"] * n,
        "split": split.tolist(),
    }
    schema = series_schema(S2_BANDS)
    return pa.Table.from_pydict({f.name: columns[f.name] for f in schema}, schema=schema)


@pytest.fixture(scope="session")
def make_pixel_series():
    """`pixel_series`, for tests that build labelled series tables from the map reader."""
    return pixel_series


@pytest.fixture(scope="session")
def label_of():
    """Truth CDL code → the test model's class name."""
    return lambda code: CLASSES.get(int(code), OTHER)


@pytest.fixture(scope="session")
def tiny_bundle(
    tiny_world: Path, tiny_scenes: pa.Table, tiny_aoi: BaseGeometry, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A small TempCNN trained on 2021 pixels of the tiny world (truth labels): a run folder with its bundle."""
    from inseason.train import train

    table = pixel_series(tiny_world, tiny_scenes, tiny_aoi, year=2021, stride=15)
    out = tmp_path_factory.mktemp("predict-run") / "tempcnn"
    train(
        table,
        out=out,
        quiet=True,
        overrides={
            "model.name": "tempcnn",
            "model.params": {"filters": 16, "hidden": 32},
            "adapter.kind": "bucketed",
            "adapter.window_days": 240,
            "features.indices": ["NDVI"],
            "epochs": 4,
            "batch_size": 64,
            "optimizer.lr": 0.005,
            "augment.min_as_of": 120,
            "train_split": "train",
            "val_split": "val",
        },
    )
    return out


@pytest.fixture(scope="session")
def tiny_manifest(tiny_scenes: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every third scene of the tiny world's 2022 as a manifest file (read-only): the map runs that test how a
    run behaves (validation, faults, resume) read a third of the season's scenes."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    season = tiny_scenes.filter(pc.equal(pc.year(tiny_scenes.column("date")), 2022))
    season = season.sort_by([("date", "ascending"), ("scene_id", "ascending")])
    path = tmp_path_factory.mktemp("manifest") / "scenes.parquet"
    pq.write_table(season.take(list(range(0, season.num_rows, 3))), path)
    return path


@pytest.fixture(scope="session")
def untrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained small TempCNN bundle (seeded random weights, 8 filters: ~1/30 of the preset's work a pixel):
    maps quickly, the same every time (read-only); for the tests of how a map run behaves, not what it maps."""
    from inseason.bench.predict import untrained_bundle

    return untrained_bundle(
        "tempcnn", tmp_path_factory.mktemp("untrained") / "bundle", seed=3, params={"filters": 8, "hidden": 16}
    )
