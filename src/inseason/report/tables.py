"""Readable HTML tables of the report.

Numbers are formatted, nested dicts and lists become sub-tables or lists with human labels, every string is
HTML-escaped, every table sits inside its own horizontally scrolling box.

The leakage audit (see `inseason.series.audit.audit_split`) gets one sentence per key saying what it
measures, so that a count such as ``blocks_in_several_splits: 33`` beside ``leak_free: true`` reads as what
it is (blocks are the split's means; fields and places are what leak).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from inseason.progress import plural

#: Human labels of keys found in the evaluation's ``data`` section and in leakage audits.
LABELS: dict[str, str] = {
    "n_samples": "test samples",
    "years": "seasons",
    "bands": "bands",
    "scales": "band scale factors",
    "class_counts": "samples per class",
    "observations_per_sample": "observations per sample",
    "first_date": "first observation",
    "last_date": "last observation",
    "model": "model",
    "min": "minimum",
    "median": "median",
    "max": "maximum",
    "mean": "mean",
    "method": "split method",
    "split_by": "split method",
    "options": "split options",
    "by": "split by",
    "samples": "samples per split",
    "unassigned": "samples without a split",
    "buffer": "buffer (m)",
    "block_size": "block size (m)",
    "seed": "seed",
    "fractions": "split fractions",
    "samples_in_several_splits": "samples in several splits",
    "fields_in_several_splits": "fields in several splits",
    "places_in_several_splits": "places in several splits",
    "blocks_in_several_splits": "blocks in several splits",
    "distances_m": "nearest distance between splits (m)",
    "buffer_m": "buffer (m)",
    "buffer_respected": "buffer respected",
    "leaks": "leaks",
    "definition_leaks": "leaks against the split's definition",
    "leak_free": "leak free",
    "dropped_by_buffer": "samples dropped by the buffer",
    "warnings": "warnings",
    "count": "count",
    "examples": "examples",
    "p01": "1st percentile",
    "p05": "5th percentile",
    "p50": "median",
    "train_test_min_distance_m": "nearest train–test distance (m)",
    "shared_fields": "fields shared by train and test",
    "passed": "passed",
}

#: One sentence per leakage-audit key: what it counts and how to read it.
AUDIT_EXPLANATIONS: dict[str, str] = {
    "method": "How samples were assigned to splits (by field, by spatial block, or at random).",
    "split_by": "How samples were assigned to splits (by field, by spatial block, or at random).",
    "options": "The settings the split was made with.",
    "samples": "How many samples (sample, season rows) each split holds.",
    "unassigned": "Samples left without a split (for instance dropped by the buffer); they are not used.",
    "class_counts": "How many samples of each class each split holds.",
    "samples_in_several_splits": "The same sample in two splits would be a direct leak; this must be 0.",
    "fields_in_several_splits": "A field whose pixels are in two splits lets the model see the test field "
    "while training; a field or block split keeps this at 0.",
    "places_in_several_splits": "The same coordinates in several splits (another season of a test point "
    "used for training) is a leak of the place, even if the seasons differ.",
    "blocks_in_several_splits": "Blocks of the split grid holding samples of more than one split: a field "
    "straddling a block edge is kept whole, so its blocks are shared. This is "
    "expected and is not a leak, because blocks are only the means of the split; "
    "fields and places are what leak.",
    "distances_m": "For each pair of splits, how close the nearest points of the second split come to the "
    "first (minimum and low percentiles, metres); small distances mean neighbouring pixels.",
    "buffer_m": "Samples closer than this to another split were dropped to keep splits apart (metres).",
    "buffer": "Samples closer than this to another split were dropped to keep splits apart (metres).",
    "buffer_respected": "Whether every pair of splits is at least the buffer apart.",
    "leaks": "The checks above that found something shared, blocks excepted; empty means no leak found.",
    "definition_leaks": "Leaks that break the split's own definition (the split refuses to write these).",
    "leak_free": "Yes when no leak was found: no sample, field or place in two splits and the buffer kept.",
    "dropped_by_buffer": "Samples removed because they lay within the buffer of another split.",
    "warnings": "Cautions about the split method (a random split of pixels overstates accuracy).",
    "train_test_min_distance_m": "How close the nearest training sample comes to a test sample (metres).",
    "shared_fields": "Fields with samples in both training and test; must be 0.",
    "passed": "Whether the audit found no leak.",
}


def human_label(key: str) -> str:
    """The label a reader sees for a dict key: `LABELS`, else the key with underscores as spaces.

    Args:
        key: the dict key.

    Returns:
        The label (a trailing `` m`` becomes `` (m)``).
    """
    text = LABELS.get(key)
    if text is not None:
        return text
    text = key.replace("_", " ")
    return text[:-2] + " (m)" if text.endswith(" m") else text


def format_number(value: float | int) -> str:
    """A number as the report prints it.

    An int with thousands separators (from 10 000); a float to 3 significant decimals (6 for tiny values),
    no scientific notation for everyday magnitudes; NaN as a dash; a bool as yes or no.

    Args:
        value: the number.

    Returns:
        The text.
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if math.isnan(value):
        return "–"
    if value == int(value) and abs(value) < 1e15:
        return format_number(int(value))
    if abs(value) >= 1000:
        return f"{value:,.1f}"
    if abs(value) >= 0.01:
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{value:.6f}".rstrip("0").rstrip(".")


def value_html(value: Any, *, depth: int = 0) -> str:
    """HTML of any JSON value.

    Scalars formatted and escaped, lists of scalars as comma lists, lists of dicts and dicts as nested
    tables (at most 3 levels deep, deeper values as escaped text).

    Args:
        value: the value.
        depth: how deep in nested tables the value stands.

    Returns:
        The HTML.
    """
    if value is None:
        return "–"
    if isinstance(value, bool | int | float):
        return format_number(value)
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, Mapping):
        if not value:
            return "none"
        if depth >= 3:
            return html.escape(str(value))
        if _uniform_records(value):
            return records_table([{"": key, **row} for key, row in value.items()], depth=depth + 1)
        return key_value_table(value, depth=depth + 1)
    if isinstance(value, Sequence):
        if not value:
            return "none"
        if all(isinstance(v, Mapping) for v in value) and depth < 3:
            return records_table(list(value), depth=depth + 1)
        return html.escape(", ").join(value_html(v, depth=depth + 1) for v in value)
    return html.escape(str(value))


def _uniform_records(mapping: Mapping[str, Any]) -> bool:
    """Whether every value is a dict of scalars with the same keys (a table with one row per key)."""
    rows = list(mapping.values())
    return (
        bool(rows)
        and all(isinstance(r, Mapping) and r and list(r) == list(rows[0]) for r in rows)
        and all(not isinstance(v, Mapping | list) for r in rows for v in r.values())
    )


def scroll_box(table: str) -> str:
    """Wrap a table so that it scrolls sideways inside its own box instead of widening the page.

    Args:
        table: the table's HTML.

    Returns:
        The HTML of the box.
    """
    return f"<div class='table-scroll'>{table}</div>"


def key_value_table(
    mapping: Mapping[str, Any], *, depth: int = 0, explanations: Mapping[str, str] | None = None
) -> str:
    """A two-column table of a dict's items (three columns with ``explanations``).

    Args:
        mapping: the dict.
        depth: how deep in nested tables it stands (a top-level table gets its scrolling box).
        explanations: what each key means, in a third column.

    Returns:
        The HTML.
    """
    rows = []
    for key, value in mapping.items():
        cells = f"<th scope='row'>{html.escape(human_label(str(key)))}</th><td>{value_html(value, depth=depth)}</td>"
        if explanations is not None:
            cells += f"<td class='explain'>{html.escape(explanations.get(str(key), ''))}</td>"
        rows.append(f"<tr>{cells}</tr>")
    cls = "kv" if depth == 0 else "kv sub"
    table = f"<table class='{cls}'><tbody>{''.join(rows)}</tbody></table>"
    return scroll_box(table) if depth == 0 else table


def records_table(records: Sequence[Mapping[str, Any]], *, depth: int = 0) -> str:
    """A table with one row per dict and one column per key (in first-seen order).

    Args:
        records: the dicts.
        depth: how deep in nested tables it stands (a top-level table gets its scrolling box).

    Returns:
        The HTML.
    """
    keys: list[str] = []
    for record in records:
        keys += [str(k) for k in record if str(k) not in keys]
    head = "".join(f"<th>{html.escape(human_label(k)) if k else ''}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{value_html(r.get(k), depth=depth)}</td>" for k in keys) + "</tr>" for r in records
    )
    table = f"<table class='sub'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return scroll_box(table) if depth == 0 else table


def audit_table(audit: Mapping[str, Any] | None) -> str:
    """The leakage audit as a table of check, value and a one-sentence explanation per key.

    A verdict line leads it; a run without an audit gets a note instead.

    Args:
        audit: the run's leakage audit, or None.

    Returns:
        The HTML.
    """
    if not audit:
        return "<p class='note'>No leakage audit recorded for this run.</p>"
    verdict = audit.get("leak_free", audit.get("passed"))
    if verdict is True:
        lead = "<p class='ok'>Verdict: no leakage found between the splits.</p>"
    elif verdict is False:
        leaks = audit.get("leaks") or []
        lead = (
            "<p class='warn'>Verdict: leakage found"
            + (": " + html.escape(", ".join(map(human_label, leaks))) if leaks else "")
            + ".</p>"
        )
    else:
        lead = ""
    shared_blocks = audit.get("blocks_in_several_splits")
    if isinstance(shared_blocks, Mapping) and shared_blocks.get("count") and verdict is True:
        count = int(shared_blocks["count"])
        lead += (
            f"<p class='note'>{plural(count, 'block')} {'holds' if count == 1 else 'hold'} samples of several "
            "splits, yet the split is leak free: a field straddling a block edge stays whole in one split, so "
            "the blocks it touches are shared; no field or place is.</p>"
        )
    return lead + key_value_table(audit, explanations=AUDIT_EXPLANATIONS)


def data_table(data: Mapping[str, Any]) -> str:
    """The evaluation's ``data`` summary as a readable table (a note when empty).

    Args:
        data: the evaluation's ``data`` section.

    Returns:
        The HTML.
    """
    if not data:
        return "<p class='note'>Not available for this run.</p>"
    return key_value_table(data)
