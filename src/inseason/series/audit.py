"""The leakage audit of a split series table: what is shared between splits, and how close they come.

Written next to every split (``NAME.audit.json`` and a readable ``NAME.audit.md``) and into the table's
``inseason:audit`` metadata, so the model bundle and the report carry it.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.spatial import cKDTree

from inseason import storage
from inseason.series.geometry import block_ids, planar_xy

_EXAMPLES = 5
_PERCENTILES = (1, 5, 50)


def split_options(table: pa.Table | pa.Schema) -> dict[str, Any]:
    """The options a table was split with (its ``inseason:split`` metadata).

    Args:
        table: a series table or its schema.

    Returns:
        The options `split_series` recorded (``by``, ``seed``, ``fractions``, ``block_size``, ``buffer``,
        ``folds``, ``stratify``, ``years``), or ``{}`` for a table never split.
    """
    schema = table if isinstance(table, pa.Schema) else table.schema
    options: dict[str, Any] = json.loads((schema.metadata or {}).get(b"inseason:split", b"{}"))
    return options


def _shared(keys: list[Any], splits: list[str]) -> tuple[int, list[Any]]:
    """How many keys occur in more than one split, and a few of them."""
    seen: dict[Any, set[str]] = defaultdict(set)
    for k, s in zip(keys, splits):
        if k is not None:
            seen[k].add(s)
    crossing = sorted((k for k, v in seen.items() if len(v) > 1), key=str)
    return len(crossing), crossing[:_EXAMPLES]


def _distances(xy: np.ndarray, splits: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """Per pair of splits: nearest-neighbour distances (m) from the second split's points to the first's."""
    result = {}
    ok = ~np.isnan(xy).any(axis=1)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pa_, pb = xy[ok & (splits == a)], xy[ok & (splits == b)]
            if not len(pa_) or not len(pb):
                continue
            d, _ = cKDTree(pa_).query(pb, k=1)
            result[f"{a}-{b}"] = {
                "min": round(float(d.min()), 3),
                **{f"p{q:02d}": round(float(np.percentile(d, q)), 3) for q in _PERCENTILES},
            }
    return result


def _split_names(splits: list[str]) -> list[str]:
    """The split names present, train, validation and test first."""
    order = {"train": 0, "validation": 1, "test": 2}
    return sorted(set(splits), key=lambda s: (order.get(s, 3), s))


def audit_split(table: pa.Table) -> dict[str, Any]:
    """Audit the ``split`` column of a series table for leakage.

    Reports class counts per split; samples, fields, places (the same coordinates in several years) and,
    for block splits, blocks found in more than one split; nearest distances between splits; and the
    leaks that break the split's own definition (``definition_leaks``, which `split_series` refuses to
    write). The method, block size and buffer come from the table's ``inseason:split`` metadata.

    Args:
        table: a series table with a ``split`` column (rows without a split are counted as unassigned).

    Returns:
        The audit: ``method``, ``options``, ``samples`` and ``class_counts`` per split, ``unassigned``, one
        ``{count, examples}`` entry per check, ``distances_m``, the buffer verdict, ``leaks``,
        ``definition_leaks`` and ``leak_free``.
    """
    options = split_options(table)
    method = options.get("by")
    assigned = table.filter(pc.is_valid(table.column("split")))
    splits = assigned.column("split").to_pylist()
    labels = assigned.column("label").to_pylist()
    names = _split_names(splits)
    audit: dict[str, Any] = {
        "method": method,
        "options": options,
        "samples": dict(Counter(splits)),
        "unassigned": table.num_rows - assigned.num_rows,
        "class_counts": {
            s: dict(sorted(Counter(label for label, t in zip(labels, splits) if t == s).items())) for s in names
        },
    }
    checks: dict[str, tuple[int, list[Any]]] = {
        "samples_in_several_splits": _shared(assigned.column("sample_id").to_pylist(), splits),
        "fields_in_several_splits": _shared(assigned.column("field_id").to_pylist(), splits),
    }
    xy = planar_xy(assigned)
    split_arr = np.array(splits, dtype=object)
    if xy is not None:
        places = [None if np.isnan(p).any() else (round(float(p[0]), 2), round(float(p[1]), 2)) for p in xy]
        checks["places_in_several_splits"] = _shared(places, splits)
        if method == "block" and options.get("block_size"):
            checks["blocks_in_several_splits"] = _shared(block_ids(xy, options["block_size"]).tolist(), splits)
        audit["distances_m"] = _distances(xy, split_arr, names)
    for key, (count, examples) in checks.items():
        audit[key] = {"count": count, "examples": examples}
    buffer = options.get("buffer") or 0.0
    if buffer and "distances_m" in audit:
        audit["buffer_m"] = buffer
        audit["buffer_respected"] = all(d["min"] >= buffer for d in audit["distances_m"].values())
    definition = ["samples_in_several_splits"]
    if method == "field":
        definition += ["fields_in_several_splits", "places_in_several_splits"]
    if method == "block":  # a field straddling a block edge stays whole, so its blocks may be shared
        definition += ["fields_in_several_splits", "places_in_several_splits"]
    informative = {"blocks_in_several_splits"}  # blocks are a means; fields and places are what leaks
    audit["leaks"] = [k for k in checks if checks[k][0] and k not in informative]
    audit["definition_leaks"] = [k for k in definition if k in checks and checks[k][0]]
    if audit.get("buffer_respected") is False:
        audit["leaks"].append("buffer_violated")
        audit["definition_leaks"].append("buffer_violated")
    audit["leak_free"] = not audit["leaks"]
    return audit


def audit_markdown(audit: dict[str, Any]) -> str:
    """A readable summary of an audit (Markdown).

    Args:
        audit: an audit from `audit_split` (with the split's ``warnings`` and ``dropped_by_buffer`` if any).

    Returns:
        The Markdown text: verdict, class counts per split, checks, distances and buffer.
    """
    verdict = "no leakage found" if audit["leak_free"] else "LEAKS: " + ", ".join(audit["leaks"])
    lines = [f"# Leakage audit ({audit['method']} split)", "", f"**Verdict:** {verdict}", ""]
    if audit.get("warnings"):
        lines += [f"> warning: {w}" for w in audit["warnings"]] + [""]
    lines += ["| split | samples | classes |", "|---|---:|---|"]
    for split, counts in audit["class_counts"].items():
        lines.append(
            f"| {split} | {audit['samples'][split]} | " + ", ".join(f"{k} {v}" for k, v in counts.items()) + " |"
        )
    lines += ["", "| check | count | examples |", "|---|---:|---|"]
    for key in (
        "samples_in_several_splits",
        "fields_in_several_splits",
        "places_in_several_splits",
        "blocks_in_several_splits",
    ):
        if key in audit:
            lines.append(
                f"| {key.replace('_', ' ')} | {audit[key]['count']} | "
                + ", ".join(map(str, audit[key]["examples"]))
                + " |"
            )
    if audit.get("distances_m"):
        lines += ["", "| splits | min (m) | p01 | p05 | p50 |", "|---|---:|---:|---:|---:|"]
        for pair, d in audit["distances_m"].items():
            lines.append(f"| {pair} | {d['min']} | {d['p01']} | {d['p05']} | {d['p50']} |")
    if "buffer_m" in audit:
        lines += ["", f"Buffer {audit['buffer_m']} m respected: {'yes' if audit['buffer_respected'] else 'NO'}"]
    if audit.get("dropped_by_buffer") is not None:
        lines.append(f"Samples dropped by the buffer: {audit['dropped_by_buffer']}")
    return "\n".join(lines) + "\n"


def audit_paths(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Where the audit of the split table ``out`` is written: ``NAME.audit.json`` and ``NAME.audit.md``.

    Args:
        out: the split series table.

    Returns:
        The JSON and the Markdown paths, next to ``out``.
    """
    out = Path(out)
    stem = out.name.removesuffix(".parquet")
    return out.with_name(f"{stem}.audit.json"), out.with_name(f"{stem}.audit.md")


def write_audit(audit: dict[str, Any], out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write the audit as JSON and Markdown next to ``out``, each file whole or not at all.

    Args:
        audit: an audit from `audit_split`.
        out: the split series table the audit belongs to.

    Returns:
        The JSON and the Markdown paths written (`audit_paths`).
    """
    paths = audit_paths(out)
    for path, text in zip(paths, (json.dumps(audit, indent=1, default=str), audit_markdown(audit))):
        with storage.atomic_path(path) as tmp:
            tmp.write_text(text)
    return paths
