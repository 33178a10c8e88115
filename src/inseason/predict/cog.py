"""Map outputs (DESIGN §2): the class map COG, its STAC item and an animated GIF of several as-of dates.

The COG has band 1 = class index (uint8, 1…K for the model's classes in order, 0 = nodata) with a colour
table in the classes' CDL colours, and band 2 = confidence (uint8, the winning class probability in
percent, 1–100; 0 where band 1 is nodata, so the file's nodata value 0 holds for both bands). Band 1 is
tagged as a palette band and band 2 as a grey band: GDAL's default for a two-band file is to tag band 2
as alpha, which makes QGIS draw the class map at confidence/255 opacity. Tags record the as-of date, the
model fingerprint and the class names. It is assembled block by block through a tiled GeoTIFF on disk, so
memory holds one block at a time; both the intermediate and the COG live under temporary names until the
final rename.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
import rasterio.shutil
from PIL import Image, ImageDraw
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Sampling
from rasterio.enums import ColorInterp, Resampling
from rasterio.windows import Window
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from inseason.labels import color_table, rgb_hex
from inseason.predict.read import Block, MapGrid
from inseason.progress import plural
from inseason.storage import atomic_path, write_bytes

__all__ = [
    "BAND_DESCRIPTIONS",
    "COG_MEDIA_TYPE",
    "SourceScene",
    "class_colormap",
    "class_tags",
    "map_tags",
    "overview_factors",
    "write_class_map",
    "write_season_gif",
    "write_stac_item",
]

COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
#: Descriptions of the COG's bands, in band order.
BAND_DESCRIPTIONS = ("class", "confidence")
Color = tuple[int, int, int]
#: The tags of a class map that name its classes and their source (e.g. CDL) codes, as JSON lists.
CLASS_NAMES_TAG = "INSEASON_CLASS_NAMES"
CLASS_CODES_TAG = "INSEASON_CLASS_CODES"


def class_colormap(colors: Sequence[Color]) -> dict[int, tuple[int, int, int, int]]:
    """Colour table of band 1: index ``k + 1`` gets class ``k``'s colour, 0 (nodata) is transparent.

    Args:
        colors: the RGB colour of each class, in class order.

    Returns:
        RGBA per band-1 value, for rasterio's ``write_colormap``.
    """
    return color_table({k + 1: color for k, color in enumerate(colors)}, len(colors) + 1)


def map_tags(
    *, as_of: dt.date, fingerprint: str, class_names: Sequence[str], class_codes: Sequence[Sequence[int]]
) -> dict[str, str]:
    """The GeoTIFF tags of a class map: as-of date, model fingerprint, class names and their source codes.

    Args:
        as_of: the date the map is valid for.
        fingerprint: the model fingerprint (`inseason.predict.maps.bundle_fingerprint`).
        class_names: class names in class order.
        class_codes: each class's source (e.g. CDL) codes, in class order.

    Returns:
        Tag name → text; `class_tags` reads the classes back.
    """
    return {
        "INSEASON_AS_OF": as_of.isoformat(),
        "INSEASON_MODEL_FINGERPRINT": fingerprint,
        CLASS_NAMES_TAG: json.dumps(list(class_names)),
        CLASS_CODES_TAG: json.dumps([list(c) for c in class_codes]),
        "INSEASON_CLASS_INDEX": "band 1 value k is class k-1 of INSEASON_CLASS_NAMES; 0 is nodata",
    }


def class_tags(tags: Mapping[str, str]) -> tuple[list[str], list[list[int]]] | None:
    """The class names and source codes that `map_tags` records, read back from a COG's tags.

    Args:
        tags: the GeoTIFF tags of a class map.

    Returns:
        ``(names, codes)`` in class order (empty code lists when the codes are not recorded), or None when
        the tags name no classes (not an inseason class map).
    """
    if CLASS_NAMES_TAG not in tags:
        return None
    names = [str(name) for name in json.loads(tags[CLASS_NAMES_TAG])]
    codes = json.loads(tags.get(CLASS_CODES_TAG, "[]")) or [[] for _ in names]
    return names, [[int(c) for c in code_list] for code_list in codes]


def write_class_map(
    path: str | os.PathLike[str],
    blocks: Iterable[tuple[Block, np.ndarray, np.ndarray]],
    *,
    grid: MapGrid,
    colors: Sequence[Color],
    tags: dict[str, str],
    block_size: int = 256,
) -> Path:
    """Write the two-band class map COG at ``path`` from ``(block, class_index, confidence)`` pieces.

    Pixels no piece covers stay nodata (0). Band 1 ("class") is a palette band, band 2 ("confidence") a
    grey band, never alpha. The COG layout (tiles of ``block_size``, nearest-neighbour overviews down to
    one tile, header first) is made by GDAL's GTiff driver copying a staging file with its overviews: the
    COG driver would tag band 2 as alpha whatever the source says (GDAL issue 11377).

    Args:
        path: where the COG goes.
        blocks: the pieces, each with a class index and a confidence array of the block's shape.
        grid: the map grid (CRS, transform, size) of the whole map.
        colors: the RGB colour of each class, in class order (class ``k`` is band 1 value ``k + 1``).
        tags: GeoTIFF tags (see `map_tags`).
        block_size: tile size of the COG, pixels.

    Returns:
        The final path; nothing appears there unless the whole file was written.

    Raises:
        ValueError: a piece's arrays do not have its block's shape.
    """
    path = Path(path)
    staging = path.with_name(f".{path.name}.blocks.tmp-{os.getpid()}.tif")  # a killed run's is deleted on resume
    profile = dict(
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=2,
        dtype="uint8",
        crs=f"EPSG:{grid.epsg}",
        transform=grid.transform,
        nodata=0,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        compress="DEFLATE",
        BIGTIFF="IF_SAFER",
    )
    try:
        with rasterio.open(staging, "w", **profile) as dst:
            dst.write_colormap(1, class_colormap(colors))
            dst.update_tags(**tags)
            for band, description in enumerate(BAND_DESCRIPTIONS, start=1):
                dst.set_band_description(band, description)
            for block, classes, confidence in blocks:
                if classes.shape != (block.height, block.width) or confidence.shape != classes.shape:
                    raise ValueError(f"block {block.index}: arrays {classes.shape} do not fit the block")
                window = Window(block.col, block.row, block.width, block.height)
                dst.write(np.stack([classes, confidence]).astype(np.uint8), window=window)
        with rasterio.open(staging, "r+") as dst:
            # set on a finished file: GDAL keeps it in the file's GDAL_METADATA (write mode drops it)
            dst.colorinterp = [ColorInterp.palette, ColorInterp.gray]
            factors = overview_factors(grid.width, grid.height, block_size)
            if factors:
                dst.build_overviews(factors, Resampling.nearest)
        with atomic_path(path) as tmp, rasterio.Env(GDAL_TIFF_OVR_BLOCKSIZE=str(block_size), GDAL_PAM_ENABLED="NO"):
            rasterio.shutil.copy(
                staging,
                tmp,
                driver="GTiff",
                COPY_SRC_OVERVIEWS="YES",
                TILED="YES",
                BLOCKXSIZE=str(block_size),
                BLOCKYSIZE=str(block_size),
                COMPRESS="DEFLATE",
                PHOTOMETRIC="MINISBLACK",
                ALPHA="NO",
                INTERLEAVE="PIXEL",
                NUM_THREADS="1",
                BIGTIFF="IF_SAFER",
            )
    finally:
        staging.unlink(missing_ok=True)
    return path


def overview_factors(width: int, height: int, block_size: int) -> list[int]:
    """Overview decimation factors 2, 4, 8, … until the overview fits in one ``block_size`` tile.

    This is the COG driver's rule: overviews until both sides are at most one tile.

    Args:
        width: raster width, pixels.
        height: raster height, pixels.
        block_size: tile size, pixels.

    Returns:
        The factors, coarsest last; empty when the raster fits in one tile.
    """
    factors: list[int] = []
    factor = 1
    while -(-width // factor) > block_size or -(-height // factor) > block_size:
        factor *= 2
        factors.append(factor)
    return factors


@dataclass(frozen=True)
class SourceScene:
    """A scene a map was made from.

    ``href`` is the scene's STAC item when known (a STAC API's ``/collections/{c}/items/{id}``), else None.
    The map's STAC item lists every scene's id in its ``inseason:source_scenes`` property and links
    (``derived_from``) only the scenes with an href: a bare id as a link href would be resolved against the
    item's folder by STAC browsers, a link to nothing.
    """

    scene_id: str
    href: str | None = None


def _nodata_class() -> Classification:
    """The classification entry of band 1's value 0 (a new object each time: pystac objects are mutable)."""
    return Classification.create(
        value=0,
        name="no_data",
        title="no data",
        nodata=True,
        description="no data: outside the AOI or the crop mask, or no valid observation up to the as-of date",
    )


def write_stac_item(
    path: str | os.PathLike[str],
    *,
    cog: str | os.PathLike[str],
    grid: MapGrid,
    aoi: BaseGeometry,
    as_of: dt.date,
    fingerprint: str,
    class_names: Sequence[str],
    colors: Sequence[Color],
    model: str,
    class_codes: Sequence[Sequence[int]] | None = None,
    scenes: Sequence[SourceScene] = (),
    model_href: str | None = None,
    gif: str | os.PathLike[str] | None = None,
) -> pystac.Item:
    """A STAC item (JSON at ``path``) describing the class map COG ``cog`` valid on ``as_of``.

    The item carries the projection (EPSG, shape, transform) and the as-of date and model fingerprint as
    ``inseason:`` properties, and the ids of its source scenes as ``inseason:source_scenes`` (a list, empty
    when none are given). Its ``classes`` asset (the COG) has the raster extension for both bands
    (uint8, 10 m; nodata 0 for both: band 2 is 0 exactly where band 1 is nodata; band 2's unit is "%")
    and the classification extension, on the asset and on band 1: value 0 "no data" (``nodata: true``)
    and every class with its name, title, description (with its source codes when given) and colour. Links:
    ``derived_from`` for every source scene whose STAC item is known (its href), ``via`` for the model's
    model.json (``model_href`` as given: relative hrefs are relative to the item's folder). The season GIF,
    when given, is a second asset. Asset hrefs are relative to the item (the COG and GIF sit next to it), so
    the folder can be moved.

    Args:
        path: where the item JSON goes (written atomically).
        cog: the class map COG it describes.
        grid: the map grid.
        aoi: the AOI (lon/lat), the item's geometry.
        as_of: the date the map is valid for.
        fingerprint: the model fingerprint.
        class_names: class names in class order.
        colors: class colours in class order.
        model: the model's architecture name.
        class_codes: each class's source codes (e.g. CDL values), for the class descriptions.
        scenes: the scenes the map was made from.
        model_href: where the model's model.json is: a path relative to the item's folder, or an absolute URI.
        gif: the season GIF, next to the item.

    Returns:
        The item.
    """
    path, cog = Path(path), Path(cog)
    when = dt.datetime.combine(as_of, dt.time(0, 0), tzinfo=dt.UTC)
    item = pystac.Item(
        id=cog.stem,
        geometry=mapping(aoi),
        bbox=list(aoi.bounds),
        datetime=when,
        properties={
            "inseason:as_of": as_of.isoformat(),
            "inseason:model_fingerprint": fingerprint,
            "inseason:model": model,
            "inseason:class_names": list(class_names),
            "inseason:source_scenes": [scene.scene_id for scene in scenes],
        },
    )
    asset = pystac.Asset(
        href=f"./{cog.name}",
        media_type=COG_MEDIA_TYPE,
        roles=["data"],
        title=f"crop type as of {as_of.isoformat()}",
        description="band 1: class (0 = no data), band 2: confidence of the class in percent",
    )
    item.add_asset("classes", asset)
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    projection.code = f"EPSG:{grid.epsg}"
    projection.shape = [grid.height, grid.width]
    projection.transform = list(grid.transform)[:6]
    classes = [_nodata_class()] + [
        Classification.create(
            value=k + 1,
            name=_stac_name(name),
            title=name,
            description=_class_description(name, None if class_codes is None else class_codes[k]),
            color_hint=rgb_hex(color)[1:].upper(),
        )
        for k, (name, color) in enumerate(zip(class_names, colors))
    ]
    ClassificationExtension.ext(asset, add_if_missing=True).classes = classes
    resolution = abs(float(grid.transform.a))
    class_band = RasterBand.create(
        nodata=0, data_type=DataType.UINT8, spatial_resolution=resolution, sampling=Sampling.AREA
    )
    ClassificationExtension.ext(class_band).classes = [Classification(dict(c.to_dict())) for c in classes]
    confidence_band = RasterBand.create(
        nodata=0, data_type=DataType.UINT8, spatial_resolution=resolution, sampling=Sampling.AREA, unit="%"
    )
    RasterExtension.ext(asset, add_if_missing=True).bands = [class_band, confidence_band]
    if gif is not None:
        item.add_asset(
            "season",
            pystac.Asset(
                href=f"./{Path(gif).name}",
                media_type="image/gif",
                roles=["overview"],
                title="the class maps of all as-of dates, animated",
            ),
        )
    for scene in scenes:
        if scene.href:  # a scene without a STAC item is listed in inseason:source_scenes only
            item.add_link(
                pystac.Link(
                    rel="derived_from",
                    target=scene.href,
                    media_type="application/geo+json",
                    title=f"source scene {scene.scene_id}",
                    extra_fields={"inseason:scene_id": scene.scene_id},
                )
            )
    if model_href is not None:
        item.add_link(
            pystac.Link(
                rel="via",
                target=model_href,
                media_type="application/json",
                title=f"model bundle: {model} (fingerprint {fingerprint})",
            )
        )
    item.set_self_href(str(path.resolve()))
    data: dict[str, Any] = item.to_dict(include_self_link=False, transform_hrefs=False)
    write_bytes(path, json.dumps(data, indent=1).encode())
    return item


def _class_description(name: str, codes: Sequence[int] | None) -> str:
    """A class's description: its name and, when known, the source codes it holds."""
    if not codes:
        return name
    return f"{name} ({plural(len(codes), 'source code')}: {', '.join(str(int(c)) for c in codes)})"


def _stac_name(name: str) -> str:
    """A class name as the classification extension wants it (no spaces)."""
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_") or "class"


def write_season_gif(
    path: str | os.PathLike[str],
    cogs: Sequence[str | os.PathLike[str]],
    dates: Sequence[dt.date],
    *,
    max_size: int = 512,
    frame_ms: int = 800,
) -> Path:
    """An animated GIF with one frame per class map COG (in its colours, with its as-of date written on it).

    Frames are read at most ``max_size`` pixels wide or high (from the COG overviews), so the GIF stays
    small for any AOI.

    Args:
        path: where the GIF goes (written atomically).
        cogs: the class map COGs, one frame each, in frame order.
        dates: the as-of date of each COG, written on its frame.
        max_size: the longest side of a frame, pixels.
        frame_ms: how long each frame shows, milliseconds.

    Returns:
        ``path``.
    """
    path = Path(path)
    frames = []
    for cog, date in zip(cogs, dates):
        with rasterio.open(cog) as ds:
            scale = max(ds.width, ds.height) / max_size
            shape = (max(1, round(ds.height / max(scale, 1))), max(1, round(ds.width / max(scale, 1))))
            classes = ds.read(1, out_shape=shape, resampling=Resampling.nearest)
            colormap = ds.colormap(1)
        palette = np.zeros((256, 3), np.uint8)
        for value, rgba in colormap.items():
            palette[value] = rgba[:3]
        rgb = palette[classes]
        rgb[classes == 0] = 255  # nodata as white
        frame = Image.fromarray(rgb, "RGB")
        draw = ImageDraw.Draw(frame)
        draw.rectangle((0, 0, 88, 14), fill=(255, 255, 255))
        draw.text((2, 2), date.isoformat(), fill=(0, 0, 0))
        frames.append(frame.convert("P", palette=Image.Palette.ADAPTIVE))
    buffer = io.BytesIO()  # a few frames of at most max_size² pixels: small enough to hold whole
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    write_bytes(path, buffer.getvalue())
    return path
