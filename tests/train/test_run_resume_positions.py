"""A run interrupted right after ANY of its resume checkpoints, then resumed, ends as an uninterrupted run.

Every step of a short run (3 epochs of 5 steps) writes a resume checkpoint, so the run is interrupted right
after each one in turn (an exception raised as the checkpoint file is written, in process), including the
checkpoints due on an epoch's last batch, which are written at the epoch's end. Each resumed run must give
the same best epoch, summary metrics, bundled weights, final checkpoint weights and TensorBoard scalars.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
import pyarrow as pa
import pytest
import torch
from lightning.pytorch.callbacks import Checkpoint
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from inseason.data import synthetic_series
from inseason.train import train
from inseason.train.callbacks import StepCheckpoint

OVERRIDES = {
    "model.name": "tempcnn",
    "model.params": {"filters": 8, "hidden": 16},
    "adapter.kind": "bucketed",
    "epochs": 3,
    "batch_size": 16,
    "checkpoint_every_n_steps": 1,
    "histograms": False,
}
STEPS_PER_EPOCH, EPOCHS = 5, 3
TIMED = ("train/input_wait_fraction",)


class Interrupted(Exception):
    """Raised right after the chosen checkpoint is written."""


class InterruptAfterCheckpoint(Checkpoint):
    """Raise `Interrupted` as soon as the ``n``-th resume checkpoint of the run is on disk."""

    def __init__(self, n: int) -> None:
        self.n, self.written, self.steps = n, 0, []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        (step_checkpoint,) = [c for c in trainer.callbacks if isinstance(c, StepCheckpoint)]
        save = step_checkpoint.save

        def save_then_stop(trainer: L.Trainer) -> None:
            save(trainer)
            self.written += 1
            self.steps.append(trainer.global_step)
            if self.written == self.n:
                raise Interrupted(f"after checkpoint {self.n}")

        step_checkpoint.save = save_then_stop  # type: ignore[method-assign]


def _scalars(out: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(out / "tensorboard" / "version_0"), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [(e.step, e.value if tag not in TIMED else 0.0) for e in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def _finished(out: Path) -> dict[str, Any]:
    last = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return {
        "summary": json.loads((out / "summary.json").read_text()),
        "weights": load_file(str(out / "weights.safetensors")),
        "last": last["state_dict"],
        "last_step": last["global_step"],
        "scalars": _scalars(out),
    }


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return synthetic_series(120, seed=4)


@pytest.fixture(scope="module")
def uninterrupted(table: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("whole") / "run"
    counter = InterruptAfterCheckpoint(n=-1)
    train(table, out=out, overrides=OVERRIDES, callbacks=[counter])
    # one checkpoint per step: those on an epoch's last batch are written at that epoch's end
    assert counter.steps == list(range(1, STEPS_PER_EPOCH * EPOCHS + 1))
    return _finished(out)


@pytest.mark.parametrize("position", range(1, STEPS_PER_EPOCH * EPOCHS + 1))
def test_interrupted_after_any_checkpoint_resumes_to_the_uninterrupted_run(
    position: int, table: pa.Table, uninterrupted: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(table, out=out, overrides=OVERRIDES, callbacks=[InterruptAfterCheckpoint(position)])
    saved = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == position
    assert not (out / "summary.json").exists()

    result = train(table, out=out, overrides=OVERRIDES, resume=True)

    assert result.resumed
    got, expected = _finished(out), uninterrupted
    assert got["summary"]["best_epoch"] == expected["summary"]["best_epoch"]
    assert got["summary"]["epochs_run"] == expected["summary"]["epochs_run"] == EPOCHS
    assert got["summary"]["metrics"] == expected["summary"]["metrics"]
    assert got["weights"].keys() == expected["weights"].keys()
    assert all(torch.equal(got["weights"][k], expected["weights"][k]) for k in expected["weights"])
    assert got["last_step"] == expected["last_step"] == STEPS_PER_EPOCH * EPOCHS
    assert got["last"].keys() == expected["last"].keys()
    assert all(torch.equal(got["last"][k], expected["last"][k]) for k in expected["last"])
    # one step sequence per tag (each epoch once, no jump, no point twice) with the uninterrupted values
    assert got["scalars"] == expected["scalars"]
    assert [step for step, _ in got["scalars"]["train/lr"]] == list(range(EPOCHS))
    assert [step for step, _ in got["scalars"]["val/oa"]] == list(range(EPOCHS))
