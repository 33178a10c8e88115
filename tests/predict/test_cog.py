"""Class map COG, STAC item and season GIF on a small crafted grid."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from PIL import Image
from pystac.extensions.classification import ClassificationExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension
from rasterio.enums import ColorInterp, MaskFlags
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import box

from inseason.predict.cog import (
    SourceScene,
    class_colormap,
    map_tags,
    overview_factors,
    write_class_map,
    write_season_gif,
    write_stac_item,
)
from inseason.predict.read import Block, MapGrid

GRID = MapGrid(epsg=32615, transform=Affine(10.0, 0.0, 703370.0, 0.0, -10.0, 3698950.0), width=300, height=200)
COLORS = [(255, 211, 0), (38, 112, 0)]
NAMES = ["Corn", "Soybeans"]


def _pieces(value: int) -> list[tuple[Block, np.ndarray, np.ndarray]]:
    """Two blocks: the left one class 1, the right one class 2; the far right stays unmapped."""
    left, right = Block(0, 0, 0, 200, 128), Block(1, 0, 128, 200, 128)
    return [
        (left, np.full((200, 128), value, np.uint8), np.full((200, 128), 70, np.uint8)),
        (right, np.full((200, 128), 2, np.uint8), np.full((200, 128), 55, np.uint8)),
    ]


def test_class_map_is_a_valid_cog_with_colours_and_tags(tmp_path: Path) -> None:
    tags = map_tags(as_of=dt.date(2022, 7, 1), fingerprint="abc123", class_names=NAMES, class_codes=[[1], [5]])
    out = write_class_map(tmp_path / "map.tif", _pieces(1), grid=GRID, colors=COLORS, tags=tags, block_size=128)
    valid, errors, _ = cog_validate(str(out))
    assert valid, errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 32615 and ds.transform == GRID.transform
        assert (ds.count, ds.dtypes, ds.nodata) == (2, ("uint8", "uint8"), 0)
        assert ds.colormap(1)[1] == (255, 211, 0, 255) and ds.colormap(1)[2] == (38, 112, 0, 255)
        assert ds.colormap(1)[0][3] == 0
        got = ds.tags()
        assert got["INSEASON_AS_OF"] == "2022-07-01" and got["INSEASON_MODEL_FINGERPRINT"] == "abc123"
        assert json.loads(got["INSEASON_CLASS_NAMES"]) == NAMES
        classes, confidence = ds.read(1), ds.read(2)
        assert ds.overviews(1)
    assert (classes[:, :128] == 1).all() and (classes[:, 128:256] == 2).all() and (classes[:, 256:] == 0).all()
    assert (confidence[:, :128] == 70).all() and (confidence[:, 256:] == 0).all()


def test_confidence_band_is_grey_not_alpha(tmp_path: Path) -> None:
    """Issue 15: GDAL tags band 2 of a two-band file as alpha, so QGIS drew the class map washed out."""
    out = write_class_map(tmp_path / "map.tif", _pieces(1), grid=GRID, colors=COLORS, tags={}, block_size=128)
    with rasterio.open(out) as ds:
        assert ds.colorinterp == (ColorInterp.palette, ColorInterp.gray)
        assert ds.descriptions == ("class", "confidence")
        assert all(MaskFlags.alpha not in flags for flags in ds.mask_flag_enums)
        assert ds.mask_flag_enums[1] == [MaskFlags.nodata]
        assert ds.tags(ns="IMAGE_STRUCTURE")["INTERLEAVE"] == "PIXEL"
        assert ds.block_shapes == [(128, 128), (128, 128)]
        assert ds.overviews(1) == ds.overviews(2) == [2, 4]
        with rasterio.open(out, OVERVIEW_LEVEL=0) as overview:
            assert overview.colorinterp == (ColorInterp.palette, ColorInterp.gray)
            assert overview.read(1)[0, 0] == 1 and overview.read(2)[0, 0] == 70
    # the tags live in the file itself (a COG is one object: no .aux.xml beside it)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]


def test_overview_factors_follow_the_cog_rule() -> None:
    assert overview_factors(100, 100, 128) == []
    assert overview_factors(300, 200, 128) == [2, 4]  # 150 x 100 still wider than a tile, 75 x 50 fits
    assert overview_factors(256, 256, 256) == []
    assert overview_factors(257, 10, 256) == [2]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    def interrupted():
        yield _pieces(1)[0]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_class_map(tmp_path / "map.tif", interrupted(), grid=GRID, colors=COLORS, tags={})
    bad = [(Block(0, 0, 0, 200, 128), np.ones((10, 10), np.uint8), np.ones((10, 10), np.uint8))]
    with pytest.raises(ValueError, match="do not fit"):
        write_class_map(tmp_path / "map.tif", bad, grid=GRID, colors=COLORS, tags={})
    assert list(tmp_path.iterdir()) == []


def test_stac_item_and_gif(tmp_path: Path) -> None:
    dates = [dt.date(2022, 6, 1), dt.date(2022, 7, 1)]
    cogs = []
    for value, date in zip((1, 2), dates):
        tags = map_tags(as_of=date, fingerprint="f", class_names=NAMES, class_codes=[[1], [5]])
        cogs.append(write_class_map(tmp_path / f"map_{date}.tif", _pieces(value), grid=GRID, colors=COLORS, tags=tags))
    aoi = box(-90.81, 33.39, -90.79, 33.41)
    gif = write_season_gif(tmp_path / "season.gif", cogs, dates, max_size=100)
    scenes = [
        SourceScene("S2A_15SXR_20220620_0_L2A", "http://127.0.0.1:8000/collections/s2/items/S2A_15SXR_20220620_0_L2A"),
        SourceScene("S2B_15SXR_20220625_0_L2A"),
    ]
    item = write_stac_item(
        tmp_path / "map_2022-07-01.json",
        cog=cogs[1],
        grid=GRID,
        aoi=aoi,
        as_of=dates[1],
        fingerprint="f",
        class_names=NAMES,
        colors=COLORS,
        model="tempcnn",
        class_codes=[[1], [5, 26]],
        scenes=scenes,
        model_href="../runs/tempcnn/model.json",
        gif=gif,
    )
    data = json.loads((tmp_path / "map_2022-07-01.json").read_text())
    again = pystac.Item.from_dict(data)  # schema validation needs the internet; check what pystac reads back
    assert again.id == item.id == "map_2022-07-01" and again.datetime.date() == dates[1]
    assert ProjectionExtension.has_extension(again) and ClassificationExtension.has_extension(again)
    assert RasterExtension.has_extension(again)
    assert data["properties"]["proj:code"] == "EPSG:32615" and data["properties"]["proj:shape"] == [200, 300]
    assert data["properties"]["inseason:as_of"] == "2022-07-01"
    # issue 15: every source scene is listed by id, whether or not its STAC item is known
    assert data["properties"]["inseason:source_scenes"] == [s.scene_id for s in scenes]
    asset = data["assets"]["classes"]
    assert asset["href"] == "./map_2022-07-01.tif"
    classes = [
        {
            "value": 0,
            "name": "no_data",
            "title": "no data",
            "nodata": True,
            "description": "no data: outside the AOI or the crop mask, or no valid observation up to the as-of date",
        },
        {"value": 1, "name": "Corn", "title": "Corn", "description": "Corn (1 source code: 1)", "color_hint": "FFD300"},
        {
            "value": 2,
            "name": "Soybeans",
            "title": "Soybeans",
            "description": "Soybeans (2 source codes: 5, 26)",
            "color_hint": "267000",
        },
    ]
    assert asset["classification:classes"] == classes
    assert asset["raster:bands"] == [
        {
            "nodata": 0,
            "sampling": "area",
            "data_type": "uint8",
            "spatial_resolution": 10.0,
            "classification:classes": classes,
        },
        {"nodata": 0, "sampling": "area", "data_type": "uint8", "spatial_resolution": 10.0, "unit": "%"},
    ]
    assert all("#" not in c.get("color_hint", "") for c in classes)
    assert data["assets"]["season"] == {
        "href": "./season.gif",
        "type": "image/gif",
        "roles": ["overview"],
        "title": "the class maps of all as-of dates, animated",
    }
    links = [link for link in data["links"] if link["rel"] in ("derived_from", "via")]
    # issue 15: a scene without a STAC item gets no link (its bare id would resolve into the item's folder);
    # the model's href is kept as given (relative to the item's folder)
    assert links == [
        {
            "rel": "derived_from",
            "href": scenes[0].href,
            "type": "application/geo+json",
            "title": f"source scene {scenes[0].scene_id}",
            "inseason:scene_id": scenes[0].scene_id,
        },
        {
            "rel": "via",
            "href": "../runs/tempcnn/model.json",
            "type": "application/json",
            "title": "model bundle: tempcnn (fingerprint f)",
        },
    ]
    read = pystac.Item.from_file(str(tmp_path / "map_2022-07-01.json"))
    (via,) = [link for link in read.links if link.rel == "via"]
    assert Path(via.get_absolute_href()) == tmp_path.parent / "runs" / "tempcnn" / "model.json"
    assert [link.target for link in again.links if link.rel == "derived_from"] == [scenes[0].href]
    bare = write_stac_item(
        tmp_path / "bare.json",
        cog=cogs[0],
        grid=GRID,
        aoi=aoi,
        as_of=dates[0],
        fingerprint="f",
        class_names=NAMES,
        colors=COLORS,
        model="tempcnn",
    )
    assert "season" not in bare.assets and not [link for link in bare.links if link.rel in ("derived_from", "via")]
    assert bare.properties["inseason:source_scenes"] == []
    assert bare.assets["classes"].to_dict()["classification:classes"][1]["description"] == "Corn"
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # atomic writes leave no temporary file
        "bare.json",
        "map_2022-06-01.tif",
        "map_2022-07-01.json",
        "map_2022-07-01.tif",
        "season.gif",
    ]
    with Image.open(gif) as image:
        assert image.n_frames == 2 and image.size == (100, 67)
        image.seek(1)
        rgb = image.convert("RGB")
        assert rgb.getpixel((20, 40)) == (38, 112, 0)  # class 2 in the second frame


def test_colormap_indexes_classes_from_one() -> None:
    assert class_colormap([(1, 2, 3)]) == {0: (0, 0, 0, 0), 1: (1, 2, 3, 255)}
