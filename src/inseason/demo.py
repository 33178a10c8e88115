"""`inseason demo`: the whole pipeline on a synthetic world, ending with the HTML report.

Every stage writes the same files the CLI verbs do, into one folder, and a stage whose output already
exists is skipped (extraction resumes on its own), so running the demo again, or after a kill, goes on
where it stopped. Scenes come from the world's static STAC catalog, so the manifest's hrefs stay valid
across runs (`inseason serve` shows the same world behind a loopback STAC API).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inseason.errors import OutputError

#: Training of the two demo models: the ARSET course's recipe, and ours (TempCNN on calendar-true,
#: season-long buckets with in-season truncation). Epochs are kept short so the demo takes minutes.
DEMO_MODELS: dict[str, dict[str, Any]] = {
    "arset": {"preset": "arset", "overrides": {"epochs": 15, "batch_size": 32}},
    "tempcnn": {"preset": "tempcnn", "overrides": {"epochs": 15, "batch_size": 32}},
}


#: The demo's classes: the six largest CDL classes of the world, the rest as Other. (The course's `arset`
#: map relabels every harvested crop window "No Crop Growing", which makes season-end scores a different
#: question; `inseason series --label-map arset` gives it.)
LABEL_MAP = "cdl-major:6"


@dataclass(frozen=True)
class DemoResult:
    """Where the demo put its outputs, and the headline metrics of each model on the test split."""

    report: Path
    folder: Path
    metrics: dict[str, dict[str, float]]


def _step(path: Path, make: Callable[[], Any], *, say: Callable[[str], None], what: str) -> None:
    if path.exists():
        say(f"{what}: reusing {path}")
        return
    say(f"{what} → {path}")
    make()


def run_demo(out: str | os.PathLike[str] = "demo-out", *, size: str = "demo", seed: int = 1, stride: int = 15,
             models: dict[str, dict[str, Any]] | None = None, quiet: bool = False,
             say: Callable[[str], None] = print) -> DemoResult:
    """Run synth → labels → scenes → extract → series → split → train (two models) → evaluate → report.

    The split is by block (2 km blocks, ~300 m buffer) so that test fields never touch training fields; the
    label map keeps the world's six largest CDL classes and Other (`LABEL_MAP`), a crop-type map both
    models are compared on.
    """
    from inseason.evaluate.run import EVALUATION_FILE, evaluate_run
    from inseason.evaluate import read_evaluation
    from inseason.extract.scenes import find_scenes
    from inseason.extract.stage import extract
    from inseason.report import write_report
    from inseason.series.build import make_series
    from inseason.series.split import split_series
    from inseason.sources.points import make_label_points
    from inseason.synth import synth
    from inseason.train import train, train_config

    root = Path(out)
    models = models or DEMO_MODELS
    world = root / "world"
    info_path = world / "world.json"
    if info_path.exists():
        info = json.loads(info_path.read_text())
        if (info["size"], info["seed"]) != (size, seed):
            raise OutputError(f"{root} holds a {info['size']} world of seed {info['seed']}: choose another --out "
                              "or delete it")
        say(f"world: reusing {world}")
    else:
        say(f"world ({size}, seed {seed}) → {world}")
        info = synth(world, size=size, seed=seed, quiet=quiet).info
    years = info["years"]
    points, scenes, observations = root / "points.parquet", root / "scenes.parquet", root / "observations"
    series, splits = root / "series.parquet", root / "split.parquet"
    aoi = world / "aoi.geojson"

    _step(points, lambda: make_label_points(cdl=world / "labels", aoi=aoi, years=years, stride=stride, out=points,
                                            quiet=quiet), say=say, what="label points")
    _step(scenes, lambda: find_scenes(stac=world / "stac" / "catalog.json", aoi=aoi, start=f"{min(years)}-01-01",
                                      end=f"{max(years)}-12-31", out=scenes, quiet=quiet),
          say=say, what="scene manifest")
    if (observations / "_manifest.jsonl").exists() and not _unfinished(observations, scenes):
        say(f"observations: reusing {observations}")
    else:
        say(f"observations → {observations}")
        extract(points, scenes, out=observations, quiet=quiet)
    _step(series, lambda: make_series(observations, points=points, label_map=LABEL_MAP, out=series, quiet=quiet),
          say=say, what="series")
    block = min(2000.0, info["tiles"][0]["size_m"] / 6)  # scaled-down worlds get scaled-down blocks
    _step(splits, lambda: split_series(series, by="block", block_size=block, buffer=round(block / 7), out=splits,
                                       seed=seed, quiet=quiet), say=say, what="split")
    evaluations = {}
    for name, recipe in models.items():
        run = root / "runs" / name
        _step(run / "summary.json", lambda: train(splits, out=run, config=train_config(
            preset=recipe["preset"], overrides=recipe.get("overrides")), resume=True, quiet=quiet),
              say=say, what=f"train {name}")  # resume: a run killed mid-training goes on from its checkpoint
        _step(run / EVALUATION_FILE, lambda: evaluate_run(run, splits, split="test", quiet=quiet),
              say=say, what=f"evaluate {name}")
        evaluations[name] = read_evaluation(run / EVALUATION_FILE)
    best = max(evaluations, key=lambda n: evaluations[n]["macro_f1"])
    others = [evaluations[n] for n in evaluations if n != best]
    report = write_report(evaluations[best], out=root / "report.html", comparisons=others,
                          title=f"inseason demo: {best} on the {size} world's test blocks")
    metrics = {name: {k: ev[k] for k in ("overall_accuracy", "macro_f1", "kappa")} for name, ev in evaluations.items()}
    return DemoResult(report=report, folder=root, metrics=metrics)


def _unfinished(observations: Path, scenes: Path) -> bool:
    """True when the observations folder lacks scenes of the manifest (a run was killed)."""
    import pyarrow.parquet as pq

    from inseason.extract.observations import read_manifest

    done = {k for k, v in read_manifest(observations).items() if v["status"] in ("done", "skipped")}
    return bool(set(pq.read_table(scenes, columns=["scene_id"]).column("scene_id").to_pylist()) - done)
