"""`inseason bench scaling`: the exponent fit, the long-table generator and a small run of the bench."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from inseason.bench.scaling import (
    FACTORS,
    STAGES,
    bench_scaling,
    bench_scaling_markdown,
    fitted_exponent,
    make_long_table,
)
from inseason.cli import app
from inseason.errors import InputError
from inseason.observations import read_manifest
from inseason.predict.maps import read_summary
from inseason.series.long_table import import_series


@pytest.mark.parametrize("power", [0.5, 1.0, 2.0])
def test_the_exponent_of_a_power_law_is_its_power(power: float) -> None:
    sizes = [100, 200, 400]
    assert fitted_exponent(sizes, [3.0 * s**power for s in sizes]) == pytest.approx(power)


def test_a_fixed_start_up_cost_pulls_the_exponent_below_one() -> None:
    sizes = [100, 200, 400]
    assert 0.5 < fitted_exponent(sizes, [5.0 + 0.05 * s for s in sizes]) < 1.0


@pytest.mark.parametrize(
    ("sizes", "seconds", "words"),
    [([100, 100], [1.0, 2.0], "two or more distinct sizes"), ([1, 2], [0.0, 1.0], "positive times")],
)
def test_an_exponent_needs_distinct_sizes_and_positive_times(sizes, seconds, words) -> None:
    with pytest.raises(InputError, match=words):
        fitted_exponent(sizes, seconds)


def test_the_long_table_is_shuffled_text_dated_and_imports_to_one_series_a_sample(tmp_path: Path) -> None:
    path = tmp_path / "long.parquet"
    rows = make_long_table(path, samples=30, per_sample=10)
    table = pq.read_table(path)
    assert rows == table.num_rows == 300
    assert str(table.schema.field("date").type) == "string" and table.column("date")[0].as_py()[4] == "-"
    ids = table.column("sample_id").to_pylist()
    assert ids != sorted(ids)  # not grouped by sample: the import must sort
    report = import_series(path, out=tmp_path / "series.parquet", quiet=True)
    assert report.rows == 300 and report.samples == 30 and report.bands == ("red", "nir", "swir16")
    assert report.series == 30 and report.samples_across_seasons == 0  # a sample's dates lie in one season


def test_a_small_run_measures_each_size_in_its_own_process() -> None:
    results = bench_scaling(stages=["import"], scale=0.01, quiet=True)
    r = results["import"]
    assert r["unit"] == "rows" and r["sizes"] == [round(STAGES["import"].base * 0.01 * f) for f in FACTORS]
    assert len(r["seconds"]) == len(r["peak_mb"]) == len(FACTORS)
    assert all(s > 0 for s in r["seconds"]) and all(p > 50 for p in r["peak_mb"])  # a Python with pyarrow
    assert r["exponent"] == round(fitted_exponent(r["sizes"], r["seconds"]), 2)
    assert r["per_second"] == round(r["sizes"][-1] / r["seconds"][-1], 1)
    text = bench_scaling_markdown(results)
    assert "| import | 2,500 / 5,000 / 10,000 rows |" in text and "highest exponent: import" in text


@pytest.mark.parametrize(
    ("options", "words"),
    [({"stages": ["import", "nope"]}, "unknown stage(s) ['nope']"), ({"scale": 1e-5}, "leaves too little work")],
)
def test_bad_options_are_one_line_errors(options: dict, words: str) -> None:
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")) as caught:
        bench_scaling(**options, quiet=True)
    assert "\n" not in str(caught.value)


def test_cli_json_has_an_exponent_per_stage() -> None:
    done = CliRunner().invoke(app, ["bench", "scaling", "--stages", "import", "--scale", "0.01", "--json"])
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout)
    assert set(printed) == {"import"}
    assert set(printed["import"]) == {"unit", "sizes", "seconds", "peak_mb", "exponent", "per_second"}


@pytest.fixture(scope="module")
def raster_root(tmp_path_factory: pytest.TempPathFactory, tiny_world: Path) -> Path:
    """One run folder for the raster stages' tests, holding the session's tiny world (read only) where
    `bench_scaling` makes its own: the stages find it there as they find the world they made for a first size."""
    root = tmp_path_factory.mktemp("scaling")
    (root / "world").symlink_to(tiny_world, target_is_directory=True)
    return root


@pytest.mark.parametrize("name", list(STAGES))
def test_every_stage_runs_in_its_child_process(name: str, tmp_path: Path, raster_root: Path) -> None:
    """Each stage's input is prepared and its child runs it (one small size: the sizes loop is tested above)."""
    from inseason.bench.scaling import _run

    folder = (raster_root if name in ("extract", "predict") else tmp_path) / name / "12"
    folder.mkdir(parents=True)
    STAGES[name].prepare(folder, 12, 0)
    measured = _run(STAGES[name], folder)
    assert measured["seconds"] > 0 and measured["peak_mb"] > 50
    if name == "extract":  # 12 scenes read at the world's label points
        manifest = read_manifest(folder / "observations")
        assert len(manifest) == 12 and all(e["status"] == "done" for e in manifest.values())
        assert sum(e["observations"] for e in manifest.values()) > 0
    if name == "predict":  # a 12-pixel square (about 35 m) mapped as of 1 August
        assert 4 <= sum(read_summary(folder / "maps").mapped_pixels.values()) <= 30


def test_the_raster_stages_refuse_more_work_than_their_world_holds(raster_root: Path) -> None:
    for name, size, words in (("extract", 10_000, "extract needs 10000 scenes"), ("predict", 10**8, "predict needs")):
        folder = raster_root / name / str(size)
        folder.mkdir(parents=True)
        with pytest.raises(InputError, match=words):
            STAGES[name].prepare(folder, size, 0)


def test_too_much_raster_work_is_refused_before_any_stage_runs(
    raster_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The raster stages' world is made and their largest sizes checked before the first stage is timed."""
    from inseason.bench import scaling

    made = scaling._shared_world(raster_root, 0)
    ran: list[str] = []
    monkeypatch.setattr(scaling, "_shared_world", lambda root, seed: made)
    monkeypatch.setattr(scaling, "_run", lambda stage, folder: ran.append(stage.name))
    with pytest.raises(InputError, match="predict needs a square of"):
        scaling.bench_scaling(stages=["import", "predict"], scale=1000, quiet=True)
    assert ran == []
