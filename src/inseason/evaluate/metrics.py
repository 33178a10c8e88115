"""Whether a test set is large enough for its figures to mean something (`sample_size_check`).

The metrics themselves (confusion matrices, OA, F1, macro-F1, kappa) have one home, `inseason.metrics`,
shared with training; they are imported here under their former names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np

from inseason.errors import InputError
from inseason.metrics import SUMMARY_METRICS as SUMMARY_METRICS
from inseason.metrics import classification_metrics as classification_metrics
from inseason.metrics import confusion_matrix as confusion_matrix
from inseason.metrics import metrics_from_confusion as metrics_from_confusion
from inseason.metrics import normalise_confusion as normalise_confusion
from inseason.metrics import summary_from_confusion as summary_from_confusion
from inseason.progress import plural

#: Fewest test samples whose accuracy figures mean something (fewer: ``sample_size["too_small"]``).
MIN_TEST_SAMPLES = 30
#: Fewest test samples a class present in the test split needs for its F1 (and the macro-F1) to mean something.
MIN_SAMPLES_PER_CLASS = 5


class SampleSize(TypedDict):
    """The sample size verdict of an evaluation (its ``sample_size`` entry, `sample_size_check`).

    Attributes:
        n: end-of-season test samples.
        min_per_class: fewest test samples of a class present in the test split, 0 when none is.
        classes_below: present classes with fewer than `MIN_SAMPLES_PER_CLASS` test samples.
        too_small: fewer than `MIN_TEST_SAMPLES` samples, or some ``classes_below``.
        warning: one sentence for a person, None when the test set is not too small.
    """

    n: int
    min_per_class: int
    classes_below: list[str]
    too_small: bool
    warning: str | None


def sample_size_check(support: Sequence[int], *, classes: Sequence[str]) -> SampleSize:
    """Whether a test set is large enough for its accuracy figures to mean something.

    A test set is too small when it has fewer than `MIN_TEST_SAMPLES` samples or when a class present in
    it has fewer than `MIN_SAMPLES_PER_CLASS`. Classes of the label map with no test sample at all are
    not counted here: they have no F1, are left out of macro-F1 and are listed in
    ``classes_without_support`` instead.

    Args:
        support: test samples of each class (the confusion matrix's row sums), in ``classes`` order.
        classes: class names.

    Returns:
        ``{"n", "min_per_class" (fewest samples of a class present, 0 when none is), "classes_below"
        (names of present classes under the per-class minimum), "too_small", "warning" (one sentence for
        a person, None when not too small)}``.

    Raises:
        InputError: ``support`` and ``classes`` differ in length.
    """
    counts = np.asarray(support, dtype=np.int64)
    if counts.shape != (len(classes),):
        raise InputError(f"{counts.size} class supports given for {len(classes)} classes: give one per class")
    n = int(counts.sum())
    present = counts[counts > 0]
    below = [(name, int(c)) for name, c in zip(classes, counts) if 0 < c < MIN_SAMPLES_PER_CLASS]
    too_few = n < MIN_TEST_SAMPLES
    parts = []
    if too_few:
        parts.append(f"only {plural(n, 'test sample')} (fewer than {MIN_TEST_SAMPLES})")
    if len(below) == 1:
        name, count = below[0]
        parts.append(
            f"class {name} has only {count} (fewer than {MIN_SAMPLES_PER_CLASS})"
            if too_few
            else f"class {name} has only {plural(count, 'test sample')} (fewer than {MIN_SAMPLES_PER_CLASS})"
        )
    elif below:
        listed = ", ".join(f"{name} ({count})" for name, count in below)
        parts.append(
            f"classes {listed} have fewer than {MIN_SAMPLES_PER_CLASS}{' each' if too_few else ' test samples each'}"
        )
    warning = None
    if parts:
        if too_few:
            what = "accuracy figures are"
        else:
            what = "its F1 and the macro-F1 are" if len(below) == 1 else "their F1 and the macro-F1 are"
        text = " and ".join(parts)
        warning = f"{text[0].upper()}{text[1:]}: {what} not meaningful; evaluate on a larger test split."
    return SampleSize(
        n=n,
        min_per_class=int(present.min()) if present.size else 0,
        classes_below=[name for name, _ in below],
        too_small=bool(parts),
        warning=warning,
    )
