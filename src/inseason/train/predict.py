"""Class probabilities for series rows as of a calendar date, from a model bundle."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pyarrow as pa
import torch

from inseason.data import SEASON_END, Batch, SeriesStore, build_batch, decode_series, window_labels
from inseason.errors import InputError
from inseason.progress import progress_bar
from inseason.season import parse_month_day, season_start
from inseason.train.bundle import Bundle, load_bundle

AsOf = dt.date | str | int | None


def as_of_days(store: SeriesStore, as_of: AsOf) -> np.ndarray:
    """Day of season per row for ``as_of``: a date, a month-day ``"MM-DD"`` in each row's season, a day of
    season (int), or None for the whole season.
    """
    if as_of is None:
        return np.full(len(store), SEASON_END, np.int64)
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
    """Runs a bundle's model over a series store in batches (a network on CPU or the given device, trees in numpy)."""

    def __init__(self, bundle: Bundle, *, batch_size: int = 1024, device: str = "cpu") -> None:
        self.bundle, self.batch_size, self.device = bundle, batch_size, torch.device(device)
        self.network = bundle.network.to(self.device) if isinstance(bundle.network, torch.nn.Module) else None

    def check(self, store: SeriesStore) -> None:
        """Refuse a store whose bands or season start differ from the training data."""
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
        """Probabilities [N, K] (float32) of ``rows`` (default all) as of ``as_of``.

        A row with no observation on or before its as-of day gets the training class prior.
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

    def window_targets(self, store: SeriesStore, *, as_of: AsOf = None, rows: np.ndarray | None = None) -> np.ndarray:
        """Class indices (int64 [N]) to score predictions of ``rows`` as of ``as_of`` against.

        Each row's label, except where the bundle's window rule (the `arset` No Crop Growing rule) relabels
        the window the model sees as of that day; labels outside the model's label map raise `InputError`.
        """
        self.check(store)
        rows = np.arange(len(store), dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
        labels = window_labels(store, rows, as_of=as_of_days(store, as_of)[rows], spec=self.bundle.spec)
        return self.bundle.class_index(labels)

    def _probabilities(self, batch: Batch) -> np.ndarray:
        """Class probabilities float32 [B, K] of one built batch."""
        if self.network is None:
            return self.bundle.network.predict_proba(batch.values, batch.mask, batch.doy)
        logits = self.network(
            torch.from_numpy(batch.values).to(self.device),
            torch.from_numpy(batch.mask).to(self.device),
            torch.from_numpy(batch.doy).to(self.device),
        )
        return torch.softmax(logits.float(), dim=1).cpu().numpy()


def predict_series(
    bundle: Bundle | str | os.PathLike[str],
    series: pa.Table | SeriesStore,
    *,
    as_of: AsOf = None,
    batch_size: int = 1024,
    quiet: bool = True,
) -> np.ndarray:
    """Class probabilities [N, K] for every row of a series table as of ``as_of`` (see `as_of_days`).

    Columns follow ``bundle.class_names``. Refuses a table whose bands differ from the model's.
    """
    bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    store = series if isinstance(series, SeriesStore) else decode_series(series, season=bundle.season_start)
    return Predictor(bundle, batch_size=batch_size).predict_proba(store, as_of=as_of, quiet=quiet)
