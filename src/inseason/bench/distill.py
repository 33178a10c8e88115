"""`inseason bench predict --student`: a teacher and its distilled student, map speed and accuracy side by side.

The teacher is ``tempcnn`` trained with its defaults on a setting of `inseason bench accuracy` (a seeded
series table with train, validation and test splits); the student is the ``tempcnn-small`` preset distilled
from it (``inseason train --teacher``), and the same small network trained on the labels alone shows what the
teacher adds. Each is scored on the setting's test split (macro-F1 at the season's end and as of
`inseason.bench.accuracy.IN_SEASON_DAY`) and timed mapping the bench's world: the model alone on one thread
over the blocks' series already in memory, and end to end (`predict_map`, one worker), on each backend.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from shapely.geometry.base import BaseGeometry

from inseason.bench.accuracy import IN_SEASON_DAY, SETTINGS, default_config, make_setting, score_bundle
from inseason.data import SeriesStore
from inseason.errors import InputError
from inseason.predict.maps import predict_map
from inseason.predict.read import block_cache
from inseason.train import BACKENDS, Backend, Predictor, TrainRequest, load_bundle, run_train, train_config

__all__ = ["STUDENT_BACKENDS", "STUDENT_PRESET", "TEACHER", "bench_student", "check_student_setting"]

#: The teacher's training preset and the student's.
TEACHER = "tempcnn"
STUDENT_PRESET = "tempcnn-small"
#: The backends each of them is timed on.
STUDENT_BACKENDS: tuple[Backend, ...] = ("torch", "onnx")


def check_student_setting(setting: str, backends: Sequence[str]) -> None:
    """Refuse an unknown accuracy setting or backend before any work.

    Args:
        setting: a name of `inseason.bench.accuracy.SETTINGS`.
        backends: the backends to time.

    Raises:
        InputError: an unknown setting or backend, or no backend.
    """
    if setting not in SETTINGS:
        raise InputError(f"bench predict: unknown student setting {setting!r}: choose from {', '.join(SETTINGS)}")
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise InputError(f"bench predict: backends {unknown or 'none'}: choose from {', '.join(BACKENDS)}")


def _model_rate(bundle_path: Path, stores: Sequence[SeriesStore], day: int, backend: Backend) -> float:
    """Pixels per second of the bundle's predictor alone on one thread over the stores' observed rows."""
    bundle = load_bundle(bundle_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        predictor = Predictor(bundle, batch_size=4096, backend=backend, threads=1)
        pixels, started = 0, time.perf_counter()
        for store in stores:
            rows = np.flatnonzero(store.counts > 0)
            if rows.size:
                predictor.predict_proba(store, as_of=day, rows=rows)
                pixels += rows.size
        return pixels / (time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)


def bench_student(
    root: Path,
    *,
    scenes: Path,
    aoi: BaseGeometry,
    date: dt.date,
    stores: Sequence[SeriesStore],
    block_size: int,
    setting: str = "many-classes",
    scale: float = 1.0,
    seed: int = 0,
    backends: Sequence[Backend] = STUDENT_BACKENDS,
) -> dict[str, Any]:
    """Train the teacher, distil the student (and train it on labels alone), score and time all three.

    Args:
        root: a scratch folder (the runs and maps are written there).
        scenes: the world's scene manifest.
        aoi: the area the maps cover.
        date: the maps' as-of date.
        stores: the series of the map's blocks as of ``date`` (the model-only measurement).
        block_size: the map's block side.
        setting: the accuracy setting the models are trained and scored on.
        scale: its size relative to the default.
        seed: its data's seed.
        backends: the backends each model is timed on.

    Returns:
        ``models``: for ``teacher``, ``student`` and ``small`` (labels only): macro-F1 at the season's end and
        in season, their parameters, and per backend the model-only and end-to-end pixels/s; ``speedup`` (the
        student's best backend end to end ÷ the teacher's torch end to end, and the same for the model alone)
        and ``macro_f1_drop`` (teacher − student, points of macro-F1 × 100).

    Raises:
        InputError: an unknown setting or backend.
    """
    check_student_setting(setting, backends)
    table = make_setting(setting, scale=scale, seed=seed)
    teacher_run, student_run, small_run = root / "teacher", root / "student", root / "small"
    runs = {
        "teacher": (teacher_run, default_config(TEACHER)),
        "student": (
            student_run,
            train_config(preset=STUDENT_PRESET, overrides={"distill.teacher": str(teacher_run)}),
        ),
        "small": (small_run, train_config(preset=STUDENT_PRESET)),
    }
    day = (date - dt.date(date.year, 1, 1)).days
    models: dict[str, Any] = {}
    for name, (run, config) in runs.items():
        started = time.perf_counter()
        run_train(TrainRequest.of(series=table, out=run, config=config, quiet=True))
        trained = time.perf_counter() - started
        score = score_bundle(run, table)
        bundle = load_bundle(run)
        assert isinstance(bundle.network, torch.nn.Module), "the teacher and students are networks"
        entry: dict[str, Any] = {
            "macro_f1": score["macro_f1"],
            "macro_f1_in_season": score["macro_f1_in_season"],
            "parameters": sum(p.numel() for p in bundle.network.parameters()),
            "train_s": round(trained, 1),
        }
        for backend in backends:
            model_rate = _model_rate(run, stores, day, backend)
            block_cache().clear()  # each timed map decodes its COG blocks, as a new map process does
            started = time.perf_counter()
            mapped = predict_map(
                bundle,
                scenes=scenes,
                aoi=aoi,
                as_of=[date],
                out=root / f"maps-{name}-{backend}",
                block_size=block_size,
                workers=1,
                quiet=True,
                allow_outside=True,
                backend=backend,
            )
            seconds = time.perf_counter() - started
            entry[backend] = {
                "model_only_pixels_per_s": round(model_rate, 1),
                "end_to_end_pixels_per_s": round(mapped.mapped_pixels[date.isoformat()] / seconds, 1),
            }
        models[name] = entry
    base = models["teacher"]["torch"] if "torch" in backends else models["teacher"][backends[0]]
    best = max(backends, key=lambda b: models["student"][b]["end_to_end_pixels_per_s"])
    student = models["student"][best]
    return {
        "setting": setting,
        "in_season_day": IN_SEASON_DAY,
        "models": models,
        "student_backend": best,
        "speedup": {
            "end_to_end": round(student["end_to_end_pixels_per_s"] / base["end_to_end_pixels_per_s"], 2),
            "model_only": round(student["model_only_pixels_per_s"] / base["model_only_pixels_per_s"], 2),
        },
        "macro_f1_drop": round(100 * (models["teacher"]["macro_f1"] - models["student"]["macro_f1"]), 2),
        "macro_f1_drop_in_season": round(
            100 * (models["teacher"]["macro_f1_in_season"] - models["student"]["macro_f1_in_season"]), 2
        ),
    }
