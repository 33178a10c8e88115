"""The evaluate stage's typed requests and result: one validation for the CLI and the Python API, and a result
that holds what evaluation.json says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from inseason.cli import app
from inseason.data import synthetic_series
from inseason.errors import InputError
from inseason.evaluate import EvaluatePredictorRequest, evaluate_predictor, run_evaluate_predictor
from inseason.evaluate.fake import FAKE_CLASSES, TemplatePredictor, fake_series
from inseason.evaluate.predictor import StorePredictFn
from inseason.evaluate.run import (
    EVALUATION_FILE,
    BundlePredictFn,
    EvaluateRequest,
    EvaluateResult,
    evaluate_run,
    run_evaluate,
)
from inseason.train import load_bundle, train

runner = CliRunner()

#: A one-epoch tempcnn, enough to have a bundle to score.
_OVERRIDES = {
    "model.name": "tempcnn",
    "model.params": {"filters": 8, "hidden": 16},
    "adapter.kind": "bucketed",
    "adapter.window_days": 240,
    "features.indices": ["NDVI"],
    "epochs": 1,
    "batch_size": 24,
}


@pytest.fixture(scope="module")
def run_and_split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A short training run and the split series table it was trained on (read-only)."""
    root = tmp_path_factory.mktemp("evaluate-request")
    table = synthetic_series(120, seed=4)
    pq.write_table(table, root / "split.parquet")
    train(table, out=root / "run", overrides=_OVERRIDES, quiet=True)
    return root / "run", root / "split.parquet"


@pytest.mark.parametrize(
    ("flags", "options", "message"),
    [
        (["--by", "county"], {"by": "county"}, "spatial grouping 'county': choose 'field' or 'block'"),
        (["--n-boot", "0"], {"n_boot": 0}, "n_boot=0: the bootstrap needs at least one replicate"),
        (["--target-f1", "1.5"], {"target_f1": 1.5}, "target F1 1.5 must lie in (0, 1]"),
        (
            ["--as-of", "05-01,05-01"],
            {"as_of": ["05-01", "05-01"]},
            "as-of dates ['05-01', '05-01'] repeat a date: give each once",
        ),
        (
            ["--as-of", "13-01"],
            {"as_of": ["13-01"]},
            "as-of date '13-01' is not a month-day like 01-01 or 10-01 (MM-DD)",
        ),
    ],
)
def test_a_bad_option_is_refused_alike_by_the_api_and_the_cli(
    flags: list[str], options: dict[str, Any], message: str, tmp_path: Path
) -> None:
    """The request refuses the options before the run or the table is read (neither exists) or out is made."""
    run, series, out = tmp_path / "no-run", tmp_path / "missing.parquet", tmp_path / "evaluation.json"
    with pytest.raises(InputError) as api:
        evaluate_run(run, series, out=out, **options)
    result = runner.invoke(app, ["--quiet", "evaluate", str(run), str(series), *flags, "--out", str(out)])
    assert isinstance(result.exception, InputError), result.output
    assert str(result.exception) == str(api.value) == message
    assert not out.exists()


def test_importance_repeats_below_one_are_refused_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"importance_repeats=0: permute each band or period at least once"):
        evaluate_run(tmp_path / "no-run", tmp_path / "missing.parquet", importance_repeats=0)


def test_the_predictor_request_refuses_what_evaluate_predictor_refused() -> None:
    table = fake_series(n_fields=1, pixels_per_field=1, seed=1)
    for options, message in (
        ({"spatial_by": "county"}, "spatial grouping 'county': choose 'field' or 'block'"),
        ({"class_codes": [1]}, "1 class codes given for 4 classes: give one code (or None) each"),
        ({"level": 1.0}, "confidence level 1.0 must lie strictly between 0 and 1"),
    ):
        with pytest.raises(InputError) as api:
            evaluate_predictor(TemplatePredictor(), table, classes=list(FAKE_CLASSES), **options)
        with pytest.raises(InputError) as request:
            EvaluatePredictorRequest.of(classes=FAKE_CLASSES, **options)
        assert str(api.value) == str(request.value) == message


def test_a_bad_type_names_the_option() -> None:
    with pytest.raises(InputError, match="invalid EvaluateRequest option n_boot"):
        EvaluateRequest.of(run="runs/a", series="split.parquet", n_boot="many")


def test_requests_round_trip_through_their_dump() -> None:
    request = EvaluateRequest.of(
        run="runs/a",
        series="split.parquet",
        split="validation",
        as_of=["05-01", "08-01"],
        target_f1=0.7,
        by="block",
        block_size=500.0,
        course_protocol=True,
        n_boot=50,
        seed=3,
        out="elsewhere/evaluation.json",
        quiet=False,
    )
    assert EvaluateRequest.of(**request.model_dump()) == request
    assert request.as_of == ("05-01", "08-01") and request.out == Path("elsewhere/evaluation.json")
    scored = EvaluatePredictorRequest.of(
        classes=FAKE_CLASSES,
        class_codes=[1, None, 3, None],
        class_colors=[None, "#112233", None, None],
        bands=["B04", "B08"],
        as_of=["06-01"],
        spatial_by="block",
        importance_as_of=["06-01"],
        config={"model": {"name": "template"}},
        leakage_audit={"passed": True},
        extra_summary={"run": "runs/a"},
        title="t",
    )
    assert EvaluatePredictorRequest.of(**scored.model_dump()) == scored


def test_the_result_holds_what_evaluation_json_says(run_and_split: tuple[Path, Path], tmp_path: Path) -> None:
    run, split = run_and_split
    out = tmp_path / "e.json"
    result = run_evaluate(
        EvaluateRequest.of(run=str(run), series=str(split), as_of=("05-01", "08-01"), n_boot=20, out=str(out))
    )
    assert isinstance(result, EvaluateResult) and result.path == out
    written = json.loads(out.read_text())
    assert written == result.evaluation
    assert result.end_of_season == written["end_of_season"] == "12-31"
    assert (result.overall_accuracy, result.macro_f1, result.kappa, result.n) == tuple(
        written[k] for k in ("overall_accuracy", "macro_f1", "kappa", "n")
    )
    assert result.best_as_of == written["best_as_of"] and result.best_as_of is not None
    assert result.best_as_of["as_of"] in ("05-01", "08-01")
    assert result.sample_size == written["sample_size"] and result.sample_size["n"] == result.n
    # the CLI prints the same headline; the keyword wrapper writes the same document beside the run
    cli = runner.invoke(
        app, ["evaluate", str(run), str(split), "--as-of", "05-01,08-01", "--n-boot", "20", "--out", str(out), "--json"]
    )
    assert cli.exit_code == 0, cli.output
    headline = json.loads(cli.stdout)
    assert headline["overall_accuracy"] == result.overall_accuracy and headline["best_as_of"] == result.best_as_of
    again = evaluate_run(run, split, as_of=["05-01", "08-01"], n_boot=20, out=tmp_path / EVALUATION_FILE)
    assert again.path == tmp_path / EVALUATION_FILE and again.evaluation == result.evaluation


def test_evaluate_predictor_writes_nothing() -> None:
    table = fake_series(n_fields=2, pixels_per_field=2, seed=1)
    result = evaluate_predictor(
        TemplatePredictor(), table, classes=list(FAKE_CLASSES), n_boot=20, importance=False, as_of=["06-01"]
    )
    assert result.path is None and result.n == result.evaluation["n"] == 16
    assert result.sample_size == result.evaluation["sample_size"] and result.sample_size["too_small"] is True
    assert result.sample_size["warning"] is not None and result.sample_size["warning"].startswith(
        "Only 16 test samples"
    )


class _CountingBundle(BundlePredictFn):
    """The bundle predictor, counting how often it decodes a table."""

    decodes = 0

    def decode(self, table: Any) -> Any:
        self.decodes += 1
        return super().decode(table)


class _TablesOnly:
    """The same bundle seen as a plain `PredictFn` (tables only): evaluation decodes per date and permutation."""

    def __init__(self, inner: _CountingBundle) -> None:
        self.inner = inner

    def __call__(self, table: Any, *, as_of: Any) -> Any:
        return self.inner(table, as_of=as_of)


def test_one_decode_gives_the_numbers_of_a_decode_per_date_and_permutation(run_and_split: tuple[Path, Path]) -> None:
    run, _ = run_and_split
    bundle = load_bundle(run)
    table = synthetic_series(16, seed=5, years=(2021, 2022), splits=(("test", 1.0),))  # two seasons: per-row days
    request = EvaluatePredictorRequest.of(
        classes=bundle.class_names,
        bands=bundle.bands,
        as_of=["04-01", "06-15", "09-01"],
        season_start=bundle.season_start,
        n_boot=20,
        importance_repeats=2,
        quiet=True,
    )
    once = _CountingBundle(bundle)
    assert isinstance(once, StorePredictFn) and not isinstance(_TablesOnly(once), StorePredictFn)
    stored = run_evaluate_predictor(once, table, request).evaluation
    assert once.decodes == 1
    per_pass = _CountingBundle(bundle)
    tables = run_evaluate_predictor(_TablesOnly(per_pass), table, request).evaluation
    # 3 curve dates × 2 seasons + the end of season × 2, then the importance's baselines and permutations
    assert per_pass.decodes > 6 + 2 + 3 * 2 * (1 + 2 * len(bundle.bands))
    assert stored["importance"]["bands"][0]["features"][0]["n_observations"] > 0
    for key in ("by_as_of_date", "overall_accuracy", "macro_f1", "confusion", "importance", "calibration", "map"):
        assert stored[key] == tables[key], key
