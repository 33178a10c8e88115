"""CDL rasters: finding a year's file, reading the AOI window in any CRS, and CropScape over loopback."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from shapely.geometry import box

from inseason.errors import InputError, RemoteError
from inseason.sources.cdl import (
    CONUS_BOUNDS,
    cropscape_bbox,
    fetch_cropscape,
    find_cdl_file,
    parse_cdl_file_response,
    read_label_window,
)
from inseason.sources.http import download, fetch, make_session
from inseason.sources.sampling import sample_stride

RECORDED = Path(__file__).parent / "recorded"


def quick(retries: int = 2, timeout: float | tuple[float, float] = (2.0, 5.0)) -> Any:
    """A session that retries at once (no backoff), for tests."""
    return make_session(retries=retries, backoff=0, timeout=timeout)


# ------------------------------------------------------------------------------------------ local files


def test_find_cdl_file_in_folders_and_files(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("CDL_2021.tif", "other_2021.tif", "CDL_2022.tif", "notes_2023.txt"):
        (flat / name).touch()
    assert find_cdl_file(flat, 2021) == flat / "CDL_2021.tif"

    national = tmp_path / "national"
    (national / "2021_30m_cdls").mkdir(parents=True)
    (national / "2021_30m_cdls" / "2021_30m_cdls.tif").touch()
    (national / "2021_30m_cdls" / "2021_30m_cdls.tif.ovr").touch()
    (national / "elevation_2021.tif").touch()
    assert find_cdl_file(national, 2021) == national / "2021_30m_cdls" / "2021_30m_cdls.tif"

    ambiguous = tmp_path / "ambiguous"
    ambiguous.mkdir()
    (ambiguous / "a_2021.tif").touch()
    (ambiguous / "b_2021.tiff").touch()
    with pytest.raises(InputError, match="several GeoTIFFs for 2021"):
        find_cdl_file(ambiguous, 2021)

    with pytest.raises(InputError, match=r"no GeoTIFF for 2023 \(years found: 2021, 2022\)"):
        find_cdl_file(flat, 2023)
    with pytest.raises(InputError, match="is for 2021, not 2022"):
        find_cdl_file(flat / "CDL_2021.tif", 2022)
    undated = flat / "clip.tif"
    undated.touch()
    assert find_cdl_file(undated, 2019) == undated
    with pytest.raises(InputError, match="does not exist"):
        find_cdl_file(tmp_path / "nowhere", 2021)


def test_window_reads_only_the_aoi_and_masks_pixel_centres(tiny_world: Path) -> None:
    path = tiny_world / "labels" / "CDL_2021.tif"
    aoi = box(-90.805, 33.395, -90.795, 33.402)
    window = read_label_window(path, aoi)
    with rasterio.open(path) as ds:
        full, t = ds.read(1), ds.transform
        assert window.shape[0] < ds.height / 2 and window.shape[1] < ds.width / 2
    col0 = round((window.transform.c - t.c) / t.a)
    row0 = round((window.transform.f - t.f) / t.e)
    h, w = window.shape
    assert np.array_equal(window.codes, full[row0 : row0 + h, col0 : col0 + w].astype(np.int32))
    rows, cols = np.indices(window.shape)
    x, y = window.xy(rows.ravel(), cols.ravel())
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:5070", "EPSG:4326", always_xy=True).transform(x, y)
    centre_inside = shapely.contains_xy(aoi, lon, lat).reshape(window.shape)
    # the AOI edges are straight in lon/lat but curved in Albers: compare away from the outline
    far = shapely.distance(aoi.exterior, shapely.points(lon, lat)).reshape(window.shape) > 0.0002
    assert np.array_equal(window.inside[far], (centre_inside & (window.codes != 0))[far])
    assert window.res_m == (30.0, 30.0)
    assert window.crs.to_epsg() == 5070


@pytest.mark.parametrize(("crs", "resolution"), [("EPSG:32615", 30.0), ("EPSG:32615", 10.0), ("EPSG:4326", None)])
def test_reprojected_raster_gives_the_original_labels(
    tiny_world: Path,
    world_aoi: Any,
    tmp_path: Path,
    reproject_raster: Any,
    values_at: Any,
    crs: str,
    resolution: float | None,
) -> None:
    original = tiny_world / "labels" / "CDL_2021.tif"
    warped = reproject_raster(original, tmp_path / "warped.tif", crs, resolution=resolution)
    window = read_label_window(warped, world_aoi)
    assert window.crs.equals(crs)
    sample = sample_stride(window.inside, 3, origin=window.grid_origin())
    assert len(sample.rows) > 100
    x, y = window.xy(sample.rows, sample.cols)
    codes = window.codes[sample.rows, sample.cols]
    assert np.array_equal(codes, values_at(original, x, y, crs=crs))
    if crs == "EPSG:4326":  # pixel size in metres is approximated at the window's latitude
        assert window.res_m[0] == pytest.approx(window.res_m[1], rel=0.25)


def test_bad_rasters_are_input_errors(tiny_world: Path, world_aoi: Any, tmp_path: Path) -> None:
    text = tmp_path / "CDL_2021.tif"
    text.write_text("not a tiff")
    with pytest.raises(InputError, match="cannot be read"):
        read_label_window(text, world_aoi)
    with rasterio.open(tiny_world / "labels" / "CDL_2021.tif") as ds:
        data, profile = ds.read(1), ds.profile
    no_crs = tmp_path / "nocrs.tif"
    with rasterio.open(no_crs, "w", **{**profile, "crs": None}) as dst:
        dst.write(data, 1)
    with pytest.raises(InputError, match="no CRS"):
        read_label_window(no_crs, world_aoi)
    floats = tmp_path / "floats.tif"
    with rasterio.open(floats, "w", **{**profile, "dtype": "float32", "nodata": None}) as dst:
        dst.write(data.astype("float32"), 1)
    with pytest.raises(InputError, match="must be integers"):
        read_label_window(floats, world_aoi)
    with pytest.raises(InputError, match="does not overlap"):
        read_label_window(tiny_world / "labels" / "CDL_2021.tif", box(-100.0, 40.0, -99.9, 40.1))


# -------------------------------------------------------------------------------------------- CropScape


def test_cropscape_bbox_rounds_outward_to_the_30m_grid(world_aoi: Any) -> None:
    bbox = cropscape_bbox(world_aoi)
    assert all(v % 30 == 0 for v in bbox)
    from inseason.sources.aoi import aoi_to_crs

    w, s, e, n = aoi_to_crs(world_aoi, "EPSG:5070").bounds
    assert bbox[0] <= w < bbox[0] + 30 and bbox[1] <= s < bbox[1] + 30
    assert bbox[2] - 30 < e <= bbox[2] and bbox[3] - 30 < n <= bbox[3]
    assert CONUS_BOUNDS[0] < bbox[0] < bbox[2] < CONUS_BOUNDS[2]


def test_recorded_answers_parse() -> None:
    url = "https://example.invalid/GetCDLFile?year=2021"
    ok = parse_cdl_file_response((RECORDED / "getcdlfile_2021_ok.xml").read_bytes(), url=url)
    assert ok == (
        "https://nassgeodata.gmu.edu/webservice/nass_data_cache/tmp/CDL_2021_clip_20240612093015_1437210954.tif"
    )
    with pytest.raises(RemoteError, match="No CDL data is available for the year 2009") as info:
        parse_cdl_file_response((RECORDED / "getcdlfile_fault_year.xml").read_bytes(), url=url)
    assert url in str(info.value)
    with pytest.raises(RemoteError, match="does not intersect the CDL coverage"):
        parse_cdl_file_response((RECORDED / "getcdlfile_error_bbox.xml").read_bytes(), url=url)
    with pytest.raises(RemoteError, match="Service Unavailable The server is temporarily unable"):
        parse_cdl_file_response((RECORDED / "service_unavailable.html").read_bytes(), url=url)
    with pytest.raises(RemoteError, match="an empty answer"):
        parse_cdl_file_response(b"", url=url)


def test_fetch_downloads_the_clip_and_caches_it(
    cropscape: Any, world_aoi: Any, tiny_world: Path, tmp_path: Path, values_at: Any
) -> None:
    bbox = cropscape_bbox(world_aoi)
    path = fetch_cropscape(2021, bbox, base_url=cropscape.url, cache_dir=tmp_path, session=quick())
    assert path == tmp_path / "cropscape" / f"CDL_2021_{bbox[0]}_{bbox[1]}_{bbox[2]}_{bbox[3]}.tif"
    assert cropscape.count("GetCDLFile?year=2021&bbox=" + ",".join(map(str, bbox))) == 1
    assert cropscape.count("CDL_2021_clip_") == 1
    with rasterio.open(path) as ds:
        data = ds.read(1)
        rows, cols = np.indices(data.shape)
        x, y = rasterio.transform.xy(ds.transform, rows.ravel(), cols.ravel())
    assert np.array_equal(data.ravel(), values_at(tiny_world / "labels" / "CDL_2021.tif", np.array(x), np.array(y)))
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left

    before = len(cropscape.requests)
    again = fetch_cropscape(2021, bbox, base_url=cropscape.url, cache_dir=tmp_path, session=quick())
    assert again == path
    assert len(cropscape.requests) == before  # a cache hit makes no request


def test_503_is_retried_then_succeeds(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    cropscape.fail_next = [503, 503]
    path = fetch_cropscape(
        2022, cropscape_bbox(world_aoi), base_url=cropscape.url, cache_dir=tmp_path, session=quick(retries=3)
    )
    assert path.is_file()
    assert cropscape.count("GetCDLFile") == 3
    assert cropscape.count("CDL_2022_clip_") == 1


def test_429_on_the_download_is_retried(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    bbox = cropscape_bbox(world_aoi)
    fetch_cropscape(2021, bbox, base_url=cropscape.url, cache_dir=tmp_path / "a", session=quick())
    tif_path = next(p for p in cropscape.requests if "_clip_" in p)
    cropscape.requests.clear()
    cropscape.fail_next = [429]
    out = download(cropscape.root + tif_path, tmp_path / "copy.tif", session=quick())
    assert out.read_bytes()[:2] in (b"II", b"MM")
    assert cropscape.requests == [tif_path, tif_path]


def test_503_past_the_retries_is_a_remote_error_naming_the_url(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    cropscape.fail_next = [503] * 10
    bbox = cropscape_bbox(world_aoi)
    with pytest.raises(RemoteError) as info:
        fetch_cropscape(2021, bbox, base_url=cropscape.url, cache_dir=tmp_path, session=quick(retries=2))
    message = str(info.value)
    assert f"{cropscape.url}/GetCDLFile?year=2021&bbox={bbox[0]},{bbox[1]},{bbox[2]},{bbox[3]}" in message
    assert "HTTP 503" in message and "after 3 tries" in message and "\n" not in message
    assert cropscape.count("GetCDLFile") == 3
    assert not (tmp_path / "cropscape").exists() or not any((tmp_path / "cropscape").iterdir())


def test_fault_for_a_year_quotes_the_service(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match=r"No CDL data is available for the year 2009.*\(HTTP 500\)") as info:
        fetch_cropscape(
            2009, cropscape_bbox(world_aoi), base_url=cropscape.url, cache_dir=tmp_path, session=quick(retries=1)
        )
    assert "GetCDLFile?year=2009" in str(info.value)
    assert cropscape.count("GetCDLFile?year=2009") == 2  # HTTP 500 is retried once, then the fault is read


def test_bbox_outside_the_coverage_quotes_the_service(cropscape: Any, tmp_path: Path) -> None:
    far = (1_000_020, 1_500_000, 1_003_020, 1_503_000)  # inside CONUS, outside the world's CDL
    with pytest.raises(RemoteError, match="does not intersect the CDL coverage"):
        fetch_cropscape(2021, far, base_url=cropscape.url, cache_dir=tmp_path, session=quick())
    assert cropscape.count("GetCDLFile") == 1


def test_local_mistakes_make_no_request(cropscape: Any, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="outside the contiguous US"):
        cropscape_bbox(box(2.30, 48.85, 2.35, 48.87))  # Paris
    with pytest.raises(InputError, match="year 1990 has no CDL"):
        fetch_cropscape(1990, (0, 0, 30, 30), base_url=cropscape.url, cache_dir=tmp_path)
    with pytest.raises(InputError, match="is empty"):
        fetch_cropscape(2021, (30, 0, 0, 30), base_url=cropscape.url, cache_dir=tmp_path)
    assert cropscape.requests == []


def test_timeout_is_a_remote_error_naming_the_url(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    cropscape.delay = 1.0
    with pytest.raises(RemoteError, match="timed out") as info:
        fetch_cropscape(
            2021,
            cropscape_bbox(world_aoi),
            base_url=cropscape.url,
            cache_dir=tmp_path,
            session=quick(retries=1, timeout=(1.0, 0.2)),
        )
    assert f"{cropscape.url}/GetCDLFile?year=2021" in str(info.value)
    assert cropscape.count("GetCDLFile") == 2


def test_dead_service_is_a_remote_error_naming_the_url(tmp_path: Path, world_aoi: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/axis2/services/CDLService"
    with pytest.raises(RemoteError, match="connection failed") as info:
        fetch_cropscape(2021, cropscape_bbox(world_aoi), base_url=url, cache_dir=tmp_path, session=quick(1))
    assert url in str(info.value)
    with pytest.raises(RemoteError, match=f"request {url}/x failed after 2 tries: connection failed"):
        fetch(url + "/x", session=quick(1))


def test_corrupt_download_is_not_cached(cropscape: Any, world_aoi: Any, tmp_path: Path) -> None:
    cropscape.corrupt_tiff = True
    with pytest.raises(RemoteError, match="not a readable GeoTIFF"):
        fetch_cropscape(2021, cropscape_bbox(world_aoi), base_url=cropscape.url, cache_dir=tmp_path, session=quick())
    assert not any((tmp_path / "cropscape").iterdir())
