"""`inseason bench scaling`: how each stage's cost grows with its input, at 1×, 2× and 4× the work.

A stage that is linear in its input costs twice as much for twice the work; one that loops over samples
inside a loop over rows costs four times as much. Each stage runs here on seeded synthetic inputs of three
sizes, each measurement in a child process of its own (so the peak memory is that stage's, not what an
earlier one left), and the fitted exponent of seconds against size says how cost grows: the slope of
``log(seconds)`` on ``log(size)`` by least squares (1.0 = linear; fixed start-up costs pull it below 1).

Stages and what their size counts:

- ``import``: rows of a long-format table (`inseason.series.long_table`), numeric bands and ISO date
  strings, 46 observations a sample;
- ``series``: label points whose observations are grouped into series (`inseason.series.build`);
- ``split``: series split by field with the leakage audit (`inseason.series.split`);
- ``train_epoch``: training samples of one TempCNN epoch (`inseason.train`);
- ``evaluate``: test samples evaluated at every default as-of date (`inseason.evaluate`), the permutation
  importance included;
- ``extract``: scenes of the `tiny` synthetic world whose observations are extracted at its label points
  (`inseason.extract`, one worker; the points fixed, so the size counts the scenes read);
- ``predict``: map pixels, a square centred on the `tiny` world mapped as of 1 August of its last season
  by an untrained TempCNN bundle (`inseason.predict`, one worker, end to end: read, model, COG, STAC item).

The two raster stages share one world (made once, untimed): `inseason bench ingest` and `inseason bench
predict` measure them at one size against the course's way and on the real COG layout.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from inseason.bench.series import PEAK_MB, make_observations, python_child
from inseason.engines.local import sigterm_as_exit
from inseason.errors import InputError
from inseason.progress import progress_bar

__all__ = ["FACTORS", "STAGES", "bench_scaling", "fitted_exponent", "make_long_table"]

#: The sizes each stage runs at, relative to its base size.
FACTORS: tuple[int, ...] = (1, 2, 4)

#: Observations a sample in the long-format table of the ``import`` stage.
ROWS_PER_SAMPLE = 46


@dataclass(frozen=True)
class Stage:
    """One measured stage.

    Attributes:
        name: the stage's name in the table and the JSON.
        unit: what its size counts.
        base: its size at 1× (``--scale 1``).
        prepare: writes the stage's input for a size into a folder (untimed).
        child: the child process's Python code running the stage on that input; it prints its seconds.
    """

    name: str
    unit: str
    base: int
    prepare: Callable[[Path, int, int], None]
    child: str


def make_long_table(path: Path, *, samples: int, per_sample: int = ROWS_PER_SAMPLE, seed: int = 0) -> int:
    """Write a long-format table (one row an observation) of ``samples`` samples to ``path`` (Parquet).

    Integer sample ids, ISO date strings over three seasons, a text label of six, three float bands: the
    shape of a real table exported from a data cube, not a convenient one (the rows are shuffled).

    Args:
        path: the Parquet file to write.
        samples: the number of samples.
        per_sample: observations a sample.
        seed: the seed.

    Returns:
        The number of rows written.
    """
    rng = np.random.default_rng(seed)
    sample = np.repeat(np.arange(samples, dtype=np.int64), per_sample)
    year = 2019 + sample % 3
    day = rng.integers(0, 365, sample.size)
    dates = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + day.astype("timedelta64[D]")
    order = rng.permutation(sample.size)
    crops = np.array(["corn", "soybeans", "winter wheat", "cotton", "rice", "alfalfa"])
    table = pa.table(
        {
            "sample_id": sample[order],
            "date": dates[order].astype(str),
            "label": crops[(sample % len(crops))[order]],
            "red": rng.random(sample.size).astype(np.float32),
            "nir": rng.random(sample.size).astype(np.float32),
            "swir16": rng.random(sample.size).astype(np.float32),
        }
    )
    pq.write_table(table, path)
    return int(table.num_rows)


def _prepare_import(folder: Path, size: int, seed: int) -> None:
    make_long_table(folder / "long.parquet", samples=max(1, size // ROWS_PER_SAMPLE), seed=seed)


def _prepare_series(folder: Path, size: int, seed: int) -> None:
    obs, points, _, _ = make_observations(folder, points=size, dates=50, seed=seed)
    (folder / "inputs.json").write_text(json.dumps({"observations": str(obs), "points": str(points)}))


def _prepare_split(folder: Path, size: int, seed: int) -> None:
    from inseason.data import synthetic_series
    from inseason.tables import write_table

    table = synthetic_series(size, seed=seed, splits=(("train", 1.0),), pixels_per_field=4)
    write_table(table, folder / "series.parquet")


def _prepare_train(folder: Path, size: int, seed: int) -> None:
    from inseason.data import synthetic_series
    from inseason.tables import write_table

    # every sample trains; a fixed validation part of 64 so that the size counts the training work only
    splits = (("train", size / (size + 64)), ("validation", 64 / (size + 64)))
    table = synthetic_series(size + 64, seed=seed, splits=splits, stratified=True)
    write_table(table, folder / "series.parquet")


def _prepare_evaluate(folder: Path, size: int, seed: int) -> None:
    from inseason.data import synthetic_series
    from inseason.tables import write_table
    from inseason.train import train, train_config

    write_table(synthetic_series(size, seed=seed, splits=(("test", 1.0),)), folder / "series.parquet")
    model = folder.parent / "model"
    if not (model / "model.json").exists():  # one small bundle serves every size
        fit = synthetic_series(240, seed=seed + 1)
        config = train_config(preset="tempcnn", overrides={"epochs": 2, "histograms": False, "calibrate": False})
        train(fit, out=model, config=config, quiet=True)


#: The synthetic world size the raster stages read.
RASTER_WORLD = "tiny"
#: The stages that read the shared synthetic world.
RASTER_STAGES: tuple[str, ...] = ("extract", "predict")


def _shared_world(root: Path, seed: int) -> tuple[Path, dict[str, Any], Path]:
    """The raster stages' world, its ``world.json`` and its whole scene manifest, made once under ``root``.

    ``root`` is the run's folder, so every size of every raster stage reads the same world.
    """
    from inseason.extract.scenes import find_scenes
    from inseason.synth import load_world, synth

    world, manifest = root / "world", root / "scenes.parquet"
    if not (world / "world.json").exists():
        synth(world, size=RASTER_WORLD, seed=seed, quiet=True)
    info = load_world(world)[0]
    if not manifest.exists():
        years = info["years"]
        find_scenes(
            stac=str(world / "stac" / "catalog.json"),
            aoi=world / "aoi.geojson",
            start=f"{min(years)}-01-01",
            end=f"{max(years)}-12-31",
            out=manifest,
            min_valid=0.0,
            quiet=True,
        )
    return world, info, manifest


def _refuse_beyond_world(name: str, size: int, info: dict[str, Any], manifest: Path) -> None:
    """Refuse a raster stage's size that asks more than the world holds (scenes to extract, a square to map).

    Raises:
        InputError: ``extract`` asks more scenes than the manifest has, or ``predict`` a square wider than
            the world.
    """
    from inseason.tables import SCENE_MANIFEST, read_table

    if name == "extract":
        scenes = read_table(manifest, SCENE_MANIFEST, what="scene manifest").num_rows
        if size > scenes:
            raise InputError(
                f"bench scaling: extract needs {size} scenes, the {RASTER_WORLD} world has {scenes}: "
                "give a smaller --scale"
            )
    if name == "predict":
        side_m = math.sqrt(size) * 10.0  # 10 m pixels
        bounds = [tile["bounds"] for tile in info["tiles"]]
        world_side = min(
            max(b[2] for b in bounds) - min(b[0] for b in bounds),
            max(b[3] for b in bounds) - min(b[1] for b in bounds),
        )
        if side_m > world_side:
            raise InputError(
                f"bench scaling: predict needs a square of {side_m:.0f} m, the {RASTER_WORLD} world is "
                f"{world_side:.0f} m wide: give a smaller --scale"
            )


def _prepare_extract(folder: Path, size: int, seed: int) -> None:
    from inseason.sources.points import make_label_points
    from inseason.tables import SCENE_MANIFEST, read_table, write_table

    world, info, manifest = _shared_world(folder.parent.parent, seed)
    _refuse_beyond_world("extract", size, info, manifest)
    points = folder.parent.parent / "points.parquet"
    if not points.exists():
        make_label_points(
            cdl=world / "labels", aoi=world / "aoi.geojson", years=info["years"], stride=6, out=points, quiet=True
        )
    scenes = read_table(manifest, SCENE_MANIFEST, what="scene manifest")
    scenes = scenes.sort_by([("date", "ascending"), ("scene_id", "ascending")]).slice(0, size)
    write_table(scenes, folder / "scenes.parquet")
    (folder / "inputs.json").write_text(json.dumps({"points": str(points)}))


def _prepare_predict(folder: Path, size: int, seed: int) -> None:
    import shapely

    from inseason.bench.predict import untrained_bundle
    from inseason.synth import centre_square

    _, info, manifest = _shared_world(folder.parent.parent, seed)
    _refuse_beyond_world("predict", size, info, manifest)
    bundle = folder.parent / "bundle"
    if not (bundle / "model.json").exists():
        untrained_bundle("tempcnn", bundle, seed=seed)
    square = centre_square(info, side_m=math.sqrt(size) * 10.0)  # 10 m pixels
    aoi = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(square)}],
    }
    (folder / "aoi.geojson").write_text(json.dumps(aoi))
    inputs = {"bundle": str(bundle), "scenes": str(manifest), "as_of": f"{max(info['years'])}-08-01"}
    (folder / "inputs.json").write_text(json.dumps(inputs))


_HEAD = """
import json, sys, time
from pathlib import Path
folder = Path(sys.argv[2])
"""
_TAIL = f"""
print(json.dumps({{"seconds": time.perf_counter() - started, "peak_mb": {PEAK_MB}}}))
"""

STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            "import",
            "rows",
            250_000,
            _prepare_import,
            _HEAD
            + """
from inseason.series.long_table import import_series
started = time.perf_counter()
import_series(folder / "long.parquet", out=folder / "series.parquet", quiet=True)
"""
            + _TAIL,
        ),
        Stage(
            "series",
            "points",
            20_000,
            _prepare_series,
            _HEAD
            + """
from inseason.series.build import make_series
inputs = json.loads((folder / "inputs.json").read_text())
started = time.perf_counter()
make_series(inputs["observations"], points=inputs["points"], out=folder / "series.parquet", threads=1, quiet=True)
"""
            + _TAIL,
        ),
        Stage(
            "split",
            "samples",
            20_000,
            _prepare_split,
            _HEAD
            + """
from inseason.series.split import split_series
started = time.perf_counter()
split_series(folder / "series.parquet", by="field", out=folder / "split.parquet", allow_empty=True, quiet=True)
"""
            + _TAIL,
        ),
        Stage(
            "train_epoch",
            "samples",
            2_000,
            _prepare_train,
            _HEAD
            + """
from inseason.train import train, train_config
started = time.perf_counter()
train(folder / "series.parquet", out=folder / "run", quiet=True, config=train_config(preset="tempcnn",
      overrides={"epochs": 1, "batch_size": 64, "histograms": False, "calibrate": False}))
"""
            + _TAIL,
        ),
        Stage(
            "evaluate",
            "samples",
            250,
            _prepare_evaluate,
            _HEAD
            + """
from inseason.evaluate.run import evaluate_run
started = time.perf_counter()
evaluate_run(folder.parent / "model", folder / "series.parquet", n_boot=100, out=folder / "evaluation.json")
"""
            + _TAIL,
        ),
        Stage(
            "extract",
            "scenes",
            12,
            _prepare_extract,
            _HEAD
            + """
from inseason.extract.stage import extract
inputs = json.loads((folder / "inputs.json").read_text())
started = time.perf_counter()
extract(inputs["points"], folder / "scenes.parquet", out=folder / "observations", workers=1, quiet=True)
"""
            + _TAIL,
        ),
        Stage(
            "predict",
            "pixels",
            10_000,
            _prepare_predict,
            _HEAD
            + """
from inseason.predict.maps import predict_map
inputs = json.loads((folder / "inputs.json").read_text())
started = time.perf_counter()
predict_map(inputs["bundle"], aoi=folder / "aoi.geojson", as_of=[inputs["as_of"]], scenes=inputs["scenes"],
            out=folder / "maps", workers=1, quiet=True)
"""
            + _TAIL,
        ),
    )
}


def fitted_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """The slope of ``log(seconds)`` on ``log(sizes)`` by least squares: cost ∝ size ** exponent.

    Args:
        sizes: the sizes measured (at least two distinct).
        seconds: the seconds at each size (positive).

    Returns:
        The exponent (1.0: linear; 2.0: quadratic).

    Raises:
        InputError: fewer than two distinct sizes, or a time that is not positive.
    """
    x, y = np.log(np.asarray(sizes, dtype=np.float64)), np.asarray(seconds, dtype=np.float64)
    if len(set(x.tolist())) < 2 or len(x) != len(y):
        raise InputError(f"an exponent needs two or more distinct sizes with one time each (got {sizes}, {seconds})")
    if (y <= 0).any():
        raise InputError(f"an exponent needs positive times (got {list(seconds)})")
    return float(np.polyfit(x, np.log(y), 1)[0])


def bench_scaling(
    *, stages: Sequence[str] | None = None, scale: float = 1.0, seed: int = 0, quiet: bool = False
) -> dict[str, dict[str, Any]]:
    """Run each stage at 1×, 2× and 4× its base size and fit how its cost grows.

    Args:
        stages: names of `STAGES` (None: all).
        scale: base sizes relative to the default (``--scale``; 0.1 for a quick look).
        seed: the seed of the synthetic inputs.
        quiet: hide the progress bar.

    Returns:
        ``{stage: {"unit", "sizes", "seconds", "peak_mb", "exponent", "per_second"}}`` in `STAGES` order
        (``per_second``: units a second at the largest size).

    Raises:
        InputError: an unknown stage, a scale that leaves a stage fewer than 10 units, or one that asks a raster
            stage more than its world holds (checked before any stage runs).
        RuntimeError: a stage failed in its child process (its stderr is quoted).
    """
    chosen = list(stages) if stages else list(STAGES)
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise InputError(f"bench scaling: unknown stage(s) {unknown}: choose from {', '.join(STAGES)}")
    sizes = {name: [round(STAGES[name].base * scale * f) for f in FACTORS] for name in chosen}
    small = [f"{name} ({s[0]} {STAGES[name].unit})" for name, s in sizes.items() if s[0] < 10]
    if small:
        raise InputError(f"--scale {scale} leaves too little work: {', '.join(small)}; give a larger --scale")
    results: dict[str, dict[str, Any]] = {}
    with (
        sigterm_as_exit(),
        tempfile.TemporaryDirectory(prefix="inseason-bench-scaling-") as tmp,
        progress_bar(quiet=quiet) as bar,
    ):
        task = bar.add_task("scaling", total=len(chosen) * len(FACTORS))
        raster = [name for name in chosen if name in RASTER_STAGES]
        if raster:  # the world is made (untimed) and the largest sizes checked before any stage runs
            bar.update(task, description=f"scaling: a {RASTER_WORLD} world for {', '.join(raster)}")
            _, info, manifest = _shared_world(Path(tmp), seed)
            for name in raster:
                _refuse_beyond_world(name, sizes[name][-1], info, manifest)
        for name in chosen:
            stage, seconds, peaks = STAGES[name], [], []
            for size in sizes[name]:
                bar.update(task, description=f"{name} × {size} {stage.unit}")
                folder = Path(tmp) / name / str(size)
                folder.mkdir(parents=True)
                stage.prepare(folder, size, seed)
                measured = _run(stage, folder)
                seconds.append(round(measured["seconds"], 3))
                peaks.append(round(measured["peak_mb"], 1))
                bar.advance(task)
            results[name] = {
                "unit": stage.unit,
                "sizes": sizes[name],
                "seconds": seconds,
                "peak_mb": peaks,
                "exponent": round(fitted_exponent(sizes[name], seconds), 2),
                # throughput at the largest size, where start-up costs weigh least
                "per_second": round(sizes[name][-1] / seconds[-1], 1),
            }
    return results


def _run(stage: Stage, folder: Path) -> dict[str, float]:
    """Run ``stage`` on the input in ``folder`` in a child process; its seconds and peak memory (MB)."""
    started = time.perf_counter()
    done = python_child(stage.child, str(folder))
    if done.returncode != 0:
        raise RuntimeError(f"bench scaling: stage {stage.name} failed: {done.stderr.strip()[-2000:]}")
    measured: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if not math.isfinite(measured["seconds"]) or measured["seconds"] > time.perf_counter() - started:
        raise RuntimeError(f"bench scaling: stage {stage.name} reported an impossible time {measured['seconds']}")
    return measured


def bench_scaling_markdown(results: dict[str, dict[str, Any]]) -> str:
    """The results as a Markdown table: per stage its sizes, seconds, peak memory and fitted exponent.

    Args:
        results: a `bench_scaling` result.

    Returns:
        Markdown text.
    """
    factors = " / ".join(f"{f}×" for f in FACTORS)
    lines = [
        f"seconds and peak memory of each stage at {factors} its base size (a child process each); exponent: "
        "slope of log(seconds) on log(size), 1.0 = linear",
        "",
        f"| stage | size ({factors}) | seconds | peak MB | per second at {FACTORS[-1]}× | exponent |",
        "|---|---|---|---|---:|---:|",
    ]
    for name, r in results.items():
        sizes = " / ".join(f"{s:,}" for s in r["sizes"]) + f" {r['unit']}"
        seconds = " / ".join(f"{s:.2f}" for s in r["seconds"])
        peaks = " / ".join(f"{p:.0f}" for p in r["peak_mb"])
        rate = f"{r['per_second']:,.0f} {r['unit']}"
        lines.append(f"| {name} | {sizes} | {seconds} | {peaks} | {rate} | {r['exponent']:.2f} |")
    worst = max(results.items(), key=lambda kv: kv[1]["exponent"], default=None)
    if worst is not None:
        lines += ["", f"highest exponent: {worst[0]} {worst[1]['exponent']:.2f} (target: every stage ≤ 1.1)"]
    return "\n".join(lines)
