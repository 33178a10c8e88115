"""Kill and resume (issue 17): a real ``predict`` process with two workers is SIGKILLed at several moments
(after its first block, midway through the blocks, halfway through writing a COG, just before summary.json)
and run again: the maps equal an uninterrupted run's byte for byte, no worker outlives the killed run, and no
temporary file or lock is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from inseason.predict.maps import MapRun, predict_map
from inseason.storage import LOCK_NAME

AS_OF = ["2022-06-01", "2022-08-15"]
#: 32-px blocks on the 1 km `map_square`: 16 blocks, enough moments to kill a run between them.
BLOCK = 32

#: The killed run: predict_map with the test's options; the moments inside the assembly are reached by
#: making that step stop (a marker file, then a long sleep) where the test kills the process.
SCRIPT = """
import json, pathlib, sys, time
from inseason.predict import maps

def stop(marker):
    pathlib.Path(marker).write_text("")
    time.sleep(3600)

if __name__ == "__main__":
    options, moment, marker = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    if moment == "cog":  # halfway through the pieces of the second map
        real = maps.write_class_map
        calls = []

        def write_class_map(path, pieces, **kw):
            calls.append(path)

            def stopping():
                for n, piece in enumerate(pieces):
                    if len(calls) == 2 and n == 2:
                        stop(marker)
                    yield piece

            return real(path, stopping(), **kw)

        maps.write_class_map = write_class_map
    if moment == "summary":  # every map, item and GIF written, summary.json not yet
        maps.write_summary = lambda out, summary: stop(marker)
    maps.predict_map(**options)
"""


def _options(bundle: Path, scenes: Path, aoi: Path, out: Path) -> dict[str, object]:
    return dict(
        bundle=str(bundle),
        scenes=str(scenes),
        aoi=str(aoi),
        as_of=AS_OF,
        out=str(out),
        block_size=BLOCK,
        workers=2,
        quiet=True,
    )


@pytest.fixture(scope="module")
def uninterrupted(
    tiny_bundle: Path, tiny_manifest: Path, map_square_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> MapRun:
    out = tmp_path_factory.mktemp("uninterrupted") / "maps"
    # in this process (the maps do not depend on the workers): only the killed runs start worker processes
    options = {**_options(tiny_bundle, tiny_manifest, map_square_file, out), "workers": 1}
    return predict_map(**options)  # type: ignore[arg-type]


def _group(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group ``pgid``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def _kill_at(out: Path, process: subprocess.Popen[bytes], moment: str, marker: Path, blocks: int) -> None:
    """SIGKILL the run's main process at ``moment``, then wait until its workers are gone too."""
    want = {"first block": 1, "midway": blocks // 2}.get(moment)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if want is not None and len(list((out / "blocks").glob("*/*.npz"))) >= want:
            break
        if want is None and marker.exists():
            break
        time.sleep(0.02)
    assert process.poll() is None, f"the run ended before the moment {moment!r}"
    process.send_signal(signal.SIGKILL)
    process.wait()
    while time.monotonic() < deadline and _group(process.pid):
        time.sleep(0.05)
    assert _group(process.pid) == []  # the workers died with their parent: none writes after the kill


@pytest.mark.parametrize("moment", ["first block", "midway", "cog", "summary"])
def test_a_run_killed_at_any_moment_resumes_to_the_same_maps(
    moment: str, uninterrupted: MapRun, tiny_bundle: Path, tiny_manifest: Path, map_square_file: Path, tmp_path: Path
) -> None:
    out, marker = tmp_path / "maps", tmp_path / "stopped"
    options = _options(tiny_bundle, tiny_manifest, map_square_file, out)
    blocks = uninterrupted.blocks
    assert blocks >= 8
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(options), moment, str(marker)],
        env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"},
        start_new_session=True,
    )
    _kill_at(out, process, moment, marker, blocks)
    finished = len(list((out / "blocks").glob("*/*.npz")))
    assert not (out / "summary.json").exists()
    if moment in ("first block", "midway"):
        assert 1 <= finished < blocks and not list(out.glob("map_*"))
    else:
        assert finished == blocks and (out / f"map_{AS_OF[0]}.tif").is_file()
    if moment == "cog":
        assert [p for p in out.iterdir() if ".tmp-" in p.name]  # the killed run left its staging file

    resumed = predict_map(**{**options, "workers": 1})  # type: ignore[arg-type]  # resumed in this process

    assert resumed.resumed_blocks == finished and resumed.blocks == blocks
    for date in AS_OF:
        assert Path(resumed.maps[date]).read_bytes() == Path(uninterrupted.maps[date]).read_bytes()
        assert pq.read_table(resumed.double_crops[date]).equals(pq.read_table(uninterrupted.double_crops[date]))
    assert resumed.gif is not None and uninterrupted.gif is not None
    assert Path(resumed.gif).read_bytes() == Path(uninterrupted.gif).read_bytes()
    assert resumed.areas == uninterrupted.areas and resumed.mapped_pixels == uninterrupted.mapped_pixels
    assert resumed.empty_blocks == uninterrupted.empty_blocks
    assert resumed.skipped_scenes == uninterrupted.skipped_scenes
    leftovers = [p for p in out.rglob("*") if ".tmp-" in p.name or p.name == LOCK_NAME]
    assert leftovers == []
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in Path(uninterrupted.out).iterdir())
