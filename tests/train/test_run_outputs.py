"""What a run writes besides weights: the training region in model.json, and a console without Lightning chatter."""

from __future__ import annotations

import json
import logging

import lightning as L
import numpy as np
import pytest

from inseason.data import decode_series
from inseason.train import train

CHATTER = ("GPU available", "TPU available", "litlogger", "`Trainer.fit` stopped")


def test_model_json_records_the_training_region(trained_run, series_table):
    out, _ = trained_run
    region = json.loads((out / "model.json").read_text())["training_region"]
    store = decode_series(series_table)
    rows = store.rows_of("train")
    expected = [store.lon[rows].min(), store.lat[rows].min(), store.lon[rows].max(), store.lat[rows].max()]
    assert region == pytest.approx(expected)
    assert region[0] < region[2] and region[1] <= region[3]
    assert store.lon.min() <= region[0] and region[2] <= store.lon.max()


class _ProgressBarSeen(L.Callback):
    def __init__(self) -> None:
        self.progress_bar = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.progress_bar = trainer.progress_bar_callback


def test_loud_training_keeps_the_progress_bar_without_lightning_chatter(
    series_table, run_overrides, tmp_path, caplog, capfd
):
    seen = _ProgressBarSeen()
    level = logging.getLogger("lightning.pytorch").level
    with caplog.at_level(logging.INFO):
        train(
            series_table,
            out=tmp_path / "run",
            overrides={**run_overrides, "epochs": 1, "histograms": False},
            quiet=False,
            callbacks=[seen],
        )
    printed = capfd.readouterr()
    text = caplog.text + printed.out + printed.err
    for message in CHATTER:
        assert message not in text, message
    assert seen.progress_bar is not None
    assert logging.getLogger("lightning.pytorch").level == level  # restored after the run
    assert np.isfinite(json.loads((tmp_path / "run" / "summary.json").read_text())["metrics"]["overall_accuracy"])


def test_the_final_records_wait_for_a_second_no_event_file_holds(tmp_path):
    """TensorBoard reads event files in name order: ``.10`` of one second would come before ``.9``."""
    from inseason.train.run import _wait_for_a_later_second

    (tmp_path / "events.out.tfevents.0000000100.host.1.9").write_bytes(b"")
    (tmp_path / "events.out.tfevents.notatime.host.1.1").write_bytes(b"")  # ignored, not an error
    ticks, slept = iter([100.2, 100.9, 101.0, 101.5]), []
    _wait_for_a_later_second(tmp_path, clock=lambda: next(ticks), sleep=slept.append)
    assert len(slept) == 2 and next(ticks) == 101.5  # waited until second 101, then stopped asking
    slept.clear()
    _wait_for_a_later_second(tmp_path / "empty", clock=lambda: 5.0, sleep=slept.append)
    assert slept == []


def test_the_final_records_file_sorts_after_the_training_files(tmp_path):
    """A file written after the wait sorts after one written in the same second with a later counter."""
    import time

    from torch.utils.tensorboard import SummaryWriter

    from inseason.train.run import _wait_for_a_later_second

    first = f"events.out.tfevents.{int(time.time()):010d}.host.1.9"
    (tmp_path / first).write_bytes(b"")
    _wait_for_a_later_second(tmp_path)
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_scalar("final/val_oa", 0.5, 0)
    names = sorted(p.name for p in tmp_path.glob("events.out.tfevents.*"))
    assert len(names) == 2 and names[0] == first
