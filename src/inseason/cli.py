"""The ``inseason`` command line: one verb per pipeline stage, each a thin wrapper over a function."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

import inseason
from inseason.errors import InputError, InseasonError

app = typer.Typer(
    name="inseason", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    help="In-season crop-type mapping from irregular Sentinel-2 time series.\n\n"
         "Each verb is one stage of the pipeline; its outputs are open files you can inspect and feed to "
         "the next verb. Start with `inseason demo`.",
)
out_console = Console()
err_console = Console(stderr=True)


class _State:
    quiet = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"inseason {inseason.__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or summaries.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debugging details.")] = False,
) -> None:
    _State.quiet = quiet
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def _world_table(info: dict[str, Any], path: Path) -> Table:
    table = Table(title=f"synthetic world '{info['size']}' (seed {info['seed']}) in {path}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    tiles = ", ".join(t["name"] for t in info["tiles"])
    table.add_row("tiles", f"{tiles} (UTM EPSG:{info['scene_epsg']}, {info['tiles'][0]['size_m']:,} m)")
    table.add_row("years", ", ".join(map(str, info["years"])))
    table.add_row("scenes", f"{info['scenes']} from {info['datatakes']} datatakes "
                            f"({info['reprocessed_scenes']} reprocessed duplicates)")
    table.add_row("dates", f"{info['first_date']} to {info['last_date']}")
    table.add_row("fields", str(info["fields"]))
    total = sum(c["pixels"] for c in info["classes"].values())
    top = sorted(info["classes"].items(), key=lambda kv: -kv[1]["pixels"])
    table.add_row("classes", "\n".join(f"{code:>3} {c['name']}: {100 * c['pixels'] / total:.1f} %"
                                       for code, c in top))
    table.add_row("labels", f"CDL-like, EPSG:{info['label_epsg']}, 30 m: {path / 'labels'}")
    table.add_row("catalog", str(path / "stac" / "catalog.json"))
    table.add_row("size", f"{info['bytes'] / 1e6:,.1f} MB")
    return table


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to create (must be empty or absent).")],
    size: Annotated[str, typer.Option(help="World size: tiny (seconds), small (about a minute), demo, large.")] = "tiny",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives byte-identical files.")] = 1,
    years: Annotated[Optional[list[str]], typer.Option(help="Label years: 2021,2022 or repeat the option; "
                                                           "default: the size's.")] = None,
    tiles_x: Annotated[Optional[int], typer.Option(help="Tiles along x (1-4).")] = None,
    tiles_y: Annotated[Optional[int], typer.Option(help="Tiles along y (1-4).")] = None,
    tile_m: Annotated[Optional[int], typer.Option(help="Tile side in metres (multiple of 60).")] = None,
    cloudiness: Annotated[Optional[float], typer.Option(help="Mean cloud fraction of a scene (0-0.9).")] = None,
    label_noise: Annotated[Optional[float], typer.Option(help="Fraction of crop label pixels mislabelled.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Processes writing scenes (default: cores, up to 4).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a world already in --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print world.json to stdout.")] = False,
) -> None:
    """Generate a synthetic Sentinel-2 L2A / CDL world: label rasters, COG scenes and a STAC catalog."""
    from inseason.synth import synth as make_world

    summary = make_world(out, size=size, seed=seed, overwrite=overwrite, workers=workers,
                         quiet=_State.quiet or as_json, years=tuple(_int_list(years, "--years")) or None, tiles_x=tiles_x,
                         tiles_y=tiles_y, tile_m=tile_m, cloudiness=cloudiness, label_noise=label_noise)
    if as_json:
        out_console.print_json(json.dumps(summary.info))
    elif not _State.quiet:
        out_console.print(_world_table(summary.info, summary.path))


@app.command()
def serve(
    world: Annotated[Path, typer.Argument(help="A world folder made by `inseason synth`.")],
    host: Annotated[str, typer.Option(help="Address to bind (loopback only by default).")] = "127.0.0.1",
    files_port: Annotated[int, typer.Option(help="Port of the HTTP file server (0: any free port).")] = 0,
    stac_port: Annotated[int, typer.Option(help="Port of the STAC API (0: any free port).")] = 0,
) -> None:
    """Serve a world over HTTP: its files (with Range requests) and a STAC API, until Ctrl-C."""
    from inseason.synth import load_world
    from inseason.testing import serve_world

    load_world(world)  # a clear error if it is not a world
    with serve_world(world, host=host, files_port=files_port, stac_port=stac_port) as servers:
        out_console.print(f"STAC API:    {servers.stac.url}\nfiles:       {servers.files.url}\n"
                          "Press Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def _csv_list(values: Optional[list[str]]) -> list[str]:
    """Options given as ``--opt a,b`` or repeated ``--opt a --opt b``: one flat list."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _int_list(values: Optional[list[str]], option: str) -> list[int]:
    try:
        return [int(v) for v in _csv_list(values)]
    except ValueError:
        raise InputError(f"{option} takes integers, e.g. {option} 2021,2022 (got {values})") from None


def _print_json(doc: Any) -> None:
    out_console.print_json(json.dumps(doc, default=str))


@app.command()
def labels(
    aoi: Annotated[str, typer.Option(help="Area of interest: 'west,south,east,north' in degrees or a vector file.")],
    years: Annotated[list[str], typer.Option(help="Label years: 2021,2022 or repeat the option.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Label points table to write (Parquet).")],
    cdl: Annotated[Optional[str], typer.Option(help="CDL: a folder of CDL_YYYY.tif, one GeoTIFF (any CRS), or "
                                                    "'cropscape' to download from CropScape.")] = None,
    cropscape_url: Annotated[Optional[str], typer.Option(help="CropScape service URL (implies --cdl cropscape).")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option(help="Where CropScape downloads are cached.")] = None,
    vector: Annotated[Optional[Path], typer.Option(help="Vector labels: GeoJSON, GeoPackage or Shapefile.")] = None,
    class_column: Annotated[Optional[str], typer.Option(help="Column of --vector holding the class.")] = None,
    field_column: Annotated[Optional[str], typer.Option(help="Column of --vector holding a field id.")] = None,
    layer: Annotated[Optional[str], typer.Option(help="Layer of a GeoPackage.")] = None,
    strategy: Annotated[str, typer.Option(help="stride (every k-th pixel, as the course), stratified (per class) "
                                               "or per_field.")] = "stride",
    stride: Annotated[int, typer.Option(help="stride: keep every k-th label pixel along rows and columns.")] = 15,
    spacing: Annotated[Optional[float], typer.Option(help="stride on vector labels: grid spacing in metres.")] = None,
    per_class: Annotated[Optional[int], typer.Option(help="stratified: at most this many points per class and year.")] = None,
    min_per_class: Annotated[int, typer.Option(help="stratified: drop classes with fewer candidates.")] = 0,
    per_field: Annotated[Optional[int], typer.Option(help="per_field: points per field.")] = None,
    edge_buffer: Annotated[float, typer.Option(help="per_field: metres to stay inside field edges.")] = 30.0,
    classes: Annotated[Optional[list[str]], typer.Option(help="Keep only these class names or codes (comma list).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the sampling.")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds before a CropScape request times out.")] = 30.0,
    retries: Annotated[int, typer.Option(help="Retries of a failed CropScape request.")] = 4,
) -> None:
    """Sample label points from CDL (local GeoTIFFs or CropScape) or vector labels inside an AOI."""
    from inseason.sources.points import make_label_points

    table = make_label_points(cdl=cdl, cropscape_url=cropscape_url, vector=vector, class_column=class_column,
                              field_column=field_column, aoi=aoi, years=_int_list(years, "--years"),
                              strategy=strategy, stride=stride, per_class=per_class, min_per_class=min_per_class,
                              per_field=per_field, edge_buffer_m=edge_buffer, classes=_csv_list(classes) or None,
                              seed=seed, cache_dir=cache_dir, out=out, spacing_m=spacing, layer=layer,
                              quiet=_State.quiet, timeout=timeout, retries=retries)
    if _State.quiet:
        return
    counts = table.group_by(["year", "label"]).aggregate([("point_id", "count")]).sort_by(
        [("year", "ascending"), ("point_id_count", "descending")])
    summary = Table(title=f"{table.num_rows:,} label points in {out}")
    for column in ("year", "class", "points"):
        summary.add_column(column, justify="right" if column != "class" else "left")
    for row in counts.to_pylist():
        summary.add_row(str(row["year"]), row["label"], f"{row['point_id_count']:,}")
    out_console.print(summary)


@app.command()
def scenes(
    stac: Annotated[str, typer.Option(help="A STAC API URL or a local catalog.json.")],
    aoi: Annotated[str, typer.Option(help="Area of interest: 'west,south,east,north' in degrees or a vector file.")],
    start: Annotated[str, typer.Option(help="First date, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last date, YYYY-MM-DD (inclusive).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Scene manifest to write (Parquet).")],
    collection: Annotated[str, typer.Option(help="STAC collection.")] = "sentinel-2-l2a",
    min_valid: Annotated[float, typer.Option(help="Keep scenes whose valid share of the AOI (from SCL) exceeds this.")] = 0.3,
    scl_mask: Annotated[Optional[list[str]], typer.Option(help="SCL classes counted as invalid (comma list; "
                                                                 "default the course's 0,1,7,8,9,11).")] = None,
    max_cloud: Annotated[Optional[float], typer.Option(help="Also drop items whose tile-wide eo:cloud_cover (%) exceeds this.")] = None,
    workers: Annotated[int, typer.Option(help="Parallel SCL reads.")] = 4,
    timeout: Annotated[float, typer.Option(help="Seconds before a STAC request times out.")] = 30.0,
    retries: Annotated[int, typer.Option(help="Retries of a failed STAC request (429, 5xx, timeouts).")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest's counts as JSON.")] = False,
) -> None:
    """Search a STAC API or catalog for Sentinel-2 L2A scenes over an AOI and write the scene manifest."""
    from inseason.extract.sample import DEFAULT_SCL_MASK
    from inseason.extract.scenes import find_scenes, manifest_info

    table = find_scenes(stac=stac, aoi=aoi, start=start, end=end, out=out, collection=collection,
                        min_valid=min_valid, scl_mask=_int_list(scl_mask, "--scl-mask") or DEFAULT_SCL_MASK,
                        max_cloud=max_cloud, workers=workers, quiet=_State.quiet or as_json, timeout=timeout,
                        retries=retries)
    info = manifest_info(table)
    if as_json:
        _print_json({"scenes": table.num_rows, **info})
    elif not _State.quiet:
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in (info["counts"] or {}).items())
        out_console.print(f"{table.num_rows} scenes in {out} ({counts})")
        if info["note"]:
            out_console.print(info["note"])


@app.command()
def extract(
    points: Annotated[Path, typer.Argument(help="Label points table (from `inseason labels`).")],
    scenes: Annotated[Path, typer.Argument(help="Scene manifest (from `inseason scenes`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Observations folder; run again to resume.")],
    scl_mask: Annotated[Optional[list[str]], typer.Option(help="SCL classes to drop (comma list; default the "
                                                                 "course's 0,1,7,8,9,11; e.g. add 3,10).")] = None,
    season_start: Annotated[str, typer.Option(help="Season start MM-DD: scenes from it on belong to the label year.")] = "01-01",
    workers: Annotated[Optional[int], typer.Option(help="Worker processes (default: the cores).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Estimate scenes, bytes and time; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the totals as JSON.")] = False,
) -> None:
    """Sample every label point in every scene, reading only the COG blocks that hold points (resumable)."""
    from inseason.extract.sample import DEFAULT_SCL_MASK
    from inseason.extract.stage import extract as run_extract

    totals = run_extract(points, scenes, out=out, scl_mask=_int_list(scl_mask, "--scl-mask") or DEFAULT_SCL_MASK,
                         season_start=season_start, workers=workers, dry_run=dry_run,
                         quiet=_State.quiet or as_json)
    if as_json:
        _print_json(totals)
    elif not _State.quiet:
        table = Table(title="dry run: estimate" if dry_run else f"observations in {out}", show_header=False)
        for key, value in totals.items():
            table.add_row(key.replace("_", " "), f"{value:,}" if isinstance(value, int) else str(value))
        out_console.print(table)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's outputs.")] = Path("demo-out"),
    size: Annotated[str, typer.Option(help="World size to run on.")] = "demo",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Run the pipeline on a synthetic world (today: generate the world and summarise it)."""
    from inseason.synth import synth as make_world

    world = out / "world"
    info_path = world / "world.json"
    if info_path.exists() and (info := json.loads(info_path.read_text()))["size"] == size and info["seed"] == seed:
        out_console.print(f"reusing the {size} world in {world}")
    else:
        info = make_world(world, size=size, seed=seed, overwrite=True, quiet=_State.quiet).info
    out_console.print(_world_table(info, world))


bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: both sides of a comparison in one run, as ratios.")
app.add_typer(bench_app, name="bench")


@bench_app.command("ingest")
def bench_ingest(
    world: Annotated[Optional[Path], typer.Option(help="A world from `inseason synth` (default: make one with a "
                                                       "32.94 km tile, June 2022, in a temporary folder).")] = None,
    boxes: Annotated[int, typer.Option(help="Boxes of label points along the tile's diagonal.")] = 3,
    box_m: Annotated[float, typer.Option(help="Side of each box in metres.")] = 1500.0,
    stride: Annotated[int, typer.Option(help="Every k-th label pixel is a point (the course: 15).")] = 15,
    max_scenes: Annotated[int, typer.Option(help="Scenes extracted by both sides.")] = 24,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes for both sides (default: the cores).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (bytes_ratio, speedup, ...).")] = False,
) -> None:
    """Windowed block reads against the course's whole-file downloads: bytes and observations/s."""
    from inseason.bench.ingest import bench_ingest as run_bench

    result = run_bench(world=world, boxes=boxes, box_m=box_m, stride=stride, max_scenes=max_scenes,
                       workers=workers, quiet=_State.quiet or as_json)
    if as_json:
        _print_json(result)
        return
    table = Table(title=f"inseason bench ingest: {result['points']} points × {result['scenes']} scenes, "
                        f"{result['workers']} workers")
    for column in ("", "ours (block reads)", "course (whole files)", "ratio"):
        table.add_column(column, justify="right")
    ours, course = result["ours"], result["course"]
    table.add_row("bytes transferred", f"{ours['bytes'] / 1e6:,.1f} MB", f"{course['bytes'] / 1e6:,.1f} MB",
                  f"{result['bytes_ratio']}× fewer")
    table.add_row("observations/s", f"{ours['observations_per_s']:,.0f}", f"{course['observations_per_s']:,.0f}",
                  f"{result['speedup']}× faster")
    table.add_row("decode MB/s per core", f"{ours['decode_mb_per_s_per_core']}",
                  f"{course['decode_mb_per_s_per_core']}", f"limit {result['deflate_limit_mb_per_s']:.0f}")
    table.add_row("observations", f"{ours['observations']:,}", f"{course['observations']:,}",
                  "same" if result["same_observations"] else "DIFFERENT")
    out_console.print(table)


def main() -> None:
    """Entry point: run the app, printing project errors as one line without a traceback."""
    try:
        app()
    except InseasonError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
