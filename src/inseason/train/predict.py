"""Class probabilities for series rows as of a calendar date, from a model bundle."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pyarrow as pa
import torch

from inseason.data import SEASON_END, Batch, SeriesStore, build_batch, compute_features, decode_series, window_labels
from inseason.errors import InputError
from inseason.models.recurrent import Incremental
from inseason.progress import progress_bar
from inseason.season import parse_month_day, season_start
from inseason.train.bundle import Bundle, load_bundle
from inseason.train.calibration import log_probabilities, tempered
from inseason.train.onnx import Backend, OnnxNetwork, onnx_network

#: An incremental network's step is computed on a multiple of this many rows times PyTorch's thread count,
#: padded with repeats: the matrix kernels of one or two rows sum in another order, and an element-wise
#: ``tanh``/``sigmoid`` takes a scalar path (other last bits) for the tail of its range and of each thread's
#: share of it; with whole blocks of 64 rows a row's numbers never depend on its batch.
STEP_ROW_BLOCK = 64

#: An as-of date: a date, a month-day in each row's season, one day of season for all rows, each row's own day
#: of season (an integer array, one per store row), or None for the whole season.
AsOf = dt.date | str | int | np.ndarray | None


def _padded_rows(rows: int) -> int:
    """How many rows a step of ``rows`` is computed on: whole blocks of `STEP_ROW_BLOCK` per PyTorch thread."""
    block = STEP_ROW_BLOCK * max(torch.get_num_threads(), 1)
    return -(-rows // block) * block


def as_of_days(store: SeriesStore, as_of: AsOf) -> np.ndarray:
    """Turn an as-of date into each row's day of season.

    Args:
        store: the decoded series table (its rows' season years and season start).
        as_of: a date, a month-day ``"MM-DD"`` in each row's season, a day of season (int), each row's own
            day of season (an integer array of ``len(store)``), or None for the whole season.

    Returns:
        The day of season of each row, int64, clipped to ``[-1, SEASON_END]``.

    Raises:
        InputError: ``as_of`` is of another type, not a valid month-day, or an array of another length.
    """
    if as_of is None:
        return np.full(len(store), SEASON_END, np.int64)
    if isinstance(as_of, np.ndarray):
        if as_of.shape != (len(store),) or not np.issubdtype(as_of.dtype, np.integer):
            raise InputError(
                f"as-of days of shape {as_of.shape} ({as_of.dtype}): give one integer day of season per "
                f"row of the store ({len(store)} rows)"
            )
        return as_of.astype(np.int64).clip(-1, SEASON_END)
    if isinstance(as_of, (int, np.integer)) and not isinstance(as_of, bool):
        return np.full(len(store), int(as_of), np.int64)
    days = {}
    for year in np.unique(store.years).tolist():
        start = season_start(year, store.season)
        if isinstance(as_of, dt.date):
            day = (as_of - start).days
        elif isinstance(as_of, str):
            candidate = dt.date(start.year, *parse_month_day(as_of, what="as-of"))
            if candidate < start:
                candidate = candidate.replace(year=start.year + 1)
            day = (candidate - start).days
        else:
            raise InputError(f"as-of {as_of!r} must be a date, a month-day 'MM-DD', a day of season or None")
        days[year] = day
    return np.array([days[int(y)] for y in store.years], np.int64).clip(-1, SEASON_END)


class Predictor:
    """Runs a bundle's model over a series store in batches (a network on CPU or the given device, trees in numpy).

    Its probabilities are calibrated with the bundle's temperature (`inseason.train.calibration`; 1 for a
    bundle without calibration), so evaluation and the maps' confidence see calibrated probabilities;
    ``calibrated=False`` gives the model's own. ``backend`` runs a network on ONNX Runtime instead of torch
    (`inseason.train.onnx`: the graph verified against torch; ``onnx-int8`` with int8 weights) on ``threads``
    threads (0: ONNX Runtime's default, the machine's cores).
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        batch_size: int = 1024,
        device: str = "cpu",
        calibrated: bool = True,
        backend: Backend = "torch",
        threads: int = 0,
    ) -> None:
        self.bundle, self.batch_size, self.device = bundle, batch_size, torch.device(device)
        self.network: torch.nn.Module | None = (
            bundle.network.to(self.device) if isinstance(bundle.network, torch.nn.Module) else None
        )
        #: the network on ONNX Runtime (None: torch or trees run it).
        self.onnx: OnnxNetwork | None = None if backend == "torch" else onnx_network(bundle, backend, threads=threads)
        #: the temperature the logits are divided by (1: the model's own probabilities).
        self.temperature = bundle.temperature if calibrated else 1.0

    def check(self, store: SeriesStore) -> None:
        """Refuse a store whose bands or season start differ from the training data.

        Args:
            store: the decoded series table to predict.

        Raises:
            InputError: the bands (or their order) or the season start differ from the model's.
        """
        if store.bands != self.bundle.bands:
            raise InputError(
                f"series bands {list(store.bands)} differ from the model's {list(self.bundle.bands)}: "
                "extract the same bands in the same order"
            )
        if store.season != self.bundle.season_start:
            raise InputError(
                f"series decoded with season start {store.season}, the model uses "
                f"{self.bundle.season_start}: decode with the model's season start"
            )

    @torch.no_grad()
    def predict_proba(
        self, store: SeriesStore, *, as_of: AsOf = None, rows: np.ndarray | None = None, quiet: bool = True
    ) -> np.ndarray:
        """Predict class probabilities of ``rows`` as of ``as_of``.

        A row with no observation on or before its as-of day gets the training class prior.

        Args:
            store: the decoded series table.
            as_of: the as-of date (see `as_of_days`; None: the whole season).
            rows: the rows to predict (None: all).
            quiet: hide the progress bar.

        Returns:
            Probabilities [N, K] (float32), columns in the bundle's class order, calibrated with
            ``temperature``.

        Raises:
            InputError: the store does not fit the model (see `check`) or ``as_of`` is invalid.
        """
        self.check(store)
        rows = np.arange(len(store), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
        days = as_of_days(store, as_of)[rows]
        out = np.empty((rows.size, len(self.bundle.classes)), np.float32)
        with progress_bar(quiet=quiet) as bar:
            task = bar.add_task("predict", total=rows.size)
            for start in range(0, rows.size, self.batch_size):
                chunk = slice(start, start + self.batch_size)
                batch = build_batch(store, rows[chunk], self.bundle.spec, as_of=days[chunk])
                probabilities = self._probabilities(batch)
                empty = ~batch.mask.any(axis=1)
                probabilities[empty] = self.bundle.prior
                out[chunk] = probabilities
                bar.advance(task, len(batch.rows))
        return out

    @property
    def incremental(self) -> bool:
        """True when the network reads a series one observation at a time (`advance`, `classify`).

        A one-direction recurrent network on torch: its state is carried from one as-of date to the next.
        """
        return self._stepper() is not None

    def _stepper(self) -> Incremental | None:
        """The network as an incremental one, or None."""
        network: object = self.network
        if self.onnx is None and isinstance(network, Incremental) and network.incremental:
            return network
        return None

    @torch.no_grad()
    def advance(
        self, store: SeriesStore, rows: np.ndarray, *, since: int, until: int, state: np.ndarray | None = None
    ) -> np.ndarray:
        """The state of an incremental network after each row's observations on days ``since < day ≤ until``.

        ``state`` is the state after the observations up to ``since`` (None: before any), so a season can be
        read in steps (one per as-of date, or one per in-season update) and ends in the state one pass over
        all of it gives. Each step computes the rows that have an observation at that step together, padded to
        whole blocks (`STEP_ROW_BLOCK`), so with the same number of threads a row's numbers never depend on which
        other rows share its step.

        Args:
            store: the decoded series (its season start the model's).
            rows: the store rows [N].
            since: day of season already read (−1: none).
            until: the last day of season to read.
            state: float32 [N, state size] after the observations up to ``since``; None for zeros.

        Returns:
            The new state, float32 [N, state size].

        Raises:
            InputError: the network is not incremental, or the store does not fit the model.
        """
        network = self._stepper()
        if network is None:
            raise InputError(
                f"model {self.bundle.manifest['model']['name']!r} does not read a series one observation at a time: "
                "only a one-direction recurrent network (gru or lstm with bidirectional=false) does"
            )
        self.check(store)
        rows = np.asarray(rows, np.int64)
        begin = store.end_positions(rows, np.full(rows.size, since, np.int64))
        counts = store.end_positions(rows, np.full(rows.size, until, np.int64)) - begin
        current = network.initial_state(rows.size) if state is None else torch.from_numpy(np.array(state, np.float32))
        if not counts.any():
            return current.cpu().numpy()
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        flat = np.repeat(begin - first, counts) + np.arange(int(counts.sum()))
        channels = compute_features(
            store.values[flat],
            None if store.scl is None else store.scl[flat],
            bands=store.bands,
            scales=store.scales,
            config=self.bundle.spec.features,
        )
        inputs = torch.from_numpy(np.ascontiguousarray(self.bundle.spec.normalization.apply(channels), np.float32))
        days = torch.from_numpy(store.doy[flat].astype(np.int64))
        current = current.to(self.device)
        for step in range(int(counts.max())):
            active = np.flatnonzero(counts > step)
            padded = np.resize(active, _padded_rows(active.size))  # repeats rows: the same kernels for all
            taken = torch.from_numpy(first[padded] + step)
            moved = network.advance(current[padded], inputs[taken].to(self.device), days[taken].to(self.device))
            current[torch.from_numpy(active)] = moved[: active.size]
        return current.cpu().numpy()

    @torch.no_grad()
    def classify(self, state: np.ndarray) -> np.ndarray:
        """Class probabilities [N, K] (float32, calibrated) of an incremental network's states.

        Args:
            state: float32 [N, state size] from `advance`.

        Returns:
            Probabilities, columns in the bundle's class order.

        Raises:
            InputError: the network is not incremental.
        """
        network = self._stepper()
        if network is None:
            raise InputError(f"model {self.bundle.manifest['model']['name']!r} keeps no state to classify")
        rows = state.shape[0]
        padded = np.resize(np.arange(rows), _padded_rows(rows)) if rows else np.arange(0)
        logits = network.classify(torch.from_numpy(np.asarray(state, np.float32)[padded]).to(self.device))[:rows]
        return torch.softmax(logits.float() / self.temperature, dim=1).cpu().numpy()

    @torch.no_grad()
    def log_probabilities(
        self, store: SeriesStore, *, as_of: AsOf = None, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The model's uncalibrated log-probabilities of ``rows`` as of ``as_of``, what a temperature is fitted on.

        A network's log-softmax (its logits up to a per-row constant), a classical baseline's log-probabilities
        floored at `inseason.train.calibration.PROBABILITY_FLOOR`. Rows with no observation on or before their
        as-of day get the log of the training class prior and are flagged, so a fit can leave them out.

        Args:
            store: the decoded series table.
            as_of: the as-of date (see `as_of_days`; None: the whole season).
            rows: the rows (None: all).

        Returns:
            ``(log_probabilities [N, K] float64, observed [N] bool)``.

        Raises:
            InputError: the store does not fit the model (see `check`) or ``as_of`` is invalid.
        """
        self.check(store)
        rows = np.arange(len(store), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
        days = as_of_days(store, as_of)[rows]
        out = np.empty((rows.size, len(self.bundle.classes)), np.float64)
        observed = np.empty(rows.size, bool)
        network = self.bundle.network
        for start in range(0, rows.size, self.batch_size):
            chunk = slice(start, start + self.batch_size)
            batch = build_batch(store, rows[chunk], self.bundle.spec, as_of=days[chunk])
            if isinstance(network, torch.nn.Module):
                logits = network(
                    torch.from_numpy(batch.values).to(self.device),
                    torch.from_numpy(batch.mask).to(self.device),
                    torch.from_numpy(batch.doy).to(self.device),
                )
                scores = torch.log_softmax(logits.double(), dim=1).cpu().numpy()
            else:
                scores = log_probabilities(network.predict_proba(batch.values, batch.mask, batch.doy))
            seen = batch.mask.any(axis=1)
            scores[~seen] = log_probabilities(self.bundle.prior[None, :])
            out[chunk], observed[chunk] = scores, seen
        return out, observed

    def window_targets(self, store: SeriesStore, *, as_of: AsOf = None, rows: np.ndarray | None = None) -> np.ndarray:
        """Give the class indices to score predictions of ``rows`` as of ``as_of`` against.

        Each row's label, except where the bundle's window rule (the `arset` No Crop Growing rule) relabels
        the window the model sees as of that day.

        Args:
            store: the decoded series table.
            as_of: the as-of date (see `as_of_days`; None: the whole season).
            rows: the rows (None: all).

        Returns:
            Class indices, int64 [N].

        Raises:
            InputError: the store does not fit the model, or a label is outside the model's label map.
        """
        self.check(store)
        rows = np.arange(len(store), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
        labels = window_labels(store, rows, as_of=as_of_days(store, as_of)[rows], spec=self.bundle.spec)
        return self.bundle.class_index(labels)

    def _probabilities(self, batch: Batch) -> np.ndarray:
        """Class probabilities float32 [B, K] of one built batch."""
        network = self.bundle.network  # a network was moved to the device (in place) by __init__
        if not isinstance(network, torch.nn.Module):  # fitted trees, in numpy
            return tempered(network.predict_proba(batch.values, batch.mask, batch.doy), self.temperature)
        if self.onnx is not None:
            scaled = self.onnx.logits(batch.values, batch.mask, batch.doy) / np.float32(self.temperature)
            scaled -= scaled.max(axis=1, keepdims=True)
            exp = np.exp(scaled)
            return np.asarray(exp / exp.sum(axis=1, keepdims=True), np.float32)
        logits = network(
            torch.from_numpy(batch.values).to(self.device),
            torch.from_numpy(batch.mask).to(self.device),
            torch.from_numpy(batch.doy).to(self.device),
        )
        return torch.softmax(logits.float() / self.temperature, dim=1).cpu().numpy()


def predict_series(
    bundle: Bundle | str | os.PathLike[str],
    series: pa.Table | SeriesStore,
    *,
    as_of: AsOf = None,
    batch_size: int = 1024,
    quiet: bool = True,
) -> np.ndarray:
    """Predict class probabilities for every row of a series table as of ``as_of``.

    Args:
        bundle: a loaded bundle, or the folder holding one.
        series: the series table (decoded with the model's season start when it is a table).
        as_of: the as-of date (see `as_of_days`; None: the whole season).
        batch_size: rows per model call.
        quiet: hide the progress bar.

    Returns:
        Probabilities [N, K] (float32), columns following ``bundle.class_names``.

    Raises:
        InputError: no bundle in the folder, or a table whose bands or season start differ from the model's.
    """
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    store = series if isinstance(series, SeriesStore) else decode_series(series, season=bundle.season_start)
    return Predictor(bundle, batch_size=batch_size).predict_proba(store, as_of=as_of, quiet=quiet)
