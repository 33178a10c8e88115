"""A training process SIGKILLed mid-epoch resumes from its step checkpoint and ends like an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import torch
from safetensors.numpy import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import lightning as L
    from inseason.data import synthetic_series
    from inseason.train import train

    from lightning.pytorch.callbacks import Checkpoint
    from inseason.train.callbacks import StepCheckpoint

    out, kill_at, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume"
    every = int(sys.argv[4]) if len(sys.argv) > 4 else 3

    class KillAt(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, index):
            if trainer.global_step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    class KillAfterCheckpoint(Checkpoint):  # SIGKILL as soon as the checkpoint of step -kill_at is on disk
        def setup(self, trainer, module, stage):
            (step_checkpoint,) = [c for c in trainer.callbacks if isinstance(c, StepCheckpoint)]
            save = step_checkpoint.save

            def save_then_die(trainer):
                save(trainer)
                if trainer.global_step == -kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)

            step_checkpoint.save = save_then_die

    overrides = {"model.name": "tempcnn", "model.params": {"filters": 8, "hidden": 16}, "adapter.kind": "bucketed",
                 "epochs": 3, "batch_size": 16, "checkpoint_every_n_steps": every, "histograms": False}
    killer = KillAt() if kill_at >= 0 else KillAfterCheckpoint()
    train(synthetic_series(120, seed=4), out=out, overrides=overrides, resume=resume, callbacks=[killer])
""")


def _run(script, out, kill_at: int, mode: str, every: int = 3) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(script), str(out), str(kill_at), mode, str(every)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


#: Records whose values depend on timing, not on the training.
TIMED = ("train/input_wait_fraction",)


def _board(out, *, purge: bool = True) -> EventAccumulator:
    events = EventAccumulator(
        str(out / "tensorboard" / "version_0"),
        purge_orphaned_data=purge,
        size_guidance={"scalars": 0, "images": 0, "histograms": 0, "tensors": 0},
    )
    events.Reload()
    return events


def _assert_same_board(got, expected) -> None:
    """Each epoch logged once, with the values of the uninterrupted run."""
    tags = expected.Tags()
    assert got.Tags()["scalars"] == tags["scalars"]
    for tag in tags["scalars"]:
        steps = [e.step for e in got.Scalars(tag)]
        assert steps == [e.step for e in expected.Scalars(tag)], tag
        if tag not in TIMED:
            assert [e.value for e in got.Scalars(tag)] == [e.value for e in expected.Scalars(tag)], tag
    assert [e.step for e in got.Images("val/confusion_matrix")] == [0, 1, 2]
    assert [e.step for e in got.Scalars("val/oa")] == [0, 1, 2]
    assert [e.encoded_image_string for e in got.Images("val/confusion_matrix")] == [
        e.encoded_image_string for e in expected.Images("val/confusion_matrix")
    ]
    for tag in tags["histograms"]:
        assert [e.step for e in got.Histograms(tag)] == [0, 1, 2], tag


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    whole = _run(script, tmp_path / "whole", -1, "fresh")
    assert whole.returncode == 0, whole.stderr[-2000:]
    killed = _run(script, tmp_path / "killed", 7, "fresh")  # 5 steps per epoch: step 7 is mid-epoch 2
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "killed" / "checkpoints" / "last.ckpt").exists()
    assert not (tmp_path / "killed" / "model.json").exists()
    resumed = _run(script, tmp_path / "killed", -1, "resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    expected = json.loads((tmp_path / "whole" / "summary.json").read_text())
    got = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert got["resumed"] and not expected["resumed"]
    assert got["metrics"] == expected["metrics"] and got["best_epoch"] == expected["best_epoch"]
    a, b = (
        load_file(str(tmp_path / "whole" / "weights.safetensors")),
        load_file(str(tmp_path / "killed" / "weights.safetensors")),
    )
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    final = [torch.load(tmp_path / run / "checkpoints" / "last.ckpt", weights_only=True) for run in ("whole", "killed")]
    assert final[0]["global_step"] == final[1]["global_step"] == 15
    assert all(torch.equal(final[0]["state_dict"][k], final[1]["state_dict"][k]) for k in final[0]["state_dict"])
    _assert_same_board(_board(tmp_path / "killed"), _board(tmp_path / "whole"))

    # killed at the start of epoch 1: epoch 0 was logged, but the last checkpoint (step 3) is inside it, so
    # the resumed process logs epoch 0 again; its restart mark makes TensorBoard keep only the new records
    again = _run(script, tmp_path / "again", 5, "fresh")
    assert again.returncode == -signal.SIGKILL
    assert _run(script, tmp_path / "again", -1, "resume").returncode == 0
    assert [e.step for e in _board(tmp_path / "again", purge=False).Scalars("val/oa")] == [0, 0, 1, 2]
    _assert_same_board(_board(tmp_path / "again"), _board(tmp_path / "whole"))
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["metrics"] == expected["metrics"]


def test_sigkill_right_after_an_end_of_epoch_checkpoint_then_resume_matches_uninterrupted_run(tmp_path):
    """The reported case: killed right after the checkpoint due on an epoch's last batch (written at its end)."""
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    whole = _run(script, tmp_path / "whole", -1, "fresh", every=5)  # 5 steps per epoch: due on each last batch
    assert whole.returncode == 0, whole.stderr[-2000:]
    killed = _run(script, tmp_path / "killed", -10, "fresh", every=5)  # right after epoch 1's checkpoint
    assert killed.returncode == -signal.SIGKILL
    saved = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", weights_only=True)
    assert (saved["global_step"], saved["epoch"]) == (10, 1)
    resumed = _run(script, tmp_path / "killed", -1, "resume", every=5)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    expected = json.loads((tmp_path / "whole" / "summary.json").read_text())
    got = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert got["best_epoch"] == expected["best_epoch"] and got["metrics"] == expected["metrics"]
    a, b = (load_file(str(tmp_path / run / "weights.safetensors")) for run in ("whole", "killed"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    final = [torch.load(tmp_path / run / "checkpoints" / "last.ckpt", weights_only=True) for run in ("whole", "killed")]
    assert final[0]["global_step"] == final[1]["global_step"] == 15
    assert all(torch.equal(final[0]["state_dict"][k], final[1]["state_dict"][k]) for k in final[0]["state_dict"])
    # epoch 1 was logged once, by the killed process: no jump, no learning-rate point twice
    assert [e.step for e in _board(tmp_path / "killed", purge=False).Scalars("train/lr")] == [0, 1, 2]
    _assert_same_board(_board(tmp_path / "killed"), _board(tmp_path / "whole"))
