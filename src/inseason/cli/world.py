"""The synthetic world's verbs: ``synth`` makes one, ``serve`` puts it on HTTP as a STAC API."""

from __future__ import annotations

import errno
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from inseason.cli.common import State, int_list, json_flag, out_console, out_option, seed_option, workers_option
from inseason.errors import InputError
from inseason.progress import plural

#: Why a server cannot listen where it was asked to, in words (other OS errors are not the user's doing).
_BIND_ERRORS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES, errno.EPERM)


def _world_table(info: dict[str, Any], path: Path) -> Table:
    """The summary ``synth`` prints: tiles, years, scenes, dates, fields, classes and where the files are."""
    table = Table(title=f"synthetic world '{info['size']}' (seed {info['seed']}) in {path}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    tiles = ", ".join(t["name"] for t in info["tiles"])
    zones = ", ".join(f"EPSG:{code}" for code in info.get("scene_epsgs", [info["scene_epsg"]]))
    table.add_row("tiles", f"{tiles} (UTM {zones}, {info['tiles'][0]['size_m']:,} m)")
    if info.get("real_layout"):
        table.add_row("layout", "real Sentinel-2 tiles: 10 980 px at 10 m, 1 024-px blocks, nodata around the world")
    table.add_row("years", ", ".join(map(str, info["years"])))
    table.add_row(
        "scenes",
        f"{plural(info['scenes'], 'scene')} from {plural(info['datatakes'], 'datatake')} "
        f"({plural(info['reprocessed_scenes'], 'reprocessed duplicate')})",
    )
    table.add_row("dates", f"{info['first_date']} to {info['last_date']}")
    table.add_row("fields", str(info["fields"]))
    total = sum(c["pixels"] for c in info["classes"].values())
    top = sorted(info["classes"].items(), key=lambda kv: -kv[1]["pixels"])
    table.add_row("classes", "\n".join(f"{code:>3} {c['name']}: {100 * c['pixels'] / total:.1f} %" for code, c in top))
    table.add_row("labels", f"CDL-like, EPSG:{info['label_epsg']}, 30 m: {path / 'labels'}")
    table.add_row("catalog", str(path / "stac" / "catalog.json"))
    table.add_row("size", f"{info['bytes'] / 1e6:,.1f} MB")
    return table


def synth(
    out: Annotated[Path, out_option("Folder to create (must be empty or absent).")],
    size: Annotated[
        str, typer.Option(help="World size: tiny (seconds), small (about a minute), demo, large.")
    ] = "tiny",
    seed: Annotated[int, seed_option("Random seed; the same seed gives byte-identical files.")] = 1,
    years: Annotated[
        list[str] | None, typer.Option(help="Label years: 2021,2022 or repeat the option; default: the size's.")
    ] = None,
    tiles_x: Annotated[int | None, typer.Option(help="Tiles along x (1-4).")] = None,
    tiles_y: Annotated[int | None, typer.Option(help="Tiles along y (1-4).")] = None,
    tile_m: Annotated[int | None, typer.Option(help="Tile side in metres (multiple of 60).")] = None,
    cloudiness: Annotated[float | None, typer.Option(help="Mean cloud fraction of a scene (0-0.9).")] = None,
    label_noise: Annotated[float | None, typer.Option(help="Fraction of crop label pixels mislabelled.")] = None,
    across_zones: Annotated[
        bool,
        typer.Option(
            help="Lay the world astride the UTM zone 15/16 boundary (90° W): tiles of both zones, each in its own "
            "CRS, reaching past the boundary as real tiles do."
        ),
    ] = False,
    real_layout: Annotated[
        bool,
        typer.Option(
            help="Write each scene as the real Sentinel-2 tile holding it (10 980 px at 10 m, 1 024-px blocks, "
            "deflate, overviews), nodata around the world's pixels: for benchmarks."
        ),
    ] = False,
    workers: Annotated[int | None, workers_option("Processes writing scenes (default: cores, up to 4).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a world already in --out.")] = False,
    as_json: Annotated[bool, json_flag("Print world.json to stdout.")] = False,
) -> None:
    """Generate a synthetic Sentinel-2 L2A / CDL world: label rasters, COG scenes and a STAC catalog.

    \f
    Args:
        out: ``--out``: the world's folder.
        size: ``--size``: the preset world size.
        seed: ``--seed``.
        years: ``--years``: label years, overriding the size's.
        tiles_x: ``--tiles-x``, overriding the size's.
        tiles_y: ``--tiles-y``, overriding the size's.
        tile_m: ``--tile-m``, overriding the size's.
        cloudiness: ``--cloudiness``, overriding the size's.
        label_noise: ``--label-noise``, overriding the size's.
        across_zones: ``--across-zones``: tiles from UTM zones 15 and 16.
        real_layout: ``--real-layout``: scenes as real 10 980-px Sentinel-2 tiles.
        workers: ``--workers``: processes writing scenes.
        overwrite: ``--overwrite``: replace a world in ``out``.
        as_json: ``--json``: print world.json instead of the summary table.

    Raises:
        InputError: ``--years`` is not a list of integers, or the size or an override is invalid.
    """  # noqa: D301
    from inseason.config import synth_config
    from inseason.synth import SynthRequest, run_synth

    config = synth_config(
        size,
        seed=seed,
        years=tuple(int_list(years, "--years")) or None,
        tiles_x=tiles_x,
        tiles_y=tiles_y,
        tile_m=tile_m,
        cloudiness=cloudiness,
        label_noise=label_noise,
        across_zones=across_zones or None,
    )
    request = SynthRequest.of(
        out=out,
        config=config,
        overwrite=overwrite,
        workers=workers,
        quiet=State.quiet or as_json,
        real_layout=real_layout,
    )
    summary = run_synth(request)
    if as_json:
        out_console.print_json(json.dumps(summary.info))
    elif not State.quiet:
        out_console.print(_world_table(summary.info, summary.path))


def _port(option: str, help: str) -> Any:
    """A port option: 0 (any free port) to 65535."""

    def check(value: int) -> int:
        if not 0 <= value <= 65535:
            raise InputError(f"{option} {value} is not a port: give 1 to 65535, or 0 for any free port")
        return value

    return typer.Option(option, help=help, callback=check)


def serve(
    world: Annotated[Path, typer.Argument(help="A world folder made by `inseason synth`.")],
    host: Annotated[str, typer.Option(help="Address to bind (loopback only by default).")] = "127.0.0.1",
    files_port: Annotated[int, _port("--files-port", "Port of the HTTP file server (0: any free port).")] = 0,
    stac_port: Annotated[int, _port("--stac-port", "Port of the STAC API (0: any free port).")] = 0,
) -> None:
    """Serve a world over HTTP: its files (with Range requests) and a STAC API, until Ctrl-C.

    \f
    Args:
        world: The world's folder.
        host: ``--host``: the address both servers bind.
        files_port: ``--files-port``: the file server's port.
        stac_port: ``--stac-port``: the STAC API's port.

    Raises:
        InputError: ``world`` is not a world made by ``synth``, both ports are the same, or a server cannot
            listen on ``host`` at its port (in use, not an address of this machine, not allowed).
    """  # noqa: D301
    import contextlib
    import socket

    from inseason.synth import load_world
    from inseason.testing import serve_world

    load_world(world)  # a clear error if it is not a world
    if files_port == stac_port != 0:
        raise InputError(f"--files-port and --stac-port are both {files_port}: give two ports (or 0 for any)")
    with contextlib.ExitStack() as stack:
        try:
            servers = stack.enter_context(serve_world(world, host=host, files_port=files_port, stac_port=stac_port))
        except OSError as exc:
            if not (isinstance(exc, socket.gaierror) or exc.errno in _BIND_ERRORS):
                raise
            reason = exc.strerror or str(exc)
            raise InputError(
                f"cannot serve on --host {host} (--files-port {files_port}, --stac-port {stac_port}): "
                f"{reason.lower()}: choose other ports (0: any free port) or an address of this machine"
            ) from None
        out_console.print(f"STAC API:    {servers.stac.url}\nfiles:       {servers.files.url}\nPress Ctrl-C to stop.")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
