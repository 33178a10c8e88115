"""The self-contained HTML report: one file, plotly.js inlined, no network (DESIGN §1 ``inseason report``).

Sections: a warning when the test set is too small to mean something (every figure then greyed), headline
numbers as of the stated end-of-season date beside each model's best in-season date, models compared, the
accuracy curves (overall and per class, with confidence bands), the per-class table, the confusion matrix,
the course protocol beside the course's published figures, band/period/attention importance with their
noise, the maps (wall-to-wall maps of a predict run with a date slider, the truth and per-class areas; or
the test points), accuracy by field or block, an interactive time-series viewer, and readable tables of
the data, the leakage audit and the run configuration.

The page reads at 1366 px and at phone width (420 px): grids collapse to one column, tables scroll inside
their own box, figures follow their container, figure titles are HTML headings (never under plotly's
toolbar, which shows on hover only).
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import plotly.graph_objects as go
from pydantic import field_validator, model_validator

from inseason.config import StageRequest
from inseason.errors import InputError
from inseason.evaluate.evaluation import SCHEMA_VERSION
from inseason.progress import plural
from inseason.report import figures, map_figures
from inseason.report.maps import MapSet, class_hectares, error_adjusted_areas, read_maps
from inseason.report.tables import audit_table, data_table, format_number, scroll_box, value_html
from inseason.report.viewer import VIEWER_JS
from inseason.storage import output_lock, write_bytes

REQUIRED_KEYS = (
    "schema_version",
    "classes",
    "data",
    "by_as_of_date",
    "per_class",
    "confusion",
    "map",
    "spatial",
    "samples",
    "importance",
    "overall_accuracy",
    "macro_f1",
    "kappa",
    "intervals",
    "target_f1",
    "end_of_season",
    "best_as_of",
    "sample_size",
)

_CSS = """
*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
p,h1,h2,h3,.card{overflow-wrap:break-word}
th,td{overflow-wrap:normal;word-break:normal}
main{max-width:1180px;margin:0 auto;padding:16px clamp(8px,3vw,24px) 48px}
h1{font-size:1.6rem;margin:.4em 0}h2{font-size:1.25rem;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3.fig-title{font-size:1rem;margin:6px 8px 0;font-weight:600}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 16px;flex:1 1 180px;min-width:0}
.card b{display:block;font-size:1.4rem}.card span{display:block;color:#555;font-size:.85rem}
.table-scroll{max-width:100%;overflow-x:auto;margin:8px 0}
table{border-collapse:collapse;background:#fff;font-size:.9rem}
table.sub{margin:0;font-size:.85rem}table.sub th,table.sub td{padding:2px 6px}
th,td{border:1px solid #ddd;padding:4px 10px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.explain{color:#555;font-size:.85rem;min-width:16em}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(460px,100%),1fr));gap:12px}
.grid>*{min-width:0}
.figure{background:#fff;border:1px solid #ddd;border-radius:6px;padding:4px;min-width:0;max-width:100%;overflow:hidden}
.figure.greyed{opacity:.45;filter:grayscale(.7)}
.figure .plotly-graph-div{max-width:100%}
pre{background:#fff;border:1px solid #ddd;padding:10px;overflow:auto;max-height:320px;font-size:.8rem;max-width:100%}
.swatch{display:inline-block;width:12px;height:12px;border:1px solid #333;margin-right:6px;vertical-align:middle}
.legend span.item{display:inline-block;margin:2px 12px 2px 0;max-width:100%;overflow-wrap:anywhere}
.note{color:#555;font-size:.85rem}.warn{color:#a33}.ok{color:#1b6e2a}
.warnbox{border:2px solid #b3261e;background:#fdecea;color:#5f1410;border-radius:6px;padding:10px 14px;margin:12px 0}
.warnbox strong{display:block;margin-bottom:4px}
select{max-width:100%}
"""


# Plots drawn before the page's grid settled get their final size once everything has loaded.
_RESIZE_JS = (
    "window.addEventListener('load', () => document.querySelectorAll('.js-plotly-plot')"
    ".forEach((plot) => Plotly.Plots.resize(plot)));"
)

_PLOT_CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": "hover"}


def check_evaluation(evaluation: dict[str, Any]) -> None:
    """Refuse a dict that is not an evaluation of this schema version, naming the missing keys.

    Args:
        evaluation: the would-be evaluation.

    Raises:
        InputError: not a dict, keys missing, another schema version, or no as-of dates.
    """
    if not isinstance(evaluation, dict):
        raise InputError("the report needs an evaluation dict: produce it with inseason evaluate")
    if "schema_version" in evaluation and evaluation["schema_version"] != SCHEMA_VERSION:
        raise InputError(
            f"evaluation schema version {evaluation['schema_version']} is not {SCHEMA_VERSION}: "
            "re-run inseason evaluate with this version"
        )
    missing = [key for key in REQUIRED_KEYS if key not in evaluation]
    if missing:
        raise InputError(f"evaluation lacks {missing}: produce it with inseason evaluate")
    if not evaluation["by_as_of_date"]:
        raise InputError("evaluation has no as-of dates: re-run inseason evaluate with at least one as-of date")


def _check_map_options(maps: object, truth: object, bundle: object) -> None:
    """Refuse a truth raster or a bundle without the maps they go with."""
    if maps is None and (truth is not None or bundle is not None):
        raise InputError("truth and bundle go with maps: give maps=<inseason predict --out folder> too")


def _page_title(evaluation: dict[str, Any], title: str | None) -> str:
    """The report's title: ``title``, else the evaluation's, else a generic one."""
    return str(title or evaluation.get("title") or "inseason evaluation")


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _interval(interval: list[float] | None) -> str:
    return "" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def _table(header: list[str], rows: list[list[str]], *, numeric_from: int = 1, text_columns: Sequence[int] = ()) -> str:
    """A table (cells already HTML) in its own scrolling box, columns from ``numeric_from`` right-aligned."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='num'>{cell}</td>" if i >= numeric_from and i not in text_columns else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return scroll_box(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _swatch(color: str) -> str:
    return f"<span class='swatch' style='background:{html.escape(color)}'></span>"


def _legend(items: Sequence[tuple[str, str]]) -> str:
    """An HTML legend of (colour, label) pairs that wraps on narrow screens; labels are escaped here."""
    return (
        "<p class='legend'>"
        + "".join(f"<span class='item'>{_swatch(color)}{html.escape(label)}</span>" for color, label in items)
        + "</p>"
    )


class _Figures:
    """Renders figures to HTML, plotly.js inlined with the first one (no CDN).

    The figure's title becomes an HTML heading above it (it wraps, and plotly's toolbar, shown on hover
    only, never covers it). With ``greyed`` every figure is faded and says why (a test set too small to
    mean something).
    """

    def __init__(self, *, greyed: str | None = None) -> None:
        self.count = 0
        self.greyed = greyed

    def render(self, figure: go.Figure, *, note: str | None = None, div_id: str | None = None) -> str:
        """One figure as a ``div.figure`` (``note``: escaped text under it)."""
        self.count += 1
        title = figure.layout.title.text or ""
        figure.update_layout(title=None)
        if not figure.layout.updatemenus:  # the drop-down of the confusion matrix keeps its room
            figure.update_layout(margin=dict(t=24))
        div = figure.to_html(
            full_html=False,
            include_plotlyjs=self.count == 1,
            div_id=div_id or f"figure-{self.count}",
            config=_PLOT_CONFIG,
            default_width="100%",
        )
        notes = f"<p class='note'>{html.escape(note)}</p>" if note else ""
        cls = "figure"
        if self.greyed:
            cls += " greyed"
            notes += f"<p class='note warn grey-note'>{html.escape(self.greyed)}</p>"
        heading = f"<h3 class='fig-title'>{html.escape(title)}</h3>" if title else ""
        return f"<div class='{cls}'>{heading}{div}{notes}</div>"


def _json_script(element_id: str, value: Any) -> str:
    text = json.dumps(value, allow_nan=False).replace("</", "<\\/")
    return f"<script type='application/json' id='{element_id}'>{text}</script>"


def _end_label(ev: dict[str, Any]) -> str:
    return f"as of {ev['end_of_season']} (end of season)"


def _best_cell(ev: dict[str, Any]) -> tuple[str, str]:
    best = ev.get("best_as_of")
    if not best:
        return "–", "–"
    return html.escape(str(best["as_of"])), _number(best["macro_f1"])


def _resampled(ev: dict[str, Any]) -> str:
    unit = ev["intervals"].get("resampled")
    level = ev["intervals"].get("level")
    if not unit or level is None:
        return ""
    clusters = ev["intervals"].get("n_clusters")
    count = f" ({format_number(clusters)} of them)" if clusters else ""
    return f"Intervals: {round(100 * level)} % bootstrap, resampling whole {html.escape(str(unit))} units{count}."


def _sample_warning(ev: dict[str, Any]) -> str:
    """The warning box shown first when the test set is too small for its figures to mean something."""
    size = ev["sample_size"]
    if not size.get("too_small"):
        return ""
    text = size.get("warning") or (
        f"The test set has {size.get('n')} samples and at least "
        f"{size.get('min_per_class')} per class: too few for these figures to mean much."
    )
    return (
        "<div class='warnbox' role='alert' id='sample-size-warning'><strong>Test set too small</strong>"
        f"{html.escape(str(text))} Figures are greyed out: read them as indications only.</div>"
    )


def _calibration(ev: dict[str, Any]) -> str:
    """One sentence on the confidence's calibration: the temperature and the ECE before and after it."""
    calibration = ev.get("calibration")  # absent in evaluations written before calibration existed
    if not calibration:
        return ""
    temperature = calibration["temperature"]
    scaled = f"calibrated by temperature scaling (T = {temperature:.2f})" if temperature != 1 else "not calibrated"
    return (
        f" <span id='calibration'>Confidence {scaled}: expected calibration error "
        f"{_number(calibration['ece_before'])} before, {_number(calibration['ece_after'])} after "
        f"({calibration['n_bins']} bins, {html.escape(_end_label(ev))}).</span>"
    )


def _headline(ev: dict[str, Any]) -> str:
    """Cards of the end-of-season scores (stating the date), the best in-season date, and the test size."""
    when = _end_label(ev)
    cards = [
        ("overall accuracy", ev["overall_accuracy"], ev["intervals"].get("overall_accuracy")),
        ("macro-F1", ev["macro_f1"], ev["intervals"].get("macro_f1")),
        ("Cohen's kappa", ev["kappa"], ev["intervals"].get("kappa")),
    ]
    out = "".join(
        f"<div class='card'><span>{name}, {html.escape(when)}</span><b>{_number(value)}</b>"
        f"<span>{_interval(interval)}</span></div>"
        for name, value, interval in cards
    )
    best = ev.get("best_as_of")
    if best:
        out += (
            f"<div class='card' id='best-card'><span>best in-season date: as of {html.escape(str(best['as_of']))}"
            f"</span><b>{_number(best['macro_f1'])}</b><span>macro-F1 (overall accuracy "
            f"{_number(best['overall_accuracy'])}, kappa {_number(best['kappa'])})</span></div>"
        )
    out += (
        f"<div class='card'><span>test samples</span><b>{format_number(ev.get('n', 0))}</b>"
        f"<span>{html.escape(when)}</span></div>"
    )
    note = (
        "<p class='note'>End-of-season scores use every observation of the season up to "
        f"{html.escape(str(ev['end_of_season']))}; the curve below shows how they build up through the season. "
        f"{_resampled(ev)}{_calibration(ev)}</p>"
    )
    return f"<div class='cards'>{out}</div>{note}"


def _per_class_table(ev: dict[str, Any]) -> str:
    rows = []
    for k, (cls, row) in enumerate(zip(ev["classes"], ev["per_class"])):
        interval = ev["intervals"]["per_class_f1"][k] if ev["intervals"].get("per_class_f1") else None
        f1 = _number(row["f1"]) if row["support"] else "<span class='warn'>no support</span>"
        rows.append(
            [
                _swatch(cls["color"]) + html.escape(cls["name"]),
                "" if cls["code"] is None else str(cls["code"]),
                _number(row["precision"]),
                _number(row["recall"]),
                f1,
                _interval(interval),
                str(row["support"]),
                html.escape(ev["earliest_date"].get(cls["name"]) or "not reached"),
            ]
        )
    header = [
        "class",
        "CDL code",
        "precision",
        "recall",
        "F1",
        "F1 interval",
        "support",
        f"earliest as-of date with F1 ≥ {ev['target_f1']:g}",
    ]
    note = ""
    if ev.get("classes_without_support"):
        note = (
            "<p class='warn'>No test samples for: "
            + html.escape(", ".join(ev["classes_without_support"]))
            + ". They are left out of macro-F1.</p>"
        )
    return _table(header, rows) + note


def _least_accurate(shown: int, total: int, unit: str) -> str:
    """The sentence over the table of the least accurate groups, in the right number.

    "The 15 least accurate of 40 fields.", "The least accurate of 40 fields." (one shown), "All 3 fields,
    least accurate first.", "The only field."
    """
    if total == 1:
        return f"The only {unit}."
    if shown >= total:
        return f"All {plural(total, unit)}, least accurate first."
    if shown == 1:
        return f"The least accurate of {plural(total, unit)}."
    return f"The {shown} least accurate of {plural(total, unit)}."


def _spatial_table(ev: dict[str, Any], *, limit: int = 15) -> str:
    groups = sorted(ev["spatial"]["groups"], key=lambda g: (g["accuracy"], -g["n"]))[:limit]
    rows = [
        [
            html.escape(g["group"]),
            str(g["n"]),
            str(g["correct"]),
            _number(g["accuracy"]),
            html.escape(g["majority_label"]),
        ]
        for g in groups
    ]
    lead = _least_accurate(len(groups), len(ev["spatial"]["groups"]), ev["spatial"]["by"])
    return f"<p class='note'>{html.escape(lead)}</p>" + _table(
        [ev["spatial"]["by"], "samples", "correct", "accuracy", "majority true class"], rows, text_columns=(4,)
    )


def _viewer(ev: dict[str, Any], fig: _Figures) -> str:
    if not ev["samples"]:
        return "<p class='note'>No samples to show.</p>"
    options = "".join(
        f"<option value='{i}'>{html.escape(s['sample_id'])} — {html.escape(s['label'])} ({s['year']})</option>"
        for i, s in enumerate(ev["samples"])
    )
    legend = _legend([(color, f"{code} {name}") for code, (name, color) in figures.SCL_CLASSES.items()])
    bands = sorted({band for s in ev["samples"] for band in s["bands"]})
    cls = "figure greyed" if fig.greyed else "figure"
    return (
        f"<label for='sample-picker'>Sample: </label><select id='sample-picker'>{options}</select>"
        f"<div class='{cls}'><div id='timeseries-viewer' style='height:680px;width:100%'></div></div>"
        f"<p class='note'>NDVI markers are coloured by scene classification (SCL):</p>{legend}"
        + _json_script("viewer-samples", ev["samples"])
        + _json_script("viewer-layout", figures.viewer_layout())
        + _json_script("viewer-classes", ev["classes"])
        + _json_script("viewer-scl", {str(k): list(v) for k, v in figures.SCL_CLASSES.items()})
        + _json_script("viewer-band-colors", figures.band_colors(bands))
        + f"<script>{VIEWER_JS}</script>"
    )


def _model_name(ev: dict[str, Any]) -> str:
    return str(ev["data"].get("model") or ev.get("title") or "model")


def first_class_reaching(ev: dict[str, Any]) -> tuple[str, str] | None:
    """The class that first reaches the target F1 (ties: class order) and the date it does.

    Args:
        ev: the evaluation dict.

    Returns:
        ``(class, as-of month-day)``, or None when no class reaches the target.
    """
    reached = [(date, k, name) for k, (name, date) in enumerate(ev["earliest_date"].items()) if date]
    if not reached:
        return None
    date, _, name = min(reached)
    return name, date


def _comparison(ev: dict[str, Any], others: Sequence[dict[str, Any]], fig: _Figures) -> list[str]:
    """A table and a curve of this model against ``others`` evaluated on the same split."""
    models = [ev, *others]
    names = [_model_name(m) for m in models]
    rows = []
    for name, m in zip(names, models):
        reached = [d for d in m["earliest_date"].values() if d]
        first = first_class_reaching(m)
        classes = f"{len(reached)} of {len(m['earliest_date'])}"
        if first:
            classes += f" (first: {html.escape(first[0])}, as of {html.escape(first[1])})"
        best_date, best_f1 = _best_cell(m)
        rows.append(
            [
                html.escape(name),
                html.escape(str(m["end_of_season"])),
                _number(m["overall_accuracy"]),
                _interval(m["intervals"].get("overall_accuracy")),
                _number(m["macro_f1"]),
                _number(m["kappa"]),
                best_date,
                best_f1,
                classes,
            ]
        )
    header = [
        "model",
        "end of season (as of)",
        "overall accuracy",
        "interval",
        "macro-F1",
        "kappa",
        "best as-of date",
        "macro-F1 at best date",
        f"classes reaching F1 ≥ {ev['target_f1']:g}",
    ]
    return [
        "<h2>Models compared</h2>",
        _table(header, rows, numeric_from=2),
        "<p class='note'>End-of-season columns score each model with all observations of the season; the best "
        "as-of date is where its in-season macro-F1 curve peaks.</p>",
        fig.render(figures.comparison_figure(models, names=names)),
    ]


def _course(ev: dict[str, Any], fig: _Figures) -> list[str]:
    """The ARSET course protocol: our pooled figures beside the course's published ones."""
    course = ev["course_windows"]
    published = course.get("published") or {}
    rows = [
        [
            "inseason (this model)",
            _number(course.get("overall_accuracy")),
            _number(course.get("macro_f1")),
            format_number(course["n"]) + " (sample, window) pairs" if course.get("n") is not None else "",
        ]
    ]
    if published:
        size = []
        if published.get("n_pixels") is not None:
            size.append(f"{format_number(published['n_pixels'])} pixels")
        if published.get("n_windows") is not None:
            size.append(f"{format_number(published['n_windows'])} windows")
        rows.append(
            [
                "published by the course",
                _number(published.get("overall_accuracy")),
                _number(published.get("macro_f1")),
                ", ".join(size),
            ]
        )
        remark = (
            f"<p class='note'>Source: {html.escape(str(published['source']))}.</p>" if published.get("source") else ""
        )
    else:
        remark = "<p class='note'>The course's published figures are not recorded in this evaluation.</p>"
    text = (
        f"<p>Windows of {course['window_days']} days starting every {course['step_days']} days after each "
        "sample's first observation (the course's protocol, not calendar as-of dates), pooled.</p>"
    )
    return [
        "<h2>Course protocol (ARSET)</h2>",
        text,
        _table(["figures", "overall accuracy", "macro-F1", "evaluated on"], rows),
        remark,
        fig.render(figures.course_windows_figure(course)),
    ]


def _importance(ev: dict[str, Any], fig: _Figures) -> list[str]:
    importance = ev["importance"]
    charts = []
    note = (
        "Error bars: ± one standard deviation over the permutation repeats. Pale hatched bars lie within the "
        "noise (|importance| < 2 × std): not significant, and a negative value within the noise means the "
        "feature does not matter, not that it hurts."
    )
    if importance.get("bands"):
        charts.append(
            fig.render(
                figures.importance_figure(importance["bands"], title="Importance of bands", axis="band"), note=note
            )
        )
    if importance.get("periods"):
        charts.append(
            fig.render(
                figures.importance_figure(
                    importance["periods"], title="Importance of periods", axis="period of the season"
                ),
                note=note,
            )
        )
    if importance.get("attention"):
        charts.append(fig.render(figures.attention_figure(importance["attention"])))
    return ["<h2>Importance</h2><div class='grid'>", *charts, "</div>"] if charts else []


def _points_maps(ev: dict[str, Any], fig: _Figures) -> list[str]:
    """The test points of one season (the latest when points record their season) in class colours."""
    years = figures.point_years(ev)
    year = max(years) if years else None
    if years is not None:
        scope = f"Test points of season {year} (the latest of {len(set(years))})."
    else:
        scope = (
            "Test points at the end of the season; points of several seasons at one place are drawn on top "
            "of each other."
        )
    legend = _legend(
        [(c["color"], c["name"] + (f" (CDL {c['code']})" if c["code"] is not None else "")) for c in ev["classes"]]
    )
    return [
        "<h2>Maps of the test area</h2>",
        legend,
        f"<p class='note'>{html.escape(scope)} No wall-to-wall map was given (write_report(maps=…) with an "
        "inseason predict folder adds one).</p><div class='grid'>",
        fig.render(figures.class_points_figure(ev, which="truth", year=year)),
        fig.render(figures.class_points_figure(ev, which="prediction", year=year)),
        fig.render(figures.confidence_points_figure(ev, year=year)),
        "</div>",
    ]


def _area_table(maps: MapSet, adjusted: list[dict[str, Any]]) -> str:
    """Mapped hectares of each class by as-of date, with the error-adjusted area ± 95 % half-width."""
    by_date = {entry["as_of"]: entry for entry in adjusted if "classes" in entry}
    header = ["class"]
    for area in maps.areas:
        header.append(f"{area['as_of']} mapped (ha)")
        if area["as_of"] in by_date:
            header.append(f"{area['as_of']} error-adjusted (ha)")
    rows = []
    for cls in maps.classes:
        row = [_swatch(cls.color) + html.escape(cls.name)]
        for area in maps.areas:
            mapped = class_hectares(area, cls.name)
            row.append(f"{mapped:,.1f}")
            if area["as_of"] in by_date:
                est = next((c for c in by_date[area["as_of"]]["classes"] if c["name"] == cls.name), None)
                row.append("–" if est is None else f"{est['area_ha']:,.1f} ± {est['area_ci_ha']:,.1f}")
        rows.append(row)
    return _table(header, rows)


def _wall_to_wall(ev: dict[str, Any], maps: MapSet, fig: _Figures) -> list[str]:
    """Class and confidence maps with a date slider, the truth, and per-class areas by date."""
    legend = _legend(
        [
            (c.color, f"{c.index} {c.name}" + (f" (CDL {', '.join(map(str, c.codes))})" if c.codes else ""))
            for c in maps.classes
        ]
    )
    dates = ", ".join(layer.as_of for layer in maps.layers)
    parts = [
        "<h2>Maps of the test area</h2>",
        f"<p class='note'>Wall-to-wall maps from {html.escape(maps.name)} as of {html.escape(dates)}; "
        "move the slider under a map to change the date. " + html.escape(" ".join(maps.notes)) + "</p>",
        legend,
        "<div class='grid'>",
        fig.render(map_figures.class_map_figure(maps)),
    ]
    if maps.truth is not None:
        unmatched = ""
        if maps.truth_unmatched > 0:
            unmatched = (
                f"{100 * maps.truth_unmatched:.1f} % of the truth's pixels have codes no class lists; "
                "they are left blank."
            )
        parts.append(
            fig.render(
                map_figures.truth_map_figure(maps),
                note=f"CDL codes reprojected (nearest) onto the map grid. {unmatched}".strip(),
            )
        )
    parts += [fig.render(map_figures.confidence_map_figure(maps)), "</div>"]
    adjusted = error_adjusted_areas(maps, ev)
    parts += [fig.render(map_figures.area_figure(maps, adjusted)), _area_table(maps, adjusted)]
    if adjusted:
        problems = [f"{e['as_of']}: {e['error']}" for e in adjusted if "error" in e]
        text = (
            "Error-adjusted areas (Olofsson et al. 2014) with 95 % intervals use the evaluation's test "
            "points as the reference sample: the map class at each point on the map against its true class "
            "or, where the map holds too few test points, the whole test split's predictions as of the same "
            "date (all seasons). The test points are not a stratified random sample of the map, so read "
            "these as indicative, not as a design-based estimate."
        )
        for e in adjusted:
            if "classes" in e:
                text += f" {e['as_of']}: {e['reference']}, {plural(e['n_points'], 'point')}"
                text += (
                    f", {e['left_out']:,} left out (without coordinates, outside the map, on nodata, of "
                    "another season or of a class the map lacks)."
                    if e["left_out"]
                    else "."
                )
        if problems:
            text += " Not estimated for " + "; ".join(problems) + "."
        parts.append(f"<p class='note' id='area-note'>{html.escape(text)}</p>")
    return parts


def render_report(
    evaluation: dict[str, Any],
    *,
    title: str | None = None,
    comparisons: Sequence[dict[str, Any]] = (),
    maps: str | os.PathLike[str] | MapSet | None = None,
    truth: str | os.PathLike[str] | None = None,
    bundle: str | os.PathLike[str] | None = None,
) -> str:
    """The report's HTML text.

    Args:
        evaluation: the evaluation dict (`inseason.evaluate.evaluate_predictor` or ``inseason evaluate``).
        title: page title (default: the evaluation's).
        comparisons: evaluations of other models on the same split, shown side by side with it.
        maps: an ``inseason predict --out`` folder (or a `MapSet` read from one) to draw wall-to-wall maps;
            without it the test points are drawn.
        truth: a CDL-coded GeoTIFF (any CRS) of the maps' season, drawn beside them (needs ``maps``).
        bundle: the model bundle or run folder whose label map translates the truth's codes to classes
            (default: the codes recorded in the maps).

    Returns:
        One self-contained HTML document.

    Raises:
        InputError: an evaluation of another schema or without as-of dates; ``truth`` or ``bundle``
            without ``maps``; an unreadable maps folder, truth raster or bundle.
    """
    check_evaluation(evaluation)
    for other in comparisons:
        check_evaluation(other)
    _check_map_options(maps, truth, bundle)
    map_set = maps if isinstance(maps, MapSet) or maps is None else read_maps(maps, truth=truth, bundle=bundle)
    ev = evaluation
    title = _page_title(ev, title)
    size = ev["sample_size"]
    fig = _Figures(
        greyed="Greyed: the test set is too small for this figure to mean much." if size.get("too_small") else None
    )
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        _sample_warning(ev),
        _headline(ev),
        *(_comparison(ev, comparisons, fig) if comparisons else []),
        "<h2>Accuracy by as-of date</h2><div class='grid'>",
        fig.render(figures.accuracy_curve_figure(ev)),
        fig.render(figures.class_curve_figure(ev)),
        "</div>",
        f"<h2>Per-class metrics ({html.escape(_end_label(ev))})</h2>",
        _per_class_table(ev),
        "<h2>Confusion matrix</h2>",
        fig.render(figures.confusion_figure(ev, as_of=ev["end_of_season"])),
    ]
    if ev.get("course_windows"):
        parts += _course(ev, fig)
    parts += _importance(ev, fig)
    parts += _wall_to_wall(ev, map_set, fig) if map_set is not None else _points_maps(ev, fig)
    parts += [
        f"<h2>Accuracy by {html.escape(ev['spatial']['by'])}</h2>",
        fig.render(figures.spatial_figure(ev)),
        _spatial_table(ev),
        "<h2>Time-series viewer</h2>",
        _viewer(ev, fig),
        "<h2>Data</h2>",
        data_table(ev["data"]),
        "<h2>Leakage audit</h2>",
        audit_table(ev.get("leakage_audit")),
        "<h2>Run configuration</h2>",
        value_html(ev.get("config") or {}) if ev.get("config") else "<p class='note'>No configuration recorded.</p>",
        f"<details><summary>Configuration as JSON</summary><pre>"
        f"{html.escape(json.dumps(ev.get('config', {}), indent=2))}</pre></details>",
    ]
    parts.append(f"<script>{_RESIZE_JS}</script>")
    body = "\n".join(parts)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{_CSS}</style></head><body><main>{body}</main></body></html>"
    )


class ReportRequest(StageRequest):
    """What the ``report`` stage is asked to write: one HTML page of an evaluation, its comparisons and maps.

    Built alike by ``inseason report`` (from evaluation files) and `write_report`; `run_report` does the work.
    Maps already read (a `MapSet`) are a live object, not an option: they are a keyword of `run_report`, and
    the request names their folder.

    Attributes:
        evaluation: the evaluation document (``evaluation.json``, see `inseason.evaluate.evaluation`).
        out: the HTML file to write.
        title: page title (None: the evaluation's).
        comparisons: evaluations of other models on the same split, shown side by side with it.
        maps: an ``inseason predict --out`` folder (a path or ``s3://`` URI) to draw wall-to-wall maps; None:
            the test points are drawn.
        truth: a CDL-coded GeoTIFF (any CRS; a path or ``s3://`` URI) of the maps' season, drawn beside them
            (needs ``maps``).
        bundle: the model bundle or run folder whose label map translates the truth's codes to classes (needs
            ``maps``; None: the codes recorded in the maps).
    """

    evaluation: dict[str, Any]
    out: Path
    title: str | None = None
    comparisons: tuple[dict[str, Any], ...] = ()
    maps: str | None = None
    truth: str | None = None
    bundle: str | None = None

    @field_validator("evaluation", mode="before")
    @classmethod
    def _evaluation(cls, value: Any) -> Any:
        """Refuse what is not an evaluation of this schema version with the report's own message."""
        check_evaluation(value)
        return value

    @field_validator("comparisons", mode="before")
    @classmethod
    def _comparisons(cls, value: Any) -> Any:
        """Refuse a comparison that is not an evaluation of this schema version with the report's own message."""
        for other in value if isinstance(value, list | tuple) else ():
            check_evaluation(other)
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        """Refuse a truth raster or a bundle without maps, before any file is read."""
        _check_map_options(self.maps, self.truth, self.bundle)
        return self


@dataclass(frozen=True)
class ReportResult:
    """What the ``report`` stage wrote.

    Attributes:
        path: the HTML file, as the request named it.
        title: the page's title (the request's, else the evaluation's).
    """

    path: Path
    title: str


def write_report(
    evaluation: dict[str, Any],
    *,
    out: str | os.PathLike[str],
    title: str | None = None,
    comparisons: Sequence[dict[str, Any]] = (),
    maps: str | os.PathLike[str] | MapSet | None = None,
    truth: str | os.PathLike[str] | None = None,
    bundle: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the self-contained HTML report to ``out``, atomically: `run_report` by keywords.

    Args:
        evaluation: the evaluation dict.
        out: the HTML file to write.
        title: page title (default: the evaluation's).
        comparisons: evaluations of other models on the same split.
        maps: an ``inseason predict --out`` folder or a `MapSet` (see `render_report`).
        truth: a CDL-coded GeoTIFF drawn beside the maps.
        bundle: the model bundle whose label map translates the truth's codes to classes.

    Returns:
        The report's path.

    Raises:
        InputError: ``out`` is a folder, or any error of `render_report`.
    """
    request = ReportRequest.of(
        evaluation=evaluation,
        out=Path(out),
        title=title,
        comparisons=tuple(comparisons),
        maps=maps.folder if isinstance(maps, MapSet) else None if maps is None else os.fspath(maps),
        truth=None if truth is None else os.fspath(truth),
        bundle=None if bundle is None else os.fspath(bundle),
    )
    return run_report(request, map_set=maps if isinstance(maps, MapSet) else None).path


def run_report(request: ReportRequest, *, map_set: MapSet | None = None) -> ReportResult:
    """Write the self-contained HTML report of ``request.evaluation`` to ``request.out``, atomically.

    Args:
        request: the evaluation, the HTML file, the comparisons and the maps (checked when it was built).
        map_set: the maps already read from ``request.maps`` (a live object, so not in the request); None:
            read them.

    Returns:
        The HTML file written and its title.

    Raises:
        InputError: ``out`` is a folder, or the maps folder, truth raster or bundle cannot be read (see
            `render_report`).
    """
    path = request.out
    if path.is_dir():
        raise InputError(f"report output {path} is a folder: give a file name such as {path / 'report.html'}")
    text = render_report(
        request.evaluation,
        title=request.title,
        comparisons=request.comparisons,
        maps=request.maps if map_set is None else map_set,
        truth=request.truth,
        bundle=request.bundle,
    )
    with output_lock(path, verb="report", file=True):
        write_bytes(path, text.encode("utf-8"))
    return ReportResult(path=path, title=_page_title(request.evaluation, request.title))
