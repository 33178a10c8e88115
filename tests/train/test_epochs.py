"""Epochs and early stopping from the data size when the config leaves them open; explicit values are kept."""

from __future__ import annotations

import lightning as L
import pytest
import yaml
from lightning.pytorch.callbacks import EarlyStopping

from inseason.data import synthetic_series
from inseason.errors import InputError
from inseason.train import schedule, train, train_config
from inseason.train.schedule import auto_batch_size, auto_epochs, planned_epochs, resolve_epochs

NETWORK = {
    "model.name": "tempcnn",
    "model.params": {"filters": 8, "hidden": 16},
    "adapter.kind": "bucketed",
    "batch_size": 16,
    "checkpoint_every_n_steps": 2,
    "histograms": False,
}


@pytest.mark.parametrize(
    ("n_train", "batch_size", "devices", "expected"),
    [
        (240, 128, 1, (150, 30)),  # 2 steps an epoch: 2 500 epochs clipped to 150
        (6_500, 128, 1, (99, 19)),  # 51 steps an epoch: 5 000 / 51 → 99
        (6_500, 128, 2, (150, 30)),  # two devices: 26 steps an epoch, 193 epochs clipped to 150
        (100_000, 128, 1, (20, 10)),  # 782 steps an epoch: 7 epochs raised to 20; patience at least 10
    ],
)
def test_auto_epochs_aim_at_a_number_of_steps_within_the_range(n_train, batch_size, devices, expected):
    assert auto_epochs(n_train, batch_size=batch_size, devices=devices) == expected


@pytest.mark.parametrize(
    ("n_train", "devices", "expected"),
    [
        (90, 1, 16),  # 6 steps an epoch: the smallest batch
        (255, 1, 16),  # 255 / 8 = 31.9: the power of two below is 16
        (256, 1, 32),  # 8 steps of 32
        (780, 1, 64),  # 97.5 → 64: 13 steps an epoch
        (1_024, 1, 128),
        (6_500, 1, 128),  # the largest batch, as before batch sizes followed the data
        (1_024, 2, 64),  # two devices: 8 steps an epoch each with 64
    ],
)
def test_auto_batch_size_gives_eight_steps_an_epoch_within_the_range(n_train, devices, expected):
    assert auto_batch_size(n_train, devices=devices) == expected
    assert n_train / (expected * devices) >= 8 or expected == schedule.MIN_BATCH


def test_batch_size_resolves_with_the_epochs_and_an_explicit_one_is_kept():
    small = resolve_epochs(train_config(), 90)
    assert (small.batch_size, small.epochs, small.patience) == (16, 150, 30)  # 6 steps an epoch
    kept = resolve_epochs(train_config(overrides={"batch_size": 128}), 90)
    assert (kept.batch_size, kept.epochs) == (128, 150)
    assert resolve_epochs(train_config(overrides={"epochs": 3, "patience": 1}), 6_500).batch_size == 128
    assert train_config(preset="arset").batch_size == 32  # the course's recipe keeps its own


def test_more_data_never_trains_more_epochs():
    epochs = [auto_epochs(n, batch_size=128)[0] for n in (10, 100, 1_000, 5_000, 20_000, 80_000, 1_000_000)]
    assert epochs == sorted(epochs, reverse=True)
    assert epochs[0] == schedule.MAX_EPOCHS and epochs[-1] == schedule.MIN_EPOCHS


def test_explicit_values_are_never_changed():
    assert resolve_epochs(train_config(overrides={"epochs": 7, "patience": 3}), 6_500).model_dump() == (
        train_config(overrides={"epochs": 7, "patience": 3}).model_dump() | {"batch_size": 128}
    )
    # epochs set, patience not: the epochs asked for, no early stopping
    only_epochs = resolve_epochs(train_config(overrides={"epochs": 7}), 6_500)
    assert (only_epochs.epochs, only_epochs.patience) == (7, 0)
    # patience set, epochs not: epochs from the data, the patience asked for
    only_patience = resolve_epochs(train_config(overrides={"patience": 4}), 6_500)
    assert (only_patience.epochs, only_patience.patience) == (99, 4)
    assert planned_epochs(only_patience) == 99
    with pytest.raises(ValueError, match="unresolved"):
        planned_epochs(train_config())
    # the arset preset keeps the course's 40 epochs
    arset = resolve_epochs(train_config(preset="arset"), 6_500)
    assert (arset.epochs, arset.patience) == (40, 0)


class _Stop(Exception):
    pass


class _StopAt(L.Callback):
    """Raise at a global step (an interrupted run), once."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, module, batch, index):
        if trainer.global_step == self.step:
            raise _Stop


def test_a_run_records_the_resolved_epochs_and_resumes_to_the_same(tmp_path, monkeypatch):
    monkeypatch.setattr(schedule, "MAX_EPOCHS", 3)
    monkeypatch.setattr(schedule, "MIN_PATIENCE", 2)
    table, out = synthetic_series(120, seed=4), tmp_path / "run"
    with pytest.raises(_Stop):
        train(table, out=out, overrides=NETWORK, callbacks=[_StopAt(4)])
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert (saved["epochs"], saved["patience"]) == (3, 2)  # 72 training rows: 5 steps an epoch, 1 000 clipped to 3
    seen: list[int] = []

    class Patience(L.Callback):
        def on_train_start(self, trainer, module):
            seen.extend(c.patience for c in trainer.callbacks if isinstance(c, EarlyStopping))

    result = train(table, out=out, overrides=NETWORK, resume=True, callbacks=[Patience()])
    assert result.resumed and result.epochs_run == 3
    assert seen == [2]
    assert yaml.safe_load((out / "config.yaml").read_text()) == saved


def test_a_run_started_before_newer_options_existed_resumes(tmp_path, monkeypatch):
    """A config.yaml written before an option existed (no ``label_smoothing``, ``batch_size`` unset) is the
    same config when that option's default is what the run used; a value that differs is still refused."""
    monkeypatch.setattr(schedule, "MAX_EPOCHS", 3)
    table, out = synthetic_series(120, seed=4), tmp_path / "run"
    with pytest.raises(_Stop):
        train(table, out=out, overrides=NETWORK, callbacks=[_StopAt(4)])
    saved = yaml.safe_load((out / "config.yaml").read_text())
    older = {k: v for k, v in saved.items() if k not in ("label_smoothing", "calibrate")}
    (out / "config.yaml").write_text(yaml.safe_dump(older))
    result = train(table, out=out, overrides=NETWORK, resume=True)
    assert result.resumed and result.epochs_run == 3
    other = tmp_path / "other"
    with pytest.raises(_Stop):
        train(table, out=other, overrides=NETWORK, callbacks=[_StopAt(4)])
    with pytest.raises(InputError, match="the config differs"):
        train(table, out=other, overrides={**NETWORK, "gce_q": 0.5}, resume=True)


def test_a_run_that_records_no_loss_trained_with_cross_entropy(tmp_path, monkeypatch):
    """``loss`` was recorded before its default became gce: a config.yaml without it is a cross-entropy run, so
    it resumes with ``loss=cross_entropy`` and is refused with the newer default."""
    monkeypatch.setattr(schedule, "MAX_EPOCHS", 3)
    table, out = synthetic_series(120, seed=4), tmp_path / "run"
    with pytest.raises(_Stop):
        train(table, out=out, overrides={**NETWORK, "loss": "cross_entropy"}, callbacks=[_StopAt(4)])
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["loss"] == "cross_entropy"
    (out / "config.yaml").write_text(yaml.safe_dump({k: v for k, v in saved.items() if k != "loss"}))
    with pytest.raises(InputError, match="the config differs"):
        train(table, out=out, overrides=NETWORK, resume=True)
    result = train(table, out=out, overrides={**NETWORK, "loss": "cross_entropy"}, resume=True)
    assert result.resumed and result.epochs_run == 3
