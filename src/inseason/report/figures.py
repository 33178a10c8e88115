"""Plotly figures of an evaluation dict (see `inseason.evaluate.evaluation`): one function per chart, each
with a title and axis labels with units, class colours from the evaluation's class table."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

#: Scene classification (SCL) classes of Sentinel-2 L2A and the colours the report draws them in.
SCL_CLASSES: dict[int, tuple[str, str]] = {
    0: ("no data", "#000000"), 1: ("saturated or defective", "#ff0000"), 2: ("dark area", "#404040"),
    3: ("cloud shadow", "#833c0b"), 4: ("vegetation", "#00a000"), 5: ("not vegetated", "#ffe65a"),
    6: ("water", "#0000ff"), 7: ("unclassified", "#808080"), 8: ("cloud, medium probability", "#c0c0c0"),
    9: ("cloud, high probability", "#f0f0f0"), 10: ("thin cirrus", "#64c8ff"), 11: ("snow or ice", "#ff96ff"),
}

_FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13)


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = dict(title=dict(text=title, x=0.01), font=_FONT, template="plotly_white",
                                  margin=dict(l=60, r=20, t=60, b=50), height=420)
    layout.update(extra)
    return layout


def as_of_axis_dates(evaluation: dict[str, Any]) -> list[str]:
    """The as-of month-days as ISO dates in the first evaluated season, for a calendar x axis."""
    year = min(evaluation["data"]["years"])
    return [f"{year}-{row['as_of']}" for row in evaluation["by_as_of_date"]]


def _band(x: list[str], intervals: list[list[float] | None], color: str, name: str) -> list[go.Scatter]:
    pairs = [(xi, iv) for xi, iv in zip(x, intervals) if iv is not None]
    if not pairs:
        return []
    xs = [p[0] for p in pairs]
    return [go.Scatter(x=xs + xs[::-1], y=[p[1][1] for p in pairs] + [p[1][0] for p in pairs][::-1],
                       fill="toself", fillcolor=color, opacity=0.18, line=dict(width=0), hoverinfo="skip",
                       name=f"{name} confidence band", showlegend=False)]


def accuracy_curve_figure(evaluation: dict[str, Any]) -> go.Figure:
    """Overall accuracy, macro-F1 and kappa by as-of date with bootstrap confidence bands."""
    x = as_of_axis_dates(evaluation)
    rows = evaluation["by_as_of_date"]
    fig = go.Figure()
    for key, name, color in (("overall_accuracy", "overall accuracy", "#0072b2"),
                             ("macro_f1", "macro-F1", "#d55e00"), ("kappa", "Cohen's kappa", "#009e73")):
        for trace in _band(x, [row["intervals"][key] for row in rows], color, name):
            fig.add_trace(trace)
        fig.add_trace(go.Scatter(x=x, y=[row[key] for row in rows], mode="lines+markers", name=name,
                                 line=dict(color=color, width=2.5)))
    level = int(round(100 * rows[0]["intervals"]["level"])) if rows else 95
    fig.update_layout(**_layout(f"Accuracy by as-of date (bands: {level} % bootstrap intervals)"),
                      xaxis=dict(title="as-of date (observations up to this day)", tickformat="%d %b"),
                      yaxis=dict(title="score (0–1)", range=[0, 1.02]), legend=dict(orientation="h", y=-0.2))
    return fig


def comparison_figure(evaluations: list[dict[str, Any]], *, names: list[str]) -> go.Figure:
    """Macro-F1 by as-of date of several models on the same test split, with their confidence bands."""
    fig = go.Figure()
    palette = ("#d55e00", "#0072b2", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")
    for k, (evaluation, name) in enumerate(zip(evaluations, names, strict=True)):
        x, rows, color = as_of_axis_dates(evaluation), evaluation["by_as_of_date"], palette[k % len(palette)]
        for trace in _band(x, [row["intervals"]["macro_f1"] for row in rows], color, name):
            fig.add_trace(trace)
        fig.add_trace(go.Scatter(x=x, y=[row["macro_f1"] for row in rows], mode="lines+markers", name=name,
                                 line=dict(color=color, width=2.5)))
    fig.update_layout(**_layout("Macro-F1 by as-of date, model by model"),
                      xaxis=dict(title="as-of date (observations up to this day)", tickformat="%d %b"),
                      yaxis=dict(title="macro-F1 (0–1)", range=[0, 1.02]), legend=dict(orientation="h", y=-0.2))
    return fig


def class_curve_figure(evaluation: dict[str, Any]) -> go.Figure:
    """Per-class F1 by as-of date in class colours, with the target F1 line."""
    x = as_of_axis_dates(evaluation)
    fig = go.Figure()
    for k, cls in enumerate(evaluation["classes"]):
        f1 = [row["per_class"][k]["f1"] for row in evaluation["by_as_of_date"]]
        bands = [row["intervals"]["per_class_f1"][k] for row in evaluation["by_as_of_date"]]
        for trace in _band(x, bands, cls["color"], cls["name"]):
            fig.add_trace(trace)
        fig.add_trace(go.Scatter(x=x, y=f1, mode="lines+markers", name=cls["name"],
                                 line=dict(color=cls["color"], width=2.5), marker=dict(line=dict(width=1))))
    target = evaluation["target_f1"]
    fig.add_hline(y=target, line=dict(color="#444", dash="dash"), annotation_text=f"target F1 {target:g}")
    fig.update_layout(**_layout("F1 of each class by as-of date"),
                      xaxis=dict(title="as-of date", tickformat="%d %b"), yaxis=dict(title="F1 (0–1)", range=[0, 1.02]))
    return fig


def confusion_figure(evaluation: dict[str, Any]) -> go.Figure:
    """Confusion-matrix heatmap at the end of the season, with buttons for counts and the two
    normalisations (by truth: recall view; by prediction: precision view)."""
    names = [c["name"] for c in evaluation["classes"]]
    confusion = evaluation["confusion"]
    views = [("counts", "counts", "d"), ("by_truth", "share of true class", ".2f"),
             ("by_prediction", "share of predicted class", ".2f")]
    fig = go.Figure()
    for i, (key, label, fmt) in enumerate(views):
        fig.add_trace(go.Heatmap(z=confusion[key], x=names, y=names, colorscale="Blues", visible=i == 0,
                                 texttemplate=f"%{{z:{fmt}}}", colorbar=dict(title=label),
                                 hovertemplate="truth %{y}<br>predicted %{x}<br>%{z}<extra></extra>"))
    buttons = [dict(label=label, method="update",
                    args=[{"visible": [j == i for j in range(len(views))]}])
               for i, (_, label, _) in enumerate(views)]
    fig.update_layout(**_layout("Confusion matrix, end of season"),
                      updatemenus=[dict(buttons=buttons, direction="right", x=1.0, xanchor="right", y=1.15)],
                      xaxis=dict(title="predicted class"), yaxis=dict(title="true class", autorange="reversed"))
    fig.update_layout(height=460)
    return fig


def importance_figure(result: dict[str, Any], *, title: str, axis: str) -> go.Figure:
    """Horizontal bars of permutation importance (drop of the metric) with ± one standard deviation."""
    features = result["features"]
    fig = go.Figure(go.Bar(x=[f["importance"] for f in features], y=[f["name"] for f in features],
                           orientation="h", marker_color="#0072b2",
                           error_x=dict(type="data", array=[f["std"] for f in features])))
    fig.update_layout(**_layout(f"{title} (as of {result['as_of']}, {result['n_repeats']} repeats)"),
                      xaxis=dict(title=f"drop in {result['metric'].replace('_', '-')} when permuted"),
                      yaxis=dict(title=axis, autorange="reversed"))
    return fig


def attention_figure(attention: dict[str, list[float]]) -> go.Figure:
    """Share of an attention model's weight falling in each period of the season."""
    fig = go.Figure(go.Bar(x=attention["day_of_season"], y=attention["weight"], marker_color="#cc79a7"))
    fig.update_layout(**_layout("Attention by date"), xaxis=dict(title="day of season (days)"),
                      yaxis=dict(title="share of attention"))
    return fig


def course_windows_figure(course: dict[str, Any]) -> go.Figure:
    """Accuracy of the ARSET course protocol by window start (days after each pixel's first observation)."""
    windows = course["windows"]
    x = [w["start_offset_days"] for w in windows]
    fig = go.Figure([go.Bar(x=x, y=[w["overall_accuracy"] for w in windows], name="overall accuracy",
                            marker_color="#0072b2"),
                     go.Bar(x=x, y=[w["macro_f1"] for w in windows], name="macro-F1", marker_color="#d55e00")])
    fig.update_layout(**_layout(f"Course protocol: {course['window_days']}-day windows"),
                      xaxis=dict(title="window start (days after first observation)"),
                      yaxis=dict(title="score (0–1)", range=[0, 1.02]), barmode="group")
    return fig


def _map_axes(crs: str | None) -> dict[str, Any]:
    unit = f"m, {crs}" if crs else "map units"
    return dict(xaxis=dict(title=f"x ({unit})"), yaxis=dict(title=f"y ({unit})", scaleanchor="x"))


def class_map_figure(evaluation: dict[str, Any], *, which: str) -> go.Figure:
    """Points of the test area coloured by their true (``which="truth"``) or predicted class (CDL colours)."""
    points = evaluation["map"]
    fig = go.Figure()
    for k, cls in enumerate(evaluation["classes"]):
        index = [i for i, c in enumerate(points[which]) if c == k]
        if index:
            fig.add_trace(go.Scatter(x=[points["x"][i] for i in index], y=[points["y"][i] for i in index],
                                     mode="markers", name=cls["name"],
                                     marker=dict(color=cls["color"], size=7, line=dict(width=0.5, color="#333"))))
    label = "Truth" if which == "truth" else "Prediction (end of season)"
    fig.update_layout(**_layout(label, **_map_axes(points["crs"])))
    return fig


def confidence_map_figure(evaluation: dict[str, Any]) -> go.Figure:
    """Points of the test area coloured by the model's confidence (highest class probability)."""
    points = evaluation["map"]
    fig = go.Figure(go.Scatter(x=points["x"], y=points["y"], mode="markers",
                               marker=dict(color=points["confidence"], colorscale="Viridis", cmin=0, cmax=1, size=7,
                                           colorbar=dict(title="confidence"))))
    fig.update_layout(**_layout("Confidence (end of season)", **_map_axes(points["crs"])))
    return fig


def spatial_figure(evaluation: dict[str, Any]) -> go.Figure:
    """Accuracy of each field or block at its centre (colour: accuracy, size: samples)."""
    spatial = evaluation["spatial"]
    groups = spatial["groups"]
    largest = max((g["n"] for g in groups), default=1)
    fig = go.Figure(go.Scatter(
        x=[g["x"] for g in groups], y=[g["y"] for g in groups], mode="markers",
        text=[f"{spatial['by']} {g['group']}: {g['correct']}/{g['n']} ({g['majority_label']})" for g in groups],
        hoverinfo="text",
        marker=dict(color=[g["accuracy"] for g in groups], colorscale="RdYlBu", cmin=0, cmax=1,
                    size=[8 + 16 * g["n"] / largest for g in groups], colorbar=dict(title="accuracy"),
                    line=dict(width=0.5, color="#333"))))
    fig.update_layout(**_layout(f"Accuracy by {spatial['by']}", **_map_axes(spatial["crs"])))
    return fig


def viewer_layout() -> dict[str, Any]:
    """Plotly layout of the time-series viewer (the browser fills its traces from the chosen sample):
    reflectance on top, NDVI with SCL-coloured markers below, the as-of predictions as a strip."""
    layout = _layout("Time series of the selected sample", height=620)
    layout.update(
        xaxis=dict(title="acquisition date", type="date", anchor="y3"),
        yaxis=dict(title="surface reflectance", domain=[0.52, 1.0]),
        yaxis2=dict(title="NDVI", domain=[0.2, 0.46], range=[-0.2, 1.0]),
        yaxis3=dict(title="as-of<br>prediction", domain=[0.0, 0.12], showticklabels=False, range=[-1, 1]),
        legend=dict(orientation="v", x=1.01, y=1.0), hovermode="closest")
    return go.Figure(layout=layout).layout.to_plotly_json()
