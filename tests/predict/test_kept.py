"""The kept series of a map block (issue 20, item 4): saved compressed (Zstandard) and loaded back equal; an
archive of an earlier version (zlib members) loads too."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from inseason.predict.kept import CODEC, load_series, save_series, series_uri
from inseason.predict.read import Block, BlockSeries


def _series() -> BlockSeries:
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 30, 50)
    n = int(counts.sum())
    return BlockSeries(
        block=Block(index=7, row=0, col=64, height=8, width=8),
        bands=("B04", "B08"),
        pixels=np.sort(rng.choice(64, 50, replace=False)).astype(np.int64),
        values=rng.integers(0, 10_000, (n, 2)).astype(np.int16),
        days=np.sort(rng.integers(19_000, 19_300, n)).astype(np.int32),
        scl=rng.integers(4, 6, n).astype(np.uint8),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        skipped=(("S2A_X", "files not found"),),
    )


def _same(got: BlockSeries, want: BlockSeries) -> None:
    assert got.block == want.block and got.bands == want.bands and got.skipped == want.skipped
    for name in ("pixels", "values", "days", "scl", "offsets"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
        assert getattr(got, name).dtype == getattr(want, name).dtype, name


def test_a_kept_series_loads_back_equal(tmp_path: Path) -> None:
    series = _series()
    import datetime as dt

    uri = series_uri(str(tmp_path / "series"), 2022, series.block, dt.date(2022, 8, 1))
    assert uri.endswith("/2022/000007_2022-08-01.npz")
    save_series(uri, series)
    with np.load(uri) as data:
        assert json.loads(str(data["meta"]))["codec"] == CODEC == "zstd"
        assert data["values"].dtype == np.uint8  # compressed bytes, not the array
    _same(load_series(uri, series.block), series)


def test_an_archive_of_an_earlier_version_loads(tmp_path: Path) -> None:
    series = _series()
    arrays = {
        "counts": series.counts.astype(np.int32),
        "values": series.values,
        "days": series.days,
        "scl": series.scl,
        "pixels": series.pixels,
        "meta": np.array(json.dumps({"bands": list(series.bands), "skipped": [list(s) for s in series.skipped]})),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    path = tmp_path / "old.npz"
    path.write_bytes(buffer.getvalue())
    _same(load_series(str(path), series.block), series)
