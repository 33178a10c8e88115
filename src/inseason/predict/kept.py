"""A map block's series kept between runs, so that ``inseason predict --update`` reads only the new scenes.

A run made with ``keep_series`` saves each block's calendar-true series (every valid observation of every
mapped pixel up to the season's last as-of date: int16 values of the model's bands, dates, SCL) beside its
block file. An update adds later as-of dates: it reads only the scenes dated after that last date, appends
their observations to the kept series (`inseason.predict.read.BlockSeries.extended`) and maps the new dates
from the joined series, which is what a run from scratch would have read. The file name carries the date
the series runs up to, so a listing says which blocks an interrupted update has finished::

    series/YEAR/NNNNNN_YYYY-MM-DD.npz     block NNNNNN's series of season YEAR up to that date

Each file holds about ``observations × (2 × bands + 5)`` bytes before compression (Zstandard level 1, through
pyarrow: about 17× faster to write than zlib's fastest level, and no larger): a 256-px block with 40 valid
observations a pixel and 10 bands is about 65 MB raw. The file is an uncompressed ``.npz`` archive of the
compressed ``.npy`` bytes of each array (``meta`` names the codec and the raw sizes); files written with zlib
by earlier versions load too.

A map of an *incremental* network (`inseason.train.Predictor.incremental`: a one-direction recurrent network)
keeps its state instead: each pixel's network state after its observations so far and how many it has read
(``state`` float32 ``[pixels, S]``, ``state_counts``, ``state_pixels``), about ``4 × S`` bytes a pixel
whatever the season's length. An update then advances the state over the new observations alone and never
reads the season's earlier ones again. The series is kept beside the state only when the map needs the
pixels' history (a label map with double-crop classes: their transition dates are read from the series).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from inseason.errors import OutputError
from inseason.predict.read import Block, BlockSeries
from inseason.storage import join_uri, list_files, read_bytes, write_bytes

__all__ = ["SERIES_DIR", "NetworkState", "kept_series", "load_kept", "load_series", "save_series", "series_uri"]

#: The folder of the kept series in a map run's folder.
SERIES_DIR = "series"


def series_uri(series_dir: str, year: int, block: Block | int, through: dt.date) -> str:
    """Where block ``block``'s series of season ``year`` up to ``through`` is kept.

    Args:
        series_dir: the run's `SERIES_DIR` (a path or ``s3://`` URI).
        year: the season.
        block: the block (or its index).
        through: the last date the series holds scenes up to (the season's last as-of date).

    Returns:
        ``series_dir/YEAR/NNNNNN_YYYY-MM-DD.npz``.
    """
    index = block if isinstance(block, int) else block.index
    return join_uri(series_dir, str(year), f"{index:06d}_{through.isoformat()}.npz")


def kept_series(series_dir: str) -> dict[tuple[int, int], list[dt.date]]:
    """The kept series in ``series_dir``: ``(year, block index)`` → the dates they run up to, ascending.

    Temporary files (being written) are not listed.

    Args:
        series_dir: the run's `SERIES_DIR`.

    Returns:
        One entry per block with a kept series.
    """
    kept: dict[tuple[int, int], list[dt.date]] = {}
    for uri in list_files(series_dir, suffix=".npz"):
        year, name = uri.rsplit("/", 2)[-2:]
        index, _, through = name.removesuffix(".npz").partition("_")
        try:
            key, date = (int(year), int(index)), dt.date.fromisoformat(through)
        except ValueError:
            continue  # not a kept series
        kept.setdefault(key, []).append(date)
    return {key: sorted(dates) for key, dates in kept.items()}


#: The codec of the kept series' arrays (pyarrow's, at its default level: 1 for Zstandard).
CODEC = "zstd"


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


@dataclass(frozen=True)
class NetworkState:
    """An incremental network's state for each mapped pixel of a block, after the pixel's observations so far."""

    pixels: np.ndarray  # int64 [P]: the block's mapped pixels, in the block series' order
    counts: np.ndarray  # int64 [P]: observations read so far
    state: np.ndarray  # float32 [P, S]
    skipped: tuple[tuple[str, str], ...] = ()  # (scene_id, reason) of the scenes that could not be read


def save_series(uri: str, series: BlockSeries | None, *, state: NetworkState | None = None) -> None:
    """Keep ``series`` and/or ``state`` at ``uri``, whole or not at all.

    Each array's ``.npy`` bytes are compressed with `CODEC`.

    Args:
        uri: the file (`series_uri`).
        series: the block's series (None: only the state is kept).
        state: an incremental network's state of the block's pixels (None: none).

    Raises:
        ValueError: neither is given (a programming error).
    """
    if series is None and state is None:
        raise ValueError("keep a series, a state or both")
    raw: dict[str, bytes] = {}
    if series is not None:
        raw.update(
            counts=_npy(series.counts.astype(np.int32)),
            values=_npy(series.values),
            days=_npy(series.days),
            scl=_npy(series.scl),
            pixels=_npy(series.pixels),
        )
    if state is not None:
        raw.update(
            state=_npy(np.asarray(state.state, np.float32)),
            state_counts=_npy(state.counts.astype(np.int32)),
            state_pixels=_npy(state.pixels),
        )
    skipped = series.skipped if series is not None else state.skipped if state is not None else ()
    meta = {
        "bands": list(series.bands) if series is not None else [],
        "skipped": [list(s) for s in skipped],
        "codec": CODEC,
        "sizes": {name: len(data) for name, data in raw.items()},
    }
    arrays = {name: np.frombuffer(pa.compress(data, codec=CODEC, asbytes=True), np.uint8) for name, data in raw.items()}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]  # stub: **kwds vs allow_pickle
    write_bytes(uri, buffer.getvalue())


def load_series(uri: str, block: Block) -> BlockSeries:
    """The series of ``block`` kept at ``uri``.

    Args:
        uri: the file (`series_uri`).
        block: the block it was kept for.

    Returns:
        The series as `inseason.predict.read.read_block` gave it (``retried`` 0).

    Raises:
        OutputError: the file keeps only a network state.
    """
    series, _ = load_kept(uri, block)
    if series is None:
        raise OutputError(f"{uri} keeps a network's state, not the series: update the map with the same model")
    return series


def load_kept(uri: str, block: Block) -> tuple[BlockSeries | None, NetworkState | None]:
    """The series and the network state of ``block`` kept at ``uri`` (None for what the file does not hold).

    Args:
        uri: the file (`series_uri`).
        block: the block it was kept for.

    Returns:
        ``(series, state)``.
    """
    with np.load(io.BytesIO(read_bytes(uri))) as data:
        meta = json.loads(str(data["meta"]))
        codec = meta.get("codec")  # None: an earlier version's archive of zlib-compressed members

        def array(name: str) -> np.ndarray:
            if codec is None:
                return np.asarray(data[name])
            raw = pa.decompress(data[name].tobytes(), decompressed_size=meta["sizes"][name], codec=codec, asbytes=True)
            return np.asarray(np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False))

        skipped = tuple((str(a), str(b)) for a, b in meta["skipped"])
        series = None
        if "counts" in data.files:
            counts = array("counts").astype(np.int64)
            series = BlockSeries(
                block=block,
                bands=tuple(meta["bands"]),
                pixels=array("pixels").astype(np.int64),
                values=array("values"),
                days=array("days"),
                scl=array("scl"),
                offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                skipped=skipped,
            )
        state = None
        if "state" in data.files:
            state = NetworkState(
                pixels=array("state_pixels").astype(np.int64),
                counts=array("state_counts").astype(np.int64),
                state=array("state"),
                skipped=skipped,
            )
        return series, state
