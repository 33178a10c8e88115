"""Plotly figures of an evaluation dict (see `inseason.evaluate.evaluation`), one function per chart.

Each chart has a title and axis labels with units, class colours from the evaluation's class table.

Lines are drawn in a colour that stands out on the white page: a pale class colour (CDL corn yellow, for
instance) keeps its hue but is darkened until its contrast with white reaches `MIN_LINE_CONTRAST`
(`line_color`), while markers keep the class colour as their fill.
"""

from __future__ import annotations

import colorsys
from typing import Any

import plotly.graph_objects as go

from inseason.labels import hex_rgb, rgb_hex

#: Scene classification (SCL) classes of Sentinel-2 L2A and the colours the report draws them in.
SCL_CLASSES: dict[int, tuple[str, str]] = {
    0: ("no data", "#000000"),
    1: ("saturated or defective", "#ff0000"),
    2: ("dark area", "#404040"),
    3: ("cloud shadow", "#833c0b"),
    4: ("vegetation", "#00a000"),
    5: ("not vegetated", "#ffe65a"),
    6: ("water", "#0000ff"),
    7: ("unclassified", "#808080"),
    8: ("cloud, medium probability", "#c0c0c0"),
    9: ("cloud, high probability", "#f0f0f0"),
    10: ("thin cirrus", "#64c8ff"),
    11: ("snow or ice", "#ff96ff"),
}

#: Contrast ratio against white that a line needs to be seen (WCAG 2.1 SC 1.4.11 asks 3:1 of graphics).
MIN_LINE_CONTRAST = 3.0

#: A colour for each Sentinel-2 band, roughly its part of the spectrum, every one distinct and at least
#: `MIN_LINE_CONTRAST` against white; `band_colors` gives other band names colours from `EXTRA_COLORS`.
BAND_COLORS: dict[str, str] = {
    "B01": "#6a3d9a",
    "B02": "#1f4fd1",
    "B03": "#1a9850",
    "B04": "#d7301f",
    "B05": "#b35806",
    "B06": "#8c510a",
    "B07": "#c51b7d",
    "B08": "#4d4d4d",
    "B8A": "#01665e",
    "B09": "#2166ac",
    "B11": "#e31a1c",
    "B12": "#762a83",
}
#: Further distinct dark-enough colours for band names outside `BAND_COLORS` (indices, imported columns).
EXTRA_COLORS = (
    "#0072b2",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#8b6d00",
    "#56606b",
    "#a6442a",
    "#3f6f99",
    "#7a5195",
    "#2f7d32",
    "#b0306a",
    "#5b6e00",
)

_FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13)


def base_layout(title: str, **extra: Any) -> dict[str, Any]:
    """The layout every report figure starts from.

    ``title`` top left, the report's font, white template, margins and height; ``extra`` keys replace or
    add layout entries.

    Args:
        title: the figure's title text.
        **extra: further plotly layout entries (``height``, axes, ``legend``...).

    Returns:
        A plotly layout dict for ``fig.update_layout(**...)``.
    """
    layout: dict[str, Any] = dict(
        title=dict(text=title, x=0.01),
        font=_FONT,
        template="plotly_white",
        margin=dict(l=60, r=20, t=40, b=50),
        height=420,
        autosize=True,
    )
    layout.update(extra)
    return layout


def _channel(value: float) -> float:
    return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4


def relative_luminance(color: str) -> float:
    """WCAG relative luminance (0 black … 1 white) of a ``#rrggbb`` colour.

    Args:
        color: the colour text.

    Returns:
        The luminance.
    """
    r, g, b = (c / 255 for c in hex_rgb(color))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_on_white(color: str) -> float:
    """WCAG contrast ratio (1 … 21) of ``color`` on a white background.

    Args:
        color: a ``#rrggbb`` colour.

    Returns:
        The contrast ratio.
    """
    return 1.05 / (relative_luminance(color) + 0.05)


def line_color(color: str, *, minimum: float = MIN_LINE_CONTRAST) -> str:
    """A shade of ``color`` for lines: the colour itself when it contrasts enough with white, else darkened.

    The hue is kept and the lightness lowered step by step in HLS until the contrast on white reaches
    ``minimum``.

    Args:
        color: a ``#rrggbb`` colour.
        minimum: the contrast ratio on white the line needs.

    Returns:
        The ``#rrggbb`` colour of the line.
    """
    if contrast_on_white(color) >= minimum:
        return color.lower()
    r, g, b = (c / 255 for c in hex_rgb(color))
    hue, lightness, saturation = colorsys.rgb_to_hls(r, g, b)
    shade = color
    while lightness > 0:
        lightness = max(0.0, lightness - 0.02)
        shade = rgb_hex([round(c * 255) for c in colorsys.hls_to_rgb(hue, lightness, saturation)])
        if contrast_on_white(shade) >= minimum:
            break
    return shade


def band_colors(bands: list[str]) -> dict[str, str]:
    """A distinct colour for each band name.

    `BAND_COLORS` for Sentinel-2 bands, `EXTRA_COLORS` in turn for the others (cycling only past 24
    distinct names).

    Args:
        bands: the band names.

    Returns:
        Band name → ``#rrggbb``.
    """
    used = {BAND_COLORS[b] for b in bands if b in BAND_COLORS}
    spare = [c for c in (*EXTRA_COLORS, *BAND_COLORS.values()) if c not in used]
    out, k = {}, 0
    for band in bands:
        if band in BAND_COLORS:
            out[band] = BAND_COLORS[band]
        else:
            out[band] = spare[k % len(spare)]
            k += 1
    return out


def as_of_axis_dates(evaluation: dict[str, Any]) -> list[str]:
    """The as-of month-days as ISO dates in the first evaluated season, for a calendar x axis.

    Args:
        evaluation: the evaluation dict.

    Returns:
        One ``YYYY-MM-DD`` per as-of date, in the evaluation's order.
    """
    year = min(evaluation["data"]["years"])
    return [f"{year}-{row['as_of']}" for row in evaluation["by_as_of_date"]]


def _band(x: list[str], intervals: list[list[float] | None], color: str, name: str) -> list[go.Scatter]:
    pairs = [(xi, iv) for xi, iv in zip(x, intervals) if iv is not None]
    if not pairs:
        return []
    xs = [p[0] for p in pairs]
    return [
        go.Scatter(
            x=xs + xs[::-1],
            y=[p[1][1] for p in pairs] + [p[1][0] for p in pairs][::-1],
            fill="toself",
            fillcolor=color,
            opacity=0.18,
            line=dict(width=0),
            hoverinfo="skip",
            name=f"{name} confidence band",
            showlegend=False,
        )
    ]


def _curve(x: list[str], y: list[float], *, name: str, color: str, width: float = 2.5) -> go.Scatter:
    """A line with markers: the line in a shade of ``color`` that reads on white, markers filled with it."""
    shade = line_color(color)
    return go.Scatter(
        x=x,
        y=y,
        mode="lines+markers",
        name=name,
        line=dict(color=shade, width=width),
        marker=dict(color=color, size=7, line=dict(width=1.2, color=shade)),
    )


def legend_below() -> dict[str, Any]:
    """A horizontal legend under the plot, from its left edge: it never squeezes the plot's width.

    Returns:
        The plotly ``legend`` layout entry.
    """
    return dict(orientation="h", y=-0.22, yanchor="top", x=0, xanchor="left")


def accuracy_curve_figure(evaluation: dict[str, Any]) -> go.Figure:
    """Overall accuracy, macro-F1 and kappa by as-of date with bootstrap confidence bands.

    Args:
        evaluation: the evaluation dict.

    Returns:
        The figure.
    """
    x = as_of_axis_dates(evaluation)
    rows = evaluation["by_as_of_date"]
    fig = go.Figure()
    for key, name, color in (
        ("overall_accuracy", "overall accuracy", "#0072b2"),
        ("macro_f1", "macro-F1", "#d55e00"),
        ("kappa", "Cohen's kappa", "#009e73"),
    ):
        for trace in _band(x, [row["intervals"][key] for row in rows], color, name):
            fig.add_trace(trace)
        fig.add_trace(_curve(x, [row[key] for row in rows], name=name, color=color))
    level = round(100 * rows[0]["intervals"]["level"]) if rows else 95
    fig.update_layout(
        **base_layout(f"Accuracy by as-of date (bands: {level} % bootstrap intervals)"),
        xaxis=dict(title="as-of date (observations up to this day)", tickformat="%d %b"),
        yaxis=dict(title="score (0–1)", range=[0, 1.02]),
        legend=legend_below(),
    )
    return fig


def comparison_figure(evaluations: list[dict[str, Any]], *, names: list[str]) -> go.Figure:
    """Macro-F1 by as-of date of several models on the same test split, with their confidence bands.

    Args:
        evaluations: the evaluation dicts, one per model.
        names: the models' names, same order.

    Returns:
        The figure.
    """
    fig = go.Figure()
    palette = ("#d55e00", "#0072b2", "#009e73", "#cc79a7", "#8b6d00", "#56606b")
    for k, (evaluation, name) in enumerate(zip(evaluations, names, strict=True)):
        x, rows, color = as_of_axis_dates(evaluation), evaluation["by_as_of_date"], palette[k % len(palette)]
        for trace in _band(x, [row["intervals"]["macro_f1"] for row in rows], color, name):
            fig.add_trace(trace)
        fig.add_trace(_curve(x, [row["macro_f1"] for row in rows], name=name, color=color))
    fig.update_layout(
        **base_layout("Macro-F1 by as-of date, model by model"),
        xaxis=dict(title="as-of date (observations up to this day)", tickformat="%d %b"),
        yaxis=dict(title="macro-F1 (0–1)", range=[0, 1.02]),
        legend=legend_below(),
    )
    return fig


def class_curve_figure(evaluation: dict[str, Any]) -> go.Figure:
    """Per-class F1 by as-of date in class colours (pale colours drawn darker), with the target F1 line.

    Args:
        evaluation: the evaluation dict.

    Returns:
        The figure.
    """
    x = as_of_axis_dates(evaluation)
    fig = go.Figure()
    for k, cls in enumerate(evaluation["classes"]):
        f1 = [row["per_class"][k]["f1"] for row in evaluation["by_as_of_date"]]
        bands = [row["intervals"]["per_class_f1"][k] for row in evaluation["by_as_of_date"]]
        for trace in _band(x, bands, cls["color"], cls["name"]):
            fig.add_trace(trace)
        fig.add_trace(_curve(x, f1, name=cls["name"], color=cls["color"]))
    target = evaluation["target_f1"]
    fig.add_hline(y=target, line=dict(color="#444", dash="dash"), annotation_text=f"target F1 {target:g}")
    fig.update_layout(
        **base_layout("F1 of each class by as-of date"),
        legend=legend_below(),
        xaxis=dict(title="as-of date", tickformat="%d %b"),
        yaxis=dict(title="F1 (0–1)", range=[0, 1.02]),
    )
    return fig


def confusion_figure(evaluation: dict[str, Any], *, as_of: str | None = None) -> go.Figure:
    """Confusion-matrix heatmap at the end of the season.

    A compact drop-down at the top left switches between counts and the two normalisations (by truth:
    recall view; by prediction: precision view), inside the figure at any width.

    Args:
        evaluation: the evaluation dict.
        as_of: the end of season's month-day, for the title.

    Returns:
        The figure.
    """
    names = [c["name"] for c in evaluation["classes"]]
    confusion = evaluation["confusion"]
    views = [
        ("counts", "counts", "d"),
        ("by_truth", "share of true class", ".2f"),
        ("by_prediction", "share of predicted class", ".2f"),
    ]
    fig = go.Figure()
    for i, (key, label, fmt) in enumerate(views):
        fig.add_trace(
            go.Heatmap(
                z=confusion[key],
                x=names,
                y=names,
                colorscale="Blues",
                visible=i == 0,
                texttemplate=f"%{{z:{fmt}}}",
                colorbar=dict(title=dict(text=label, side="right"), thickness=14),
                hovertemplate="truth %{y}<br>predicted %{x}<br>%{z}<extra></extra>",
            )
        )
    buttons = [
        dict(label=label, method="update", args=[{"visible": [j == i for j in range(len(views))]}])
        for i, (_, label, _) in enumerate(views)
    ]
    when = f"as of {as_of} (end of season)" if as_of else "end of season"
    fig.update_layout(
        **base_layout(f"Confusion matrix, {when}"),
        updatemenus=[
            dict(
                buttons=buttons,
                direction="down",
                type="dropdown",
                x=0,
                xanchor="left",
                y=1.02,
                yanchor="bottom",
                pad=dict(t=0, b=0, l=0, r=0),
                showactive=True,
            )
        ],
        xaxis=dict(title="predicted class", automargin=True),
        yaxis=dict(title="true class", autorange="reversed", automargin=True),
    )
    fig.update_layout(height=480, margin=dict(l=60, r=20, t=50, b=50))
    return fig


def _importance_results(result: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Importance results as a list (one per as-of date), whichever form the evaluation holds."""
    results = result if isinstance(result, list) else [result]
    return sorted(results, key=lambda r: str(r["as_of"]))


def importance_significance(result: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each as-of date and feature: importance, std and whether it stands out of the noise.

    A feature is significant when |importance| ≥ 2·std with at least two repeats.

    Args:
        result: the evaluation's importance result, one or a list (one per as-of date).

    Returns:
        One ``{as_of, name, importance, std, significant}`` per date and feature.
    """
    out = []
    for res in _importance_results(result):
        for f in res["features"]:
            std = float(f.get("std") or 0.0)
            significant = res.get("n_repeats", 0) >= 2 and abs(f["importance"]) >= 2 * std and f["importance"] != 0
            out.append(
                {
                    "as_of": res["as_of"],
                    "name": f["name"],
                    "importance": f["importance"],
                    "std": std,
                    "significant": bool(significant),
                }
            )
    return out


def importance_figure(result: dict[str, Any] | list[dict[str, Any]], *, title: str, axis: str) -> go.Figure:
    """Horizontal bars of permutation importance (drop of the metric) with ± one standard deviation.

    Error bars span the repeats; there is one group of bars per as-of date when there are several; bars
    within the noise (|importance| < 2·std) are pale and hatched.

    Args:
        result: the evaluation's importance result, one or a list (one per as-of date).
        title: the figure's title.
        axis: the title of the feature axis.

    Returns:
        The figure.
    """
    results = _importance_results(result)
    palette = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#8b6d00", "#56606b")
    fig = go.Figure()
    for k, res in enumerate(results):
        color = palette[k % len(palette)]
        rows = list(importance_significance(res))
        fig.add_trace(
            go.Bar(
                x=[r["importance"] for r in rows],
                y=[r["name"] for r in rows],
                orientation="h",
                name=f"as of {res['as_of']}",
                marker=dict(
                    color=color,
                    opacity=[1.0 if r["significant"] else 0.45 for r in rows],
                    pattern=dict(shape=["" if r["significant"] else "/" for r in rows]),
                ),
                error_x=dict(type="data", array=[r["std"] for r in rows], color="#222", thickness=1.2),
                customdata=[["" if r["significant"] else " (within the noise)"] for r in rows],
                hovertemplate="%{y}: %{x:.4f} ± %{error_x.array:.4f}%{customdata[0]}<extra>as of "
                f"{res['as_of']}</extra>",
            )
        )
    repeats = min(r["n_repeats"] for r in results)
    dates = ", ".join(str(r["as_of"]) for r in results)
    metric = {"macro_f1": "macro-F1", "overall_accuracy": "overall accuracy"}.get(
        results[0]["metric"], results[0]["metric"].replace("_", " ")
    )
    fig.update_layout(
        **base_layout(
            f"{title} (as of {dates}; {repeats} repeats)",
            height=max(360, 120 + 22 * len(results[0]["features"]) * len(results)),
        ),
        barmode="group",
        xaxis=dict(title=f"drop in {metric} (permuted)", zeroline=True, zerolinecolor="#444"),
        yaxis=dict(title=axis, autorange="reversed", automargin=True),
        legend=legend_below(),
        showlegend=len(results) > 1,
    )
    return fig


def attention_figure(attention: dict[str, list[float]]) -> go.Figure:
    """Share of an attention model's weight falling in each period of the season.

    Args:
        attention: ``day_of_season`` and ``weight`` lists.

    Returns:
        The figure.
    """
    fig = go.Figure(go.Bar(x=attention["day_of_season"], y=attention["weight"], marker_color="#cc79a7"))
    fig.update_layout(
        **base_layout("Attention by date"),
        xaxis=dict(title="day of season (days)"),
        yaxis=dict(title="share of attention"),
    )
    return fig


def course_windows_figure(course: dict[str, Any]) -> go.Figure:
    """Accuracy of the ARSET course protocol by window start (days after each pixel's first observation).

    The course's published figures are dashed lines when the evaluation carries them.

    Args:
        course: the evaluation's ``course_windows``.

    Returns:
        The figure.
    """
    windows = course["windows"]
    x = [w["start_offset_days"] for w in windows]
    fig = go.Figure(
        [
            go.Bar(x=x, y=[w["overall_accuracy"] for w in windows], name="overall accuracy", marker_color="#0072b2"),
            go.Bar(x=x, y=[w["macro_f1"] for w in windows], name="macro-F1", marker_color="#d55e00"),
        ]
    )
    published = course.get("published") or {}
    for key, name, color in (
        ("overall_accuracy", "published overall accuracy", "#0072b2"),
        ("macro_f1", "published macro-F1", "#d55e00"),
    ):
        if published.get(key) is not None and x:
            fig.add_trace(
                go.Scatter(
                    x=[min(x), max(x)],
                    y=[published[key]] * 2,
                    mode="lines",
                    name=f"{name} {published[key]:.3f}",
                    line=dict(color=line_color(color, minimum=4.5), dash="dash", width=2),
                )
            )
    fig.update_layout(
        **base_layout(f"Course protocol: {course['window_days']}-day windows"),
        xaxis=dict(title="window start (days after first observation)"),
        yaxis=dict(title="score (0–1)", range=[0, 1.02]),
        barmode="group",
        legend=legend_below(),
    )
    return fig


def _map_axes(crs: str | None) -> dict[str, Any]:
    unit = f"m, {crs}" if crs else "map units"
    return dict(
        xaxis=dict(title=f"x ({unit})", automargin=True),
        yaxis=dict(title=f"y ({unit})", scaleanchor="x", automargin=True),
    )


def point_years(evaluation: dict[str, Any]) -> list[int] | None:
    """The season of each map point when the evaluation records it (``map["year"]``).

    Args:
        evaluation: the evaluation dict.

    Returns:
        One season per point, or None when the points carry no season.
    """
    years = evaluation["map"].get("year")
    return None if years is None else [int(y) for y in years]


def _shown_points(evaluation: dict[str, Any], year: int | None) -> list[int]:
    years = point_years(evaluation)
    n = len(evaluation["map"]["x"])
    return [i for i in range(n) if year is None or years is None or years[i] == year]


def class_points_figure(evaluation: dict[str, Any], *, which: str, year: int | None = None) -> go.Figure:
    """Test points coloured by their true or predicted class, one trace (and legend entry) per class.

    Args:
        evaluation: the evaluation dict.
        which: ``"truth"`` or ``"prediction"``.
        year: the season to draw (all points when None or when points carry no season).

    Returns:
        The figure.
    """
    points = evaluation["map"]
    shown = _shown_points(evaluation, year)
    fig = go.Figure()
    for k, cls in enumerate(evaluation["classes"]):
        index = [i for i in shown if points[which][i] == k]
        if index:
            fig.add_trace(
                go.Scatter(
                    x=[points["x"][i] for i in index],
                    y=[points["y"][i] for i in index],
                    mode="markers",
                    name=cls["name"],
                    marker=dict(
                        color=cls["color"], size=9, line=dict(width=1, color=line_color(cls["color"], minimum=4.5))
                    ),
                )
            )
    label = "Truth" if which == "truth" else "Prediction (end of season)"
    season = f", season {year}" if year is not None and point_years(evaluation) is not None else ""
    fig.update_layout(**base_layout(f"{label}{season}", **_map_axes(points["crs"])), legend=legend_below())
    return fig


def confidence_points_figure(evaluation: dict[str, Any], *, year: int | None = None) -> go.Figure:
    """Test points coloured by the model's confidence (highest class probability).

    Args:
        evaluation: the evaluation dict.
        year: the season to draw (all points when None or when points carry no season).

    Returns:
        The figure.
    """
    points = evaluation["map"]
    shown = _shown_points(evaluation, year)
    fig = go.Figure(
        go.Scatter(
            x=[points["x"][i] for i in shown],
            y=[points["y"][i] for i in shown],
            mode="markers",
            marker=dict(
                color=[points["confidence"][i] for i in shown],
                colorscale="Viridis",
                cmin=0,
                cmax=1,
                size=9,
                colorbar=dict(title="confidence", thickness=14),
            ),
        )
    )
    fig.update_layout(**base_layout("Confidence (end of season)", **_map_axes(points["crs"])))
    return fig


def spatial_figure(evaluation: dict[str, Any]) -> go.Figure:
    """Accuracy of each field or block at its centre (colour: accuracy, size: samples).

    Args:
        evaluation: the evaluation dict.

    Returns:
        The figure.
    """
    spatial = evaluation["spatial"]
    groups = spatial["groups"]
    largest = max((g["n"] for g in groups), default=1)
    fig = go.Figure(
        go.Scatter(
            x=[g["x"] for g in groups],
            y=[g["y"] for g in groups],
            mode="markers",
            text=[f"{spatial['by']} {g['group']}: {g['correct']}/{g['n']} ({g['majority_label']})" for g in groups],
            hoverinfo="text",
            marker=dict(
                color=[g["accuracy"] for g in groups],
                colorscale="RdYlBu",
                cmin=0,
                cmax=1,
                size=[8 + 16 * g["n"] / largest for g in groups],
                colorbar=dict(title="accuracy", thickness=14),
                line=dict(width=0.5, color="#333"),
            ),
        )
    )
    fig.update_layout(**base_layout(f"Accuracy by {spatial['by']}", **_map_axes(spatial["crs"])))
    return fig


def viewer_layout() -> dict[str, Any]:
    """Plotly layout of the time-series viewer (the browser fills its traces from the chosen sample).

    Reflectance on top, NDVI with SCL-coloured markers below, the as-of predictions as a strip.

    Returns:
        The layout as plain JSON data.
    """
    layout = base_layout("Time series of the selected sample", height=680)
    layout.update(
        margin=dict(l=60, r=20, t=40, b=40),
        xaxis=dict(title="acquisition date", type="date", anchor="y3"),
        yaxis=dict(title="surface reflectance", domain=[0.56, 1.0]),
        yaxis2=dict(title="NDVI", domain=[0.26, 0.5], range=[-0.2, 1.0]),
        yaxis3=dict(title="as-of<br>prediction", domain=[0.06, 0.16], showticklabels=False, range=[-1, 1]),
        legend=dict(orientation="h", x=0, xanchor="left", y=-0.08, yanchor="top"),
        hovermode="closest",
        modebar=dict(orientation="v"),
    )  # a vertical toolbar on the right never covers the sample's title
    plotly_json: dict[str, Any] = go.Figure(layout=layout).layout.to_plotly_json()
    return plotly_json
