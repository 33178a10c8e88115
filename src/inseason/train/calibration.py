"""Calibrated confidence: temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks").

After training, one temperature ``T > 0`` is fitted on the validation split: the calibrated probabilities
are ``softmax(z / T)`` of the model's logits ``z``, with ``T`` minimising the negative log-likelihood (NLL)
of the validation labels. ``T > 1`` softens an over-confident model, ``T < 1`` sharpens an under-confident
one; the class with the highest probability never changes, so accuracy, F1 and the maps' classes are those
of the uncalibrated model and only the confidence moves. A classical baseline has no logits: its
log-probabilities (floored at `PROBABILITY_FLOOR`, so a class the trees give 0 still has a finite score)
stand in for them; a network's log-softmax is its logits up to a per-row constant, which softmax ignores.

The fit is a golden-section search on ``log T`` over ``[log MIN_TEMPERATURE, log MAX_TEMPERATURE]``:
deterministic, no random start. The NLL is convex in ``1 / T`` (a log-sum-exp of a linear function), so it
has one minimum along ``log T`` and the search finds it.

The bundle records the result in model.json (``"calibration"``, see `Calibration`); a bundle without it
(written before calibration existed, or trained with ``calibrate: false``) has ``T = 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from inseason.data import SEASON_END
from inseason.errors import InputError
from inseason.metrics import ECE_BINS, expected_calibration_error

#: Smallest probability a classical baseline's class keeps before its log is taken (the trees give exact zeros).
PROBABILITY_FLOOR = 1e-4
#: The temperature search's bounds.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0
#: In-season days of season a temperature is also fitted as of (with the validation day): day 90 to day 300.
IN_SEASON_DAYS: tuple[int, ...] = tuple(range(90, 301, 30))
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
_ITERATIONS = 80  # the bracket shrinks by 0.618 each time: 6e-17 of its width, far below float precision


@dataclass(frozen=True)
class Calibration:
    """A bundle's calibration: how its probabilities are softened or sharpened, and what that measured.

    Attributes:
        temperature: the temperature T (> 0) the logits are divided by; 1 leaves the probabilities as they are.
        method: ``"temperature"`` (temperature scaling) or ``"none"`` (not calibrated: T = 1).
        fitted_on: what T was fitted on (``"validation"``: the run's validation split), or None.
        as_of_days: the days of season whose validation predictions T was fitted on.
        n: the validation predictions (rows × days, rows with an observation) T was fitted on.
        nll_before: mean NLL of those predictions at T = 1.
        nll_after: mean NLL at T.
        ece_before: expected calibration error of those predictions at T = 1 (`expected_calibration_error`).
        ece_after: their ECE at T.
    """

    temperature: float = 1.0
    method: str = "none"
    fitted_on: str | None = None
    as_of_days: tuple[int, ...] = ()
    n: int = 0
    nll_before: float | None = None
    nll_after: float | None = None
    ece_before: float | None = None
    ece_after: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``"calibration"`` entry.

        Returns:
            A JSON object of the fields (``as_of_days`` a list).
        """
        return {
            "method": self.method,
            "temperature": self.temperature,
            "fitted_on": self.fitted_on,
            "as_of_days": list(self.as_of_days),
            "n": self.n,
            "nll_before": self.nll_before,
            "nll_after": self.nll_after,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "ece_bins": ECE_BINS,
        }

    @classmethod
    def from_json(cls, value: Any) -> Calibration:
        """Read a manifest's ``"calibration"`` entry; None (an older bundle) is no calibration (T = 1).

        Args:
            value: the entry, or None.

        Returns:
            The calibration.

        Raises:
            InputError: the entry is not an object with a finite positive ``temperature``.
        """
        if value is None:
            return cls()
        temperature = value.get("temperature") if isinstance(value, dict) else None
        if (
            not isinstance(temperature, int | float)
            or isinstance(temperature, bool)
            or not math.isfinite(temperature)
            or temperature <= 0
        ):
            raise InputError("field 'calibration' has no positive temperature")
        assert isinstance(value, dict)

        def number(key: str) -> float | None:
            item = value.get(key)
            return float(item) if isinstance(item, int | float) and not isinstance(item, bool) else None

        days = value.get("as_of_days") or []
        return cls(
            temperature=float(temperature),
            method=str(value.get("method", "temperature")),
            fitted_on=value.get("fitted_on") if isinstance(value.get("fitted_on"), str) else None,
            as_of_days=tuple(int(d) for d in days if isinstance(d, int)),
            n=int(value.get("n") or 0),
            nll_before=number("nll_before"),
            nll_after=number("nll_after"),
            ece_before=number("ece_before"),
            ece_after=number("ece_after"),
        )


def calibration_days(val_as_of: int | None, *, in_season: bool = False) -> tuple[int, ...]:
    """The days of season whose validation predictions a temperature is fitted on.

    The run's validation day (``val_as_of``, or the whole season) and, with ``in_season``, the days of
    `IN_SEASON_DAYS` before it. Training fits on the validation day alone: measured on synthetic data
    (docs/calibration.md), a temperature fitted there calibrates the in-season dates as well as one fitted on
    the mix of dates (test ECE averaged over days 60-399: 0.099 against 0.124 for a TempCNN, 0.145 against
    0.149 for a random forest) and the end of the season better (0.150 against 0.243 for the TempCNN).

    Args:
        val_as_of: the run's validation day of season (None: the whole season).
        in_season: add the in-season days.

    Returns:
        Days of season, ascending, the validation day last.
    """
    last = SEASON_END if val_as_of is None else int(val_as_of)
    earlier = tuple(day for day in IN_SEASON_DAYS if day < last) if in_season else ()
    return (*earlier, last)


def log_probabilities(probabilities: npt.ArrayLike) -> np.ndarray:
    """A classical baseline's stand-in for logits: its log-probabilities, floored at `PROBABILITY_FLOOR`.

    Args:
        probabilities: ``[N, K]`` class probabilities.

    Returns:
        ``[N, K]`` float64 log-probabilities.
    """
    return np.log(np.maximum(np.asarray(probabilities, np.float64), PROBABILITY_FLOOR))


def softmax(logits: npt.ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities of logits divided by a temperature (stable: the row maximum is taken off first).

    Args:
        logits: ``[N, K]`` logits (or log-probabilities).
        temperature: T > 0.

    Returns:
        ``[N, K]`` float64 probabilities.
    """
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def tempered(probabilities: npt.ArrayLike, temperature: float) -> np.ndarray:
    """Probabilities calibrated with ``temperature``, from probabilities (a classical baseline's output).

    ``softmax(log(max(p, PROBABILITY_FLOOR)) / T)``; T = 1 returns the probabilities unchanged (no floor).

    Args:
        probabilities: ``[N, K]`` uncalibrated probabilities.
        temperature: T > 0.

    Returns:
        ``[N, K]`` probabilities (float32 when given float32).
    """
    p = np.asarray(probabilities)
    if temperature == 1.0:
        return p
    return softmax(log_probabilities(p), temperature).astype(p.dtype if p.dtype.kind == "f" else np.float64)


def untempered(probabilities: npt.ArrayLike, temperature: float) -> np.ndarray:
    """Undo temperature scaling: the uncalibrated probabilities of probabilities calibrated with ``temperature``.

    ``softmax(z / T) ** T`` is proportional to ``exp(z)``, so raising to ``T`` and renormalising gives the
    uncalibrated ``softmax(z)`` back (exactly for a network; for a classical baseline, its probabilities with
    `PROBABILITY_FLOOR` applied). Rows are renormalised as they are.

    Args:
        probabilities: ``[N, K]`` or ``[..., K]`` calibrated probabilities.
        temperature: the T they were calibrated with.

    Returns:
        The uncalibrated probabilities, float64, of the same shape.
    """
    p = np.asarray(probabilities, np.float64)
    if temperature == 1.0:
        return p
    with np.errstate(under="ignore"):
        top = p.max(axis=-1, keepdims=True)
        powered = (p / np.where(top > 0, top, 1.0)) ** temperature
    out: np.ndarray = powered / powered.sum(axis=-1, keepdims=True)
    return out


def nll(logits: npt.ArrayLike, labels: npt.ArrayLike, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under ``softmax(logits / temperature)``.

    Args:
        logits: ``[N, K]`` logits.
        labels: ``[N]`` class indices.
        temperature: T > 0.

    Returns:
        The mean NLL (nats).
    """
    z = np.asarray(logits, np.float64) / temperature
    y = np.asarray(labels, np.int64)
    top = z.max(axis=1)
    lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return float(np.mean(lse - z[np.arange(y.size), y]))


def fit_temperature(logits: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """The temperature that minimises the NLL of ``labels`` under ``softmax(logits / T)``.

    A golden-section search on ``log T`` in ``[MIN_TEMPERATURE, MAX_TEMPERATURE]``: deterministic, and exact
    to float precision because the NLL has a single minimum along ``log T``.

    Args:
        logits: ``[N, K]`` logits (or log-probabilities) of the validation samples.
        labels: ``[N]`` their true class indices.

    Returns:
        T, within the search's bounds.

    Raises:
        InputError: no samples, or logits and labels that do not match.
    """
    z = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.int64)
    if z.ndim != 2 or y.shape != (z.shape[0],) or z.shape[0] == 0:
        raise InputError(f"temperature scaling needs [N, K] logits and N labels (N > 0): got {z.shape}, {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise InputError(f"labels must lie in [0, {z.shape[1]}) to fit a temperature: got {y.min()}..{y.max()}")
    lo, hi = math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)
    a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    fa, fb = nll(z, y, math.exp(a)), nll(z, y, math.exp(b))
    for _ in range(_ITERATIONS):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - _GOLDEN * (hi - lo)
            fa = nll(z, y, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + _GOLDEN * (hi - lo)
            fb = nll(z, y, math.exp(b))
    return math.exp((lo + hi) / 2.0)


def calibrate(logits: npt.ArrayLike, labels: npt.ArrayLike, *, as_of_days: tuple[int, ...] = ()) -> Calibration:
    """Fit a temperature on validation logits and measure NLL and ECE before and after.

    Args:
        logits: ``[N, K]`` uncalibrated logits (or log-probabilities) of the validation predictions.
        labels: ``[N]`` their true class indices.
        as_of_days: the days of season the predictions were made as of (recorded).

    Returns:
        The calibration (method ``"temperature"``, fitted on ``"validation"``).

    Raises:
        InputError: no samples, or logits and labels that do not match.
    """
    z = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.int64)
    temperature = fit_temperature(z, y)
    return Calibration(
        temperature=temperature,
        method="temperature",
        fitted_on="validation",
        as_of_days=tuple(int(d) for d in as_of_days),
        n=int(y.size),
        nll_before=nll(z, y),
        nll_after=nll(z, y, temperature),
        ece_before=expected_calibration_error(softmax(z), y),
        ece_after=expected_calibration_error(softmax(z, temperature), y),
    )
