"""``predict``: a model bundle, scenes and an AOI in; one class map COG + STAC item per as-of date out.

The AOI is cut into blocks of the 10 m map grid (see :mod:`inseason.predict.read`). Each block is one unit
of work for the local engine: a worker reads the block's series once per season, runs the model for every
as-of date of that season, finds double-crop transitions, and writes its result to ``blocks/`` under a
temporary name then renames it. A killed run started again with the same settings skips the finished
blocks. When every block is done the COGs, STAC items, double-crop tables and the season GIF are
assembled from the block files, one block in memory at a time.

``out`` is a folder or an ``s3://bucket/prefix``. On S3 the workers (processes or Spark executors) write
their block files there as objects, which appear only once complete; the COGs and GIF are assembled in a
local temporary folder and uploaded, each visible only whole, and ``summary.json`` comes last.

Output folder::

    run.json                      the run's settings (a resumed run must match them)
    scenes.parquet                the scene manifest, when scenes were searched from a STAC source
    blocks/YEAR/NNNNNN.npz        finished blocks (every as-of date of the season)
    series/YEAR/NNNNNN_DATE.npz   each block's series up to the season's last as-of date (``keep_series``;
                                  `inseason.predict.kept`), which ``update`` extends with newer scenes only
    map_YYYY-MM-DD.tif / .json    class map COG and its STAC item, per as-of date
    double_crops_YYYY-MM-DD.parquet  double-crop pixels: crop sequence and transition date
    season.gif                    the maps of all as-of dates, animated (two dates or more)
    summary.json                  counts, mapped areas per class and as-of date, blocks without any valid
                                  observation, skipped scenes

Inputs and settings are checked (options, bundle, bands, scene files, as-of dates against the scenes, AOI
against the training region and the scenes' footprints, crop mask, ``out`` and a run already in it) before
anything is created in ``out``, so a refused run leaves nothing behind and can be rerun into the same
folder. The run then holds ``out`` (`inseason.storage.output_lock`): a second run into it is refused.

An update (``update=True``, ``inseason predict --update``) adds as-of dates after the last one of a finished
run made with ``keep_series``: each block's kept series is extended with the scenes dated after that last
date only, the new dates are mapped from it and their files written; the maps equal those of a run from
scratch with every date. An interrupted update resumes like a run.

A scene file that cannot be read over the network is read again (the whole block, with a growing wait);
a block still unreadable after the retries ends the run with a `RemoteError` (the finished blocks stay, a
rerun resumes), never with a map quietly missing that scene.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self, TypedDict

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely
from pydantic import InstanceOf, field_validator, model_validator
from rasterio.errors import RasterioError
from rasterio.warp import transform_bounds
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from inseason.config import StageRequest
from inseason.engines import EngineName, check_engine
from inseason.engines.local import default_workers, run_local
from inseason.errors import InputError, OutputError, RemoteError
from inseason.extract.sample import DEFAULT_SCL_MASK, check_scl_mask, read_again
from inseason.extract.scenes import find_scenes, manifest_info
from inseason.labels import cdl_class
from inseason.predict.cog import SourceScene, map_tags, write_class_map, write_season_gif, write_stac_item
from inseason.predict.double_crop import transition_dates, transition_table
from inseason.predict.kept import SERIES_DIR, NetworkState, kept_series, load_kept, save_series, series_uri
from inseason.predict.read import (
    Block,
    MapGrid,
    SceneRef,
    block_cache,
    check_block_size,
    crop_mask_block,
    job_block_folder,
    map_grid,
    plan_blocks,
    read_block,
    scene_refs,
)
from inseason.progress import plural, progress_bar
from inseason.season import day_of_season, season_start, season_year
from inseason.sources.aoi import read_aoi
from inseason.sources.stac import is_url
from inseason.storage import (
    check_bucket,
    exists,
    is_s3,
    join_uri,
    list_files,
    local_path,
    open_raster,
    output_lock,
    put_file,
    read_bytes,
    remove_file,
    write_bytes,
)
from inseason.tables import SCENE_MANIFEST, read_table, write_table
from inseason.train import Bundle, Predictor, load_bundle
from inseason.train.bundle import MANIFEST, WEIGHTS
from inseason.train.onnx import Backend, onnx_network, use_graph

__all__ = [
    "SUMMARY_FILE",
    "AreaEntry",
    "ClassArea",
    "MapRun",
    "PredictRequest",
    "bundle_fingerprint",
    "class_areas",
    "class_counts",
    "map_file",
    "predict_map",
    "read_summary",
    "run_predict",
    "write_summary",
]

log = logging.getLogger(__name__)

#: How a worker waits before reading a block again (a test counts the waits instead).
_sleep = time.sleep

#: The run's summary in ``out`` (`MapRun` as JSON), written last: a folder holding it holds a finished run.
SUMMARY_FILE = "summary.json"


class ClassArea(TypedDict):
    """The mapped area of one band-1 value (index 0: no data) as of one date."""

    index: int
    name: str
    pixels: int
    hectares: float


class AreaEntry(TypedDict):
    """One entry of ``summary["areas"]``: the mapped area of every band-1 value as of ``as_of``."""

    as_of: str
    pixel_area_m2: float
    classes: list[ClassArea]


class PredictRequest(StageRequest):
    """What the ``predict`` stage is asked to map: a model bundle, the scenes, an AOI and the as-of dates.

    Built alike by ``inseason predict`` and `predict_map`; `run_predict` does the work. A loaded `Bundle` is a
    live object, not an option: it is a keyword of `run_predict`, and the request names its folder. A request
    naming its AOI and scenes by path round-trips through ``model_dump()``; an AOI geometry or a scene table
    travels as the object itself.

    Attributes:
        bundle: the model bundle's folder (a run folder holding one).
        aoi: the area to map: a vector file, a ``west,south,east,north`` string in degrees or a lon/lat
            geometry.
        as_of: the as-of dates, sorted and each once (given as one date or several, dates or ISO texts).
        out: the output folder or ``s3://`` prefix; started again with the same settings, a run resumes.
        scenes: a scene manifest (a path, an ``s3://`` URI or a table); or
        stac: a STAC API or static catalog to search for the scenes.
        block_size: block (and COG tile) side, pixels (at least 16).
        workers: worker processes of the local engine (None: the cores).
        crop_mask: a CDL-coded raster (a path or ``s3://`` URI, e.g. last year's CDL); only its crop pixels
            are mapped.
        scl_mask: SCL classes whose observations are dropped.
        batch_size: pixels per model batch.
        engine: ``"local"`` (a process pool) or ``"spark"`` (blocks as Spark tasks).
        spark_master: the Spark master, for ``engine="spark"``.
        quiet: no progress bars.
        allow_outside: map an AOI entirely outside the model's training region (a logged warning) instead of
            refusing it.
        retries: reads again of a block whose scene files failed over the network (then a `RemoteError`).
        backoff: seconds before the first read again, doubled each time.
        keep_series: keep each block's series in ``out`` (`inseason.predict.kept`), so that later as-of
            dates can be added by an update reading only newer scenes.
        backend: what runs the network: ``torch`` (the bundle's own), ``onnx`` (ONNX Runtime: the same
            probabilities to float precision, faster on CPU) or ``onnx-int8`` (int8 weights; see
            `inseason.train.onnx`).
        update: ``out`` holds a finished run made with ``keep_series``: add the as-of dates (all after its
            last one) reading only the scenes newer than it. The other options must be the run's own; the
            AOI may be left out (the run's is used).
    """

    bundle: str
    aoi: str | InstanceOf[BaseGeometry] | None
    as_of: tuple[dt.date, ...]
    out: str
    scenes: str | InstanceOf[pa.Table] | None = None
    stac: str | None = None
    block_size: int = 256
    workers: int | None = None
    crop_mask: str | None = None
    scl_mask: tuple[int, ...] = DEFAULT_SCL_MASK
    batch_size: int = 4096
    engine: EngineName = "local"
    spark_master: str | None = None
    quiet: bool = False
    allow_outside: bool = False
    retries: int = 4
    backoff: float = 1.0
    keep_series: bool = False
    update: bool = False
    backend: Backend = "torch"

    @field_validator("as_of", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        """Read one as-of date or several (dates or ISO texts) with the stage's own messages."""
        return tuple(_as_of_dates(value))

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse options out of range, and neither or both of scenes and stac, before any file is read."""
        check_block_size(self.block_size)
        check_scl_mask(self.scl_mask)
        if self.workers is not None and self.workers < 1:
            raise InputError(f"workers={self.workers} must be at least 1")
        if self.batch_size < 1:
            raise InputError(f"batch_size={self.batch_size} must be at least 1 (pixels per model batch)")
        if self.retries < 0 or self.backoff < 0:
            raise InputError(f"retries={self.retries} and backoff={self.backoff} must not be negative")
        if (self.scenes is None) == (self.stac is None):
            raise InputError("give exactly one of --scenes (a scene manifest) or --stac (a STAC API or catalog)")
        if self.aoi is None and not self.update:
            raise InputError("give --aoi, the area to map ('west,south,east,north' in degrees or a vector file)")
        return self


@dataclass(frozen=True)
class MapRun:
    """What a map run made: file paths per as-of date and what it had to record (``summary.json``).

    Attributes:
        out: the output folder (made absolute) or ``s3://`` prefix.
        maps: as-of date → its class map COG.
        items: as-of date → its STAC item JSON.
        double_crops: as-of date → its double-crop table (only when the model has a double-crop class).
        gif: the season animation (two as-of dates or more), else None.
        blocks: blocks mapped, summed over the seasons of the as-of dates.
        resumed_blocks: blocks an earlier run had finished, not mapped again.
        mapped_pixels: as-of date → pixels with a class.
        empty_blocks: blocks without any valid observation (written as nodata), with the reason.
        skipped_scenes: scenes left out (``scene_id``, ``reason``).
        areas: the mapped area of every class per as-of date (see `class_areas`).
        retried: block reads of this run made again after a network failure of a scene file.
    """

    out: str
    maps: dict[str, str]
    items: dict[str, str]
    double_crops: dict[str, str]
    gif: str | None
    blocks: int
    resumed_blocks: int
    mapped_pixels: dict[str, int]
    empty_blocks: list[dict[str, Any]]
    skipped_scenes: list[dict[str, str]]
    areas: list[AreaEntry] = field(default_factory=list)
    retried: int = 0


def bundle_fingerprint(bundle: Bundle) -> str:
    """A short hash of the bundle's model.json and weights: which model made a map.

    Args:
        bundle: the model bundle.

    Returns:
        The first 16 hex digits of the SHA-256 of both files.
    """
    digest = hashlib.sha256()
    for name in (MANIFEST, WEIGHTS):
        digest.update((bundle.path / name).read_bytes())
    return digest.hexdigest()[:16]


def _as_of_dates(as_of: Sequence[dt.date | str] | dt.date | str) -> list[dt.date]:
    items = [as_of] if isinstance(as_of, (dt.date, str)) else list(as_of)
    dates = []
    for item in items:
        if isinstance(item, dt.date):
            dates.append(item)
            continue
        try:
            dates.append(dt.date.fromisoformat(str(item)))
        except ValueError:
            raise InputError(f"as-of {item!r} is not a date like 2022-07-01") from None
    if not dates:
        raise InputError("no as-of date given: pass --as-of 2022-07-01 (or several, comma-separated)")
    return sorted(set(dates))


#: The run's settings in ``out``: a run started again into the folder must have the same ones.
RUN_FILE = "run.json"


def _check_out(out: str, settings: dict[str, Any]) -> None:
    """Refuse an ``out`` this run cannot write into, reading only: nothing is created here.

    ``out`` may be absent, empty (the lock file and a searched ``scenes.parquet`` aside), or hold a run with
    the same settings (resumed). A folder holding another run's `RUN_FILE` and nothing it made (that run
    was refused or killed before its first block) is taken over: nothing is lost.

    Raises:
        OutputError: ``out`` is a file, its bucket cannot be reached, it holds a run with other settings
            (with blocks or maps), an unreadable `RUN_FILE`, or other files.
    """
    if is_s3(out):
        check_bucket(out)
    else:
        folder = local_path(out)
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"cannot write the maps to {out}: it is a file, not a folder: choose a folder for --out")
    run_file = join_uri(out, RUN_FILE)
    own = {RUN_FILE, "scenes.parquet"}
    made = [
        uri
        for uri in list_files(out)
        if uri.removeprefix(out.rstrip("/") + "/") not in own and not uri.rsplit("/", 1)[-1].startswith(".")
    ]
    if not exists(run_file):
        if made:
            raise OutputError(f"{out} is not empty: choose an empty or new --out")
        return
    try:
        recorded = json.loads(read_bytes(run_file))
    except ValueError:
        raise OutputError(f"{run_file} is not a map run's settings: choose another --out") from None
    if recorded != settings and made:
        raise OutputError(
            f"{out} holds a map run with other settings (model, dates, AOI or blocks): "
            "choose another --out, or repeat that run's options to resume it"
        )


def _start_out(out: str, settings: dict[str, Any]) -> None:
    """Record the run's settings in ``out`` (held by this run), after checking it again under the lock."""
    _check_out(out, settings)
    run_file = join_uri(out, RUN_FILE)
    if not exists(run_file) or json.loads(read_bytes(run_file)) != settings:
        write_bytes(run_file, json.dumps(settings, indent=1).encode())


def _location(path: str | os.PathLike[str] | None) -> str | None:
    """How a run records an input: an ``s3://`` URI as given, a local path made absolute."""
    if path is None:
        return None
    return str(path) if is_s3(path) else str(Path(path).resolve())


def _check_region(bundle: Bundle, aoi: BaseGeometry, *, allow_outside: bool) -> None:
    """Refuse an AOI that lies entirely outside the lon/lat box the model was trained in (if recorded).

    Only an AOI that does not meet the training region at all is refused: one that overlaps it, even
    partly (a neighbouring area reaching past its edge), is mapped without a word, since the box of the
    training samples is no sharp limit of where the model holds.

    Args:
        bundle: the model bundle.
        aoi: the AOI, lon/lat.
        allow_outside: map an AOI entirely outside anyway, with a logged warning.

    Raises:
        InputError: the AOI does not intersect the training region and ``allow_outside`` is False.
    """
    region = bundle.manifest.get("training_region")
    if not region:
        log.info("the bundle records no training region: the AOI is not checked against it")
        return
    if aoi.intersects(box(*region)):
        return
    bounds = ", ".join(f"{v:.4f}" for v in aoi.bounds)
    trained = ", ".join(f"{float(v):.4f}" for v in region)
    if not allow_outside:
        raise InputError(
            f"the AOI ({bounds}) lies entirely outside the model's training region ({trained}; west, "
            "south, east, north): map an AOI that overlaps it, or pass --allow-outside to map it anyway"
        )
    log.warning(
        "the AOI (%s) lies entirely outside the model's training region (%s; west, south, east, north): "
        "expect lower accuracy there",
        bounds,
        trained,
    )


def _check_crop_mask(crop_mask: str | os.PathLike[str] | None, aoi: BaseGeometry) -> None:
    """Refuse a crop mask that does not exist, is not a readable raster or covers none of the AOI."""
    if crop_mask is None:
        return
    if not exists(crop_mask):
        raise InputError(f"crop mask {crop_mask} does not exist: give a CDL GeoTIFF (e.g. last year's)")
    try:
        with open_raster(crop_mask) as src:
            covered = transform_bounds(src.crs, "EPSG:4326", *src.bounds) if src.crs else None
    except RasterioError as exc:
        raise InputError(
            f"crop mask {crop_mask} is not a readable raster ({exc}): give a CDL GeoTIFF (e.g. last year's)"
        ) from None
    if covered is not None and not box(*covered).intersects(aoi):
        raise InputError(
            f"crop mask {crop_mask} ({_bounds(covered)}) covers none of the AOI ({_bounds(aoi.bounds)}; west, "
            "south, east, north): give the CDL of the AOI's region"
        )


def _bounds(bounds: Sequence[float]) -> str:
    """West, south, east, north in degrees as the messages give them."""
    return ", ".join(f"{float(v):.4f}" for v in bounds)


def _check_coverage(aoi: BaseGeometry, table: pa.Table, refs: Sequence[SceneRef]) -> None:
    """Refuse an AOI that none of the scenes it would be mapped from covers (by their manifest footprints).

    Only scenes whose footprint is recorded are judged: when any has none, the AOI is not refused here.

    Raises:
        InputError: every scene has a footprint and none meets the AOI (the map would be all nodata).
    """
    wanted = {r.scene_id for r in refs}
    footprints = [
        row["footprint"]
        for row in table.select(["scene_id", "footprint"]).to_pylist()
        if str(row["scene_id"]) in wanted
    ]
    if not footprints or any(f is None for f in footprints):
        return
    shapes = [shapely.from_wkb(f) for f in footprints]
    if any(shape.intersects(aoi) for shape in shapes):
        return
    covered = shapely.union_all(shapes).bounds
    raise InputError(
        f"the AOI ({_bounds(aoi.bounds)}) lies outside every scene it would be mapped from (they cover "
        f"{_bounds(covered)}; west, south, east, north): map an AOI the scenes cover, or give scenes of the AOI"
    )


def _scenes_with_files(refs: list[SceneRef], bands: Sequence[str]) -> tuple[list[SceneRef], list[dict[str, str]]]:
    """Scenes whose local files (the model's bands and SCL) exist; the others are recorded as skipped.

    Remote files (``http(s)://``, ``s3://``) are not looked at here: a read that fails is retried.
    """
    need = ["SCL", *bands]
    present, skipped = [], []
    for ref in refs:
        missing = [b for b in need if not (is_url(ref.hrefs[b]) or is_s3(ref.hrefs[b]) or exists(ref.hrefs[b]))]
        if missing:
            reason = f"{plural(len(missing), 'file')} not found: {', '.join(missing)} ({ref.hrefs[missing[0]]})"
            skipped.append({"scene_id": ref.scene_id, "reason": reason})
        else:
            present.append(ref)
    if refs and not present:
        raise InputError(
            f"no scene's files can be found (e.g. scene {skipped[0]['scene_id']}: {skipped[0]['reason']}): "
            "check the scene manifest's paths, or search the scenes again"
        )
    return present, skipped


def _source_scenes(table: pa.Table, aoi: BaseGeometry) -> dict[str, SourceScene]:
    """Every manifest scene whose footprint meets the AOI, with its STAC item's href when it can be known.

    The manifest records its search (``inseason:query``); when that was a STAC API, an item's href is
    ``{api}/collections/{collection}/items/{scene_id}``, with the scene's own collection (the manifest's
    ``collection`` column: a search of several collections merges them), else the query's first. Scenes of a
    static catalog or of a manifest without its query get no href: the map's STAC item lists them by id
    (``inseason:source_scenes``) without a ``derived_from`` link, since a bare id as a link href would point
    into the map's own folder.
    """
    query = manifest_info(table).get("query") or {}
    api = str(query.get("stac") or "")
    searched = query.get("collection")
    is_api = is_url(api) and not api.endswith(".json")
    columns = ["scene_id", "footprint", *(["collection"] if "collection" in table.schema.names else [])]
    scenes = {}
    for row in table.select(columns).to_pylist():
        footprint = shapely.from_wkb(row["footprint"]) if row["footprint"] else None
        if footprint is None or footprint.intersects(aoi):
            scene_id = str(row["scene_id"])
            collection = row.get("collection") or searched
            href = f"{api.rstrip('/')}/collections/{collection}/items/{scene_id}" if is_api and collection else None
            scenes[scene_id] = SourceScene(scene_id=scene_id, href=href)
    return scenes


def _manifest(
    scenes: str | pa.Table | None,
    stac: str | None,
    aoi: BaseGeometry,
    first: dt.date,
    last: dt.date,
    searched: Path,
    quiet: bool,
) -> pa.Table:
    """The scene manifest: given (a table or a file) or searched in ``stac`` and written to ``searched``.

    `PredictRequest` holds exactly one of ``scenes`` and ``stac``.
    """
    if stac is not None:
        return find_scenes(stac=stac, aoi=aoi, start=first, end=last, out=searched, min_valid=0.0, quiet=quiet)
    assert scenes is not None, "a PredictRequest names scenes or stac"
    return scenes if isinstance(scenes, pa.Table) else read_table(scenes, SCENE_MANIFEST, what="scene manifest")


def _usable_scenes(refs: list[SceneRef], bands: Sequence[str]) -> tuple[list[SceneRef], list[dict[str, str]]]:
    """Scenes holding every band the model needs (and SCL); the others are recorded as skipped."""
    need = ["SCL", *bands]
    usable, skipped = [], []
    for ref in refs:
        missing = [b for b in need if b not in ref.hrefs]
        if missing:
            skipped.append(
                {"scene_id": ref.scene_id, "reason": f"{plural(len(missing), 'asset')} missing: {', '.join(missing)}"}
            )
        else:
            usable.append(ref)
    if refs and not usable:
        raise InputError(
            f"no scene has the bands the model was trained on ({', '.join(bands)}; e.g. scene "
            f"{skipped[0]['scene_id']}: {skipped[0]['reason']}): use a model trained on bands the "
            "scenes have"
        )
    return usable, skipped


@dataclass(frozen=True)
class _Context:
    """Read-only state every worker gets once."""

    bundle: str
    grid: MapGrid
    aoi: BaseGeometry
    seasons: dict[int, tuple[list[SceneRef], list[dt.date]]]
    scl_mask: tuple[int, ...]
    crop_mask: str | None
    blocks_dir: str
    batch_size: int
    single_thread: bool
    retries: int = 4
    backoff: float = 1.0
    block_folder: str | None = None  # the job folder of decoded COG blocks its local workers share
    series_dir: str | None = None  # where the blocks' series are kept (None: not kept)
    extend: dict[int, tuple[dt.date, int]] = field(default_factory=dict)  # season → (last date mapped, its dates)
    backend: Backend = "torch"
    onnx_graph: bytes | None = None  # the graph the main process exported and verified (backend onnx*)


_CONTEXT: _Context | None = None
_BUNDLE: Bundle | None = None


def _init_worker(context: _Context) -> None:
    global _CONTEXT, _BUNDLE
    _CONTEXT, _BUNDLE = context, load_bundle(context.bundle)
    block_cache().use_folder(context.block_folder)
    if context.single_thread:
        import torch

        torch.set_num_threads(1)
    if context.onnx_graph is not None:
        use_graph(_BUNDLE, context.onnx_graph, context.backend, threads=1 if context.single_thread else 0)


def _double_crop_codes(bundle: Bundle) -> np.ndarray:
    """For each class, its double-crop CDL code when the class IS a double crop, else 0.

    A class is a double crop when all of its source codes are one double-crop code (e.g. a class holding
    only CDL 26), or when the bundle's label map gives it a first and a second crop (``first_crop`` and
    ``second_crop`` of its model.json entry) and it holds exactly one double-crop code among strays. A class
    that merely holds a double-crop code among others (an "Other" class taking 26 with everything else) is
    not: its pixels get no crop sequence.

    Args:
        bundle: the model bundle.

    Returns:
        int32 [K]: the double-crop CDL code of each class, 0 for a class that is no double crop.
    """
    codes = []
    for cls in bundle.classes:
        doubles = sorted({c for c in cls.codes if 0 <= c <= 255 and _is_double(c)})
        declared = bool(cls.first_crop) and bool(cls.second_crop)
        only = len(set(cls.codes)) == 1
        codes.append(doubles[0] if len(doubles) == 1 and (only or declared) else 0)
    return np.array(codes, np.int32)


def _is_double(code: int) -> bool:
    try:
        return cdl_class(code).kind == "double_crop"
    except InputError:
        return False


def _block_uri(blocks_dir: str, year: int, block: Block) -> str:
    return join_uri(blocks_dir, str(year), f"{block.index:06d}.npz")


def _finished_blocks(blocks_dir: str) -> set[tuple[int, int]]:
    """``(year, block index)`` of the block files already written (temporary names are not listed)."""
    done = set()
    for uri in list_files(blocks_dir, suffix=".npz"):
        year, name = uri.rsplit("/", 2)[-2:]
        done.add((int(year), int(name.removesuffix(".npz"))))
    return done


def _map_block(unit: tuple[int, Block]) -> dict[str, Any]:
    """Worker: read one block for one season, predict each as-of date, save the block file.

    For a season an update extends, the block's kept series is extended with the scenes to read (those
    after its last date only) and the dates mapped before are copied from the block file. The model runs only
    on pixels with a new observation since the date before: the others keep that date's class and confidence
    (a model's inputs as of a date are the observations up to it, so they are the same).
    """
    assert _CONTEXT is not None and _BUNDLE is not None, "the worker was not initialised"
    context, bundle = _CONTEXT, _BUNDLE
    year, block = unit
    refs, dates = context.seasons[year]
    keep = crop_mask_block(context.crop_mask, context.grid, block) if context.crop_mask else None
    block_uri = _block_uri(context.blocks_dir, year, block)
    last, mapped_before = context.extend.get(year, (None, 0))
    try:
        series = read_block(
            block,
            grid=context.grid,
            scenes=refs,
            aoi=context.aoi,
            bands=bundle.bands,
            scl_mask=context.scl_mask,
            keep=keep,
            retries=context.retries,
            backoff=context.backoff,
            sleep=_sleep,
        )
    except RemoteError as exc:
        raise RemoteError(f"block {block.index} of {year}: {exc}") from None
    predictor = Predictor(
        bundle,
        batch_size=context.batch_size,
        backend=context.backend,
        threads=1 if context.single_thread else 0,
    )
    double_codes = _double_crop_codes(bundle)
    # an incremental network carries its state from date to date and keeps it for an update; the series (the
    # pixels' history) is kept only when something needs it: another network, or double-crop transition dates
    incremental = predictor.incremental
    history = not incremental or bool(double_codes.any())
    before: dict[str, np.ndarray] = {}
    kept_state: NetworkState | None = None
    if last is not None:
        assert context.series_dir is not None, "an update keeps the series"
        kept_series_, kept_state = load_kept(series_uri(context.series_dir, year, block, last), block)
        if history:
            if kept_series_ is None:
                raise OutputError(
                    f"block {block.index} of {year} kept a network state, not its series: update with the model "
                    "that made the map"
                )
            series = kept_series_.extended(series)
        if incremental and kept_state is None:
            raise OutputError(
                f"block {block.index} of {year} kept no network state: the map was made with another model; "
                "update it with that model"
            )
        before = _load_block(block_uri)
    store = series.store(season=bundle.season_start, year=year)
    rows_all = np.arange(len(store), dtype=np.int64)
    # observations already read per row: from the kept state when the store holds the new observations only
    base = np.zeros(rows_all.size, np.int64)
    state = None
    state_day = -1 if last is None else day_of_season(last, year, bundle.season_start)
    skipped = series.skipped
    if incremental:
        state = predictor.advance(store, rows_all, since=-1, until=-1)  # the state before any observation
        if kept_state is not None:
            if not np.array_equal(kept_state.pixels, series.pixels):
                raise OutputError(f"block {block.index} of {year}: the kept state is of other pixels than the map's")
            state = np.array(kept_state.state, np.float32)
            if not history:
                base = kept_state.counts
                skipped = kept_state.skipped + tuple(s for s in series.skipped if s not in kept_state.skipped)
    arrays: dict[str, np.ndarray] = {}
    with_data = []
    previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # the date before: seen, classes, confidence
    for k, date in enumerate(dates):
        day = day_of_season(date, year, bundle.season_start)
        seen = base + store.end_positions(rows_all, np.full(rows_all.size, day)) - store.offsets[:-1]  # per row
        if k < mapped_before:  # mapped by the run this update extends
            arrays.update({key: value for key, value in before.items() if _date_index(key) == k})
            with_data.append(int(json.loads(str(before["summary"]))["with_data"][k]))
            previous = (seen, before[f"classes{k}"].ravel(), before[f"confidence{k}"].ravel())
            continue
        classes = np.zeros(block.height * block.width, np.uint8)
        confidence = np.zeros(block.height * block.width, np.uint8)
        rows = rows_all[seen > 0]
        if rows.size:
            # a model's inputs as of a date are the observations up to it (`inseason.data.build_batch`): a pixel
            # without a new one since the date before keeps that date's class and confidence, unpredicted
            same = previous[0][rows] == seen[rows] if previous is not None else np.zeros(rows.size, bool)
            kept, fresh = series.pixels[rows[same]], rows[~same]
            if previous is not None:
                classes[kept], confidence[kept] = previous[1][kept], previous[2][kept]
            if fresh.size:
                if state is not None:  # the network reads each pixel's observations since the last day it read
                    advanced = predictor.advance(store, fresh, since=state_day, until=day, state=state[fresh])
                    state[fresh] = advanced
                    probabilities = predictor.classify(advanced)
                else:
                    probabilities = predictor.predict_proba(store, as_of=day, rows=fresh)
                classes[series.pixels[fresh]] = probabilities.argmax(axis=1) + 1
                confidence[series.pixels[fresh]] = np.clip(np.round(probabilities.max(axis=1) * 100), 1, 100)
            winner = classes[series.pixels[rows]].astype(np.int64) - 1
            double = double_codes[winner] > 0
            if double.any():
                arrays[f"dc{k}_x"], arrays[f"dc{k}_y"] = block.pixel_centres(context.grid, series.pixels[rows[double]])
                arrays[f"dc{k}_code"] = double_codes[winner[double]]
                arrays[f"dc{k}_day"] = transition_dates(store, rows[double], as_of=day)
        arrays[f"classes{k}"] = classes.reshape(block.height, block.width)
        arrays[f"confidence{k}"] = confidence.reshape(block.height, block.width)
        with_data.append(int(rows.size))
        previous = (seen, classes, confidence)
        state_day = day
    summary = {
        "block": block.index,
        "year": year,
        "mapped": int(series.pixels.size),
        "with_data": with_data,
        "skipped_scenes": [list(s) for s in skipped],
    }
    arrays["summary"] = np.array(json.dumps(summary))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy stub: **kwds also meets allow_pickle: bool
    kept = series_uri(context.series_dir, year, block, max(dates)) if context.series_dir is not None else None
    network_state = (
        NetworkState(pixels=series.pixels, counts=seen, state=state, skipped=skipped) if state is not None else None
    )
    if kept is not None and last is None:  # a run: the series before the block file, which marks the block done
        save_series(kept, series if history else None, state=network_state)
    write_bytes(block_uri, buffer.getvalue())  # whole or not at all
    if kept is not None and last is not None:  # an update: the extended series marks the block done
        save_series(kept, series if history else None, state=network_state)
    return {**summary, "retries": series.retried}


def _date_index(key: str) -> int | None:
    """The as-of index of a block file's array (``classes3``, ``dc3_x``...): None for its summary."""
    digits = key.removeprefix("classes").removeprefix("confidence").removeprefix("dc").split("_")[0]
    return int(digits) if digits.isdigit() else None


def _load_block(uri: str) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(read_bytes(uri))) as data:
        return {key: data[key] for key in data.files}


def predict_map(
    bundle: Bundle | str | os.PathLike[str],
    *,
    aoi: str | os.PathLike[str] | BaseGeometry | None = None,
    as_of: Sequence[dt.date | str] | dt.date | str,
    out: str | os.PathLike[str],
    scenes: str | os.PathLike[str] | pa.Table | None = None,
    stac: str | None = None,
    block_size: int = 256,
    workers: int | None = None,
    crop_mask: str | os.PathLike[str] | None = None,
    scl_mask: Sequence[int] = DEFAULT_SCL_MASK,
    batch_size: int = 4096,
    engine: str = "local",
    spark_master: str | None = None,
    quiet: bool = False,
    allow_outside: bool = False,
    retries: int = 4,
    backoff: float = 1.0,
    keep_series: bool = False,
    update: bool = False,
    backend: Backend = "torch",
) -> MapRun:
    """Map the AOI's crop types as of each date of ``as_of`` with a model bundle: `run_predict` by keywords.

    Args:
        bundle: the model bundle (or its folder).
        aoi: the area to map: a vector file, a ``west,south,east,north`` string or a lon/lat geometry (None
            only for an update: the run's own).
        as_of: one as-of date or several.
        out: the output folder or ``s3://`` prefix.
        scenes: a scene manifest (file or table); or
        stac: a STAC API or static catalog to search.
        block_size: block (and COG tile) size, pixels.
        workers: worker processes of the local engine (default: the cores).
        crop_mask: a CDL-coded raster; only its crop pixels are mapped.
        scl_mask: SCL classes whose observations are dropped.
        batch_size: pixels per model batch.
        engine: ``local`` or ``spark``.
        spark_master: the Spark master, for ``engine="spark"``.
        quiet: no progress bars.
        allow_outside: map an AOI outside the model's training region (a logged warning) instead of refusing.
        retries: reads again of a block whose scene files failed over the network.
        backoff: seconds before the first read again, doubled each time.
        keep_series: keep each block's series in ``out`` so that an update can add later dates.
        update: add ``as_of`` (after the run's last date) to the finished run in ``out`` (made with
            ``keep_series``), reading only the newer scenes.
        backend: ``torch``, ``onnx`` or ``onnx-int8`` (`PredictRequest`).

    Returns:
        What was written (`MapRun`; also in ``summary.json``).

    Raises:
        InputError: a bad option (engine, as-of date, block size, neither or both of scenes and stac) or
            input (AOI outside the training region, crop mask, scenes without the model's bands or none up to
            an as-of date); for an update, dates not after the run's last one.
        OutputError: ``out`` is not writable, not empty, holds a run with other settings, or another run
            writes there; for an update, ``out`` holds no finished run kept with its series.
        RemoteError: a block's scene files could not be read over the network after the retries.
    """
    request = PredictRequest.of(
        bundle=str(bundle.path) if isinstance(bundle, Bundle) else os.fspath(bundle),
        aoi=aoi if aoi is None or isinstance(aoi, BaseGeometry) else os.fspath(aoi),
        as_of=as_of,
        out=os.fspath(out),
        scenes=scenes if scenes is None or isinstance(scenes, pa.Table) else os.fspath(scenes),
        stac=stac,
        block_size=block_size,
        workers=workers,
        crop_mask=None if crop_mask is None else os.fspath(crop_mask),
        scl_mask=tuple(scl_mask),
        batch_size=batch_size,
        engine=engine,
        spark_master=spark_master,
        quiet=quiet,
        allow_outside=allow_outside,
        retries=retries,
        backoff=backoff,
        keep_series=keep_series,
        update=update,
        backend=backend,
    )
    return run_predict(request, bundle=bundle if isinstance(bundle, Bundle) else None)


def run_predict(request: PredictRequest, *, bundle: Bundle | None = None) -> MapRun:
    """Map the AOI's crop types as of each date of ``request.as_of`` with a model bundle (DESIGN §1, §2 map outputs).

    Scenes come from a scene manifest (``scenes``) or are searched in a STAC API or static catalog
    (``stac``). Pixels without a valid observation up to an as-of date are nodata; ``crop_mask`` (a
    CDL-coded raster, e.g. last year's CDL) restricts the map to its crop pixels. Several as-of dates of
    one season share one read of each block. Blocks run on ``workers`` processes (``engine="local"``) or
    as Spark tasks (``engine="spark"``, the active session or one on ``spark_master``; ``out`` must be a
    folder every executor can write, or an ``s3://`` prefix); a run killed midway resumes from its finished
    blocks when started again with the same settings. Every input is checked before anything is created
    in ``out``.

    Args:
        request: the bundle, AOI, as-of dates, scenes, output and options (checked when it was built).
        bundle: the bundle already loaded from ``request.bundle`` (a live object, so not in the request);
            None: load it.

    Returns:
        What was written (`MapRun`; also in ``summary.json``).

    Raises:
        InputError: Spark without PySpark, or a bad input (AOI outside the training region or every scene,
            crop mask, scenes without the model's bands or files, or none up to an as-of date).
        OutputError: ``out`` is not writable, not empty, holds a run with other settings, or another run
            writes there.
        RemoteError: a block's scene files could not be read over the network after the retries.
    """
    check_engine(request.engine)
    bundle = bundle if bundle is not None else load_bundle(request.bundle)
    # the graph is exported and verified before anything is written (a network ONNX cannot run is refused)
    graph = None if request.backend == "torch" else onnx_network(bundle, request.backend).graph
    out, crop_mask = request.out, request.crop_mask
    root = out if is_s3(out) else str(local_path(out).absolute())
    recorded = _recorded_run(root, list(request.as_of)) if request.update else None
    previous = [dt.date.fromisoformat(d) for d in recorded["previous"]] if recorded else []
    dates = sorted({*previous, *request.as_of})
    aoi = request.aoi if request.aoi is not None else shapely.from_wkt(recorded["aoi_exact"]) if recorded else None
    assert aoi is not None, "a PredictRequest without an AOI is an update"
    geometry = read_aoi(aoi)
    _check_region(bundle, geometry, allow_outside=request.allow_outside)
    _check_crop_mask(crop_mask, geometry)
    seasons_of = {d: season_year(d, bundle.season_start) for d in dates}
    first = season_start(min(seasons_of.values()), bundle.season_start)
    fingerprint = bundle_fingerprint(bundle)
    mask = tuple(sorted({int(c) for c in request.scl_mask}))
    settings = {
        "model": fingerprint,
        "as_of": [d.isoformat() for d in dates],
        "block_size": request.block_size,
        "aoi": shapely.to_wkt(geometry, rounding_precision=7),
        "crop_mask": _location(crop_mask),
        "scl_mask": list(mask),
        "scenes": None if isinstance(request.scenes, pa.Table) else _location(request.scenes),
        "stac": request.stac,
    }
    if request.backend != "torch":  # its probabilities differ in the last digits: a resume keeps to one backend
        settings["backend"] = request.backend
    if request.keep_series or request.update:  # the AOI to the last digit too: an update may reuse it
        settings.update(keep_series=True, aoi_exact=shapely.to_wkt(geometry, rounding_precision=-1))
    if recorded is not None:
        _check_same_run(root, recorded, settings)
    with tempfile.TemporaryDirectory(prefix="inseason-scenes-") as search_dir:
        searched = Path(search_dir) / "scenes.parquet"
        table = _manifest(request.scenes, request.stac, geometry, first, max(dates), searched, request.quiet)
        seasons: dict[int, tuple[list[SceneRef], list[dt.date]]] = {}
        skipped: list[dict[str, str]] = []
        for year in sorted(set(seasons_of.values())):
            year_dates = [d for d in dates if seasons_of[d] == year]
            refs, missing = _usable_scenes(
                scene_refs(table, since=season_start(year, bundle.season_start), until=max(year_dates)), bundle.bands
            )
            refs, absent = _scenes_with_files(refs, bundle.bands)
            skipped += missing + absent
            early = [d for d in year_dates if not any(r.date <= d for r in refs)]
            if early:
                hint = f"the season's first scene is on {refs[0].date}" if refs else "the season has no scene"
                raise InputError(
                    f"as-of {early[0]} is before any scene of its season ({hint}): choose a later "
                    "date or search scenes for that season"
                )
            seasons[year] = (refs, year_dates)
        if absent_count := sum(1 for s in skipped if " not found: " in s["reason"]):
            example = next(s for s in skipped if " not found: " in s["reason"])
            log.warning(
                "%s left out: files not found (e.g. %s: %s)",
                plural(absent_count, "scene"),
                example["scene_id"],
                example["reason"],
            )
        used = [r for refs, _ in seasons.values() for r in refs]
        _check_coverage(geometry, table, used)
        grid, _ = read_again(
            lambda fresh: map_grid(geometry, used, fresh=fresh),
            retries=request.retries,
            backoff=request.backoff,
            what="the map grid",
            sleep=_sleep,
        )
        blocks = plan_blocks(grid, geometry, block_size=request.block_size)
        sources = _source_scenes(table, geometry)
        # an update extends the seasons mapped before: from the day after their last as-of date
        extend = {
            year: (max(before), len(before))
            for year in seasons
            if (before := [d for d in previous if seasons_of[d] == year])
        }
        if recorded is not None:
            _check_grid(root, grid, previous[-1])
            _check_kept(root, blocks, seasons, extend)
        else:
            _check_out(root, settings)  # the last check: from here on the run writes into out
        with output_lock(root, verb="predict"):
            if recorded is not None:  # an interrupted update is known by its record, and refused as a resume
                write_bytes(
                    join_uri(root, RUN_FILE),
                    json.dumps({**settings, "updating": {"previous": recorded["previous"]}}, indent=1).encode(),
                )
            else:
                _start_out(root, settings)
            if request.stac is not None:
                put_file(searched, join_uri(root, "scenes.parquet"))
            run = _map_and_assemble(
                request,
                bundle,
                root=root,
                fingerprint=fingerprint,
                grid=grid,
                aoi=geometry,
                seasons=seasons,
                blocks=blocks,
                scl_mask=mask,
                skipped=skipped,
                sources=sources,
                keep_series=bool(settings.get("keep_series")),
                extend=extend,
                earlier=read_summary(root) if recorded is not None else None,
                graph=graph,
            )
            if recorded is not None:
                write_bytes(join_uri(root, RUN_FILE), json.dumps(settings, indent=1).encode())
            return run


def _recorded_run(out: str, added: list[dt.date]) -> dict[str, Any]:
    """The settings of the run an update extends, with ``previous``: the as-of dates it has mapped.

    Raises:
        OutputError: ``out`` holds no run, an unfinished one, one made without kept series, or an
            interrupted update of other dates.
        InputError: an added date is not after the run's last as-of date.
    """
    run_file = join_uri(out, RUN_FILE)
    if not exists(run_file):
        raise OutputError(
            f"{out} holds no map run to update: map it first (inseason predict ... --keep-series), then "
            "add dates with --update"
        )
    try:
        recorded = dict(json.loads(read_bytes(run_file)))
    except ValueError:
        raise OutputError(f"{run_file} is not a map run's settings: choose another --out") from None
    updating = recorded.pop("updating", None)
    if updating is not None:
        previous = list(updating["previous"])
        pending = [d for d in recorded["as_of"] if d not in previous]
        if pending != [d.isoformat() for d in added]:
            raise OutputError(
                f"an update of {out} adding {', '.join(pending)} was interrupted: run it again with those "
                "as-of dates to finish it"
            )
    elif not exists(join_uri(out, SUMMARY_FILE)):
        raise OutputError(
            f"{out} holds an unfinished map run: finish it first (run it again with its options), then update it"
        )
    else:
        previous = list(recorded["as_of"])
    if not recorded.get("keep_series"):
        raise OutputError(
            f"{out} was mapped without --keep-series, so its blocks' series were not kept: map into a new "
            "folder with --keep-series to be able to add dates with --update"
        )
    last = max(previous)
    early = [d.isoformat() for d in added if d.isoformat() <= last]
    if early:
        raise InputError(
            f"as-of {', '.join(early)} is not after the run's last as-of date {last}: an update adds later "
            "dates (map earlier ones in a new folder)"
        )
    return {**recorded, "previous": previous}


#: What an update must share with the run it extends (the scenes and as-of dates may change).
_SAME_IN_UPDATE = ("model", "block_size", "aoi_exact", "crop_mask", "scl_mask")


def _check_same_run(out: str, recorded: dict[str, Any], settings: dict[str, Any]) -> None:
    """Refuse an update whose model, blocks, AOI or masks differ from the run's it extends."""
    names = {"model": "model", "block_size": "block size", "aoi_exact": "AOI", "crop_mask": "crop mask"}
    differ = [names.get(key, "SCL mask") for key in _SAME_IN_UPDATE if recorded.get(key) != settings[key]]
    if differ:
        raise OutputError(
            f"{out} was mapped with another {', '.join(differ)}: an update repeats the run's model, "
            "--block-size, --crop-mask and --scl-mask (the AOI may be left out)"
        )


def _check_grid(out: str, grid: MapGrid, last: dt.date) -> None:
    """Refuse an update whose scenes give another map grid than the run's (its last map's)."""
    with open_raster(join_uri(out, map_file(last))) as src:
        recorded = (src.crs.to_epsg() if src.crs else None, src.transform, src.width, src.height)
    if recorded != (grid.epsg, grid.transform, grid.width, grid.height):
        raise InputError(
            f"the scenes now give another map grid than the maps in {out} (EPSG:{grid.epsg}, "
            f"{grid.width} x {grid.height} px): map from scratch into a new folder"
        )


def _check_kept(
    out: str,
    blocks: list[Block],
    seasons: dict[int, tuple[list[SceneRef], list[dt.date]]],
    extend: dict[int, tuple[dt.date, int]],
) -> None:
    """Refuse an update when a block of a season it extends has no kept series to extend."""
    kept = kept_series(join_uri(out, SERIES_DIR))
    for year, (last, _) in extend.items():
        through = max(seasons[year][1])
        for block in blocks:
            held = kept.get((year, block.index), [])
            if last not in held and through not in held:
                raise OutputError(
                    f"{out} keeps no series of block {block.index} of {year} up to {last}: map into a new "
                    "folder with --keep-series"
                )


def _map_and_assemble(
    request: PredictRequest,
    bundle: Bundle,
    *,
    root: str,
    fingerprint: str,
    grid: MapGrid,
    aoi: BaseGeometry,
    seasons: dict[int, tuple[list[SceneRef], list[dt.date]]],
    blocks: list[Block],
    scl_mask: tuple[int, ...],
    skipped: list[dict[str, str]],
    sources: dict[str, SourceScene],
    keep_series: bool = False,
    extend: dict[int, tuple[dt.date, int]] | None = None,
    earlier: MapRun | None = None,
    graph: bytes | None = None,
) -> MapRun:
    """Map the blocks not finished yet (in ``out``, held by this run), then assemble the map files.

    ``extend`` (an update): season → the last as-of date mapped before and how many dates it had; those
    seasons' blocks read only the scenes after that date and extend their kept series. ``earlier``: the
    summary of the run an update extends (its maps are kept, not written again). ``graph``: the network's
    verified ONNX graph the workers run (``request.backend`` onnx or onnx-int8).
    """
    extend = extend or {}
    blocks_dir = join_uri(root, "blocks")
    series_dir = join_uri(root, SERIES_DIR) if keep_series else None
    units = [(year, block) for year in seasons for block in blocks]
    finished_blocks = _finished_blocks(blocks_dir)
    kept = kept_series(series_dir) if series_dir is not None and extend else {}

    def done(year: int, block: Block) -> bool:
        if year in extend:  # an update's block is done once its series up to the new last date is kept
            return max(seasons[year][1]) in kept.get((year, block.index), [])
        return (year, block.index) in finished_blocks

    todo = [(year, block) for year, block in units if not done(year, block)]
    reading = {
        year: ([r for r in refs if r.date > extend[year][0]] if year in extend else refs, dates)
        for year, (refs, dates) in seasons.items()
    }
    workers = request.workers or default_workers()
    with ExitStack() as scratch:
        # a local run's workers share the decoded COG blocks through a job folder, removed when the run ends
        # (one worker has nothing to share: its memory cache alone reads each COG block once)
        shared = request.engine != "spark" and min(workers, len(todo)) > 1
        folder = str(scratch.enter_context(job_block_folder())) if shared else None
        context = _Context(
            bundle=str(bundle.path),
            grid=grid,
            aoi=aoi,
            seasons=reading,
            scl_mask=scl_mask,
            crop_mask=request.crop_mask,
            blocks_dir=blocks_dir,
            batch_size=request.batch_size,
            single_thread=workers > 1 or request.engine == "spark",
            retries=request.retries,
            backoff=request.backoff,
            block_folder=folder,
            series_dir=series_dir,
            extend=extend,
            backend=request.backend,
            onnx_graph=graph,
        )
        retried = 0
        with progress_bar(quiet=request.quiet) as bar:
            task = bar.add_task("blocks", total=len(units), completed=len(units) - len(todo))
            if request.engine == "spark":
                from inseason.engines.spark import run_spark

                finished = run_spark(
                    _map_block, todo, master=request.spark_master, initializer=_init_worker, initargs=(context,)
                )
            else:
                finished = run_local(
                    _map_block,
                    todo,
                    workers=min(workers, max(len(todo), 1)),
                    initializer=_init_worker,
                    initargs=(context,),
                )
            for _, result in finished:
                retried += int(result.get("retries", 0))
                bar.advance(task)
    if series_dir is not None and extend:  # the series an update extended, now superseded
        for (year, index), throughs in kept_series(series_dir).items():
            for through in throughs:
                if year in extend and through < max(seasons[year][1]):
                    remove_file(series_uri(series_dir, year, index, through))
    with _staging(root) as staging:
        return _assemble(
            staging,
            root,
            bundle,
            fingerprint=fingerprint,
            grid=grid,
            aoi=aoi,
            seasons=seasons,
            blocks=blocks,
            resumed=len(units) - len(todo),
            retried=retried,
            skipped=skipped,
            sources=sources,
            quiet=request.quiet,
            earlier=earlier,
        )


@contextmanager
def _staging(out: str) -> Iterator[Path]:
    """Where the map files are assembled: ``out`` itself on disk, a temporary folder for ``s3://``."""
    if not is_s3(out):
        yield local_path(out)
        return
    with tempfile.TemporaryDirectory(prefix="inseason-maps-") as tmp:
        yield Path(tmp)


def _publish(staged: Path, out: str) -> str:
    """The URI of the assembled file ``staged`` in ``out``, uploading it there when ``out`` is on S3."""
    if not is_s3(out):
        return str(staged)
    uri = join_uri(out, staged.name)
    put_file(staged, uri)
    return uri


def _assemble(
    staging: Path,
    out: str,
    bundle: Bundle,
    *,
    fingerprint: str,
    grid: MapGrid,
    aoi: BaseGeometry,
    seasons: dict[int, tuple[list[SceneRef], list[dt.date]]],
    blocks: list[Block],
    resumed: int,
    retried: int,
    skipped: list[dict[str, str]],
    sources: dict[str, SourceScene],
    quiet: bool,
    earlier: MapRun | None = None,
) -> MapRun:
    """Write the COG and double-crop table of every as-of date, the GIF, the STAC items and summary.json.

    COGs, items and the GIF are made in the local folder ``staging`` and published to ``out``; the items
    come after the GIF (they list it as an asset), summary.json last. Each as-of date's mapped area per
    class is counted from the class band as the COG is written. The dates of ``earlier`` (the run an update
    extends) keep their COG, double-crop table and areas; their items are written again (the GIF is new).
    """
    blocks_dir = join_uri(out, "blocks")
    colors = [c.color for c in bundle.classes]
    class_codes = [list(c.codes) for c in bundle.classes]
    model = str(bundle.manifest.get("model", {}).get("name", "unknown"))
    double_codes = _double_crop_codes(bundle)
    pixel_area = abs(float(grid.transform.a * grid.transform.e))
    maps, items, doubles, mapped = {}, {}, {}, {}
    staged: dict[str, Path] = {}  # as-of date → COG in the staging folder
    used: dict[str, list[SourceScene]] = {}  # as-of date → the scenes it was made from
    areas: list[AreaEntry] = []
    empty: list[dict[str, Any]] = []
    scene_skips = {s["scene_id"]: s["reason"] for s in skipped}
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task("write", total=sum(len(d) for _, d in seasons.values()))
        for year, (_, dates) in seasons.items():
            for block in blocks:
                summary = json.loads(str(_load_block(_block_uri(blocks_dir, year, block))["summary"]))
                for scene_id, reason in summary["skipped_scenes"]:
                    scene_skips.setdefault(scene_id, reason)
                if summary["mapped"] and not summary["with_data"][-1]:
                    empty.append(
                        {
                            "block": block.index,
                            "year": year,
                            "row": block.row,
                            "col": block.col,
                            "reason": f"no valid observation up to {dates[-1]} (all cloud or nodata)",
                        }
                    )
            for k, date in enumerate(dates):
                used[date.isoformat()] = [
                    sources[r.scene_id]
                    for r in seasons[year][0]
                    if r.date <= date and r.scene_id in sources and r.scene_id not in scene_skips
                ]
                if earlier is not None and date.isoformat() in earlier.maps:  # mapped before: kept as it is
                    staged[date.isoformat()] = _staged_copy(earlier.maps[date.isoformat()], staging)
                    maps[date.isoformat()] = earlier.maps[date.isoformat()]
                    mapped[date.isoformat()] = earlier.mapped_pixels[date.isoformat()]
                    areas.append(next(a for a in earlier.areas if a["as_of"] == date.isoformat()))
                    if date.isoformat() in earlier.double_crops:
                        doubles[date.isoformat()] = earlier.double_crops[date.isoformat()]
                    bar.advance(task)
                    continue
                counts = np.zeros(len(bundle.classes) + 1, np.int64)
                dc_parts: list[pa.Table] = []

                def pieces(
                    k: int = k, year: int = year, counts: np.ndarray = counts, dc_parts: list[pa.Table] = dc_parts
                ) -> Iterator[tuple[Block, np.ndarray, np.ndarray]]:
                    for block in blocks:
                        data = _load_block(_block_uri(blocks_dir, year, block))
                        counts += class_counts(data[f"classes{k}"], len(bundle.classes))
                        if f"dc{k}_x" in data:
                            dc_parts.append(_double_crop_part(data, k))
                        yield block, data[f"classes{k}"], data[f"confidence{k}"]

                tags = map_tags(
                    as_of=date, fingerprint=fingerprint, class_names=bundle.class_names, class_codes=class_codes
                )
                cog = write_class_map(staging / map_file(date), pieces(), grid=grid, colors=colors, tags=tags)
                counts[0] = grid.width * grid.height - int(counts[1:].sum())  # pixels off every block are nodata too
                staged[date.isoformat()] = cog
                maps[date.isoformat()] = _publish(cog, out)
                mapped[date.isoformat()] = int(counts[1:].sum())
                areas.append(class_areas(date, counts, bundle.class_names, pixel_area))
                if double_codes.any():
                    path = join_uri(out, f"double_crops_{date.isoformat()}.parquet")
                    write_table(
                        pa.concat_tables(dc_parts) if dc_parts else _double_crop_part({}, k),
                        path,
                        metadata={"crs": f"EPSG:{grid.epsg}", "as_of": date.isoformat()},
                    )
                    doubles[date.isoformat()] = path
                bar.advance(task)
    gif, gif_staged = None, None
    if len(maps) > 1:
        ordered = sorted(staged)
        gif_staged = write_season_gif(
            staging / "season.gif", [staged[d] for d in ordered], [dt.date.fromisoformat(d) for d in ordered]
        )
        gif = _publish(gif_staged, out)
    for date_text, cog in staged.items():
        item = staging / f"{cog.stem}.json"
        write_stac_item(
            item,
            cog=cog,
            grid=grid,
            aoi=aoi,
            as_of=dt.date.fromisoformat(date_text),
            fingerprint=fingerprint,
            class_names=bundle.class_names,
            colors=colors,
            model=model,
            class_codes=class_codes,
            scenes=used[date_text],
            model_href=_model_href(bundle, out),
            gif=gif_staged,
        )
        items[date_text] = _publish(item, out)
    for entry in empty:
        log.debug("block %d (%d) has no valid observation: written as nodata", entry["block"], entry["year"])
    run = MapRun(
        out=out,
        maps=maps,
        items=items,
        double_crops=doubles,
        gif=gif,
        blocks=len(blocks) * len(seasons),
        resumed_blocks=resumed,
        mapped_pixels=mapped,
        empty_blocks=empty,
        skipped_scenes=[{"scene_id": s, "reason": r} for s, r in sorted(scene_skips.items())],
        areas=areas,
        retried=retried,
    )
    for date_text, pixels in mapped.items():
        if not pixels:
            log.warning(
                "the map as of %s has no mapped pixel (%s): check the AOI, the scenes, the crop mask and the SCL mask",
                date_text,
                f"{plural(len(empty), 'block')} without any valid observation" if empty else "no pixel had a class",
            )
    write_summary(out, asdict(run))
    return run


def _staged_copy(uri: str, staging: Path) -> Path:
    """A map already in ``out`` as a local file: itself on disk, a copy in ``staging`` when it is on S3."""
    if not is_s3(uri):
        return local_path(uri)
    path = staging / uri.rsplit("/", 1)[-1]
    path.write_bytes(read_bytes(uri))
    return path


def map_file(as_of: dt.date | str) -> str:
    """The file name of the class map COG of one as-of date in a run's folder.

    Args:
        as_of: the as-of date (or its ISO text).

    Returns:
        ``map_YYYY-MM-DD.tif`` (its STAC item is the same name with ``.json``).
    """
    return f"map_{as_of if isinstance(as_of, str) else as_of.isoformat()}.tif"


def write_summary(out: str | os.PathLike[str], summary: dict[str, Any]) -> str:
    """Write a map run's summary (a `MapRun` as a dict) as `SUMMARY_FILE` in ``out``, atomically.

    Args:
        out: the run's output folder or ``s3://`` prefix.
        summary: ``dataclasses.asdict`` of the run.

    Returns:
        The summary's path or URI.
    """
    uri = join_uri(out, SUMMARY_FILE)
    write_bytes(uri, json.dumps(summary, indent=1).encode())
    return uri


def read_summary(out: str | os.PathLike[str]) -> MapRun:
    """The `MapRun` a finished run recorded in ``out`` (its `SUMMARY_FILE`, as `write_summary` wrote it).

    Args:
        out: the run's output folder or ``s3://`` prefix.

    Returns:
        The run's record.
    """
    return MapRun(**json.loads(read_bytes(join_uri(out, SUMMARY_FILE))))


def _model_href(bundle: Bundle, out: str) -> str:
    """Where the STAC items in ``out`` say the bundle's model.json is.

    Relative to ``out`` (the items' folder) when it is on the local disk, so that moving the runs and maps
    folders together keeps the link working; an absolute ``file://`` URI when ``out`` is on S3 (a relative
    path cannot lead from a bucket to the local disk) or on another drive than the bundle.

    Args:
        bundle: the model bundle (a local folder).
        out: the map run's output folder or ``s3://`` prefix.

    Returns:
        The href.
    """
    model = (bundle.path / MANIFEST).resolve()
    if is_s3(out):
        return model.as_uri()
    try:
        return Path(os.path.relpath(model, local_path(out).resolve())).as_posix()
    except ValueError:  # Windows: the bundle and the maps on different drives
        return model.as_uri()


def class_counts(class_band: npt.ArrayLike, n_classes: int) -> npt.NDArray[np.int64]:
    """Pixels of each band-1 value 0 (no data) … ``n_classes`` in (a piece of) a class band.

    Args:
        class_band: band-1 values (uint8; 0 no data, 1…K the classes), any shape.
        n_classes: K, the number of classes; larger values are not counted.

    Returns:
        int64 [K + 1]: the pixel count of each value.
    """
    counts: npt.NDArray[np.int64] = np.bincount(np.asarray(class_band).ravel(), minlength=n_classes + 1)
    return counts[: n_classes + 1]


def class_areas(date: dt.date | str, counts: npt.ArrayLike, class_names: Sequence[str], pixel_area: float) -> AreaEntry:
    """The mapped area of each class (index 0: no data) as of ``date`` from its pixel counts.

    This is one entry of ``summary["areas"]``: predict writes it, the report reads it, or makes it for an
    older folder's COGs with `class_counts` and this same function.

    Args:
        date: the as-of date (or its ISO text).
        counts: pixels per band-1 value, 0 (no data) to K (see `class_counts`).
        class_names: the K class names.
        pixel_area: area of one map pixel, m².

    Returns:
        ``{"as_of", "pixel_area_m2", "classes": [{"index", "name", "pixels", "hectares"}]}``.
    """
    names = ["no data", *class_names]
    return {
        "as_of": date if isinstance(date, str) else date.isoformat(),
        "pixel_area_m2": float(pixel_area),
        "classes": [
            {"index": i, "name": names[i], "pixels": int(n), "hectares": float(n) * pixel_area / 10_000}
            for i, n in enumerate(np.asarray(counts))
        ],
    }


def _double_crop_part(data: dict[str, np.ndarray], k: int) -> pa.Table:
    """The double-crop rows of one block file for as-of index ``k`` (an empty table when it has none)."""
    return transition_table(
        x=data.get(f"dc{k}_x", np.empty(0)),
        y=data.get(f"dc{k}_y", np.empty(0)),
        codes=data.get(f"dc{k}_code", np.empty(0, np.int32)),
        dates=data.get(f"dc{k}_day", np.empty(0, np.int64)),
    )
