"""A real extraction process (and its worker pool) killed with SIGKILL mid-run, then started again, gives
exactly the observations and manifest of an uninterrupted run: no scene read twice, nothing duplicated or lost,
no temporary left; and a second run into a folder another run writes is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from inseason.errors import OutputError
from inseason.extract.stage import extract
from inseason.observations import MANIFEST, read_manifest, read_observations
from inseason.storage import LOCK_NAME

if TYPE_CHECKING:
    from tests.extract.conftest import Inputs

SCRIPT = textwrap.dedent("""
    import sys

    from inseason.extract.stage import extract

    if __name__ == "__main__":  # the local engine spawns its workers
        extract(sys.argv[1], sys.argv[2], out=sys.argv[3], workers=2, quiet=True)
""")


def parts(out: Path) -> list[Path]:
    return sorted(out.glob("year=*/tile=*/part-*.parquet"))


def manifest_lines(out: Path) -> list[str]:
    return sorted((out / MANIFEST).read_text().splitlines())


def start_extract(inputs: Inputs, out: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    """An extraction with two workers in a process of its own group (stderr to ``tmp_path/stderr.txt``)."""
    script = tmp_path / "run_extract.py"
    script.write_text(SCRIPT)
    with open(tmp_path / "stderr.txt", "wb") as err:
        return subprocess.Popen(
            [sys.executable, str(script), str(inputs.points), str(inputs.scenes), str(out)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def kill_mid_run(inputs: Inputs, out: Path, tmp_path: Path, *, after_parts: int) -> int:
    """Start an extraction in its own process group and SIGKILL the group once ``after_parts`` parts exist."""
    proc = start_extract(inputs, out, tmp_path)
    try:
        while proc.poll() is None and len(parts(out)) < after_parts:
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and its pool workers, as an OOM kill would
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "stderr.txt").read_text()
    return len(parts(out))


def test_killed_extraction_resumes_to_the_uninterrupted_result(
    tiny_inputs: Inputs, tiny_observations: Path, tmp_path: Path
) -> None:
    out = tmp_path / "obs"
    total = len(read_manifest(tiny_observations))
    killed_at = kill_mid_run(tiny_inputs, out, tmp_path, after_parts=12)
    assert 12 <= killed_at < total  # killed mid-run, not after the end

    # what a reader sees after the kill: complete parts only, each equal to that scene's reference rows
    reference = read_observations(tiny_observations)
    partial = read_observations(out)
    seen = set(partial.column("scene_id").to_pylist())
    assert len(seen) <= killed_at
    expected = reference.filter(pc.is_in(reference.column("scene_id"), value_set=pa.array(sorted(seen), pa.string())))
    assert partial.equals(expected)

    # leftovers a kill can leave at the worst moments: a half-written part and a half-written manifest line
    partition = parts(out)[0].parent
    (partition / ".part-S2A_15SYS_20990101_0_L2A.parquet.tmp-99999").write_bytes(b"PAR1 half a file")
    with open(out / MANIFEST, "a") as f:
        f.write('{"scene_id": "S2B_15SYS_2021')
    assert read_observations(out).equals(partial)  # invisible to readers
    before = {p: p.stat().st_mtime_ns for p in parts(out)}

    totals = extract(tiny_inputs.points, tiny_inputs.scenes, out=out, workers=2, quiet=True)
    assert totals.resumed == killed_at
    assert totals.done == total - killed_at and totals.skipped == 0

    # row for row the uninterrupted result; the scenes finished before the kill were not written again
    assert read_observations(out).equals(reference)
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert not list(out.rglob(".*"))
    entries = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    done = [e["scene_id"] for e in entries if e["status"] == "done"]
    assert len(done) == len(set(done)) <= total  # every scene recorded once (a kill may lose a line,
    assert set(read_manifest(out)) == set(read_manifest(tiny_observations))  # the part file stands for it)
    assert sum(pq.read_metadata(p).num_rows for p in parts(out)) == reference.num_rows


@pytest.mark.parametrize("moment", ["first part", "middle", "near the end"])
def test_killed_at_any_moment_the_resumed_folder_equals_the_uninterrupted_one(
    tiny_inputs: Inputs, tiny_observations: Path, tmp_path: Path, moment: str
) -> None:
    total = len(read_manifest(tiny_observations))
    after_parts = {"first part": 1, "middle": total // 2, "near the end": total - 3}[moment]
    out = tmp_path / "obs"
    killed_at = kill_mid_run(tiny_inputs, out, tmp_path, after_parts=after_parts)
    assert after_parts <= killed_at < total

    totals = extract(tiny_inputs.points, tiny_inputs.scenes, out=out, workers=2, quiet=True)
    assert (totals.resumed, totals.done, totals.skipped) == (killed_at, total - killed_at, 0)
    assert read_observations(out).equals(read_observations(tiny_observations))
    # the manifest whole, one line a scene: lines a kill lost (part renamed, line not yet written) restored
    assert manifest_lines(out) == manifest_lines(tiny_observations)
    assert not list(out.rglob(".*"))  # no temporary, no lock


def test_a_second_run_into_a_folder_another_run_writes_is_refused(
    tiny_inputs: Inputs, tiny_observations: Path, tmp_path: Path
) -> None:
    out = tmp_path / "obs"
    first = start_extract(tiny_inputs, out, tmp_path)
    try:
        while first.poll() is None and not ((out / LOCK_NAME).exists() and parts(out)):
            time.sleep(0.01)
        assert first.poll() is None, (tmp_path / "stderr.txt").read_text()
        with pytest.raises(OutputError) as info:
            extract(tiny_inputs.points, tiny_inputs.scenes, out=out, workers=1, quiet=True)
    finally:
        first.wait(timeout=600)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{out} is being written by another run (inseason extract")
    assert f"pid {first.pid}" in message
    # the first run went on unaffected
    assert first.returncode == 0, (tmp_path / "stderr.txt").read_text()
    assert read_observations(out).equals(read_observations(tiny_observations))
    assert manifest_lines(out) == manifest_lines(tiny_observations)
    assert not list(out.rglob(".*"))
