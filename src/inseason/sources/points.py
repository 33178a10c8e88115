"""The ``labels`` stage: a label source + AOI + years → the label points table (DESIGN §2).

Sources: local CDL GeoTIFFs (a folder of years or one file, any CRS), the CropScape ``GetCDLFile`` service, or
vector labels (GeoJSON, GeoPackage, Shapefile) with a class column. Strategies: ``stride`` (every k-th
pixel; a regular grid for vectors), ``stratified`` (a cap per class and year) and ``per_field`` (n points per
field, away from its edges). The table is written with :func:`inseason.tables.write_table` and carries
``inseason:crs`` (the CRS of ``x``/``y``) and ``inseason:sampling`` (the options, the classes dropped and the
label codes of a vector source, as JSON).

Points are sorted by (year, y descending, x, field_id, label_code) and numbered 0…n-1: the same inputs and seed
give the same ``point_id`` for every point.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self, TypedDict, get_args

import numpy as np
import pyarrow as pa
import shapely
from pydantic import ConfigDict, model_validator
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from inseason.config import StageRequest
from inseason.errors import InputError, OutputError
from inseason.labels import cdl_class, cdl_classes, cdl_code
from inseason.progress import progress_bar
from inseason.sources.aoi import WGS84, aoi_to_crs, read_aoi
from inseason.sources.cdl import (
    CROPSCAPE_URL,
    LabelWindow,
    cropscape_bbox,
    fetch_cropscape,
    find_cdl_file,
    read_label_window,
)
from inseason.sources.http import make_session
from inseason.sources.sampling import (
    RasterSample,
    cap_per_group,
    field_components,
    sample_per_field,
    sample_stratified,
    sample_stride,
)
from inseason.sources.vector import VectorLabels, feature_points, read_vector_labels
from inseason.storage import output_lock
from inseason.tables import LABEL_POINTS, with_metadata, write_table

__all__ = [
    "FIELD_ID_YEAR",
    "STRATEGIES",
    "LabelsRequest",
    "LabelsResult",
    "Strategy",
    "crs_string",
    "make_label_points",
    "run_labels",
]

log = logging.getLogger(__name__)

#: A sampling strategy of the ``labels`` stage.
Strategy = Literal["stride", "stratified", "per_field"]
#: Sampling strategies of :func:`make_label_points`.
STRATEGIES: tuple[str, ...] = get_args(Strategy)
#: Raster field ids are ``year × FIELD_ID_YEAR + component``: unique across the years of a table.
FIELD_ID_YEAR = 1_000_000_000
#: Pixel size assumed for the default vector grid spacing (``stride × 30 m``, as on a CDL grid).
CDL_PIXEL_M = 30.0


@dataclass
class _Points:
    x: np.ndarray
    y: np.ndarray
    year: np.ndarray
    code: np.ndarray
    label: np.ndarray
    field_id: np.ndarray
    field_valid: np.ndarray
    source: np.ndarray


class _SamplingReport(TypedDict, total=False):
    """What the sampling left out or decided, recorded in ``inseason:sampling`` beside the options."""

    cropscape_bbox: list[int]  # the EPSG:5070 bbox asked of CropScape
    dropped: dict[str, dict[str, int]]  # year → class code → candidates, for classes under min_per_class
    fields_without_points: dict[str, int]  # year → raster fields too small for the edge buffer
    polygons_without_points: int  # vector polygons too small for the edge buffer
    label_codes: dict[str, int]  # class name → code, for a vector text class column
    spacing_m: float  # the vector grid spacing of the stride strategy


def crs_string(crs: CRS) -> str:
    """``"EPSG:n"`` when the CRS has an EPSG code, else its WKT (how ``inseason:crs`` is written).

    Args:
        crs: the CRS of the points' ``x`` and ``y``.

    Returns:
        ``"EPSG:n"`` or the WKT.
    """
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


class LabelsRequest(StageRequest):
    """What the ``labels`` stage is asked to do: a label source, an AOI, the years and a sampling strategy.

    Built alike by ``inseason labels`` and :func:`make_label_points`; :func:`run_labels` does the work.
    Exactly one source is given: ``cdl`` (or ``cropscape_url``) or ``vector``.

    Attributes:
        cdl: a folder of ``CDL_YYYY.tif`` (or ``*YYYY*.tif``) files, one GeoTIFF (national or clipped, any CRS),
            or ``"cropscape"``.
        cropscape_url: the CropScape service root; given alone, it implies ``cdl="cropscape"``.
        vector: a GeoJSON/GeoPackage/Shapefile of labelled polygons or points.
        class_column: the class column of ``vector`` (required with it).
        field_column: the field id column of ``vector`` (the feature index when None).
        aoi: a vector file, a lon/lat bbox ``"w,s,e,n"`` or a lon/lat geometry.
        years: the season years to sample (integers; kept sorted, each once).
        strategy: ``stride`` (every ``stride``-th pixel; for vectors a grid), ``stratified`` (≤ ``per_class``
            random points per class and year) or ``per_field`` (``per_field`` points per field; raster fields
            are connected components of one class).
        stride: the pixel stride of ``stride`` (at least 1).
        per_class: the cap per class and year of ``stratified`` (required with it).
        min_per_class: ``stratified`` drops (and records) classes with fewer candidates than this.
        per_field: points per field of ``per_field`` (default 1).
        edge_buffer_m: metres a ``per_field`` point (and a vector grid node) keeps inside its field's edges.
        classes: keep only these class names or codes.
        seed: the seed of everything random (not negative).
        cache_dir: where CropScape downloads are cached (:func:`inseason.sources.cdl.default_cache_dir` when None).
        out: the Parquet file to write.
        spacing_m: the vector grid spacing in metres (default ``stride × 30``).
        layer: the layer of a multi-layer vector file.
        quiet: no progress bar on stderr.
        timeout: seconds before a CropScape request times out.
        retries: retries of a failed CropScape request.
        backoff: seconds before the first retry, doubled per retry.
        ca_bundle: a PEM file of the CA certificates that CropScape's TLS certificate is checked against.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    cdl: str | None = None
    cropscape_url: str | None = None
    vector: str | None = None
    class_column: str | None = None
    field_column: str | None = None
    aoi: str | BaseGeometry
    years: tuple[int, ...]
    strategy: Strategy = "stride"
    stride: int = 15
    per_class: int | None = None
    min_per_class: int = 0
    per_field: int | None = None
    edge_buffer_m: float = 30.0
    classes: tuple[str | int, ...] | None = None
    seed: int = 0
    cache_dir: Path | None = None
    out: Path
    spacing_m: float | None = None
    layer: str | None = None
    quiet: bool = False
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.5
    ca_bundle: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _strategy_and_years(cls, values: Any) -> Any:
        """Refuse an unknown strategy and years that are not integers with the stage's own messages."""
        if not isinstance(values, dict):
            return values
        strategy = values.get("strategy", "stride")
        if strategy not in STRATEGIES:
            raise InputError(f"unknown sampling strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
        years = values.get("years")
        if years is None or (isinstance(years, Iterable) and not isinstance(years, str | bytes)):
            given = list(years or [])
            try:
                clean = tuple(sorted({int(y) for y in given}))
            except (TypeError, ValueError):
                raise InputError(f"years {given} must be integers such as 2021") from None
            values = {**values, "years": clean}
        return values

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse options out of range and sources given twice, or without the options they need."""
        if not self.years:
            raise InputError("no years given: pass at least one season year, e.g. --years 2021")
        if any(not 1900 <= y <= 2200 for y in self.years):
            raise InputError(f"years {list(self.years)} are not plausible season years")
        if self.stride < 1:
            raise InputError(f"--stride {self.stride} must be at least 1 (1 takes every pixel)")
        if self.strategy == "stratified" and (self.per_class is None or self.per_class < 1):
            raise InputError("--strategy stratified needs --per-class N (at most N points per class and year)")
        if self.per_field is not None and self.per_field < 1:
            raise InputError(f"--per-field {self.per_field} must be at least 1")
        if self.min_per_class < 0:
            raise InputError(f"--min-per-class {self.min_per_class} must not be negative")
        if self.edge_buffer_m < 0:
            raise InputError(f"--edge-buffer {self.edge_buffer_m} must not be negative (metres inside field edges)")
        if self.seed < 0:
            raise InputError(f"--seed {self.seed} must not be negative")
        if (self.cdl_source is None) == (self.vector is None):
            raise InputError("give exactly one label source: --cdl (folder, GeoTIFF or 'cropscape') or --vector FILE")
        if self.vector is not None and not self.class_column:
            raise InputError(
                f"vector labels {self.vector} need --class-column: the column holding each feature's class"
            )
        if self.cdl_source is not None and (self.class_column or self.field_column):
            raise InputError("--class-column/--field-column apply to --vector labels only, not to --cdl")
        return self

    @property
    def cdl_source(self) -> str | None:
        """The CDL source: ``cdl``, or ``"cropscape"`` when only ``cropscape_url`` is given."""
        return "cropscape" if self.cdl is None and self.cropscape_url else self.cdl


@dataclass(frozen=True)
class LabelsResult:
    """What the ``labels`` stage wrote: the label points table and what its metadata records.

    Attributes:
        table: the label points table as written, with its ``inseason:crs`` and ``inseason:sampling`` metadata.
        path: the Parquet file written.
        points: the number of label points (rows).
        crs: the CRS of ``x``/``y`` as written in ``inseason:crs`` (``"EPSG:n"`` or WKT).
        sampling: the ``inseason:sampling`` record: the options, the years, how field ids are made, and what
            the sampling left out (classes dropped, fields without points, a vector source's label codes).
    """

    table: pa.Table
    path: Path
    points: int
    crs: str
    sampling: dict[str, Any]


def _cdl_class_codes(classes: Sequence[str | int]) -> set[int]:
    codes = set()
    for item in classes:
        text = str(item).strip()
        code = int(text) if text.lstrip("-").isdigit() else cdl_code(text)
        codes.add(cdl_class(code).code)
    return codes


def _cdl_names(codes: np.ndarray) -> np.ndarray:
    table = cdl_classes()
    names = {}
    for code in np.unique(codes):
        cls = table.get(int(code))
        if cls is None:
            log.warning("code %d is not a CDL class: labelled 'CDL code %d'", code, code)
        names[int(code)] = cls.name if cls is not None else f"CDL code {int(code)}"
    return np.array([names[int(c)] for c in codes], dtype=object)


def _raster_points(
    window: LabelWindow,
    year: int,
    *,
    strategy: str,
    stride: int,
    per_class: int | None,
    min_per_class: int,
    per_field: int,
    edge_buffer_m: float,
    keep: set[int] | None,
    seed: int,
    source: str,
) -> tuple[_Points, RasterSample]:
    valid = window.inside if keep is None else window.inside & np.isin(window.codes, list(keep))
    if not window.inside.any():
        raise InputError(
            f"AOI has no label pixels in {window.path} for {year} (all pixels inside it are "
            "0/nodata): check the AOI and the year"
        )
    if not valid.any():
        raise InputError(
            f"no pixel of the classes asked for ({', '.join(map(str, sorted(keep or [])))}) lies in "
            f"the AOI in {window.path} for {year}: check --classes"
        )
    rng = np.random.default_rng([seed, year])
    fields = field_components(window.codes)
    if strategy == "stride":
        sample = sample_stride(valid, stride, origin=window.grid_origin())
    elif strategy == "stratified":
        assert per_class is not None
        sample = sample_stratified(window.codes, valid, per_class=per_class, min_per_class=min_per_class, rng=rng)
    else:
        sample = sample_per_field(
            window.codes, valid, n=per_field, buffer_m=edge_buffer_m, res_m=window.res_m, rng=rng, fields=fields
        )
    rows, cols = sample.rows, sample.cols
    x, y = window.xy(rows, cols)
    codes = window.codes[rows, cols].astype(np.int32)
    n = len(rows)
    return _Points(
        x=x,
        y=y,
        year=np.full(n, year, dtype=np.int16),
        code=codes,
        label=_cdl_names(codes),
        field_id=year * FIELD_ID_YEAR + fields[rows, cols],
        field_valid=np.ones(n, dtype=bool),
        source=np.full(n, source, dtype=object),
    ), sample


def _vector_class_filter(labels: VectorLabels, classes: Sequence[str | int]) -> np.ndarray:
    wanted = {str(c).strip() for c in classes}
    known = set(map(str, labels.labels)) | {str(int(c)) for c in labels.codes}
    unknown = sorted(wanted - known)
    if unknown:
        have = ", ".join(sorted(set(map(str, labels.labels)))[:30])
        raise InputError(f"classes {unknown} do not occur in vector labels {labels.path} (classes there: {have})")
    return np.array(
        [str(lab) in wanted or str(int(code)) in wanted for lab, code in zip(labels.labels, labels.codes)], dtype=bool
    )


def _vector_points(
    labels: VectorLabels,
    years: list[int],
    *,
    aoi: BaseGeometry,
    strategy: str,
    stride: int,
    spacing_m: float | None,
    per_class: int | None,
    min_per_class: int,
    per_field: int,
    edge_buffer_m: float,
    classes: Sequence[str | int] | None,
    seed: int,
    report: _SamplingReport,
) -> list[_Points]:
    spacing = spacing_m if spacing_m is not None else stride * CDL_PIXEL_M
    if spacing <= 0:
        raise InputError(f"grid spacing {spacing} m must be positive")
    wanted = _vector_class_filter(labels, classes) if classes else np.ones(len(labels.codes), dtype=bool)
    if not _any_touch(labels, aoi):
        raise InputError(f"AOI does not overlap vector labels {labels.path}: check the AOI and the file's CRS")
    xy, owner, empty = feature_points(
        labels,
        strategy="per_field" if strategy == "per_field" else "grid",
        per_field=per_field,
        spacing_m=spacing,
        edge_buffer_m=edge_buffer_m,
        seed=seed,
        aoi=aoi,
    )
    report["polygons_without_points"] = empty
    if empty:
        log.warning(
            "%d polygon(s) of %s too small for points %.0f m inside their edges", empty, labels.path, edge_buffer_m
        )
    if labels.years is not None:
        present = sorted({int(v) for v in labels.years if v >= 0})
        missing = [y for y in years if y not in present]
        if missing:
            raise InputError(
                f"vector labels {labels.path} have no features for {missing} in their year column "
                f"(years there: {', '.join(map(str, present)) or 'none'})"
            )
    out = []
    source = f"vector:{labels.path.name}"
    for year in years:
        sel = wanted[owner]
        if labels.years is not None:
            sel &= labels.years[owner] == year
        idx = np.flatnonzero(sel)
        if strategy == "stratified":
            assert per_class is not None
            codes = labels.codes[owner[idx]]
            values, counts = np.unique(codes, return_counts=True)
            too_few = values[counts < min_per_class]
            if len(too_few):
                report.setdefault("dropped", {})[str(year)] = {
                    str(int(v)): int(c) for v, c in zip(values, counts) if c < min_per_class
                }
            idx = idx[~np.isin(codes, too_few)]
            idx = idx[cap_per_group(labels.codes[owner[idx]], per_class, np.random.default_rng([seed, year]))]
        own = owner[idx]
        n = len(idx)
        out.append(
            _Points(
                x=xy[idx, 0],
                y=xy[idx, 1],
                year=np.full(n, year, dtype=np.int16),
                code=labels.codes[own].astype(np.int32),
                label=labels.labels[own],
                field_id=labels.field_ids[own],
                field_valid=labels.field_valid[own],
                source=np.full(n, source, dtype=object),
            )
        )
    return out


def _any_touch(labels: VectorLabels, aoi: BaseGeometry) -> bool:
    return bool(shapely.intersects(aoi_to_crs(aoi, labels.crs), labels.geometries).any())


def _concat(parts: list[_Points], crs: CRS, crss: list[CRS]) -> _Points:
    xs, ys = [], []
    for part, part_crs in zip(parts, crss):
        if part_crs.equals(crs):
            xs.append(part.x)
            ys.append(part.y)
        else:
            tx, ty = Transformer.from_crs(part_crs, crs, always_xy=True).transform(part.x, part.y)
            xs.append(np.asarray(tx))
            ys.append(np.asarray(ty))

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts]) if parts else np.empty(0)

    return _Points(
        x=np.concatenate(xs).astype(np.float64),
        y=np.concatenate(ys).astype(np.float64),
        year=cat("year").astype(np.int16),
        code=cat("code").astype(np.int32),
        label=cat("label"),
        field_id=cat("field_id").astype(np.int64),
        field_valid=cat("field_valid").astype(bool),
        source=cat("source"),
    )


def _table(points: _Points, crs: CRS) -> pa.Table:
    order = np.lexsort((points.code, points.field_id, points.x, -points.y, points.year))
    p = _Points(**{k: v[order] for k, v in vars(points).items()})
    lon, lat = Transformer.from_crs(crs, WGS84, always_xy=True).transform(p.x, p.y)
    n = len(p.x)
    return pa.table(
        {
            "point_id": pa.array(np.arange(n, dtype=np.int64)),
            "x": pa.array(p.x, pa.float64()),
            "y": pa.array(p.y, pa.float64()),
            "lon": pa.array(np.asarray(lon, dtype=np.float64)),
            "lat": pa.array(np.asarray(lat, dtype=np.float64)),
            "year": pa.array(p.year, pa.int16()),
            "label_code": pa.array(p.code, pa.int32()),
            "label": pa.array([str(v) for v in p.label], pa.string()),
            "field_id": pa.array(p.field_id, pa.int64(), mask=~p.field_valid),
            "source": pa.array([str(v) for v in p.source], pa.string()),
        },
        schema=LABEL_POINTS,
    )


def make_label_points(
    *,
    cdl: str | os.PathLike[str] | None = None,
    cropscape_url: str | None = None,
    vector: str | os.PathLike[str] | None = None,
    class_column: str | None = None,
    field_column: str | None = None,
    aoi: str | os.PathLike[str] | BaseGeometry,
    years: Sequence[int],
    strategy: str = "stride",
    stride: int = 15,
    per_class: int | None = None,
    min_per_class: int = 0,
    per_field: int | None = None,
    edge_buffer_m: float = 30.0,
    classes: Sequence[str | int] | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str],
    spacing_m: float | None = None,
    layer: str | None = None,
    quiet: bool = False,
    timeout: float = 30.0,
    retries: int = 4,
    backoff: float = 0.5,
) -> pa.Table:
    """Sample label points from CDL rasters (local or CropScape) or vector labels and write the table to ``out``.

    Exactly one source is given: ``cdl`` (or ``cropscape_url``) or ``vector``. Only points inside the AOI are
    kept. Everything random is drawn from ``seed`` (``stride`` has no randomness), so the same inputs give the
    same points and ids.

    Args:
        cdl: a folder of ``CDL_YYYY.tif`` (or ``*YYYY*.tif``) files, one GeoTIFF (national or clipped, any CRS),
            or ``"cropscape"``.
        cropscape_url: the CropScape service root; given alone, it implies ``cdl="cropscape"``.
        vector: a GeoJSON/GeoPackage/Shapefile of labelled polygons or points.
        class_column: the class column of ``vector`` (required with it).
        field_column: the field id column of ``vector`` (the feature index when None).
        aoi: a vector file, a lon/lat bbox ``"w,s,e,n"`` or a lon/lat geometry.
        years: the season years to sample.
        strategy: ``stride`` (every ``stride``-th pixel; for vectors a grid), ``stratified`` (≤ ``per_class``
            random points per class and year) or ``per_field`` (``per_field`` points per field; raster fields
            are connected components of one class).
        stride: the pixel stride of ``stride``.
        per_class: the cap per class and year of ``stratified`` (required with it).
        min_per_class: ``stratified`` drops (and records) classes with fewer candidates than this.
        per_field: points per field of ``per_field`` (default 1).
        edge_buffer_m: metres a ``per_field`` point (and a vector grid node) keeps inside its field's edges.
        classes: keep only these class names or codes.
        seed: the seed of everything random (not negative).
        cache_dir: where CropScape downloads are cached (:func:`inseason.sources.cdl.default_cache_dir` when None).
        out: the Parquet file to write.
        spacing_m: the vector grid spacing in metres (default ``stride × 30``).
        layer: the layer of a multi-layer vector file.
        quiet: no progress bar on stderr.
        timeout: seconds before a CropScape request times out.
        retries: retries of a failed CropScape request.
        backoff: seconds before the first retry, doubled per retry.

    Returns:
        The label points table as written, with its ``inseason:crs`` and ``inseason:sampling`` metadata
        (:func:`run_labels` returns it with its path and records).

    Raises:
        InputError: a user mistake: no source or two, a missing option, a value out of range, an unreadable
            AOI or label file, a year without labels, or no point sampled.
        RemoteError: CropScape fails or answers with an error.
        OutputError: ``out`` is a folder or cannot be written.
    """
    return run_labels(
        LabelsRequest.of(
            cdl=None if cdl is None else str(cdl),
            cropscape_url=cropscape_url,
            vector=None if vector is None else str(vector),
            class_column=class_column,
            field_column=field_column,
            aoi=aoi if isinstance(aoi, BaseGeometry) else str(aoi),
            years=years,
            strategy=strategy,
            stride=stride,
            per_class=per_class,
            min_per_class=min_per_class,
            per_field=per_field,
            edge_buffer_m=edge_buffer_m,
            classes=classes,
            seed=seed,
            cache_dir=cache_dir,
            out=out,
            spacing_m=spacing_m,
            layer=layer,
            quiet=quiet,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
        )
    ).table


def run_labels(request: LabelsRequest) -> LabelsResult:
    """Sample the label points a request asks for and write the table to its ``out``.

    Only points inside the AOI are kept. Everything random is drawn from the request's ``seed`` (``stride`` has
    no randomness), so the same request gives the same points and ids.

    Args:
        request: the source, AOI, years and sampling options (checked when it was built).

    Returns:
        The table as written, its path, the number of points and its ``inseason:crs`` and ``inseason:sampling``
        records.

    Raises:
        InputError: an unreadable AOI or label file, a year without labels, a class asked for that the labels
            lack, or no point sampled.
        RemoteError: CropScape fails or answers with an error.
        OutputError: ``out`` is a folder or cannot be written.
    """
    year_list = list(request.years)
    cdl, vector, out = request.cdl_source, request.vector, request.out
    n_per_field = request.per_field or 1
    if out.is_dir():
        raise OutputError(f"output {out} is a folder: give a file name such as points.parquet")
    aoi_geom = read_aoi(request.aoi)
    report: _SamplingReport = {}
    parts: list[_Points] = []
    crss: list[CRS] = []

    if cdl is not None:
        keep = _cdl_class_codes(request.classes) if request.classes else None
        use_cropscape = str(cdl).strip().lower() == "cropscape"
        if use_cropscape:
            bbox = cropscape_bbox(aoi_geom)
            report["cropscape_bbox"] = list(bbox)
            session = make_session(
                retries=request.retries, backoff=request.backoff, timeout=request.timeout, ca_bundle=request.ca_bundle
            )
            files = {}
        else:
            files = {year: find_cdl_file(cdl, year) for year in year_list}  # fail fast on a missing year
        dropped: dict[str, dict[str, int]] = {}
        without: dict[str, int] = {}
        with progress_bar(quiet=request.quiet) as bar:
            task = bar.add_task("labels", total=len(year_list))
            for year in year_list:
                if use_cropscape:
                    path = fetch_cropscape(
                        year,
                        bbox,
                        base_url=request.cropscape_url or CROPSCAPE_URL,
                        cache_dir=request.cache_dir,
                        session=session,
                    )
                    source = "cropscape"
                else:
                    path = files[year]
                    source = f"cdl:{path.name}"
                window = read_label_window(path, aoi_geom)
                pts, sample = _raster_points(
                    window,
                    year,
                    strategy=request.strategy,
                    stride=request.stride,
                    per_class=request.per_class,
                    min_per_class=request.min_per_class,
                    per_field=n_per_field,
                    edge_buffer_m=request.edge_buffer_m,
                    keep=keep,
                    seed=request.seed,
                    source=source,
                )
                if sample.dropped:
                    dropped[str(year)] = {str(k): v for k, v in sample.dropped.items()}
                    names = _cdl_names(np.array(list(sample.dropped), dtype=np.int64))
                    log.warning(
                        "%d: classes dropped (fewer than %d pixels): %s",
                        year,
                        request.min_per_class,
                        ", ".join(f"{name} ({v})" for name, v in zip(names, sample.dropped.values())),
                    )
                if sample.fields_without_points:
                    without[str(year)] = sample.fields_without_points
                parts.append(pts)
                crss.append(window.crs)
                bar.advance(task)
        if dropped:
            report["dropped"] = dropped
        if without:
            report["fields_without_points"] = without
    else:
        assert (
            vector is not None and request.class_column
        )  # checked above: exactly one source, vectors need a class column
        labels = read_vector_labels(
            vector, class_column=request.class_column, field_column=request.field_column, layer=request.layer
        )
        parts = _vector_points(
            labels,
            year_list,
            aoi=aoi_geom,
            strategy=request.strategy,
            stride=request.stride,
            spacing_m=request.spacing_m,
            per_class=request.per_class,
            min_per_class=request.min_per_class,
            per_field=n_per_field,
            edge_buffer_m=request.edge_buffer_m,
            classes=request.classes,
            seed=request.seed,
            report=report,
        )
        crss = [labels.crs] * len(parts)
        if labels.code_map:
            report["label_codes"] = labels.code_map
        if request.strategy == "stride":
            report["spacing_m"] = request.spacing_m if request.spacing_m is not None else request.stride * CDL_PIXEL_M

    crs = crss[0]
    points = _concat(parts, crs, crss)
    if len(points.x) == 0:
        hint = "a smaller --stride" if request.strategy == "stride" else "a smaller --edge-buffer or --min-per-class"
        raise InputError(f"no label points were sampled in the AOI for {year_list}: try {hint}")
    for year in year_list:
        if not (points.year == year).any():
            log.warning("no label points for %d", year)
    table = _table(points, crs)
    sampling = {
        "strategy": request.strategy,
        "stride": request.stride,
        "per_class": request.per_class,
        "min_per_class": request.min_per_class,
        "per_field": n_per_field if request.strategy == "per_field" else request.per_field,
        "edge_buffer_m": request.edge_buffer_m,
        "classes": [str(c) for c in request.classes] if request.classes else None,
        "seed": request.seed,
        "years": year_list,
        "field_id": (
            "year * 1000000000 + connected component (8-neighbour, equal class)"
            if cdl is not None
            else (f"column {request.field_column}" if request.field_column else "feature index")
        ),
        **report,
    }
    metadata = {"crs": crs_string(crs), "sampling": json.dumps(sampling, sort_keys=True)}
    try:
        with output_lock(out, verb="labels", file=True):
            write_table(table, out, metadata=metadata)
    except OSError as exc:
        raise OutputError(f"cannot write label points to {out}: {exc.strerror or exc}") from None
    log.info("%d label points written to %s", table.num_rows, out)
    return LabelsResult(
        table=table.replace_schema_metadata(with_metadata(table.schema, **metadata).metadata),
        path=out,
        points=table.num_rows,
        crs=metadata["crs"],
        sampling=sampling,
    )
