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
from inseason.errors import InseasonError

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
    years: Annotated[Optional[list[int]], typer.Option(help="Label years (repeat the option); default: the size's.")] = None,
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
                         quiet=_State.quiet or as_json, years=tuple(years) if years else None, tiles_x=tiles_x,
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
