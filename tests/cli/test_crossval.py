"""``inseason cross-validate`` on the command line: random folds of two models, the printed tables, ``--json``,
and ``inseason report`` of the cross-validation folder."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from inseason.cli import app
from inseason.data import synthetic_series
from tests.cli.helpers import runner


def test_cross_validate_prints_the_comparison_and_report_draws_it(tmp_path: Path) -> None:
    series = tmp_path / "series.parquet"
    pq.write_table(synthetic_series(60, seed=3, classes=("Corn", "Soybeans")), series)
    out = tmp_path / "cv"
    args = ["cross-validate", str(series), "--folds", "2", "--by", "random", "--models", "random_forest,tempcnn"]
    args += ["--set", "epochs=1", "--n-boot", "5", "--out", str(out)]
    ran = runner.invoke(app, args)
    assert ran.exit_code == 0, ran.output
    assert "2-fold cross-validation (random folds)" in ran.output
    assert "mean ± sd" in ran.output and "pooled" in ran.output
    assert "Nadeau-Bengio corrected resampled t-test" in ran.output
    assert "4 model and fold pairs run, 0 reused" in ran.output
    again = runner.invoke(app, [*args, "--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.output)
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["by"] == "random" and summary["folds"] == ["fold-0", "fold-1"]
    assert [len(summary["models"][m]["folds"]) for m in ("random_forest", "tempcnn")] == [2, 2]
    html = tmp_path / "report.html"
    drawn = runner.invoke(app, ["report", str(out), "--out", str(html)])
    assert drawn.exit_code == 0, drawn.output
    page = html.read_text()
    assert "Models compared by cross-validation" in page and "Macro-F1 per fold" in page
    assert page.count("random_forest − tempcnn") == 3  # one row per metric in the paired table
