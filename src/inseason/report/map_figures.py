"""Plotly figures of wall-to-wall maps (a `inseason.report.maps.MapSet`).

The class map and the confidence map with a date slider across the as-of dates, the truth in the same
colours, and mapped (and error-adjusted) areas of each class by date.

Rasters are drawn as heatmaps of uint8 arrays (plotly stores them as compact typed arrays) with value 0
(nodata) transparent; class colours come from the COG's colour table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from inseason.report.figures import base_layout, legend_below, line_color
from inseason.report.maps import MapClass, MapSet, class_hectares

_TRANSPARENT = "rgba(255,255,255,0)"


def class_colorscale(classes: list[MapClass]) -> list[list[Any]]:
    """A stepped colour scale for values 0…K over ``zmin=-0.5, zmax=K+0.5``.

    Args:
        classes: the map's classes, in band-1 order.

    Returns:
        The plotly colour scale: 0 transparent, value k the colour of class k.
    """
    steps = len(classes) + 1
    scale: list[list[Any]] = [[0.0, _TRANSPARENT], [1 / steps, _TRANSPARENT]]
    for k, cls in enumerate(classes, start=1):
        scale += [[k / steps, cls.color], [(k + 1) / steps, cls.color]]
    return scale


def confidence_colorscale() -> list[list[Any]]:
    """Viridis over 1…100 % with 0 (nodata) transparent, for ``zmin=0, zmax=100``.

    Returns:
        The plotly colour scale.
    """
    colors = sample_colorscale("Viridis", [i / 10 for i in range(11)])
    return [[0.0, _TRANSPARENT], [0.005, _TRANSPARENT]] + [[0.01 + 0.99 * i / 10, c] for i, c in enumerate(colors)]


def _axes(maps: MapSet) -> dict[str, Any]:
    return dict(
        xaxis=dict(title=f"easting (m, {maps.crs})", automargin=True),
        yaxis=dict(title="northing (m)", scaleanchor="x", automargin=True),
    )


def _raster(array: np.ndarray, maps: MapSet, **trace: Any) -> go.Heatmap:
    """A heatmap of ``array`` (rows north to south) placed at the map coordinates of the pixel centres."""
    t = maps.transform
    height = array.shape[0]
    # Rows are flipped so that y grows upwards with a positive step.
    return go.Heatmap(
        z=np.ascontiguousarray(array[::-1]), x0=t.c + t.a / 2, dx=t.a, y0=t.f + t.e * (height - 0.5), dy=-t.e, **trace
    )


def _class_trace(array: np.ndarray, maps: MapSet, *, visible: bool, name: str) -> go.Heatmap:
    return _raster(
        array,
        maps,
        colorscale=class_colorscale(maps.classes),
        zmin=-0.5,
        zmax=len(maps.classes) + 0.5,
        showscale=False,
        visible=visible,
        name=name,
        hovertemplate="x %{x:.0f}<br>y %{y:.0f}<br>class %{z}<extra>" + name + "</extra>",
    )


def _slider(dates: list[str], *, prefix: str) -> dict[str, Any]:
    steps = [
        dict(label=date[5:], method="update", args=[{"visible": [j == i for j in range(len(dates))]}])
        for i, date in enumerate(dates)
    ]
    return dict(
        active=len(dates) - 1,
        steps=steps,
        x=0,
        xanchor="left",
        len=1.0,
        y=0,
        yanchor="top",
        pad=dict(t=50, b=10),
        currentvalue=dict(prefix=prefix, font=dict(size=13)),
    )


def _dated_figure(maps: MapSet, traces: list[go.Heatmap], title: str) -> go.Figure:
    """A map figure of one trace per as-of date (the last one shown), with a date slider when there are several."""
    dates = [layer.as_of for layer in maps.layers]
    fig = go.Figure(traces)
    fig.update_layout(
        **base_layout(title, height=560, **_axes(maps)),
        sliders=[_slider(dates, prefix="as of ")] if len(dates) > 1 else [],
    )
    return fig


def class_map_figure(maps: MapSet) -> go.Figure:
    """The class map of each as-of date, one at a time, with a slider across the dates (last shown).

    Args:
        maps: the maps.

    Returns:
        The figure.
    """
    last = len(maps.layers) - 1
    traces = [
        _class_trace(layer.classes, maps, visible=i == last, name=f"as of {layer.as_of}")
        for i, layer in enumerate(maps.layers)
    ]
    return _dated_figure(maps, traces, "Class map")


def confidence_map_figure(maps: MapSet) -> go.Figure:
    """The confidence (winning class probability, %) of each as-of date, with a slider across the dates.

    Args:
        maps: the maps.

    Returns:
        The figure.
    """
    last = len(maps.layers) - 1
    traces = [
        _raster(
            layer.confidence,
            maps,
            colorscale=confidence_colorscale(),
            zmin=0,
            zmax=100,
            visible=i == last,
            name=f"as of {layer.as_of}",
            colorbar=dict(title=dict(text="confidence (%)", side="right"), thickness=14),
            hovertemplate="x %{x:.0f}<br>y %{y:.0f}<br>%{z} %<extra></extra>",
        )
        for i, layer in enumerate(maps.layers)
    ]
    return _dated_figure(maps, traces, "Confidence")


def truth_map_figure(maps: MapSet) -> go.Figure:
    """The truth raster on the map grid in the map's classes and colours.

    Args:
        maps: the maps, with their truth.

    Returns:
        The figure.

    Raises:
        ValueError: the map set has no truth.
    """
    if maps.truth is None:
        raise ValueError("the map set has no truth raster")
    fig = go.Figure(_class_trace(maps.truth, maps, visible=True, name="truth"))
    fig.update_layout(**base_layout(f"Truth ({maps.truth_source}) in the model's classes", height=560, **_axes(maps)))
    return fig


def area_figure(maps: MapSet, adjusted: list[dict[str, Any]] | None = None) -> go.Figure:
    """Mapped area (ha) of each class by as-of date, with the error-adjusted areas when given.

    Args:
        maps: the maps.
        adjusted: `inseason.report.maps.error_adjusted_areas`, drawn as dashed lines with 95 % interval bars.

    Returns:
        The figure.
    """
    dates = [area["as_of"] for area in maps.areas]
    fig = go.Figure()
    for cls in maps.classes:
        hectares = [class_hectares(area, cls.name) for area in maps.areas]
        shade = line_color(cls.color)
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=hectares,
                mode="lines+markers",
                name=f"{cls.name} (mapped)",
                line=dict(color=shade, width=2.5),
                marker=dict(color=cls.color, size=8, line=dict(width=1.2, color=shade)),
                hovertemplate=f"{cls.name}: %{{y:,.1f}} ha mapped<extra>%{{x}}</extra>",
            )
        )
        if adjusted:
            points = [
                (entry["as_of"], c)
                for entry in adjusted
                if "classes" in entry
                for c in entry["classes"]
                if c["name"] == cls.name
            ]
            if points:
                fig.add_trace(
                    go.Scatter(
                        x=[p[0] for p in points],
                        y=[p[1]["area_ha"] for p in points],
                        mode="lines+markers",
                        name=f"{cls.name} (error-adjusted)",
                        line=dict(color=shade, width=1.5, dash="dash"),
                        marker=dict(symbol="diamond", color=cls.color, size=8, line=dict(width=1.2, color=shade)),
                        error_y=dict(type="data", array=[p[1]["area_ci_ha"] for p in points], color=shade),
                        hovertemplate=f"{cls.name}: %{{y:,.1f}} ± %{{error_y.array:,.1f}} ha adjusted"
                        "<extra>%{x}</extra>",
                    )
                )
    fig.update_layout(
        **base_layout("Area of each class by as-of date"),
        xaxis=dict(title="as-of date", type="date", tickformat="%d %b"),
        yaxis=dict(title="area (ha)", rangemode="tozero"),
        legend=legend_below(),
    )
    return fig
