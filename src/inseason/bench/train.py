"""`inseason bench train`: the training data path and the model zoo, measured side by side in one run.

* **Loader**: our vectorised `BatchLoader` against a per-item torch ``Dataset.__getitem__`` + ``DataLoader``
  that builds each sample on its own (the same `build_batch` code, one row at a time) and collates them.
  Both produce the same batches from the same rows; the ratio of their samples/s is ``loader_speedup``.
* **Input wait**: the fraction of step time an ``arset`` training run (the ARSET course recipe, through
  `inseason.train.train`) spends waiting for batches, read back from its TensorBoard events.
* **Models**: training samples/s (augmented batches, loader included), inference samples/s (forward
  passes on prepared batches), FLOPs per sample counted by ``torch.utils.flop_counter.FlopCounterMode``,
  and the achieved GFLOP/s as a fraction of this machine's measured float32 matmul rate, so the table
  shows how close each network runs to the arithmetic limit. Tree baselines report fit and prediction
  rates (no FLOPs).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.flop_counter import FlopCounterMode

from inseason.data import (
    ADAPTER_PRESETS,
    AdapterConfig,
    BatchLoader,
    FeatureConfig,
    InputSpec,
    SeriesStore,
    build_batch,
    decode_series,
    fit_normalization,
    synthetic_series,
)
from inseason.errors import InputError
from inseason.models import create_model, list_models, model_info, parameter_count
from inseason.progress import progress_bar
from inseason.train import TRAIN_PRESETS, train, train_config
from inseason.train.classical import tree_inputs

__all__ = ["DEFAULT_MODELS", "ItemDataset", "bench_train", "bench_train_markdown", "matmul_gflops"]

#: Models benchmarked by default: every network of the registry and both tree baselines.
DEFAULT_MODELS: tuple[str, ...] = (
    "arset-slide",
    "arset",
    "tempcnn",
    "ltae",
    "transformer",
    "lstm",
    "gru",
    "random_forest",
    "gradient_boosting",
)
_FEATURES = FeatureConfig(indices=("NDVI",))
_SPLIT = "train"


class ItemDataset(torch.utils.data.Dataset[tuple[torch.Tensor, ...]]):
    """The per-item way: ``__getitem__`` builds one sample (bucketing, features, normalisation) for one row.

    Collated by a ``DataLoader`` it yields the same batches as `BatchLoader` in sequential order without
    augmentation; only the granularity of the work differs.
    """

    def __init__(self, store: SeriesStore, rows: np.ndarray, targets: np.ndarray, spec: InputSpec) -> None:
        self.store, self.rows, self.targets, self.spec = store, rows, targets, spec

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        """Values [T, C], mask [T], day of season [T] and the class index of row ``index``."""
        built = build_batch(self.store, self.rows[index : index + 1], self.spec)
        return (
            torch.from_numpy(built.values[0]),
            torch.from_numpy(built.mask[0]),
            torch.from_numpy(built.doy[0]),
            torch.tensor(int(self.targets[index])),
        )


def matmul_gflops(*, size: int = 1024, repeats: int = 8) -> float:
    """This machine's float32 matrix-multiply rate on CPU, the arithmetic limit models are held to.

    Args:
        size: the side of the square matrices.
        repeats: the timed multiplications (after one warm-up).

    Returns:
        GFLOP/s.
    """
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2.0 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def _spec(store: SeriesStore, rows: np.ndarray, adapter: AdapterConfig) -> InputSpec:
    return InputSpec(
        adapter=adapter, features=_FEATURES, normalization=fit_normalization(store, rows, features=_FEATURES)
    )


def _adapter_of(name: str) -> AdapterConfig:
    """The adapter a model is trained with: its training preset's, else the default of its adapter kind."""
    preset = TRAIN_PRESETS.get(name, {}).get("adapter")
    if preset is not None:
        return AdapterConfig(**preset)
    return ADAPTER_PRESETS["arset"] if model_info(name).adapter == "bucketed" else ADAPTER_PRESETS["sequence"]


#: Each loader's rate is measured over whole passes in `LOADER_ROUNDS` turns of at least `LOADER_TURN_SECONDS`
#: each, the two loaders taking turns: one pass of our loader takes tens of milliseconds, too short to time alike
#: twice on a busy machine, and turns let a slow spell of the machine fall on both sides.
LOADER_ROUNDS = 4
LOADER_TURN_SECONDS = 0.25


def _turn(make: Callable[[], Iterable[Any]]) -> tuple[list[Any], int, float]:
    """The batches of one pass of ``make()``, and the passes and seconds of one turn."""
    passes, started = 0, time.perf_counter()
    first: list[Any] = []
    while True:
        batches = list(make())
        first = first or batches
        passes += 1
        seconds = time.perf_counter() - started
        if seconds >= LOADER_TURN_SECONDS:
            return first, passes, seconds


def _loader_comparison(
    store: SeriesStore, rows: np.ndarray, targets: np.ndarray, spec: InputSpec, *, batch_size: int, workers: int
) -> dict[str, Any]:
    """Samples/s of both loaders over the same rows, and whether every batch they produce is identical.

    The loaders take `LOADER_ROUNDS` turns each, one after the other, of whole passes over the rows.
    """

    def ours() -> Iterable[Any]:
        return BatchLoader(store, rows, targets, spec, batch_size=batch_size, sampling="sequential")

    def per_item() -> Iterable[Any]:
        return torch.utils.data.DataLoader(
            ItemDataset(store, rows, targets, spec), batch_size=batch_size, shuffle=False, num_workers=workers
        )

    totals = {"ours": [0, 0.0], "per_item": [0, 0.0]}
    our_batches: list[Any] = []
    item_batches: list[Any] = []
    for _ in range(LOADER_ROUNDS):
        batches, passes, seconds = _turn(ours)
        our_batches = our_batches or batches
        totals["ours"][0] += passes
        totals["ours"][1] += seconds
        batches, passes, seconds = _turn(per_item)
        item_batches = item_batches or batches
        totals["per_item"][0] += passes
        totals["per_item"][1] += seconds
    same = len(our_batches) == len(item_batches) and all(
        all(torch.equal(a, b) for a, b in zip(mine, theirs)) for mine, theirs in zip(our_batches, item_batches)
    )
    return {
        "batch_size": batch_size,
        "workers": workers,
        "same_batches": same,
        "ours_samples_per_s": round(rows.size * totals["ours"][0] / totals["ours"][1], 1),
        "per_item_samples_per_s": round(rows.size * totals["per_item"][0] / totals["per_item"][1], 1),
        "ours_passes": int(totals["ours"][0]),
        "per_item_passes": int(totals["per_item"][0]),
    }


def _input_wait(store: SeriesStore, *, epochs: int, quiet: bool) -> list[float]:
    """Per-epoch input-wait fractions of an ``arset`` preset run on ``store`` (from its TensorBoard events)."""
    config = train_config(preset="arset", overrides={"epochs": epochs, "histograms": False})
    with tempfile.TemporaryDirectory(prefix="inseason-bench-") as tmp:
        out = Path(tmp) / "arset"
        train(store, out=out, config=config, quiet=quiet)
        events = EventAccumulator(str(out / "tensorboard" / "version_0"), size_guidance={"scalars": 0})
        events.Reload()
        return [float(e.value) for e in events.Scalars("train/input_wait_fraction")]


def _flops(network: torch.nn.Module, batch: tuple[torch.Tensor, ...], *, backward: bool) -> int:
    """FLOPs of one forward pass (and backward pass) of ``network`` on ``batch``."""
    values, mask, doy, y = batch
    with FlopCounterMode(display=False) as counter:
        logits = network(values, mask, doy)
        if backward:
            torch.autograd.backward(torch.nn.functional.cross_entropy(logits, y))
    network.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def _network_rates(
    name: str,
    store: SeriesStore,
    rows: np.ndarray,
    targets: np.ndarray,
    *,
    n_classes: int,
    batch_size: int,
    steps: int,
    seed: int,
    limit: float,
) -> dict[str, Any]:
    """Training and inference rates (``steps`` batches each), FLOPs per sample and share of the matmul limit."""
    adapter = _adapter_of(name)
    spec = _spec(store, rows, adapter)
    network = create_model(
        name, n_bands=len(spec.normalization.mean), n_steps=adapter.n_steps, n_classes=n_classes, seed=seed
    )
    assert isinstance(network, torch.nn.Module)
    loader = BatchLoader(
        store, rows, targets, spec, batch_size=batch_size, sampling="shuffle", seed=seed, augment=train_config().augment
    )
    first = loader.batch(0, 0)
    n = int(first[0].shape[0])
    train_flops = _flops(network.train(), first, backward=True) / n
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    seen = 0
    started = time.perf_counter()
    for values, mask, doy, y in itertools.islice(loader, steps):
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(torch.nn.functional.cross_entropy(network(values, mask, doy), y))
        optimizer.step()
        seen += int(y.numel())
    train_rate = seen / (time.perf_counter() - started)
    network.eval()
    batches = list(itertools.islice(BatchLoader(store, rows, targets, spec, batch_size=batch_size), steps))
    infer_flops = _flops(network, first, backward=False) / n  # FlopCounterMode's module tracker needs grad mode
    with torch.no_grad():
        network(*first[:3])
        started = time.perf_counter()
        for values, mask, doy, _ in batches:
            network(values, mask, doy)
        infer_rate = sum(int(b[3].numel()) for b in batches) / (time.perf_counter() - started)
    infer_gflops = infer_flops * infer_rate / 1e9
    train_gflops = train_flops * train_rate / 1e9
    return {
        "name": name,
        "kind": "network",
        "adapter": adapter.kind,
        "n_steps": adapter.n_steps,
        "parameters": parameter_count(network),
        "train_samples_per_s": round(train_rate, 1),
        "infer_samples_per_s": round(infer_rate, 1),
        "train_flops_per_sample": int(train_flops),
        "flops_per_sample": int(infer_flops),
        "train_gflops": round(train_gflops, 3),
        "infer_gflops": round(infer_gflops, 3),
        "infer_of_matmul": round(infer_gflops / limit, 4),
        "train_of_matmul": round(train_gflops / limit, 4),
    }


def _tree_rates(
    name: str, store: SeriesStore, rows: np.ndarray, targets: np.ndarray, *, n_classes: int, seed: int
) -> dict[str, Any]:
    """Fit and prediction rates of one tree baseline on one unaugmented pass over the training rows."""
    adapter = _adapter_of(name)
    spec = _spec(store, rows, adapter)
    config = train_config(overrides={"as_of_copies": 1, "seed": seed})
    values, mask, doy, y = tree_inputs(store, rows, targets, spec, config=config)
    model = create_model(name, n_bands=values.shape[2], n_steps=adapter.n_steps, n_classes=n_classes, seed=seed)
    assert not isinstance(model, torch.nn.Module)  # a tree baseline
    started = time.perf_counter()
    model.fit(values, mask, doy, y)
    train_rate = rows.size / (time.perf_counter() - started)
    started = time.perf_counter()
    model.predict_proba(values, mask, doy)
    infer_rate = rows.size / (time.perf_counter() - started)
    return {
        "name": name,
        "kind": "trees",
        "adapter": adapter.kind,
        "n_steps": adapter.n_steps,
        "parameters": parameter_count(model),
        "train_samples_per_s": round(train_rate, 1),
        "infer_samples_per_s": round(infer_rate, 1),
        "train_flops_per_sample": None,
        "flops_per_sample": None,
        "train_gflops": None,
        "infer_gflops": None,
        "infer_of_matmul": None,
        "train_of_matmul": None,
    }


def bench_train(
    *,
    n_samples: int = 1000,
    models: Sequence[str] = DEFAULT_MODELS,
    epochs: int = 2,
    workers: int = 0,
    batch_size: int = 128,
    steps: int = 5,
    repeats: int = 3,
    seed: int = 0,
    quiet: bool = False,
) -> dict[str, Any]:
    """Measure the loader, the input wait of an ``arset`` run and every model in ``models``.

    The two headline ratios (the loaders' speed-up and the input-wait fraction) are measured ``repeats``
    times each: the result gives their median and their spread (lowest and highest run), so that a reader
    sees how much one run of this machine may differ from the next.

    The data is `synthetic_series` with ``n_samples`` rows (60 % of them the training split the
    measurements run over).

    Args:
        n_samples: rows of the synthetic series (at least 12).
        models: the registry models to measure.
        epochs: the length of the ``arset`` run whose input wait is measured.
        workers: the per-item ``DataLoader``'s worker processes (ours uses none).
        batch_size: each network trains and predicts batches of this size (a tree baseline fits and
            predicts all training rows).
        steps: the batches each network trains and predicts.
        repeats: the runs of the loader comparison and of the input-wait training run.
        seed: the seed of the data, the weights and the sampling.
        quiet: hide the progress bar.

    Returns:
        One dict: ``loader_speedup`` (ours / per-item samples/s, on the ``arset`` preset's inputs and
        batch size) and ``input_wait_fraction`` (mean over a run's epochs) summarise the data path, each the
        median of ``repeats`` runs with its ``…_spread`` ``[lowest, highest]`` (``loader`` is the median
        run's comparison, ``input_wait_by_epoch`` the first run's epochs);
        ``models`` holds one entry per model (``parameters`` of a tree baseline counts its nodes).

    Raises:
        InputError: an unknown model, too few samples, or a count below its minimum.
    """
    unknown = [m for m in models if m not in list_models()]
    if unknown:
        raise InputError(f"unknown models {unknown} for bench train: choose from {', '.join(list_models())}")
    if n_samples < 12:
        raise InputError(f"n_samples={n_samples} is too small for bench train: use at least 12")
    if workers < 0 or epochs < 1 or batch_size < 1 or steps < 1 or repeats < 1:
        raise InputError("bench train needs workers >= 0 and epochs, batch_size, steps and repeats >= 1")
    torch.manual_seed(seed)
    store = decode_series(synthetic_series(n_samples, seed=seed))
    rows = store.rows_of(_SPLIT)
    names = sorted(set(store.labels[rows].tolist()))
    targets = np.array([names.index(label) for label in store.labels[rows]], np.int64)
    limit = matmul_gflops()
    results: list[dict[str, Any]] = []
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task("bench", total=2 * repeats + len(models))
        arset_batch = int(TRAIN_PRESETS["arset"]["batch_size"])
        arset_spec = _spec(store, rows, ADAPTER_PRESETS["arset"])
        loaders, wait_runs = [], []
        for _ in range(repeats):
            loaders.append(
                _loader_comparison(store, rows, targets, arset_spec, batch_size=arset_batch, workers=workers)
            )
            bar.advance(task)
            wait_runs.append(_input_wait(store, epochs=epochs, quiet=True))
            bar.advance(task)
        speedups = [run["ours_samples_per_s"] / run["per_item_samples_per_s"] for run in loaders]
        loader = loaders[int(np.argsort(speedups)[(len(speedups) - 1) // 2])]  # the (lower) median run
        waits = [float(np.mean(run)) for run in wait_runs]
        for name in models:
            if model_info(name).neural:
                results.append(
                    _network_rates(
                        name,
                        store,
                        rows,
                        targets,
                        n_classes=len(names),
                        batch_size=batch_size,
                        steps=steps,
                        seed=seed,
                        limit=limit,
                    )
                )
            else:
                results.append(_tree_rates(name, store, rows, targets, n_classes=len(names), seed=seed))
            bar.advance(task)
    return {
        "samples": n_samples,
        "train_rows": int(rows.size),
        "classes": len(names),
        "batch_size": batch_size,
        "steps": steps,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "matmul_gflops": round(limit, 2),
        "loader": {**loader, "same_batches": all(run["same_batches"] for run in loaders)},
        "loader_speedup": round(float(np.median(speedups)), 2),
        "loader_speedup_spread": [round(min(speedups), 2), round(max(speedups), 2)],
        "input_wait_fraction": round(float(np.median(waits)), 4),
        "input_wait_spread": [round(min(waits), 4), round(max(waits), 4)],
        "input_wait_by_epoch": [round(w, 4) for w in wait_runs[0]],
        "models": results,
    }


def bench_train_markdown(result: dict[str, Any]) -> str:
    """The benchmark as a Markdown report: the data-path figures, then one table row per model.

    Args:
        result: what :func:`bench_train` returned.

    Returns:
        The Markdown text.
    """
    loader = result["loader"]
    lines = [
        f"# inseason bench train ({result['train_rows']} training series, {result['threads']} threads)",
        "",
        f"- loader: ours {loader['ours_samples_per_s']:.0f} samples/s, per-item Dataset + DataLoader "
        f"{loader['per_item_samples_per_s']:.0f} samples/s ({loader['workers']} workers): "
        f"**{result['loader_speedup']:.1f}×** (median of {result['repeats']} runs, "
        f"{result['loader_speedup_spread'][0]:.1f}–{result['loader_speedup_spread'][1]:.1f}×), "
        f"same batches: {loader['same_batches']}",
        f"- input-wait fraction of an arset training run: **{result['input_wait_fraction']:.1%}** (median of "
        f"{result['repeats']} runs, {result['input_wait_spread'][0]:.1%}–{result['input_wait_spread'][1]:.1%})",
        f"- float32 matmul: {result['matmul_gflops']:.1f} GFLOP/s",
        "",
        "| model | inputs | parameters | train samples/s | infer samples/s | FLOPs/sample | infer GFLOP/s "
        "| of matmul |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in result["models"]:
        flops = "–" if m["flops_per_sample"] is None else f"{m['flops_per_sample']:,}"
        gflops = "–" if m["infer_gflops"] is None else f"{m['infer_gflops']:.2f}"
        share = "–" if m["infer_of_matmul"] is None else f"{m['infer_of_matmul']:.1%}"
        lines.append(
            f"| {m['name']} | {m['adapter']} × {m['n_steps']} | {m['parameters']:,} | "
            f"{m['train_samples_per_s']:,.0f} | {m['infer_samples_per_s']:,.0f} | {flops} | {gflops} | {share} |"
        )
    return "\n".join(lines) + "\n"
