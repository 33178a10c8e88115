"""Mistakes a train run refuses before it writes anything: bad model parameters, a missing GPU, ±inf values,
a resume checkpoint that cannot be loaded safely, and a run folder held by another run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest
import torch

from inseason.errors import InputError, OutputError
from inseason.storage import LOCK_NAME
from inseason.tables import series_schema
from inseason.train import train

QUICK = {"epochs": 1, "checkpoint_every_n_steps": 100}


def test_an_invalid_model_parameter_leaves_no_folder_and_the_corrected_rerun_works(
    series_table: pa.Table, tmp_path: Path, run_overrides: dict
) -> None:
    out = tmp_path / "run"
    with pytest.raises(InputError, match=r"option 'filters' \(model.params.filters\) must be a positive integer"):
        train(series_table, out=out, overrides={**run_overrides, **QUICK, "model.params": {"filters": -4}})
    assert not out.exists()
    result = train(series_table, out=out, overrides={**run_overrides, **QUICK, "model.params": {"filters": 4}})
    assert result.model_json.exists() and not (out / LOCK_NAME).exists()


def test_a_gpu_run_without_a_gpu_is_an_input_error(
    series_table: pa.Table, tmp_path: Path, run_overrides: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(InputError, match=r"^no GPU is available here: use accelerator=cpu or auto$"):
        train(series_table, out=tmp_path / "gpu", overrides={**run_overrides, "accelerator": "gpu"})
    assert not (tmp_path / "gpu").exists()


def test_more_devices_than_gpus_is_an_input_error(
    series_table: pa.Table, tmp_path: Path, run_overrides: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(InputError, match=r"devices=3 but 1 GPU is available here: set devices to 1 or fewer"):
        train(series_table, out=tmp_path / "gpus", overrides={**run_overrides, "accelerator": "gpu", "devices": 3})
    assert not (tmp_path / "gpus").exists()


def test_infinite_values_name_the_band(series_table: pa.Table, tmp_path: Path, run_overrides: dict) -> None:
    values = series_table.column("values").to_pylist()
    row = series_table.column("split").to_pylist().index("train")
    bands = json.loads(series_table.schema.metadata[b"inseason:bands"])
    poisoned = [
        [[float(x) for x in o] for o in v] if i != row else [[float("inf"), *map(float, o[1:])] for o in v]
        for i, v in enumerate(values)
    ]
    schema = series_schema(bands, values=pa.float32(), scales=[1e-4] * len(bands))
    table = pa.Table.from_pydict({**series_table.to_pydict(), "values": poisoned}, schema=schema)
    with pytest.raises(InputError, match=rf"infinite value\(s\) in band {bands[0]} \(column values\)"):
        train(table, out=tmp_path / "inf", overrides=run_overrides)
    assert not (tmp_path / "inf").exists()


class Smuggled:
    """An object a checkpoint must not unpickle."""


@pytest.mark.parametrize("kind", ["pickled object", "corrupted"])
def test_resume_from_a_checkpoint_that_cannot_be_loaded_safely(
    kind: str, series_table: pa.Table, tmp_path: Path, run_overrides: dict
) -> None:
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    if kind == "corrupted":
        last.write_bytes(b"PK\x03\x04 not a checkpoint at all")
    else:
        torch.save({"state_dict": {}, "loops": {}, "global_step": 3, "extra": Smuggled()}, last)
    with pytest.raises(
        InputError, match=r"last.ckpt cannot be loaded safely \(.*\): delete .*checkpoints to start"
    ) as e:
        train(series_table, out=tmp_path / "run", overrides=run_overrides, resume=True)
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoints"]  # nothing written


def test_resume_refuses_a_checkpoint_of_something_else(
    series_table: pa.Table, tmp_path: Path, run_overrides: dict
) -> None:
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"weights": torch.zeros(2)}, last)
    with pytest.raises(InputError, match=r"is not a training checkpoint of inseason"):
        train(series_table, out=tmp_path / "run", overrides=run_overrides, resume=True)


HOLDER = textwrap.dedent("""
    import sys, time
    from inseason.storage import output_lock
    with output_lock(sys.argv[1], verb="train"):
        print("held", flush=True)
        time.sleep(600)
""")


def test_a_second_train_into_a_held_folder_fails(series_table: pa.Table, tmp_path: Path, run_overrides: dict) -> None:
    out = tmp_path / "run"
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            with pytest.raises(OutputError, match=str(holder.pid)):
                train(series_table, out=out, overrides={**run_overrides, **QUICK})
            assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # no config.yaml, no checkpoint
        finally:
            holder.kill()
    # the holder is gone: its stale lock is taken over, and the lock file does not make the folder "not empty"
    assert train(series_table, out=out, overrides={**run_overrides, **QUICK}).model_json.exists()


def test_resume_with_nothing_to_resume_says_so_and_trains_from_the_start(
    series_table: pa.Table, tmp_path: Path, run_overrides: dict, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "fresh"
    with caplog.at_level("WARNING", logger="inseason.train.run"):
        result = train(series_table, out=out, overrides={**run_overrides, **QUICK}, resume=True)
    assert [r.getMessage() for r in caplog.records if r.name == "inseason.train.run"] == [
        f"nothing to resume in {out} (no checkpoints/last.ckpt): training from the first epoch"
    ]
    assert result.model_json.exists() and not result.resumed
