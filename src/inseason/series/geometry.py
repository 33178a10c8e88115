"""Where series lie: planar coordinates in metres, spatial blocks and field groups, for splits and audits."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from inseason.errors import InputError


def _column(table: pa.Table, name: str) -> npt.NDArray[np.float64]:
    """A numeric column as float64 (NaN where null)."""
    values: npt.NDArray[np.float64] = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    return values


def planar_xy(table: pa.Table) -> np.ndarray | None:
    """Planar coordinates in metres of a table's rows, for distances and blocks.

    ``x``/``y`` when the table's CRS (its ``crs`` column or ``inseason:crs`` metadata) is projected, else
    ``lon``/``lat`` projected onto an azimuthal equidistant plane centred on the data.

    Args:
        table: a series (or label points) table.

    Returns:
        ``(n, 2)`` coordinates, NaN for rows without coordinates; ``None`` when the table has none at all.
    """
    names = set(table.column_names)
    crs_text = next((c for c in table.column("crs").unique().to_pylist() if c), None) if "crs" in names else None
    if crs_text is None:
        meta = table.schema.metadata or {}
        crs_text = meta.get(b"inseason:crs", b"").decode() or None
    if {"x", "y"} <= names and crs_text and table.column("x").null_count < table.num_rows:
        try:
            projected = CRS.from_user_input(crs_text).is_projected
        except CRSError:
            projected = False
        if projected:
            return np.column_stack([_column(table, "x"), _column(table, "y")])
    if {"lon", "lat"} <= names and table.column("lon").null_count < table.num_rows:
        lon, lat = _column(table, "lon"), _column(table, "lat")
        centre = CRS.from_proj4(f"+proj=aeqd +lat_0={np.nanmean(lat):.6f} +lon_0={np.nanmean(lon):.6f} +units=m")
        x, y = Transformer.from_crs(4326, centre, always_xy=True).transform(lon, lat)
        return np.column_stack([np.asarray(x), np.asarray(y)])
    return None


#: Block id of a point without coordinates (NaN): in no block. A real block would need a point some
#: 2 billion block sides west of the origin to get it.
NO_BLOCK = np.iinfo(np.int64).min

#: A block's id packs its column and row: ``column * _ROW_SPAN + row`` (both within ±2**31).
_ROW_SPAN = 4_294_967_296


def block_ids(xy: npt.ArrayLike, block_size: float) -> npt.NDArray[np.int64]:
    """The square block holding each point: the one block grid of the split, its audit and the evaluation.

    Blocks have sides of ``block_size`` metres (map units) and are aligned on the origin; a block's id packs
    its column and row, each within ±2**31 blocks of the origin (`block_labels` writes them out).

    Args:
        xy: ``(n, 2)`` planar coordinates in metres (`planar_xy`); NaN for a point without coordinates.
        block_size: side of a block in metres.

    Returns:
        An int64 block id per point; `NO_BLOCK` for a point without coordinates.

    Raises:
        InputError: ``block_size`` is not positive.
    """
    if not block_size > 0:
        raise InputError(f"block size {block_size}: use a positive size in map units (metres)")
    points = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    located = np.isfinite(points[:, 0]) & np.isfinite(points[:, 1])
    cells = np.floor(np.where(located[:, None], points, 0.0) / block_size).astype(np.int64)
    ids: npt.NDArray[np.int64] = np.where(located, cells[:, 0] * _ROW_SPAN + cells[:, 1], NO_BLOCK)
    return ids


def block_labels(ids: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """The readable name ``"column_row"`` of each block id, read back from the id (an evaluation's block names).

    Args:
        ids: block ids from `block_ids`.

    Returns:
        An object array of ``"column_row"`` strings; None where the id is `NO_BLOCK`.
    """
    packed = np.asarray(ids, dtype=np.int64)
    row = packed & (_ROW_SPAN - 1)
    row = np.where(row >= _ROW_SPAN // 2, row - _ROW_SPAN, row)
    column = (packed - row) // _ROW_SPAN
    located = packed != NO_BLOCK
    return np.array(
        [f"{c}_{r}" if ok else None for c, r, ok in zip(column.tolist(), row.tolist(), located.tolist())],
        dtype=object,
    )


def field_groups(field_id: np.ndarray, xy: np.ndarray | None) -> np.ndarray:
    """A group per sample: its field, joined with every field that shares one of its places in another year.

    Args:
        field_id: each sample's field.
        xy: the samples' planar coordinates (`planar_xy`), or None to group by field only.

    Returns:
        An int64 group per sample: the smallest field id of its joined fields.
    """
    parent = {int(f): int(f) for f in np.unique(field_id)}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    if xy is not None:
        first_at: dict[tuple[float, float], int] = {}
        for f, p in zip(field_id, np.round(xy, 2)):
            if np.isnan(p).any():
                continue
            place = (float(p[0]), float(p[1]))
            other = first_at.setdefault(place, int(f))
            ra, rb = find(int(f)), find(other)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(int(f)) for f in field_id], dtype=np.int64)


def block_groups(
    xy: npt.NDArray[np.float64], block_size: float, field_id: pa.ChunkedArray | pa.Array
) -> npt.NDArray[np.int64]:
    """The block each point goes to in a block split, keeping every field whole.

    Each point goes to its block (`block_ids`), except that every point of a field (joined across years by
    shared places, `field_groups`) goes to the block holding most of that field's points (ties: the smaller
    block id), so a field that straddles a block edge is not cut in two.

    Args:
        xy: ``(n, 2)`` planar coordinates in metres, all known.
        block_size: side of a block in metres.
        field_id: each point's field (null where it has none: such a point stays in its own block).

    Returns:
        An int64 block id per point.
    """
    blocks = block_ids(xy, block_size)
    if field_id.null_count == len(field_id):
        return blocks
    valid = np.asarray(pc.is_valid(field_id).to_numpy(zero_copy_only=False), dtype=bool)
    fields = field_groups(np.asarray(pc.fill_null(field_id, 0).to_numpy(zero_copy_only=False))[valid], xy[valid])
    pairs, counts = np.unique(np.column_stack([fields, blocks[valid]]), axis=0, return_counts=True)
    order = np.lexsort((pairs[:, 1], -counts, pairs[:, 0]))  # per field: most points, then smallest block
    first = order[np.r_[True, pairs[order][1:, 0] != pairs[order][:-1, 0]]]
    home = dict(zip(pairs[first, 0].tolist(), pairs[first, 1].tolist()))
    result = blocks.copy()
    result[valid] = [home[f] for f in fields.tolist()]
    return result
