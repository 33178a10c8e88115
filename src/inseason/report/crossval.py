"""The report of a cross-validation folder (``inseason report CV_FOLDER``): models compared fold by fold.

One self-contained page: the scores per model (mean ± standard deviation over folds and pooled), a figure of
each model's per-fold scores, the per-fold table, the paired comparisons (per-fold differences and the
corrected resampled t-test), the folds' sizes and their leakage verdict. Each (model, fold) run folder has
its own evaluation, which ``inseason report MODEL/fold-k`` draws in full.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from inseason.errors import InputError
from inseason.evaluate.crossval import is_cross_validation
from inseason.report.figures import base_layout, legend_below
from inseason.report.html import _CSS, _RESIZE_JS, _Figures, _number, _table
from inseason.storage import output_lock, write_bytes

_NAMES = {"overall_accuracy": "overall accuracy", "macro_f1": "macro-F1", "kappa": "kappa"}
_PALETTE = ("#d55e00", "#0072b2", "#009e73", "#cc79a7", "#8b6d00", "#56606b")


def fold_scores_figure(summary: dict[str, Any], *, metric: str = "macro_f1") -> go.Figure:
    """Each model's end-of-season score on each fold, one line of markers per model, its mean dashed.

    Args:
        summary: a cross-validation summary (`inseason.evaluate.crossval`).
        metric: the score drawn (``overall_accuracy``, ``macro_f1`` or ``kappa``).

    Returns:
        The figure.
    """
    fig = go.Figure()
    for k, (model, entry) in enumerate(summary["models"].items()):
        color = _PALETTE[k % len(_PALETTE)]
        folds = entry["folds"]
        fig.add_trace(
            go.Scatter(
                x=[row["fold"] for row in folds],
                y=[row[metric] for row in folds],
                mode="lines+markers",
                name=model,
                line=dict(color=color),
                marker=dict(size=9),
            )
        )
        mean = entry["mean"].get(metric)
        if mean is not None and folds:
            fig.add_trace(
                go.Scatter(
                    x=[folds[0]["fold"], folds[-1]["fold"]],
                    y=[mean, mean],
                    mode="lines",
                    name=f"{model} mean",
                    line=dict(color=color, dash="dash", width=1),
                    showlegend=False,
                )
            )
    name = _NAMES.get(metric, metric)
    fig.update_layout(
        **base_layout(f"{name[0].upper()}{name[1:]} per fold, model by model (dashed: mean over folds)"),
        xaxis=dict(title="test fold", type="category"),
        yaxis=dict(title=f"{name} (end of season)"),
        legend=legend_below(),
    )
    return fig


def cross_validation_section(summary: dict[str, Any], fig: _Figures) -> list[str]:
    """The comparison's HTML: scores per model, the per-fold figure and table, and the paired tests.

    Args:
        summary: a cross-validation summary.
        fig: the page's figure renderer.

    Returns:
        HTML fragments, in page order.
    """
    metrics = summary["metrics"]
    rows = []
    for model, entry in summary["models"].items():
        pooled = entry["pooled"] or {}
        row = [html.escape(model), str(len(entry["folds"]))]
        for m in metrics:
            row += [f"{_number(entry['mean'][m])} ± {_number(entry['std'][m])}", _number(pooled.get(m))]
        rows.append(row)
    header = ["model", "folds"]
    for m in metrics:
        header += [f"{_NAMES.get(m, m)} (mean ± sd)", f"{_NAMES.get(m, m)} (pooled)"]
    per_fold = [
        [html.escape(model), html.escape(row["fold"]), str(row["n"]), *(_number(row[m]) for m in metrics)]
        for model, entry in summary["models"].items()
        for row in entry["folds"]
    ]
    paired = [
        [
            html.escape(" − ".join(c["models"])),
            html.escape(_NAMES.get(c["metric"], c["metric"])),
            " ".join(f"{d:+.3f}" for d in c["differences"]),
            f"{c['mean']:+.3f}",
            _number(c["t"], 2),
            _number(c["p_value"]),
        ]
        for c in summary["comparisons"]
    ]
    parts = [
        "<h2>Models compared by cross-validation</h2>",
        _table(header, rows, numeric_from=1),
        "<p class='note'>End-of-season scores on each test fold; pooled: the scores of all folds' predictions "
        "together (the summed confusion matrices).</p>",
        "<div class='grid'>",
        fig.render(fold_scores_figure(summary, metric="macro_f1")),
        fig.render(fold_scores_figure(summary, metric="overall_accuracy")),
        "</div>",
        "<h2>Scores per fold</h2>",
        _table(["model", "fold", "test samples", *(_NAMES.get(m, m) for m in metrics)], per_fold, numeric_from=2),
    ]
    if paired:
        parts += [
            f"<h2>Paired comparison ({html.escape(summary['test'])})</h2>",
            _table(["models", "metric", "per-fold differences", "mean", "t", "p"], paired, numeric_from=2),
            "<p class='note'>Differences are the first model's score minus the second's on the same fold. The "
            "folds' training sets overlap, so the t-test's variance is corrected by the test-to-training size "
            "ratio (Nadeau and Bengio 2003); t and p are blank where the differences do not vary.</p>",
        ]
    sizes = [
        [html.escape(fold), *(str(s[k]) for k in ("train", "validation", "test"))]
        for fold, s in summary["fold_sizes"].items()
    ]
    audit = summary["leakage_audit"]
    verdict = "no leakage found" if audit["leak_free"] else "leaks: " + ", ".join(audit["leaks"])
    parts += [
        "<h2>Folds</h2>",
        _table(["test fold", "train", "validation", "test"], sizes),
        f"<p class='note'>{html.escape(summary['by'])} folds of {html.escape(summary['series'])} (fold column in "
        f"{html.escape(summary['folds_table'])}), seed {summary['seed']}; leakage audit: {html.escape(verdict)}."
        "</p>",
    ]
    if not summary["complete"]:
        parts.insert(1, "<p class='warnbox'><strong>Incomplete</strong>Some model and fold pairs have not run.</p>")
    return parts


def render_cross_validation(summary: dict[str, Any], *, title: str | None = None) -> str:
    """The cross-validation report's HTML text.

    Args:
        summary: a cross-validation summary.
        title: page title (default: one naming the folds).

    Returns:
        One self-contained HTML document.

    Raises:
        InputError: ``summary`` is not a cross-validation summary of this schema.
    """
    if not is_cross_validation(summary):
        raise InputError("not a cross-validation summary: give the folder inseason cross-validate --out wrote")
    title = title or f"inseason {len(summary['folds'])}-fold cross-validation ({summary['by']} folds)"
    parts = [f"<h1>{html.escape(title)}</h1>", *cross_validation_section(summary, _Figures())]
    body = "\n".join([*parts, f"<script>{_RESIZE_JS}</script>"])
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{_CSS}</style></head><body><main>{body}</main></body></html>"
    )


def write_cross_validation_report(
    summary: dict[str, Any], *, out: str | os.PathLike[str], title: str | None = None
) -> Path:
    """Write the cross-validation report to ``out``, whole or not at all.

    Args:
        summary: a cross-validation summary.
        out: the HTML file.
        title: page title.

    Returns:
        The HTML file written.

    Raises:
        InputError: ``out`` is a folder, or ``summary`` is not a cross-validation summary.
    """
    path = Path(out)
    if path.is_dir():
        raise InputError(f"report output {path} is a folder: give a file name such as {path / 'report.html'}")
    text = render_cross_validation(summary, title=title)
    with output_lock(path, verb="report", file=True):
        write_bytes(path, text.encode("utf-8"))
    return path
