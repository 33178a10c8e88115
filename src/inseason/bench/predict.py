"""`inseason bench predict`: map pixels per second end to end (read + model + write) against the model alone.

Both sides run in one process on the same pixels and as-of date of a synthetic world: *end to end* is
`predict_map` from the scene manifest to the COG, *model only* is the bundle's predictor over the same
pixels' series already in memory. Their ratio, ``end_to_end_over_model_only``, shows what the I/O costs
(the issue's target: at least 0.5 for the `arset` network). The networks get untrained weights of their
preset's architecture and inputs: speed does not depend on what they learned.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inseason.config import check_workers
from inseason.data import FeatureConfig, InputSpec, Normalization, feature_names
from inseason.data.adapters import AdapterConfig
from inseason.errors import InputError
from inseason.extract.scenes import find_scenes
from inseason.labels import cdl_class
from inseason.models import create_model, model_info, model_spec
from inseason.predict.maps import predict_map
from inseason.predict.read import check_block_size, map_grid, plan_blocks, read_block, scene_refs
from inseason.sources.aoi import read_aoi
from inseason.synth import load_world, synth
from inseason.tables import S2_BANDS
from inseason.train import TRAIN_PRESETS, LabelClass, Predictor, load_bundle, write_bundle

__all__ = ["bench_networks", "bench_predict"]

#: Classes of the benchmark bundles (CDL codes): the ARSET course's crops plus winter wheat and a double crop.
_CODES = (1, 2, 3, 5, 24, 26, 176)


def bench_networks() -> tuple[str, ...]:
    """The networks `bench_predict` can time: the training presets whose model is a neural network.

    Returns:
        Their names, in the presets' order.
    """
    return tuple(name for name, preset in TRAIN_PRESETS.items() if model_info(preset["model"]["name"]).neural)


def _check_networks(networks: Sequence[str]) -> None:
    """Refuse no networks, or one that is not in `bench_networks` (the message names those)."""
    known = bench_networks()
    unknown = [n for n in networks if n not in known]
    if unknown or not networks:
        what = f"unknown network {', '.join(map(repr, unknown))}" if unknown else "no network"
        raise InputError(f"bench predict: {what}: use {', '.join(known)} (--networks, a comma list)")


def untrained_bundle(network: str, out: Path, *, seed: int) -> Path:
    """An untrained bundle of ``network`` with its training preset's adapter and features.

    Args:
        network: a training preset's name (``arset``, ``tempcnn``...).
        out: the bundle folder to write.
        seed: the seed of the random weights.

    Returns:
        ``out``.
    """
    preset = TRAIN_PRESETS[network]
    adapter = AdapterConfig(**preset["adapter"])
    features = FeatureConfig(**preset.get("features", {}))
    channels = feature_names(S2_BANDS, features, has_scl=True)
    spec = InputSpec(
        adapter=adapter,
        features=features,
        normalization=Normalization(
            mean=np.zeros(len(channels), np.float32), std=np.full(len(channels), 0.1, np.float32)
        ),
    )
    model = create_model(
        preset["model"]["name"], n_bands=len(channels), n_steps=adapter.n_steps, n_classes=len(_CODES), seed=seed
    )
    classes = [LabelClass(name=cdl_class(c).name, codes=(c,), color=cdl_class(c).color) for c in _CODES]
    write_bundle(
        out,
        network=model,
        model_spec=model_spec(model),
        spec=spec,
        bands=S2_BANDS,
        classes=classes,
        prior=np.full(len(_CODES), 1 / len(_CODES), np.float32),
        season_start="01-01",
        fingerprint="bench",
        metrics={},
        config={"benchmark": network},
    )
    return out


def bench_predict(
    *,
    networks: Sequence[str] = ("arset", "tempcnn"),
    world: str | Path | None = None,
    size: str = "tiny",
    as_of: dt.date | None = None,
    block_size: int = 256,
    workers: int = 1,
    seed: int = 1,
    quiet: bool = True,
) -> dict[str, Any]:
    """Measure end-to-end and model-only map pixels per second for each network.

    Args:
        networks: the training presets whose networks are measured.
        world: a world made by ``inseason synth`` to reuse (None: make one of ``size`` in a temporary folder).
        size: the size of the world to make.
        as_of: the map's as-of date (None: 1 August of the world's last year).
        block_size: the map's block side, pixels.
        workers: the map run's processes.
        seed: the world's and the weights' seed.
        quiet: hide the progress bars.

    Returns:
        The world (size, year, as-of date, scenes, grid), the block size and workers, each network's pixels,
        seconds and rates, and each network's ``end_to_end_over_model_only``.

    Raises:
        InputError: an unknown network (or none), fewer than one worker, a block below 16 pixels, or a
            ``world`` that is not a world folder; checked before any work.
    """
    networks = list(dict.fromkeys(networks))  # each network once
    _check_networks(networks)
    check_workers(workers)
    check_block_size(block_size)
    given = load_world(world)[0] if world is not None else None  # a folder without a world: refused first
    with tempfile.TemporaryDirectory(prefix="inseason-bench-predict-") as tmp:
        root = Path(tmp)
        world = Path(world) if world is not None else synth(root / "world", size=size, seed=seed, quiet=quiet).path
        info = given if given is not None else load_world(world)[0]
        year = max(info["years"])
        date = as_of or dt.date(year, 8, 1)
        aoi = read_aoi(world / "aoi.geojson")
        scenes = find_scenes(
            stac=str(world / "stac" / "catalog.json"),
            aoi=aoi,
            start=dt.date(year, 1, 1),
            end=date,
            out=root / "scenes.parquet",
            min_valid=0.0,
            quiet=True,
        )
        refs = scene_refs(scenes, since=dt.date(year, 1, 1), until=date)
        grid = map_grid(aoi, refs)
        stores = [
            read_block(block, grid=grid, scenes=refs, aoi=aoi).store(season="01-01", year=year)
            for block in plan_blocks(grid, aoi, block_size=block_size)
        ]
        day = (date - dt.date(year, 1, 1)).days
        results: dict[str, Any] = {}
        for network in networks:
            bundle = load_bundle(untrained_bundle(network, root / f"bundle-{network}", seed=seed))
            started = time.perf_counter()
            run = predict_map(
                bundle,
                scenes=root / "scenes.parquet",
                aoi=aoi,
                as_of=[date],
                out=root / f"maps-{network}",
                block_size=block_size,
                workers=workers,
                quiet=True,
            )
            end_to_end = time.perf_counter() - started
            pixels = run.mapped_pixels[date.isoformat()]
            predictor = Predictor(bundle, batch_size=4096)
            started = time.perf_counter()
            for store in stores:
                rows = np.flatnonzero(store.counts > 0)
                if rows.size:
                    predictor.predict_proba(store, as_of=day, rows=rows)
            model_only = time.perf_counter() - started
            e2e_rate, model_rate = pixels / end_to_end, pixels / model_only
            results[network] = {
                "pixels": pixels,
                "end_to_end_s": round(end_to_end, 3),
                "model_only_s": round(model_only, 3),
                "end_to_end_pixels_per_s": round(e2e_rate, 1),
                "model_only_pixels_per_s": round(model_rate, 1),
                "end_to_end_over_model_only": round(e2e_rate / model_rate, 3),
            }
    return {
        "world": {
            "size": info["size"],
            "year": year,
            "as_of": date.isoformat(),
            "scenes": len(refs),
            "grid": [grid.height, grid.width],
        },
        "block_size": block_size,
        "workers": workers,
        "networks": results,
        "end_to_end_over_model_only": {n: r["end_to_end_over_model_only"] for n, r in results.items()},
    }


def main() -> None:
    """Run the benchmark from a plain script (``python -m inseason.bench.predict``) and print JSON."""
    print(json.dumps(bench_predict(), indent=1))


if __name__ == "__main__":
    main()
