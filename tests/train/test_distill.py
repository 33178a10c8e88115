"""Knowledge distillation (issue 20, item 5): ``train --teacher`` trains a small network on the teacher's
probabilities as well as the labels, on the teacher's inputs and label map; the distillation term is the
tempered KL divergence; a teacher that cannot teach the run is refused with one line before anything is
written."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
import yaml

from inseason.bench.accuracy import as_band_names
from inseason.cli import app
from inseason.data import decode_series
from inseason.errors import InputError
from inseason.models import create_model
from inseason.train import Predictor, load_bundle, train
from inseason.train.losses import distillation_loss
from tests.train.conftest import RUN_OVERRIDES
from tests.train.helpers import module_for

#: The student runs of these tests: the teacher's short schedule (`RUN_OVERRIDES` of tests/train/conftest.py).
STUDENT = {"epochs": 5, "batch_size": 24, "optimizer.lr": 0.01, "augment.min_as_of": 180}


def test_the_distillation_term_is_the_tempered_kl_divergence() -> None:
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    teacher = torch.tensor([[1.0, 1.0, -2.0], [3.0, 0.0, 0.0]])
    t = 2.0
    p = torch.softmax(teacher / t, dim=1)
    expected = (p * (torch.log(p) - torch.log_softmax(student / t, dim=1))).sum(dim=1).mean() * t * t
    assert math.isclose(float(distillation_loss(student, teacher, temperature=t)), float(expected), rel_tol=1e-6)
    assert float(distillation_loss(teacher, teacher, temperature=t)) == pytest.approx(0.0, abs=1e-7)


def test_the_module_blends_the_teacher_term_into_the_loss() -> None:
    torch.manual_seed(0)
    network = create_model("tempcnn", n_bands=3, n_steps=6, n_classes=3, filters=4, hidden=8, seed=0)
    teacher = create_model("tempcnn", n_bands=3, n_steps=6, n_classes=3, filters=4, hidden=8, seed=1)
    values, mask = torch.randn(5, 6, 3), torch.ones(5, 6, dtype=torch.bool)
    doy, y = torch.zeros(5, 6, dtype=torch.int64), torch.tensor([0, 1, 2, 0, 1])
    plain = module_for(network)
    blended = module_for(network)
    blended._teacher, blended.distill_weight, blended.distill_temperature = [teacher.eval()], 0.7, 2.0
    network.eval()  # no dropout: both see the same logits
    with torch.no_grad():
        logits = network(values, mask, doy)
    hard = plain._training_loss(logits, y, None)
    teacher_logits = blended._teacher_logits(values, mask, doy)
    assert teacher_logits is not None and not teacher_logits.requires_grad
    soft = distillation_loss(logits, teacher_logits, temperature=2.0)
    assert float(blended._training_loss(logits, y, teacher_logits)) == pytest.approx(float(0.3 * hard + 0.7 * soft))
    assert "_teacher" not in dict(blended.named_children()) and not any("teacher" in k for k in blended.state_dict())


def test_a_student_learns_from_its_teacher_on_the_teachers_inputs(
    series_table: pa.Table, trained_run: tuple, tmp_path: Path
) -> None:
    teacher_run, _ = trained_run
    out = tmp_path / "student"
    result = train(
        series_table,
        out=out,
        overrides={
            "model.name": "tempcnn",
            "model.params": {"filters": 8, "hidden": 16},
            "distill.teacher": str(teacher_run),
            "distill.weight": 1.0,  # the teacher's probabilities only: what it learns, it learns from them
            **STUDENT,
        },
    )
    teacher, student = load_bundle(teacher_run), load_bundle(out)
    assert student.class_names == teacher.class_names and student.bands == teacher.bands
    assert student.spec.adapter == teacher.spec.adapter and student.spec.features == teacher.spec.features
    np.testing.assert_array_equal(student.spec.normalization.mean, teacher.spec.normalization.mean)
    np.testing.assert_array_equal(student.spec.normalization.std, teacher.spec.normalization.std)
    assert student.season_start == teacher.season_start
    assert isinstance(student.network, torch.nn.Module) and isinstance(teacher.network, torch.nn.Module)
    assert sum(p.numel() for p in student.network.parameters()) < sum(p.numel() for p in teacher.network.parameters())
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["distill"] == {"teacher": str(teacher_run), "weight": 1.0, "temperature": 2.0}
    assert config["adapt"] == [] and config["adapter"]["window_days"] == 240  # the teacher's, not adapted
    assert result.metrics["macro_f1"] is not None
    # what it learned, it learned from the teacher: it agrees with it more than the same network on the labels
    labels_only = train(
        series_table,
        out=tmp_path / "labels-only",
        overrides={**RUN_OVERRIDES, "model.params": {"filters": 8, "hidden": 16}, **STUDENT},
    )
    store = decode_series(series_table, season=teacher.season_start)
    test = np.flatnonzero(np.asarray(series_table.column("split").to_pylist()) == "test")
    taught = Predictor(teacher).predict_proba(store, rows=test).argmax(1)

    def agreement(run: str | Path) -> float:
        return float((Predictor(load_bundle(run)).predict_proba(store, rows=test).argmax(1) == taught).mean())

    assert agreement(out) >= 0.7 and agreement(out) > agreement(labels_only.out) + 0.05


def test_a_teacher_that_cannot_teach_the_run_is_refused_before_writing(
    series_table: pa.Table, trained_run: tuple, tmp_path: Path
) -> None:
    teacher_run, _ = trained_run

    def refused(table: pa.Table, match: str, **overrides: object) -> None:
        out = tmp_path / f"refused-{len(list(tmp_path.iterdir()))}"
        with pytest.raises(InputError, match=match):
            train(table, out=out, overrides={"distill.teacher": str(teacher_run), **STUDENT, **overrides})
        assert not out.exists() or not any(out.iterdir())

    refused(
        series_table,
        r"model 'gru' is designed for the sequence adapter, teacher .+ takes bucketed",
        **{"model.name": "gru"},
    )
    refused(
        series_table,
        "model 'random_forest' is not a network: a teacher trains networks only",
        **{"model.name": "random_forest"},
    )
    refused(
        as_band_names(series_table, {"BLUE": "B02", "RED": "B04", "NIR": "B08"}),
        r"trained on bands \[.+\], the series table has",
        **{"model.name": "tempcnn"},
    )
    refused(series_table, r"season_start=09-01, but teacher .+ counts days from 01-01", **{
        "model.name": "tempcnn", "season_start": "09-01"
    })  # fmt: skip
    relabelled = series_table.set_column(
        series_table.schema.get_field_index("label"),
        "label",
        pa.array(["Sorghum" if i == 0 else v for i, v in enumerate(series_table.column("label").to_pylist())]),
    )
    refused(
        relabelled,
        r"labels \['Sorghum'\] of the series table are not in teacher .+'s label map",
        **{"model.name": "tempcnn"},
    )


def test_train_teacher_on_the_cli_distils_into_the_small_preset(
    series_table: pa.Table, trained_run: tuple, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    teacher_run, _ = trained_run
    table = tmp_path / "series.parquet"
    pq.write_table(series_table, table)
    out = tmp_path / "student"
    result = CliRunner().invoke(
        app,
        ["train", str(table), "--out", str(out), "--teacher", str(teacher_run), "--set", "epochs=1", "--json"],
    )
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"] == {"name": "tempcnn", "params": {"filters": 16, "hidden": 64, "dropout": 0.2}}
    assert config["distill"]["teacher"] == str(teacher_run)
    assert load_bundle(out).class_names == load_bundle(teacher_run).class_names
    assert "--teacher" in CliRunner().invoke(app, ["train", "--help"]).output
