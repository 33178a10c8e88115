"""The self-contained HTML report: one file, plotly.js inlined, no network (DESIGN §1 ``inseason report``).

Sections: headline numbers, the run's config and data summary, the leakage audit, accuracy by as-of date
(overall and per class, with confidence bands; the earliest date each class reaches the target F1), the
course protocol when evaluated, the per-class table, the confusion matrix, band/period/attention
importance, maps of truth, prediction and confidence in CDL colours, accuracy by field or block, and an
interactive time-series viewer.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from inseason.errors import InputError
from inseason.evaluate.evaluation import SCHEMA_VERSION
from inseason.report import figures
from inseason.report.viewer import VIEWER_JS

REQUIRED_KEYS = ("schema_version", "classes", "data", "by_as_of_date", "per_class", "confusion", "map", "spatial",
                 "samples", "importance", "overall_accuracy", "macro_f1", "kappa", "intervals", "target_f1")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:1.6rem;margin:.4em 0}h2{font-size:1.25rem;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 16px}
.card b{display:block;font-size:1.4rem}.card span{color:#666;font-size:.85rem}
table{border-collapse:collapse;background:#fff;margin:8px 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:4px 10px;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px}.grid>*{min-width:0;overflow:hidden}
.figure{background:#fff;border:1px solid #ddd;border-radius:6px;padding:4px;min-height:300px}
pre{background:#fff;border:1px solid #ddd;padding:10px;overflow:auto;max-height:320px;font-size:.8rem}
.swatch{display:inline-block;width:12px;height:12px;border:1px solid #333;margin-right:6px;vertical-align:middle}
.note{color:#666;font-size:.85rem}.warn{color:#a33}
"""


# Plots drawn before the page's grid settled get their final size once everything has loaded.
_RESIZE_JS = ("window.addEventListener('load', () => document.querySelectorAll('.js-plotly-plot')"
              ".forEach((plot) => Plotly.Plots.resize(plot)));")


def check_evaluation(evaluation: dict[str, Any]) -> None:
    """Refuse a dict that is not an evaluation of this schema version, naming the missing keys."""
    if not isinstance(evaluation, dict):
        raise InputError("the report needs an evaluation dict: produce it with inseason evaluate")
    missing = [key for key in REQUIRED_KEYS if key not in evaluation]
    if missing:
        raise InputError(f"evaluation lacks {missing}: produce it with inseason evaluate")
    if evaluation["schema_version"] != SCHEMA_VERSION:
        raise InputError(f"evaluation schema version {evaluation['schema_version']} is not {SCHEMA_VERSION}: "
                         "re-run inseason evaluate with this version")
    if not evaluation["by_as_of_date"]:
        raise InputError("evaluation has no as-of dates: re-run inseason evaluate with at least one as-of date")


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _interval(interval: list[float] | None) -> str:
    return "" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def _table(header: list[str], rows: list[list[str]], *, numeric_from: int = 1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class='num'>{cell}</td>" if i >= numeric_from else f"<td>{cell}</td>"
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _key_values(mapping: dict[str, Any] | None) -> str:
    if not mapping:
        return "<p class='note'>Not available for this run.</p>"
    rows = [[html.escape(str(key)), html.escape(value if isinstance(value, str) else json.dumps(value))]
            for key, value in mapping.items()]
    return _table(["item", "value"], rows, numeric_from=2)


def _swatch(color: str) -> str:
    return f"<span class='swatch' style='background:{html.escape(color)}'></span>"


class _Figures:
    """Renders figures to HTML divs; the first one carries plotly.js itself (inlined, no CDN)."""

    def __init__(self) -> None:
        self.count = 0

    def render(self, figure: go.Figure) -> str:
        self.count += 1
        div = figure.to_html(full_html=False, include_plotlyjs=self.count == 1, div_id=f"figure-{self.count}",
                             config={"displaylogo": False, "responsive": True})
        return f"<div class='figure'>{div}</div>"


def _json_script(element_id: str, value: Any) -> str:
    text = json.dumps(value, allow_nan=False).replace("</", "<\\/")
    return f"<script type='application/json' id='{element_id}'>{text}</script>"


def _headline(ev: dict[str, Any]) -> str:
    cards = [("overall accuracy", ev["overall_accuracy"], ev["intervals"].get("overall_accuracy")),
             ("macro-F1", ev["macro_f1"], ev["intervals"].get("macro_f1")),
             ("Cohen's kappa", ev["kappa"], ev["intervals"].get("kappa"))]
    html_cards = "".join(f"<div class='card'><span>{name}</span><b>{_number(value)}</b>"
                         f"<span>{_interval(interval)}</span></div>" for name, value, interval in cards)
    html_cards += f"<div class='card'><span>test samples</span><b>{ev.get('n', 0)}</b><span>end of season</span></div>"
    return f"<div class='cards'>{html_cards}</div>"


def _per_class_table(ev: dict[str, Any]) -> str:
    rows = []
    for k, (cls, row) in enumerate(zip(ev["classes"], ev["per_class"])):
        interval = ev["intervals"]["per_class_f1"][k] if ev["intervals"].get("per_class_f1") else None
        f1 = _number(row["f1"]) if row["support"] else "<span class='warn'>no support</span>"
        rows.append([_swatch(cls["color"]) + html.escape(cls["name"]), "" if cls["code"] is None else str(cls["code"]),
                     _number(row["precision"]), _number(row["recall"]), f1, _interval(interval), str(row["support"]),
                     html.escape(ev["earliest_date"].get(cls["name"]) or "not reached")])
    header = ["class", "CDL code", "precision", "recall", "F1", "F1 interval", "support",
              f"earliest as-of date with F1 ≥ {ev['target_f1']:g}"]
    note = ""
    if ev.get("classes_without_support"):
        note = ("<p class='warn'>No test samples for: " + html.escape(", ".join(ev["classes_without_support"]))
                + ". They are left out of macro-F1.</p>")
    return _table(header, rows) + note


def _spatial_table(ev: dict[str, Any], *, limit: int = 15) -> str:
    groups = sorted(ev["spatial"]["groups"], key=lambda g: (g["accuracy"], -g["n"]))[:limit]
    rows = [[html.escape(g["group"]), str(g["n"]), str(g["correct"]), _number(g["accuracy"]),
             html.escape(g["majority_label"])] for g in groups]
    return (f"<p class='note'>The {len(groups)} least accurate of {len(ev['spatial']['groups'])} "
            f"{ev['spatial']['by']}s.</p>" + _table([ev["spatial"]["by"], "samples", "correct", "accuracy",
                                                       "majority true class"], rows))


def _viewer(ev: dict[str, Any]) -> str:
    if not ev["samples"]:
        return "<p class='note'>No samples to show.</p>"
    options = "".join(f"<option value='{i}'>{html.escape(s['sample_id'])} — {html.escape(s['label'])} ({s['year']})"
                      "</option>" for i, s in enumerate(ev["samples"]))
    legend = " ".join(f"{_swatch(color)}{code} {html.escape(name)}" for code, (name, color) in
                      figures.SCL_CLASSES.items())
    return (f"<label for='sample-picker'>Sample: </label><select id='sample-picker'>{options}</select>"
            "<div class='figure'><div id='timeseries-viewer' style='height:620px'></div></div>"
            f"<p class='note'>NDVI markers are coloured by scene classification (SCL): {legend}</p>"
            + _json_script("viewer-samples", ev["samples"]) + _json_script("viewer-layout", figures.viewer_layout())
            + _json_script("viewer-classes", ev["classes"])
            + _json_script("viewer-scl", {str(k): list(v) for k, v in figures.SCL_CLASSES.items()})
            + f"<script>{VIEWER_JS}</script>")


def _model_name(ev: dict[str, Any]) -> str:
    return str(ev["data"].get("model") or ev.get("title") or "model")


def _comparison(ev: dict[str, Any], others: Sequence[dict[str, Any]], fig: _Figures) -> list[str]:
    """A table and a curve of this model against ``others`` evaluated on the same split."""
    models = [ev, *others]
    names = [_model_name(m) for m in models]
    rows = []
    for name, m in zip(names, models):
        reached = [d for d in m["earliest_date"].values() if d]
        rows.append([html.escape(name), _number(m["overall_accuracy"]), _interval(m["intervals"].get("overall_accuracy")),
                     _number(m["macro_f1"]), _number(m["kappa"]),
                     f"{len(reached)} of {len(m['earliest_date'])}" + (f" (first {min(reached)})" if reached else "")])
    header = ["model", "overall accuracy", "interval", "macro-F1", "kappa",
              f"classes reaching F1 ≥ {ev['target_f1']:g}"]
    return ["<h2>Models compared</h2>", _table(header, rows),
            fig.render(figures.comparison_figure(models, names=names))]


def render_report(evaluation: dict[str, Any], *, title: str | None = None,
                  comparisons: Sequence[dict[str, Any]] = ()) -> str:
    """The report's HTML text for ``evaluation`` (the dict `inseason.evaluate.evaluate_predictor` returns);
    ``comparisons`` are evaluations of other models on the same split, shown side by side with it."""
    check_evaluation(evaluation)
    for other in comparisons:
        check_evaluation(other)
    ev = evaluation
    title = title or ev.get("title") or "inseason evaluation"
    fig = _Figures()
    parts = [f"<h1>{html.escape(title)}</h1>", _headline(ev), *(_comparison(ev, comparisons, fig) if comparisons else []),
             "<h2>Accuracy by as-of date</h2><div class='grid'>", fig.render(figures.accuracy_curve_figure(ev)),
             fig.render(figures.class_curve_figure(ev)), "</div>",
             "<h2>Per-class metrics (end of season)</h2>", _per_class_table(ev),
             "<h2>Confusion matrix</h2>", fig.render(figures.confusion_figure(ev))]
    if ev.get("course_windows"):
        course = ev["course_windows"]
        parts += ["<h2>Course protocol (ARSET)</h2>",
                  f"<p>Windows of {course['window_days']} days starting every {course['step_days']} days after each "
                  f"sample's first observation, pooled over {course['n']} (sample, window) pairs: overall accuracy "
                  f"{_number(course['overall_accuracy'])}, macro-F1 {_number(course['macro_f1'])} "
                  "(the course reported 0.756 and 0.602).</p>",
                  fig.render(figures.course_windows_figure(course))]
    importance = ev["importance"]
    charts = []
    if importance.get("bands"):
        charts.append(fig.render(figures.importance_figure(importance["bands"], title="Importance of bands",
                                                           axis="band")))
    if importance.get("periods"):
        charts.append(fig.render(figures.importance_figure(importance["periods"], title="Importance of periods",
                                                           axis="period of the season")))
    if importance.get("attention"):
        charts.append(fig.render(figures.attention_figure(importance["attention"])))
    if charts:
        parts += ["<h2>Importance</h2><div class='grid'>", *charts, "</div>"]
    legend = " ".join(f"{_swatch(c['color'])}{html.escape(c['name'])}"
                      + (f" (CDL {c['code']})" if c["code"] is not None else "") for c in ev["classes"])
    parts += ["<h2>Maps of the test area</h2>", f"<p>{legend}</p><div class='grid'>",
              fig.render(figures.class_map_figure(ev, which="truth")),
              fig.render(figures.class_map_figure(ev, which="prediction")),
              fig.render(figures.confidence_map_figure(ev)), "</div>",
              f"<h2>Accuracy by {html.escape(ev['spatial']['by'])}</h2>",
              fig.render(figures.spatial_figure(ev)), _spatial_table(ev),
              "<h2>Time-series viewer</h2>", _viewer(ev),
              "<h2>Data</h2>", _key_values(ev["data"]),
              "<h2>Leakage audit</h2>", _key_values(ev.get("leakage_audit")),
              "<h2>Run configuration</h2>", f"<pre>{html.escape(json.dumps(ev.get('config', {}), indent=2))}</pre>"]
    parts.append(f"<script>{_RESIZE_JS}</script>")
    body = "\n".join(parts)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<style>{_CSS}</style></head><body><main>{body}</main></body></html>")


def write_report(evaluation: dict[str, Any], *, out: str | os.PathLike[str], title: str | None = None,
                 comparisons: Sequence[dict[str, Any]] = ()) -> Path:
    """Write the self-contained HTML report of ``evaluation`` (and ``comparisons``, see `render_report`)
    to ``out`` (temporary name, then rename) and return its path."""
    path = Path(out)
    if path.is_dir():
        raise InputError(f"report output {path} is a folder: give a file name such as {path / 'report.html'}")
    text = render_report(evaluation, title=title, comparisons=comparisons)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
