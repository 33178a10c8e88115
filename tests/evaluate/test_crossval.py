"""k-fold cross-validation of several models (`inseason.evaluate.crossval`): identical folds, the validation
carve, the per-fold and pooled scores, the paired test, resuming after a kill, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from inseason.data import synthetic_series
from inseason.errors import InputError
from inseason.evaluate import CrossValidateResult, run_cross_validate
from inseason.evaluate.crossval import CrossValidateRequest, corrected_resampled_t, cross_validate
from inseason.series.split import split_series

MODELS = ("random_forest", "tempcnn")


def _series(path: Path, *, n: int = 150, classes: tuple[str, ...] = ("Corn", "Soybeans", "Rice")) -> Path:
    """A series table of fields of 3 pixels scattered over 5 km (field ids, coordinates)."""
    pq.write_table(synthetic_series(n, seed=1, pixels_per_field=3, spread_m=5000, classes=classes), path)
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CrossValidateResult]:
    """One 3-fold cross-validation by field of a forest and a one-epoch TempCNN, shared read-only."""
    root = tmp_path_factory.mktemp("cv")
    series = _series(root / "series.parquet")
    result = cross_validate(
        series, out=root / "cv", models=MODELS, folds=3, by="field", overrides={"epochs": 1}, n_boot=20
    )
    return series, result


def test_every_model_is_trained_and_evaluated_on_the_same_folds(finished: tuple[Path, CrossValidateResult]) -> None:
    series, result = finished
    summary = result.summary
    assert result.ran == 6 and result.reused == 0 and summary["complete"]
    assert summary["folds"] == ["fold-0", "fold-1", "fold-2"] and summary["by"] == "field"
    assert summary["leakage_audit"]["leak_free"]
    table = pq.read_table(series)
    folds = pq.read_table(result.folds_table)
    assert sorted(folds.column("split").unique().to_pylist()) == summary["folds"]
    for fold in summary["folds"]:
        part = pq.read_table(result.out / "folds" / f"{fold}.parquet")
        split = np.array(part.column("split").to_pylist())
        fields = np.array(part.column("field_id").to_pylist())
        # the test part is the fold; validation is carved from the others by field, so no field is in two parts
        test_ids = set(folds.filter(pa.compute.equal(folds.column("split"), fold)).column("sample_id").to_pylist())
        assert set(np.array(part.column("sample_id").to_pylist())[split == "test"]) == test_ids
        for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
            assert not set(fields[split == a]) & set(fields[split == b]), (fold, a, b)
        labels = np.array(part.column("label").to_pylist())
        assert set(labels[split == "train"]) == set(table.column("label").to_pylist())
        assert summary["fold_sizes"][fold] == {s: int((split == s).sum()) for s in ("train", "validation", "test")}
        for model in MODELS:
            evaluation = json.loads((result.out / model / fold / "evaluation.json").read_text())
            assert evaluation["n"] == len(test_ids)
            assert evaluation["data"]["split"] == "test"
            config = (result.out / model / fold / "config.yaml").read_text()
            assert f"name: {model}" in config
    assert sum(s["test"] for s in summary["fold_sizes"].values()) == table.num_rows


def test_scores_are_summarised_per_fold_pooled_and_compared(finished: tuple[Path, CrossValidateResult]) -> None:
    _, result = finished
    summary = json.loads(result.summary_json.read_text())
    assert summary == result.summary
    for model in MODELS:
        entry = summary["models"][model]
        assert [row["fold"] for row in entry["folds"]] == summary["folds"]
        for metric in ("overall_accuracy", "macro_f1", "kappa"):
            values = [row[metric] for row in entry["folds"]]
            assert entry["mean"][metric] == pytest.approx(np.mean(values))
            assert entry["std"][metric] == pytest.approx(np.std(values, ddof=1))
        # pooled: every fold's test samples once; its accuracy is the share of all correct predictions
        assert entry["pooled"]["n"] == sum(row["n"] for row in entry["folds"])
        correct = sum(row["overall_accuracy"] * row["n"] for row in entry["folds"])
        assert entry["pooled"]["overall_accuracy"] == pytest.approx(correct / entry["pooled"]["n"])
    forest, cnn = summary["models"]["random_forest"], summary["models"]["tempcnn"]
    assert forest["mean"]["overall_accuracy"] > 0.9  # the fields are easy to tell apart
    comparisons = {c["metric"]: c for c in summary["comparisons"]}
    assert set(comparisons) == {"overall_accuracy", "macro_f1", "kappa"}
    oa = comparisons["overall_accuracy"]
    assert oa["models"] == ["random_forest", "tempcnn"] and oa["df"] == 2
    expected = [a["overall_accuracy"] - b["overall_accuracy"] for a, b in zip(forest["folds"], cnn["folds"])]
    assert oa["differences"] == pytest.approx(expected)
    ratio = np.mean([s["test"] / (s["train"] + s["validation"]) for s in summary["fold_sizes"].values()])
    t, p = corrected_resampled_t(expected, test_train_ratio=float(ratio))
    assert (oa["t"], oa["p_value"]) == (pytest.approx(t), pytest.approx(p))


def test_a_rerun_skips_finished_pairs_and_a_killed_pair_resumes(finished: tuple[Path, CrossValidateResult]) -> None:
    """In the shared folder (after the tests that read it): every pair ends finished again."""
    import shutil

    series, first = finished
    out = first.out
    again = cross_validate(series, out=out, models=MODELS, folds=3, by="field", overrides={"epochs": 1}, n_boot=20)
    assert (again.ran, again.reused) == (0, 6)
    assert again.summary == first.summary
    # a network killed after its end-of-epoch checkpoint, while bundling: resumed from last.ckpt (the finished
    # run's best checkpoint stands in for it); a forest killed mid-fit: started over
    cnn, forest = out / "tempcnn" / "fold-1", out / "random_forest" / "fold-2"
    shutil.copy(cnn / "checkpoints" / "best.ckpt", cnn / "checkpoints" / "last.ckpt")
    for name in ("summary.json", "evaluation.json", "weights.safetensors"):
        (cnn / name).unlink()
    shutil.rmtree(forest)
    forest.mkdir()
    (forest / "config.yaml").write_text("partial")
    resumed = cross_validate(series, out=out, models=MODELS, folds=3, by="field", overrides={"epochs": 1}, n_boot=20)
    assert (resumed.ran, resumed.reused) == (2, 4)
    assert json.loads((cnn / "summary.json").read_text())["resumed"] is True
    assert (forest / "evaluation.json").exists() and resumed.summary["complete"]
    # another model joins the same folds; other options are refused
    with pytest.raises(InputError, match=r"other options \(overrides\)"):
        cross_validate(series, out=out, models=MODELS, folds=3, by="field", overrides={"epochs": 2}, n_boot=20)


def test_the_paired_test_is_nadeau_bengios() -> None:
    d = [0.1, 0.2, 0.3]
    t, p = corrected_resampled_t(d, test_train_ratio=0.5)
    expected = 0.2 / np.sqrt((1 / 3 + 0.5) * 0.01)
    assert t == pytest.approx(expected)
    assert p == pytest.approx(2 * stats.t.sf(expected, df=2))
    # the plain paired t-test's variance is smaller, so its t is larger than the corrected one
    assert stats.ttest_1samp(d, 0).statistic > t
    assert corrected_resampled_t([0.1, 0.1, 0.1], test_train_ratio=0.5) == (None, None)
    assert corrected_resampled_t([0.1], test_train_ratio=0.5) == (None, None)


def test_split_makes_stratified_random_folds(tmp_path: Path) -> None:
    series = _series(tmp_path / "s.parquet", n=90)
    result = split_series(series, by="random", folds=3, out=tmp_path / "folds.parquet", quiet=True)
    assert result.samples == {"fold-0": 30, "fold-1": 30, "fold-2": 30}
    assert result.warnings and "random split" in result.warnings[0]
    for counts in result.audit["class_counts"].values():
        assert counts == {"Corn": 10, "Rice": 10, "Soybeans": 10}


def test_the_tables_own_folds_are_reused_and_a_leaking_fold_column_is_refused(tmp_path: Path) -> None:
    series = _series(tmp_path / "s.parquet", n=90)
    folded = tmp_path / "folds.parquet"
    split_series(series, by="field", folds=3, out=folded, quiet=True)
    table = pq.read_table(folded)
    split = table.column("split").to_pylist()
    fields = table.column("field_id").to_pylist()
    moved = next(i for i in range(len(split)) if fields[i] == fields[0] and i != 0)  # one pixel of field 0
    split[moved] = "fold-0" if split[0] != "fold-0" else "fold-1"
    leaky = table.set_column(table.schema.get_field_index("split"), "split", pa.array(split, pa.string()))
    pq.write_table(leaky, tmp_path / "leaky.parquet")
    with pytest.raises(InputError, match=r"folds of .*leaky.parquet leak by their own definition \(.*fields_in"):
        cross_validate(tmp_path / "leaky.parquet", out=tmp_path / "cv", models=["random_forest"], n_boot=5)
    assert not (tmp_path / "cv" / "random_forest").exists()


def test_a_class_missing_from_a_folds_training_part_is_named(tmp_path: Path) -> None:
    table = synthetic_series(90, seed=1, pixels_per_field=3, spread_m=5000, classes=("Corn", "Soybeans"))
    labels = table.column("label").to_pylist()
    fields = table.column("field_id").to_pylist()
    labels = ["Cotton" if f == fields[0] else label for label, f in zip(labels, fields)]  # one field only
    table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels, pa.string()))
    pq.write_table(table, tmp_path / "s.parquet")
    with pytest.raises(InputError, match=r"class 'Cotton' has no training samples in fold-\d .*all 3 of its samples"):
        cross_validate(tmp_path / "s.parquet", out=tmp_path / "cv", models=["random_forest"], folds=3, n_boot=5)
    assert not (tmp_path / "cv" / "random_forest").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"models": ()}, "at least one model"),
        ({"models": ("random_forest", "random_forest")}, "given twice"),
        ({"models": ("forest",)}, r"unknown models \['forest'\]"),
        ({"folds": 1}, "at least 2 folds"),
        ({"validation": 0.7}, r"--validation 0.7"),
    ],
)
def test_bad_options_are_refused(options: dict, message: str, tmp_path: Path) -> None:
    values = {"series": tmp_path / "s.parquet", "out": tmp_path / "cv", "models": ("random_forest",), **options}
    with pytest.raises(InputError, match=message):
        run_cross_validate(CrossValidateRequest.of(**values))
