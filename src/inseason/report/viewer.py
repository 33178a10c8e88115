"""The time-series viewer's browser code: draws the sample chosen in ``#sample-picker`` with Plotly.

It reads five JSON script elements written by the report (``viewer-samples``, ``viewer-layout``,
``viewer-classes``, ``viewer-scl``, ``viewer-band-colors``: one distinct colour per band) and redraws
``#timeseries-viewer`` with ``Plotly.react`` on each choice.
Kept as a Python string so it ships with the package without package-data rules.
"""

VIEWER_JS = r"""
// Time-series viewer of the inseason report: draws the sample chosen in #sample-picker with Plotly.
(function () {
  "use strict";
  const read = (id) => JSON.parse(document.getElementById(id).textContent);
  const samples = read("viewer-samples");
  const layout = read("viewer-layout");
  const classColor = Object.fromEntries(read("viewer-classes").map((c) => [c.name, c.color]));
  const scl = read("viewer-scl");
  const bandColors = read("viewer-band-colors");
  const picker = document.getElementById("sample-picker");
  const percent = (p) => Math.round(p * 100) + " %";

  function traces(sample) {
    const out = Object.entries(sample.bands).map(([band, values]) => ({
      type: "scatter", mode: "lines+markers", x: sample.dates, y: values, name: band, yaxis: "y",
      marker: { size: 4, color: bandColors[band] }, line: { width: 1.5, color: bandColors[band] },
      hovertemplate: band + " %{y:.4f}<br>%{x|%d %b %Y}<extra></extra>",
    }));
    const sclText = sample.scl ? sample.scl.map((c) => "SCL " + c + ": " + (scl[c] ? scl[c][0] : "?")) : null;
    const sclColors = sample.scl ? sample.scl.map((c) => (scl[c] ? scl[c][1] : "#888888")) : "#2a7f2a";
    if (sample.ndvi) {
      out.push({
        type: "scatter", mode: "lines+markers", x: sample.dates, y: sample.ndvi, name: "NDVI", yaxis: "y2",
        line: { color: "#2a7f2a", width: 2 }, text: sclText,
        marker: { size: 9, color: sclColors, line: { width: 1, color: "#333333" } },
        hovertemplate: "NDVI %{y:.3f}<br>%{x|%d %b %Y}<br>%{text}<extra></extra>",
      });
    }
    out.push({
      type: "scatter", mode: "markers", x: sample.as_of.map((p) => p.date), y: sample.as_of.map(() => 0),
      yaxis: "y3", name: "prediction as of date", showlegend: true,
      text: sample.as_of.map((p) => p.label + " (" + percent(p.probability) + ")"),
      marker: { size: 16, symbol: "square", color: sample.as_of.map((p) => classColor[p.label] || "#888888"),
                line: { width: 1, color: "#333333" } },
      hovertemplate: "as of %{x|%d %b}: %{text}<extra></extra>",
    });
    return out;
  }

  function show(index) {
    const sample = samples[index];
    const title = "Sample " + sample.sample_id + " — truth: " + sample.label + " (season " + sample.year + ")";
    const figureLayout = Object.assign({}, layout, { title: Object.assign({}, layout.title, { text: title }) });
    Plotly.react("timeseries-viewer", traces(sample), figureLayout,
                 { displaylogo: false, responsive: true, displayModeBar: "hover" });
  }

  picker.addEventListener("change", () => show(Number(picker.value)));
  if (samples.length) { show(0); }
})();
"""
