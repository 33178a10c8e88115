"""Where series lie: planar coordinates in metres, spatial blocks and field groups, for splits and audits."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)


def planar_xy(table: pa.Table) -> np.ndarray | None:
    """(n, 2) coordinates in metres: ``x``/``y`` when the table's CRS is projected, else ``lon``/``lat``
    projected onto an azimuthal equidistant plane centred on the data; ``None`` without coordinates.

    Rows without coordinates get NaN.
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


def block_ids(xy: np.ndarray, block_size: float) -> np.ndarray:
    """Square block of each point (an int64 id), blocks of ``block_size`` metres aligned on the origin."""
    cells = np.floor(xy / block_size).astype(np.int64)
    return cells[:, 0] * 4_294_967_296 + cells[:, 1]


def field_groups(field_id: np.ndarray, xy: np.ndarray | None) -> np.ndarray:
    """A group per sample: its field, joined with every field that shares one of its places in another year."""
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


def block_groups(xy: np.ndarray, block_size: float, field_id: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The block of each point, except that every point of a field (joined across years by shared places)
    goes to the block holding most of that field's points (ties: the smaller block id), so a field that
    straddles a block edge is not cut in two.
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
