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

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import lightning as L
    from inseason.data import synthetic_series
    from inseason.train import train

    out, kill_at, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume"

    class KillAt(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, index):
            if trainer.global_step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    overrides = {"model.name": "tempcnn", "model.params": {"filters": 8, "hidden": 16}, "adapter.kind": "bucketed",
                 "epochs": 3, "batch_size": 16, "checkpoint_every_n_steps": 3, "histograms": False}
    train(synthetic_series(120, seed=4), out=out, overrides=overrides, resume=resume, callbacks=[KillAt()])
""")


def _run(script, out, kill_at: int, mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), str(out), str(kill_at), mode], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


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
    a, b = load_file(str(tmp_path / "whole" / "weights.safetensors")), load_file(
        str(tmp_path / "killed" / "weights.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    final = [torch.load(tmp_path / run / "checkpoints" / "last.ckpt", weights_only=True) for run in ("whole", "killed")]
    assert final[0]["global_step"] == final[1]["global_step"] == 15
    assert all(torch.equal(final[0]["state_dict"][k], final[1]["state_dict"][k]) for k in final[0]["state_dict"])
