"""A static STAC catalog of the world's scenes, shaped like earth-search's ``sentinel-2-l2a`` items.

Asset keys and ``eo:bands`` follow earth-search v1 (``red`` is B04, ``nir08`` is B8A, ``scl`` is SCL);
``raster:bands`` carries each asset's scale and BOA offset; MGRS, orbit and processing baseline are item
properties. Hrefs are relative, so the folder can be moved or served over HTTP as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pystac
from affine import Affine

from inseason.synth.grid import BAND_RES

COLLECTION = "sentinel-2-l2a"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
#: band → (earth-search asset key, common name, centre wavelength µm, full width at half maximum µm)
BAND_INFO: dict[str, tuple[str, str, float, float]] = {
    "B01": ("coastal", "coastal", 0.443, 0.027),
    "B02": ("blue", "blue", 0.490, 0.098),
    "B03": ("green", "green", 0.560, 0.045),
    "B04": ("red", "red", 0.665, 0.038),
    "B05": ("rededge1", "rededge", 0.704, 0.019),
    "B06": ("rededge2", "rededge", 0.740, 0.018),
    "B07": ("rededge3", "rededge", 0.783, 0.028),
    "B08": ("nir", "nir", 0.842, 0.145),
    "B8A": ("nir08", "nir08", 0.865, 0.033),
    "B09": ("nir09", "nir09", 0.945, 0.026),
    "B11": ("swir16", "swir16", 1.610, 0.143),
    "B12": ("swir22", "swir22", 2.190, 0.242),
}
EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
]


def item_dict(record: dict[str, Any], scene_dir: str) -> dict[str, Any]:
    """The STAC item of one scene, shaped like an earth-search ``sentinel-2-l2a`` item.

    Args:
        record: the scene's record from `inseason.synth.scenes.write_datatake`.
        scene_dir: the scene's folder, relative to the world root.

    Returns:
        The item as a STAC JSON dict with relative asset hrefs.
    """
    tile = record["tile"]
    offset = record["boa_offset"] / 10_000
    assets: dict[str, Any] = {}
    for band, res in BAND_RES.items():
        transform: Affine = Affine(*record["transforms"][str(res)])
        shape = record["shapes"][str(res)]
        asset: dict[str, Any] = {
            "href": f"../../../{scene_dir}/{band}.tif",
            "type": COG_TYPE,
            "gsd": res,
            "proj:shape": list(shape),
            "proj:transform": list(transform)[:6],
        }
        if band == "SCL":
            asset.update(
                title="Scene classification map (SCL)",
                roles=["data"],
                **{"raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}]},
            )
        else:
            _key, common, centre, fwhm = BAND_INFO[band]
            asset.update(
                title=f"{common.capitalize()} ({band}) - {res}m",
                roles=["data", "reflectance"],
                **{
                    "eo:bands": [
                        {"name": band, "common_name": common, "center_wavelength": centre, "full_width_half_max": fwhm}
                    ],
                    "raster:bands": [
                        {
                            "nodata": 0,
                            "data_type": "uint16",
                            "bits_per_sample": 15,
                            "spatial_resolution": res,
                            "scale": 0.0001,
                            "offset": offset,
                        }
                    ],
                },
            )
        assets[BAND_INFO[band][0] if band in BAND_INFO else "scl"] = asset
    when = dt.datetime.fromisoformat(record["datetime"])
    created = (when + dt.timedelta(hours=5 + 24 * 400 * record["reprocessed"])).isoformat().replace("+00:00", "Z")
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": EXTENSIONS,
        "id": record["scene_id"],
        "geometry": record["footprint"],
        "bbox": record["bbox"],
        "properties": {
            "datetime": record["datetime"].replace("+00:00", "Z"),
            "created": created,
            "updated": created,
            "platform": record["platform"],
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": record["cloud_cover"],
            "proj:epsg": record["epsg"],
            "sat:relative_orbit": record["relative_orbit"],
            "sat:orbit_state": "descending",
            "mgrs:utm_zone": int(tile[:2]),
            "mgrs:latitude_band": tile[2],
            "mgrs:grid_square": tile[3:],
            "grid:code": f"MGRS-{tile}",
            "s2:mgrs_tile": tile,
            "s2:processing_baseline": record["processing_baseline"],
            "s2:nodata_pixel_percentage": record["nodata_percentage"],
            "s2:datatake_id": record["datatake_id"],
            "earthsearch:boa_offset_applied": False,
        },
        "links": [],
        "assets": assets,
        "collection": COLLECTION,
    }


def write_catalog(root: Path, records: Sequence[dict[str, Any]], *, title: str) -> int:
    """Write ``root/stac``: the catalog, its collection and one JSON file per item.

    Args:
        root: the world's folder.
        records: the scene records from `inseason.synth.scenes.write_datatake`.
        title: the catalog's title.

    Returns:
        The number of items written.
    """
    items = [pystac.Item.from_dict(item_dict(r, r["scene_dir"]), migrate=False) for r in records]
    boxes = [it.bbox for it in items if it.bbox is not None]
    lons = [c for bbox in boxes for c in (bbox[0], bbox[2])]
    lats = [c for bbox in boxes for c in (bbox[1], bbox[3])]
    times = sorted(it.datetime for it in items if it.datetime is not None)
    collection = pystac.Collection(
        id=COLLECTION,
        title="Sentinel-2 Level-2A (synthetic)",
        description="Synthetic Sentinel-2 L2A scenes of an inseason world: surface reflectance DNs "
        "(scale 0.0001, BOA offset per item) and the scene classification (SCL).",
        extent=pystac.Extent(
            pystac.SpatialExtent([[min(lons), min(lats), max(lons), max(lats)]]),
            pystac.TemporalExtent([[times[0], times[-1]]]),
        ),
        license="CC-BY-4.0",
    )
    for item in items:
        collection.add_item(item)
    catalog = pystac.Catalog(
        id="inseason-synthetic-world",
        title=title,
        description="Scenes of a synthetic inseason world, as a static STAC catalog.",
    )
    catalog.add_child(collection)
    catalog.normalize_hrefs(str(root / "stac"))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return len(items)
