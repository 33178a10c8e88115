"""`inseason split`: a split column for the series table, with its leakage audit and training statistics.

Methods: ``random`` (samples; pixels of one field leak, so it warns), ``year`` (whole seasons), ``field``
(fields, joined across years where they share places) and ``block`` (square blocks of ``block_size`` metres,
with a ``buffer``: samples nearer than that to a sample of a split that ranks higher are dropped — test
ranks over validation over train, fold 0 over fold 1…). ``folds=k`` makes k-fold splits (``fold-0``…): grouped
on fields or blocks, of samples (stratified, seeded, leaking as the random split does) with ``random``. Group
assignment is greedy towards each split's share of every class (``stratify``), in an order drawn from the seed,
so the same inputs and seed give the same split.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import field_validator, model_validator
from scipy.spatial import cKDTree

from inseason import storage
from inseason.config import StageRequest
from inseason.errors import InputError, OutputError
from inseason.progress import progress_bar
from inseason.series.audit import audit_paths, audit_split, write_audit
from inseason.series.geometry import block_groups, field_groups, planar_xy
from inseason.series.normalize import TrainingSample, band_values
from inseason.tables import series_bands

log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("random", "year", "field", "block")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
RANDOM_WARNING = (
    "random split: pixels of one field fall into different splits, so accuracy is inflated; "
    "use --by field or --by block for honest figures"
)
_KEY_COLUMNS = ("sample_id", "year", "label", "field_id", "lon", "lat", "x", "y", "crs")


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    """The train, validation and test shares as an array, refused unless they make a usable split."""
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or (f < 0).any() or not np.isclose(f.sum(), 1.0) or f[0] == 0 or f[2] == 0:
        raise InputError(
            f"fractions {list(fractions)} must be three shares (train, validation, test) summing to 1, "
            "with train and test above 0"
        )
    return f


def random_assignment(labels: np.ndarray, *, fractions: np.ndarray, seed: int, stratify: bool) -> np.ndarray:
    """Split index (0, 1, 2) per sample: a seeded permutation cut by ``fractions``, per class if ``stratify``.

    Args:
        labels: each sample's class.
        fractions: the train, validation and test shares.
        seed: the permutation's seed.
        stratify: cut each class by ``fractions`` (else all samples at once).

    Returns:
        The split index (int64) of each sample.
    """
    rng = np.random.default_rng(seed)
    result = np.empty(len(labels), dtype=np.int64)
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if stratify else [np.arange(len(labels))]
    for members in groups:
        members = members[rng.permutation(len(members))]
        bounds = np.round(np.cumsum(fractions) * len(members)).astype(int)
        result[members] = np.searchsorted(bounds, np.arange(len(members)), side="right")
    return result


def group_assignment(
    groups: np.ndarray, labels: np.ndarray, *, shares: np.ndarray, seed: int, stratify: bool
) -> np.ndarray:
    """Split index per sample such that no group is in two splits.

    Groups are taken largest first (ties in a seeded random order) and each goes to the split furthest
    below its share of the group's classes (of all samples without ``stratify``).

    Args:
        groups: each sample's group (a field or a block).
        labels: each sample's class.
        shares: each split's share (0 for a split that gets no group).
        seed: the seed of the order among groups of one size.
        stratify: balance every class across the splits (else the sample counts only).

    Returns:
        The split index (int64) of each sample.
    """
    group_ids, group_of = np.unique(groups, return_inverse=True)
    classes, class_of = np.unique(labels if stratify else np.zeros(len(labels)), return_inverse=True)
    counts = np.zeros((len(group_ids), len(classes)))
    np.add.at(counts, (group_of, class_of), 1)
    totals = counts.sum(axis=0)
    target = shares[:, None] * totals[None, :]
    current = np.zeros_like(target)
    rng = np.random.default_rng(seed)
    tie = rng.permutation(len(group_ids))
    order = np.lexsort((tie, -counts.sum(axis=1)))
    usable = np.flatnonzero(shares > 0)
    chosen = np.empty(len(group_ids), dtype=np.int64)
    for g in order:
        score = ((target[usable] - current[usable]) * counts[g] / totals).sum(axis=1)
        s = usable[int(np.argmax(score))]
        chosen[g] = s
        current[s] += counts[g]
    return chosen[group_of]


def buffer_keep(xy: np.ndarray, split: np.ndarray, rank: list[int], buffer: float) -> np.ndarray:
    """Samples to keep: those at least ``buffer`` metres from every kept sample of a higher-ranked split.

    Args:
        xy: the samples' planar coordinates in metres (`planar_xy`), all known.
        split: each sample's split index.
        rank: split indices from the highest ranked (kept whole) to the lowest.
        buffer: the least distance in metres.

    Returns:
        A boolean mask of the samples kept.
    """
    keep = np.ones(len(split), dtype=bool)
    for i, s in enumerate(rank[1:], start=1):
        higher = np.isin(split, rank[:i]) & keep
        mine = np.flatnonzero(split == s)
        if not higher.any() or not len(mine):
            continue
        distance, _ = cKDTree(xy[higher]).query(xy[mine], k=1)
        keep[mine[distance < buffer]] = False
    return keep


def _year_assignment(years: np.ndarray, chosen: Mapping[str, Sequence[int]] | None) -> np.ndarray:
    """Split index per row by season (-1 for a season in no split); by default the last season is test."""
    present = sorted({int(y) for y in years})
    if chosen is None:
        if len(present) < 2:
            raise InputError(f"a split by year needs at least two seasons; the series has {present}")
        chosen = {
            "test": [present[-1]],
            "validation": present[-2:-1] if len(present) > 2 else [],
            "train": present[:-2] if len(present) > 2 else present[:-1],
        }
    unknown = [k for k in chosen if k not in SPLITS]
    if unknown:
        raise InputError(f"years given for unknown splits {unknown}: use train, validation, test")
    result = np.full(len(years), -1, dtype=np.int64)
    for name, ys in chosen.items():
        result[np.isin(years, list(ys))] = SPLITS.index(name)
    missing = sorted({int(y) for y in years[result < 0]})
    if missing:
        log.warning("seasons %s are in no split and are left out", missing)
    return result


def _assign(
    keys: pa.Table,
    *,
    by: str,
    seed: int,
    fractions: np.ndarray,
    block_size: float,
    folds: int | None,
    stratify: bool,
    years: Mapping[str, Sequence[int]] | None,
) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """(split index per row, split names, planar coordinates)."""
    labels = np.array(keys.column("label").to_pylist(), dtype=object).astype(str)
    xy = planar_xy(keys)
    names = [f"fold-{i}" for i in range(folds)] if folds else list(SPLITS)
    shares = np.full(folds, 1.0 / folds) if folds else fractions
    if by == "random":
        return random_assignment(labels, fractions=shares, seed=seed, stratify=stratify), names, xy
    if by == "year":
        return _year_assignment(keys.column("year").to_numpy(), years), names, xy
    if by == "field":
        field = keys.column("field_id")
        if field.null_count:
            raise InputError(f"{field.null_count} series have no field_id: split --by block or --by random instead")
        field_id = field.to_numpy()
        groups = field_groups(field_id, xy)
    else:
        if xy is None or np.isnan(xy).any():
            raise InputError("a block split needs coordinates (x/y in a projected CRS, or lon/lat) for every series")
        groups = block_groups(xy, block_size, keys.column("field_id"))
    if folds and len(np.unique(groups)) < folds:
        raise InputError(f"{len(np.unique(groups))} {by}s cannot make {folds} folds: use fewer folds or smaller blocks")
    return group_assignment(groups, labels, shares=shares, seed=seed, stratify=stratify), names, xy


def _check_not_empty(
    request: SplitRequest, index: np.ndarray, keep: np.ndarray, names: list[str], years: np.ndarray
) -> None:
    """Refuse a split that leaves a requested split empty or drops more than half of the samples to the buffer.

    Requested splits: train and test, validation when it has a share (or seasons, ``by="year"``), every fold.
    """
    counts = {name: int((keep & (index == i)).sum()) for i, name in enumerate(names)}
    assigned = int((index >= 0).sum())
    buffered = assigned - int(keep.sum())
    if request.folds:
        wanted = list(names)
    elif request.by == "year":
        wanted = ["train", "test"]
        if request.years is None:
            wanted += ["validation"] if len(np.unique(years)) > 2 else []
        elif request.years.get("validation"):
            wanted += ["validation"]
    else:
        wanted = ["train", "test"] + (["validation"] if request.fractions[1] > 0 else [])
    empty = [name for name in names if name in wanted and counts[name] == 0]
    if not empty and buffered * 2 <= len(index):
        return
    shown = ", ".join(f"{name} {count}" for name, count in counts.items())
    problem = f"leaves {' and '.join(empty)} empty" if empty else "drops most samples to the buffer"
    if buffered * 2 > len(index):
        fix = f"use a smaller --buffer than {request.buffer} m"
    elif request.by == "year":
        fix = f"give --train-years/--validation-years/--test-years among the seasons {sorted({int(y) for y in years})}"
    elif request.folds:
        fix = "use fewer --folds or smaller blocks"
    else:
        fix = "use other --fractions or smaller blocks"
    raise InputError(
        f"the {request.by} split of {request.series} {problem} (samples: {shown}; {buffered} of {len(index)} "
        f"dropped by the buffer; {len(index) - assigned} in no split): {fix}, or pass --allow-empty to write it "
        "anyway"
    )


class SplitRequest(StageRequest):
    """What the ``split`` stage is asked to do: the series table, the output and how to split it.

    Built alike by ``inseason split`` and :func:`split_series`; :func:`run_split` does the work.

    Attributes:
        series: the series table to split (local).
        by: the method: ``random``, ``year``, ``field`` or ``block``.
        out: the split table to write (local; another file than ``series``).
        seed: the seed of every random choice.
        fractions: the train, validation and test shares (summing to 1, train and test above 0).
        block_size: the side of a block in metres (``block``; positive).
        buffer: the least distance in metres between a sample and a higher-ranked split (not for ``random``;
            not negative).
        folds: the number of folds (at least 2): grouped with ``field`` and ``block``, of samples with
            ``random``; None for train, validation and test.
        stratify: balance every class across the splits.
        years: the seasons of each split (``year``), by split name; None for the default.
        allow_leakage: write a split that leaks by its own definition.
        allow_empty: write a split that leaves a split empty (train, test, validation when it has a share or
            seasons; any fold) or whose buffer drops more than half of the samples.
        quiet: no progress bar.
    """

    series: Path
    by: Literal["random", "year", "field", "block"] = "block"
    out: Path
    seed: int = 0
    # ``float | int``: a whole number given stays an int, as the split's options record it and messages show it
    fractions: tuple[float | int, ...] = (0.7, 0.15, 0.15)
    block_size: float | int = 2000.0
    buffer: float | int = 0.0
    folds: int | None = None
    stratify: bool = True
    years: dict[str, tuple[int, ...]] | None = None
    allow_leakage: bool = False
    allow_empty: bool = False
    quiet: bool = False

    @field_validator("by", mode="before")
    @classmethod
    def _known_method(cls, value: Any) -> Any:
        """Refuse an unknown method, naming the methods."""
        if value not in METHODS:
            raise InputError(f"unknown split method {value!r}: choose one of {', '.join(METHODS)}")
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse folds by year or fewer than 2, a block size or buffer out of range and unusable shares."""
        if self.folds is not None and (self.by not in ("field", "block", "random") or self.folds < 2):
            raise InputError("--folds needs --by field, --by block or --by random and at least 2 folds")
        if self.block_size <= 0 or self.buffer < 0:
            raise InputError(
                f"block size {self.block_size} must be positive and buffer {self.buffer} not negative (metres)"
            )
        _check_fractions(self.fractions)
        return self


@dataclass(frozen=True)
class SplitResult:
    """What ``split`` wrote: the split table, its leakage audit and the audit's headline figures.

    Attributes:
        out: the split series table written.
        audit_json: the audit as JSON (``NAME.audit.json``, the document of ``audit``).
        audit_md: the audit as Markdown (``NAME.audit.md``).
        samples: the samples of each split, by split name.
        dropped_by_buffer: the samples the buffer dropped.
        warnings: the method's warnings (the random split's leak), each one line.
        audit: the leakage audit as written to ``audit_json`` and the ``inseason:audit`` metadata (schema: see
            `inseason.series.audit.audit_split`, with ``dropped_by_buffer`` and ``warnings``).
    """

    out: Path
    audit_json: Path
    audit_md: Path
    samples: dict[str, int]
    dropped_by_buffer: int
    warnings: tuple[str, ...]
    audit: dict[str, Any]


def split_series(
    series: str | os.PathLike[str],
    *,
    by: str = "block",
    out: str | os.PathLike[str],
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    block_size: float = 2000.0,
    buffer: float = 0.0,
    folds: int | None = None,
    stratify: bool = True,
    years: Mapping[str, Sequence[int]] | None = None,
    allow_leakage: bool = False,
    allow_empty: bool = False,
    quiet: bool = False,
) -> SplitResult:
    """Write ``series`` with its ``split`` column to ``out``, plus the leakage audit next to it.

    ``by`` is ``random``, ``year`` (``years`` maps split names to seasons; default: the last season is test,
    the one before validation when there are three or more, the rest train), ``field`` or ``block``
    (``block_size`` and ``buffer`` in metres). ``folds`` makes k-fold splits: grouped on fields or blocks, of
    samples (stratified) with ``random``.
    Robust per-band statistics of the training split (of the other folds, per fold) go into the
    ``inseason:normalization`` metadata; the audit into ``inseason:audit``, ``NAME.audit.json`` and
    ``NAME.audit.md``. A split that leaks by its own definition is refused unless ``allow_leakage``; one that
    leaves a split empty (train, test, validation when it has a share or seasons, any fold) or whose buffer
    drops more than half of the samples is refused unless ``allow_empty``. Nothing is written when refused.

    Args:
        series: the series table to split.
        by: the method: ``random``, ``year``, ``field`` or ``block``.
        out: the split table to write (another file than ``series``).
        seed: the seed of every random choice.
        fractions: the train, validation and test shares.
        block_size: the side of a block in metres (``block``).
        buffer: the least distance in metres between a sample and a higher-ranked split (not for ``random``).
        folds: the number of folds (grouped with ``field``, ``block``; of samples with ``random``); None for
            train, validation and test.
        stratify: balance every class across the splits.
        years: the seasons of each split (``year``); None for the default.
        allow_leakage: write a split that leaks by its own definition.
        allow_empty: write a split that leaves a split empty or whose buffer drops most samples.
        quiet: no progress bar.

    Returns:
        What was written (:class:`SplitResult`): the table, the audit's files and the leakage audit
        (`audit_split`, with ``dropped_by_buffer`` and ``warnings``).

    Raises:
        InputError: an option is out of range, the table is missing, unreadable or lacks columns, the method
            needs field ids or coordinates the table lacks, the split leaks without ``allow_leakage``, or it
            leaves a split empty or drops most samples to the buffer without ``allow_empty``.
        OutputError: ``out`` is a folder or the input table, or another run writes ``out``.
    """
    return run_split(
        SplitRequest.of(
            series=Path(series),
            by=by,
            out=Path(out),
            seed=seed,
            fractions=tuple(fractions),
            block_size=block_size,
            buffer=buffer,
            folds=folds,
            stratify=stratify,
            years=None if years is None else {name: tuple(seasons) for name, seasons in years.items()},
            allow_leakage=allow_leakage,
            allow_empty=allow_empty,
            quiet=quiet,
        )
    )


def run_split(request: SplitRequest) -> SplitResult:
    """Split the series table a request names and write the leakage audit next to it (see :func:`split_series`).

    Args:
        request: the table, the output and the method's options (checked when it was built).

    Returns:
        What was written: the table, the audit's files and the leakage audit.

    Raises:
        InputError: the table is missing, unreadable or lacks columns, the method needs field ids or
            coordinates the table lacks, the split leaks without ``allow_leakage``, or it leaves a split empty
            or drops most samples to the buffer without ``allow_empty``.
        OutputError: ``out`` is a folder or the input table, or another run writes ``out``.
    """
    source, out, by, seed, folds = request.series, request.out, request.by, request.seed, request.folds
    block_size, buffer, years = request.block_size, request.buffer, request.years
    share = _check_fractions(request.fractions)
    if out.is_dir():
        raise OutputError(f"output {out} is a folder: give a file name such as split.parquet")
    if source.resolve() == out.resolve():
        raise OutputError(f"output {out} is the input series: write the split to another file")
    try:
        parquet = pq.ParquetFile(source)
    except FileNotFoundError:
        raise InputError(f"series table {source} does not exist") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"series table {source} is not a readable Parquet file: {exc}") from None
    missing = [c for c in (*_KEY_COLUMNS, "split", "dates", "values") if c not in parquet.schema_arrow.names]
    if missing:
        raise InputError(f"series table {source} lacks columns {missing}: make it with inseason series or import")
    bands, _ = series_bands(parquet.schema_arrow)
    keys = parquet.read(columns=list(_KEY_COLUMNS)).replace_schema_metadata(parquet.schema_arrow.metadata)
    index, names, xy = _assign(
        keys,
        by=by,
        seed=seed,
        fractions=share,
        block_size=block_size,
        folds=folds,
        stratify=request.stratify,
        years=years,
    )
    keep = index >= 0
    if buffer and by != "random":
        if xy is None or np.isnan(xy).any():
            raise InputError("a buffer needs coordinates (x/y in a projected CRS, or lon/lat) for every series")
        rank = list(range(len(names))) if folds else [2, 1, 0]
        keep &= buffer_keep(xy, index, rank, buffer)
    if not request.allow_empty:
        _check_not_empty(request, index, keep, names, keys.column("year").to_numpy())
    split_names = np.array([*names, None], dtype=object)[np.where(keep, index, len(names))]
    options = {
        "by": by,
        "seed": seed,
        "fractions": [float(f) for f in share],
        "block_size": block_size,
        "buffer": buffer,
        "folds": folds,
        "stratify": request.stratify,
        "years": {k: list(v) for k, v in years.items()} if years else None,
    }

    schema = parquet.schema_arrow
    meta = {**(schema.metadata or {}), b"inseason:split": json.dumps(options).encode()}
    split_column = pa.array(split_names.tolist(), pa.string())
    result = keys.append_column("split", split_column).filter(pa.array(keep))
    audit = audit_split(result.replace_schema_metadata(meta))
    audit["dropped_by_buffer"] = int((index >= 0).sum() - keep.sum())
    audit["warnings"] = [RANDOM_WARNING] if by == "random" else []
    if by == "random":
        log.warning(RANDOM_WARNING)
    if audit["definition_leaks"] and not request.allow_leakage:
        raise InputError(
            f"the {by} split of {source} leaks by its own definition ({', '.join(audit['definition_leaks'])}"
            "): fix the input or pass --allow-leakage to write it anyway"
        )

    lengths = np.asarray(
        pc.list_value_length(parquet.read(columns=["dates"]).column("dates")).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    expected = int(lengths[keep].sum()) if folds else int(lengths[keep & (split_names == "train")].sum())
    sample = TrainingSample(expected=expected, seed=seed)
    chunk_start = 0
    for batch in parquet.iter_batches(columns=["values"]):
        rows = slice(chunk_start, chunk_start + batch.num_rows)
        chunk_start += batch.num_rows
        chosen = keep[rows]
        sample.add(
            band_values(batch.column("values").filter(pa.array(chosen)), len(bands)),
            np.repeat(split_names[rows][chosen], lengths[rows][chosen]),
        )
    if folds:
        normalization = {name: sample.stats(bands, train=set(names) - {name}) for name in names}
    else:
        normalization = {"train": sample.stats(bands, train={"train"})}
    meta.update(
        {
            b"inseason:normalization": json.dumps(normalization).encode(),
            b"inseason:audit": json.dumps(audit, default=str).encode(),
        }
    )
    target = schema.with_metadata(meta)
    offset = 0
    with storage.output_lock(out, verb="split", file=True):
        for audit_path in audit_paths(out):  # the audit files beside the table are this run's too
            storage.remove_stale_temporaries(audit_path.parent, name=audit_path.name)
        with (
            storage.atomic_path(out) as tmp,
            pq.ParquetWriter(tmp, target) as writer,
            progress_bar(quiet=request.quiet) as bar,
        ):
            task = bar.add_task("split", total=parquet.metadata.num_rows)
            for batch in parquet.iter_batches():
                rows = slice(offset, offset + batch.num_rows)
                offset += batch.num_rows
                table = (
                    pa.Table.from_batches([batch])
                    .set_column(schema.get_field_index("split"), "split", split_column[rows])
                    .filter(pa.array(keep[rows]))
                )
                writer.write_table(table.cast(target))
                bar.advance(task, batch.num_rows)
        audit_json, audit_md = write_audit(audit, out)
    return SplitResult(
        out=out,
        audit_json=audit_json,
        audit_md=audit_md,
        samples=dict(audit["samples"]),
        dropped_by_buffer=audit["dropped_by_buffer"],
        warnings=tuple(audit["warnings"]),
        audit=audit,
    )
