"""`inseason demo`: the whole pipeline on a synthetic world, ending with wall-to-wall maps and the HTML report.

Every stage writes the same files the CLI verbs do, into one folder, and a stage whose output already
exists is skipped (extraction resumes on its own), so running the demo again, or after a kill, goes on
where it stopped. Scenes come from the world's static STAC catalog, so the manifest's hrefs stay valid
across runs (`inseason serve` shows the same world behind a loopback STAC API).

The demo says what it measured and as of which date: each model's end-of-season scores (with that date),
its best as-of date on the in-season curve, and the ARSET course's own protocol beside the course's
published figures.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inseason.errors import OutputError
from inseason.storage import LOCK_NAME, output_lock

if TYPE_CHECKING:
    from rich.table import Table

#: Training of the two demo models: the ARSET course's recipe (15 of its 40 epochs, so the demo takes
#: minutes), and ours (TempCNN on calendar-true, season-long buckets with in-season truncation) with `train`'s
#: defaults: batch size, epochs and early stopping from the data size, the GCE loss (docs/defaults.md).
DEMO_MODELS: dict[str, dict[str, Any]] = {
    "arset": {"preset": "arset", "overrides": {"epochs": 15, "batch_size": 32}},
    "tempcnn": {"preset": "tempcnn", "overrides": {}},
}


#: The demo's classes: the six largest CDL classes of the world, the rest as Other. (The course's `arset`
#: map relabels every harvested crop window "No Crop Growing", which makes season-end scores a different
#: question; `inseason series --label-map arset` gives it.)
LABEL_MAP = "cdl-major:6"

#: The as-of dates (month-day, in the world's last season) the demo maps: spring, early and high summer,
#: late summer. They are dates of the evaluation's in-season curve (every 15 days from 1 April), so the
#: report can error-adjust each map's areas with the test split's predictions as of the same date.
MAP_DATES = ("05-16", "06-30", "08-14", "09-28")

#: The side of the demo's map area (metres, centred on the world's AOI; the whole AOI when smaller).
MAP_SIDE_M = 3000.0


@dataclass(frozen=True)
class ModelScores:
    """What the demo says of one model on the test split.

    ``end_of_season`` is the month-day the headline scores are as of; ``best_as_of`` the in-season curve's
    date with the highest macro-F1 and its scores; ``course`` the ARSET course protocol's pooled scores
    (windows every 15 days after each sample's first observation) with the course's published figures.
    """

    end_of_season: str
    overall_accuracy: float
    macro_f1: float
    kappa: float
    best_as_of: dict[str, Any] | None
    course: dict[str, Any] | None
    sample_size_warning: str | None = None


@dataclass(frozen=True)
class DemoResult:
    """Where the demo put its outputs, and what each model scored on the test split."""

    report: Path
    folder: Path
    metrics: dict[str, dict[str, float]]
    scores: dict[str, ModelScores] = field(default_factory=dict)
    maps: dict[str, str] = field(default_factory=dict)  # as-of date (ISO) → class map COG
    maps_folder: Path | None = None  # the predict run's folder
    mapped_by: str = ""  # the model that made the maps


def _step(path: Path, make: Callable[[], Any], *, say: Callable[[str], None], what: str) -> None:
    if path.exists():
        say(f"{what}: reusing {path}")
        return
    say(f"{what} → {path}")
    make()


def map_area(info: dict[str, Any], aoi: Path, *, side_m: float = MAP_SIDE_M) -> Any:
    """The demo's map area: a square of about ``side_m`` on a side, centred on the world's tiles, in its AOI.

    Smaller worlds are mapped whole; larger ones get a square in their middle, so the maps take a minute, not
    an hour, on a laptop. The square holds training and test fields alike: the report draws the world's CDL
    beside the maps and error-adjusts the mapped areas with the test split.

    Args:
        info: the world's ``world.json`` (its tiles' bounds and the scenes' EPSG code).
        aoi: the world's AOI GeoJSON.
        side_m: the square's side, metres.

    Returns:
        The area, a shapely geometry in lon/lat.
    """
    from inseason.sources.aoi import read_aoi
    from inseason.synth import centre_square

    return centre_square(info, side_m=side_m).intersection(read_aoi(aoi))


def _current_evaluation(path: Path) -> dict[str, Any] | None:
    """The evaluation in ``path`` when it is of this version and has the course protocol, else None.

    An older demo folder may hold one from before either: it is evaluated again.
    """
    from inseason.errors import InputError
    from inseason.evaluate import read_evaluation

    try:
        evaluation = read_evaluation(path)
    except InputError:
        return None
    return evaluation if evaluation.get("course_windows") is not None else None


def scores_of(evaluation: dict[str, Any]) -> ModelScores:
    """The headline of one evaluation dict.

    Args:
        evaluation: an evaluation document (``inseason.evaluate.run.evaluate_run(...).evaluation``).

    Returns:
        The end-of-season scores with their date, the best as-of date, and the course protocol's scores
        with the course's published figures.
    """
    course = evaluation.get("course_windows")
    return ModelScores(
        end_of_season=evaluation["end_of_season"],
        overall_accuracy=evaluation["overall_accuracy"],
        macro_f1=evaluation["macro_f1"],
        kappa=evaluation["kappa"],
        best_as_of=evaluation["best_as_of"],
        course=None
        if not course
        else {
            "overall_accuracy": course["overall_accuracy"],
            "macro_f1": course["macro_f1"],
            "n": course["n"],
            "published": course.get("published"),
        },
        sample_size_warning=(evaluation.get("sample_size") or {}).get("warning"),
    )


def run_demo(
    out: str | os.PathLike[str] = "demo-out",
    *,
    size: str = "demo",
    seed: int = 1,
    stride: int = 15,
    models: dict[str, dict[str, Any]] | None = None,
    map_dates: tuple[str, ...] = MAP_DATES,
    map_side_m: float = MAP_SIDE_M,
    quiet: bool = False,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Run the whole pipeline on a synthetic world, from synth to the report.

    synth → labels → scenes → extract → series → split → train (two models) → evaluate (with the course
    protocol) → predict (wall-to-wall maps of the test area) → report.

    The split is by block (2 km blocks, ~300 m buffer) so that test fields never touch training fields; the
    label map keeps the world's six largest CDL classes and Other (`LABEL_MAP`), a crop-type map both
    models are compared on. The model with the better best-date macro-F1 maps a square of the world
    (`map_area`) as of each of ``map_dates`` in the world's last season; the report shows those maps beside
    the world's CDL of that year.

    Args:
        out: the demo's folder (reused when run again).
        size: the synthetic world's size (tiny, small, demo).
        seed: the world's and the split's seed.
        stride: every k-th label pixel is a sample.
        models: name → {"preset", "overrides"} of the models to train (default `DEMO_MODELS`).
        map_dates: month-days of the last season to map.
        map_side_m: the side of the mapped square (`map_area`), metres; the world's edge cuts it.
        quiet: no progress bars.
        say: where the demo's one-line progress messages go.

    Returns:
        The report's path, each model's scores and the map COGs.

    Raises:
        OutputError: ``out`` holds a world of another size or seed, or another demo runs into it.
    """
    from inseason.config import synth_config
    from inseason.evaluate.run import EVALUATION_FILE, evaluate_run
    from inseason.extract.scenes import find_scenes
    from inseason.extract.stage import extract
    from inseason.predict import predict_map
    from inseason.predict.maps import SUMMARY_FILE, read_summary
    from inseason.report import write_report
    from inseason.series.build import make_series
    from inseason.series.split import split_series
    from inseason.sources.points import make_label_points
    from inseason.synth import synth

    root = Path(out)
    models = models or DEMO_MODELS
    synth_config(size, seed=seed)  # a bad size or seed is refused before the folder is taken
    with output_lock(root, verb="demo"):  # one demo per folder: a second one fails at once
        world = root / "world"
        info_path = world / "world.json"
        if info_path.exists():
            info = json.loads(info_path.read_text())
            if (info["size"], info["seed"]) != (size, seed):
                raise OutputError(
                    f"{root} holds a {info['size']} world of seed {info['seed']}: choose another --out or delete it"
                )
            say(f"world: reusing {world}")
        else:
            say(f"world ({size}, seed {seed}) → {world}")
            info = synth(world, size=size, seed=seed, quiet=quiet).info
        years = info["years"]
        points, scenes, observations = root / "points.parquet", root / "scenes.parquet", root / "observations"
        series, splits = root / "series.parquet", root / "split.parquet"
        aoi = world / "aoi.geojson"

        _step(
            points,
            lambda: make_label_points(
                cdl=world / "labels", aoi=aoi, years=years, stride=stride, out=points, quiet=quiet
            ),
            say=say,
            what="label points",
        )
        _step(
            scenes,
            lambda: find_scenes(
                stac=world / "stac" / "catalog.json",
                aoi=aoi,
                start=f"{min(years)}-01-01",
                end=f"{max(years)}-12-31",
                out=scenes,
                quiet=quiet,
            ),
            say=say,
            what="scene manifest",
        )
        if (observations / "_manifest.jsonl").exists() and not _unfinished(observations, scenes):
            say(f"observations: reusing {observations}")
        else:
            say(f"observations → {observations}")
            extract(points, scenes, out=observations, quiet=quiet)
        _step(
            series,
            lambda: make_series(observations, points=points, label_map=LABEL_MAP, out=series, quiet=quiet),
            say=say,
            what="series",
        )
        tile_m = float(info["tiles"][0]["size_m"])
        block = min(2000.0, tile_m / 6)  # scaled-down worlds get scaled-down blocks
        _step(
            splits,
            lambda: split_series(
                series, by="block", block_size=block, buffer=round(block / 7), out=splits, seed=seed, quiet=quiet
            ),
            say=say,
            what="split",
        )
        evaluations = {}
        for name, recipe in models.items():
            run = root / "runs" / name
            _step(
                run / "summary.json",
                functools.partial(_train, splits, run, recipe, quiet=quiet),
                say=say,
                what=f"train {name}",
            )  # resume: a run killed mid-training goes on from its checkpoint
            reused = _current_evaluation(run / EVALUATION_FILE)
            if reused is not None:
                say(f"evaluate {name}: reusing {run / EVALUATION_FILE}")
                evaluations[name] = reused
            else:
                say(f"evaluate {name} (with the course protocol) → {run / EVALUATION_FILE}")
                evaluations[name] = evaluate_run(
                    run, splits, split="test", course_protocol=True, quiet=quiet
                ).evaluation
        scores = {name: scores_of(ev) for name, ev in evaluations.items()}
        best = max(scores, key=lambda n: ((scores[n].best_as_of or {}).get("macro_f1") or 0.0, scores[n].macro_f1))
        season = max(years)
        maps_dir = root / "maps"
        _step(
            maps_dir / SUMMARY_FILE,
            lambda: predict_map(
                root / "runs" / best,
                aoi=map_area(info, aoi, side_m=map_side_m),
                as_of=[f"{season}-{md}" for md in map_dates],
                scenes=scenes,
                out=maps_dir,
                quiet=quiet,
            ),
            say=say,
            what=f"maps as of {', '.join(map_dates)} {season} ({best})",
        )
        maps = read_summary(maps_dir).maps
        others = [evaluations[n] for n in evaluations if n != best]
        report = write_report(
            evaluations[best],
            out=root / "report.html",
            comparisons=others,
            title=f"inseason demo: {best} on the {size} world's test blocks",
            maps=maps_dir,
            truth=world / "labels" / f"CDL_{season}.tif",
            bundle=root / "runs" / best,
        )
        metrics = {
            name: {k: ev[k] for k in ("overall_accuracy", "macro_f1", "kappa")} for name, ev in evaluations.items()
        }
        return DemoResult(
            report=report, folder=root, metrics=metrics, scores=scores, maps=maps, maps_folder=maps_dir, mapped_by=best
        )


def _train(splits: Path, run: Path, recipe: dict[str, Any], *, quiet: bool) -> None:
    """Train one demo model into ``run``, resuming a run killed mid-training from its checkpoint."""
    from inseason.train import train, train_config

    config = train_config(preset=recipe["preset"], overrides=recipe.get("overrides"))
    # A first run has nothing to resume (and no warning saying so); a run killed before its first checkpoint
    # left files, which only resuming may reuse.
    resume = run.is_dir() and any(p.name != LOCK_NAME for p in run.iterdir())
    train(splits, out=run, config=config, resume=resume, quiet=quiet)


def _unfinished(observations: Path, scenes: Path) -> bool:
    """True when the observations folder lacks scenes of the manifest (a run was killed)."""
    import pyarrow.parquet as pq

    from inseason.observations import read_manifest

    done = {k for k, v in read_manifest(observations).items() if v["status"] in ("done", "skipped")}
    return bool(set(pq.read_table(scenes, columns=["scene_id"]).column("scene_id").to_pylist()) - done)


def summary_table(result: DemoResult) -> Table:
    """A rich table of each model's scores on the test split.

    Args:
        result: the demo's result.

    Returns:
        The table: end of season (with its date), the best as-of date on the in-season curve, and the course
        protocol, with the course's published figures beneath.
    """
    from rich.table import Table

    published = next(
        (s.course["published"] for s in result.scores.values() if s.course and s.course.get("published")), None
    )
    caption = "OA overall accuracy, F1 macro-F1."
    if published:
        caption += (
            f" The ARSET course published OA {published['overall_accuracy']:.3f}, macro-F1 "
            f"{published['macro_f1']:.3f} under its protocol, on its own data."
        )
    table = Table(
        title="Test split: end of season (its date), the best as-of date of the in-season curve, and "
        "the ARSET course's protocol (windows every 15 days after each sample's first image)",
        caption=caption,
    )
    for column in ("model", "season end", "OA", "F1", "kappa", "best date", "F1 then", "course OA", "course F1"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    for name, s in result.scores.items():
        course = s.course or {}
        table.add_row(
            name,
            s.end_of_season,
            f"{s.overall_accuracy:.3f}",
            f"{s.macro_f1:.3f}",
            f"{s.kappa:.3f}",
            s.best_as_of["as_of"] if s.best_as_of else "–",
            f"{s.best_as_of['macro_f1']:.3f}" if s.best_as_of else "–",
            f"{course['overall_accuracy']:.3f}" if course else "–",
            f"{course['macro_f1']:.3f}" if course else "–",
        )
    return table
