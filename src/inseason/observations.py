"""The observations dataset on disk (DESIGN §2): one immutable part file per scene, and a manifest.

The parts are partitioned by season year and tile; the manifest of finished scenes makes extraction
resumable.

::

    OUT/_extract.json                         inputs fingerprint and options (refuses foreign resumes)
    OUT/_manifest.jsonl                       one line per finished or skipped scene
    OUT/year=2021/tile=15SYS/part-<scene_id>.parquet

A part file appears only by atomic rename, and the manifest line is appended after it, so a killed run
leaves either nothing or a complete part for a scene; on resume a complete part counts as done.
The ``tile`` column lives in the partition path only (as ``year`` does), so any hive-aware reader —
pyarrow, pandas, DuckDB, Spark — opens the folder without a clash between a file column and a path key.

It lives beside the other table contracts (`inseason.tables`): `extract` writes it, `series` reads it, and
neither needs to import the other.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from inseason.errors import InputError
from inseason.storage import (
    append_line,
    exists,
    filesystem,
    is_s3,
    join_uri,
    list_files,
    local_path,
    read_bytes,
    remove_stale_temporaries,
    write_bytes,
)
from inseason.tables import OBSERVATIONS, with_metadata

MANIFEST = "_manifest.jsonl"
SETTINGS = "_extract.json"
PARTITIONING = pads.partitioning(pa.schema([("year", pa.int16()), ("tile", pa.string())]), flavor="hive")
_PART = re.compile(r"/year=[^/]+/tile=[^/]+/part-(?P<scene>[^/]+)\.parquet$")


def part_uri(root: str | os.PathLike[str], year: int, tile: str, scene_id: str) -> str:
    """Where the observations of one scene live, under a folder path or an ``s3://`` prefix.

    Args:
        root: the observations folder or prefix.
        year: the season year.
        tile: the tile name.
        scene_id: the scene id.

    Returns:
        ``ROOT/year=YEAR/tile=TILE/part-SCENE.parquet``.
    """
    return join_uri(root, f"year={year}", f"tile={tile}", f"part-{scene_id}.parquet")


def part_path(root: Path, year: int, tile: str, scene_id: str) -> Path:
    """Where the observations of one scene live in a local folder.

    Args:
        root: the observations folder.
        year: the season year.
        tile: the tile name.
        scene_id: the scene id.

    Returns:
        ``ROOT/year=YEAR/tile=TILE/part-SCENE.parquet``.
    """
    return Path(part_uri(root, year, tile, scene_id))


def write_part(
    path: str | os.PathLike[str], table: pa.Table, *, scene_id: str, bytes_read: int, blocks_read: int = 0
) -> None:
    """Write one scene's observations atomically, with its scene id and cost in the schema metadata.

    Args:
        path: the part's path or ``s3://`` URI (`part_uri`).
        table: the scene's observations (the ``tile`` column is dropped: it lives in the path).
        scene_id: the scene id, stored as ``inseason:scene_id``.
        bytes_read: the bytes read to extract them, stored as ``inseason:bytes_read``.
        blocks_read: the COG blocks read to extract them, stored as ``inseason:blocks_read`` (so a manifest
            line a kill lost is restored whole from the part).
    """
    schema = with_metadata(OBSERVATIONS, scene_id=scene_id, bytes_read=str(bytes_read), blocks_read=str(blocks_read))
    buffer = pa.BufferOutputStream()
    pq.write_table(table.cast(schema).drop_columns(["tile"]), buffer)
    write_bytes(path, buffer.getvalue().to_pybytes())


def read_manifest(root: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Finished scenes by id: the manifest's lines, plus complete parts whose line a kill cut off.

    Args:
        root: the observations folder or ``s3://`` prefix.

    Returns:
        Each finished or skipped scene's manifest entry, by scene id.
    """
    entries: dict[str, dict[str, Any]] = {}
    manifest = join_uri(root, MANIFEST)
    if exists(manifest):
        for line in read_bytes(manifest).decode().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # the last line of a killed run may be cut short
                continue
            entries[entry["scene_id"]] = entry
    for part in list_files(root, suffix=".parquet"):
        found = _PART.search(part.replace(os.sep, "/"))  # temporary files (dot names) do not match
        if found is None or entries.get(found["scene"], {}).get("status") == "done":
            continue
        fs, path = filesystem(part)
        meta = pq.read_schema(path, filesystem=fs).metadata or {}
        entries[found["scene"]] = {
            "scene_id": found["scene"],
            "status": "done",
            "observations": pq.read_metadata(path, filesystem=fs).num_rows,
            "bytes_read": int(meta.get(b"inseason:bytes_read", b"0")),
            "blocks_read": int(meta.get(b"inseason:blocks_read", b"0")),
        }
    return entries


def remove_leftovers(root: str | os.PathLike[str]) -> None:
    """Tidy a folder a killed run left: delete half-written part files and cut a half-written manifest line.

    Readers never see either (pyarrow datasets skip dot-files; :func:`read_manifest` skips bad lines), but
    a line cut short would glue itself to the next one appended. Call it only when no other run writes here.
    On S3 there is nothing to tidy: an object appears only complete, the manifest included.

    Args:
        root: the observations folder or ``s3://`` prefix.
    """
    if is_s3(root):
        return
    folder = local_path(root)
    remove_stale_temporaries(folder)  # the part files killed writers left (taking the output lock does it too)
    manifest = folder / MANIFEST
    if manifest.exists():
        text = manifest.read_bytes()
        if text and not text.endswith(b"\n"):
            with open(manifest, "r+b") as f:
                f.truncate(text.rfind(b"\n") + 1)


def append_manifest(root: str | os.PathLike[str], entry: dict[str, Any]) -> None:
    """Record a finished or skipped scene (one JSON line, flushed to disk).

    Args:
        root: the observations folder or ``s3://`` prefix.
        entry: the scene's manifest entry (``scene_id``, ``status``, ...).
    """
    append_line(join_uri(root, MANIFEST), json.dumps(entry, sort_keys=True))


def observations_dataset(path: str | os.PathLike[str]) -> pads.Dataset:
    """The observations dataset as a pyarrow dataset with ``year`` and ``tile`` from the partitioning.

    Args:
        path: the observations folder or ``s3://`` prefix.

    Returns:
        The dataset (nothing is read yet).

    Raises:
        InputError: ``path`` holds no observations dataset (no ``_extract.json``).
    """
    if not exists(join_uri(path, SETTINGS)):
        raise InputError(f"{path} is not an observations dataset (no {SETTINGS}): make one with `inseason extract`")
    fs, root = filesystem(path)
    return pads.dataset(root, format="parquet", partitioning=PARTITIONING, filesystem=fs)


def read_observations(path: str | os.PathLike[str]) -> pa.Table:
    """All observations, sorted by point, date and scene (the order does not depend on the engine).

    Args:
        path: the observations folder or ``s3://`` prefix.

    Returns:
        The observations, with ``year`` and ``tile`` from the partition paths.

    Raises:
        InputError: ``path`` holds no observations dataset.
    """
    table = observations_dataset(path).to_table(columns=[*OBSERVATIONS.names, "year"])
    return table.sort_by([("point_id", "ascending"), ("date", "ascending"), ("scene_id", "ascending")])
