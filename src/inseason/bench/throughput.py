"""The network's own speed: map pixels a second through a model's forward pass alone, on a CPU or a GPU.

`inseason bench predict` times maps end to end and the model over real batches on this machine's CPU. What
a map of a continent costs on other hardware needs the network's rate alone, measured where it will run:
this module times a network's forward pass on random inputs of the shape its training preset gives it
(calendar slots × channels), batch after batch, after warm-up passes, on the device asked for, in float32
or (on CUDA) bfloat16 autocast. The specs travel as JSON, so a GPU machine needs only PyTorch and this
package's models (``python -m inseason.bench.throughput --specs specs.json --device cuda``), not the
raster stack; `network_specs` writes them where the whole package is installed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from inseason.errors import InputError
from inseason.models import model_from_spec

__all__ = ["network_specs", "network_throughput"]


def network_specs(networks: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The model spec each training preset's network has on Sentinel-2 inputs (the shape a map feeds it).

    Args:
        networks: training preset names (``tempcnn``, ``ltae``...; `inseason.bench.predict.bench_networks`).

    Returns:
        ``{network: spec}``, each spec as a bundle's ``model.json`` records it (name, n_bands, n_steps,
        n_classes and hyper-parameters).

    Raises:
        InputError: an unknown network.
    """
    from inseason.bench.predict import bench_networks, untrained_bundle  # the whole package: not on a GPU box

    unknown = [n for n in networks if n not in bench_networks()]
    if unknown:
        raise InputError(f"unknown network(s) {unknown}: choose from {', '.join(bench_networks())}")
    specs = {}
    with tempfile.TemporaryDirectory(prefix="inseason-specs-") as tmp:
        for network in networks:
            folder = untrained_bundle(network, Path(tmp) / network, seed=0)
            specs[network] = json.loads((folder / "model.json").read_text())["model"]
    return specs


def network_throughput(
    spec: Mapping[str, Any],
    *,
    device: str = "cpu",
    batch_size: int = 4096,
    batches: int = 5,
    warmup: int = 2,
    bf16: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Time ``batches`` forward passes of the network ``spec`` describes on random inputs of its shape.

    Inputs are drawn once (values from a standard normal, every step observed, 5-day slots); only the forward
    passes are timed, synchronised on CUDA, so the rate is the network's, not the input pipeline's.

    Args:
        spec: a model spec (`inseason.models.model_spec`; a network, not a tree baseline).
        device: a torch device (``cpu``, ``cuda``, ``cuda:1``).
        batch_size: pixels a forward pass.
        batches: timed passes.
        warmup: untimed passes first (allocation, kernel selection).
        bf16: run under bfloat16 autocast (CUDA only).
        seed: the seed of the weights and inputs.

    Returns:
        ``{"network", "device", "dtype", "batch_size", "batches", "seconds", "pixels_per_s", "threads"}``.

    Raises:
        InputError: a count below one, bf16 off CUDA, a device that is not there, or a spec of a tree baseline.
    """
    if batch_size < 1 or batches < 1 or warmup < 0:
        raise InputError(f"batch_size {batch_size}, batches {batches}, warmup {warmup}: use at least 1 (warmup 0)")
    target = torch.device(device)
    if target.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device}: no CUDA GPU is visible to PyTorch here")
    if bf16 and target.type != "cuda":
        raise InputError("bf16 autocast is measured on CUDA only: drop --bf16 on a CPU")
    torch.manual_seed(seed)
    network = model_from_spec(spec)
    if not isinstance(network, torch.nn.Module):
        raise InputError(f"model {spec.get('name')!r} is not a network: its cost is not a forward pass")
    network = network.to(target).eval()
    steps, bands = int(spec["n_steps"]), int(spec["n_bands"])
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(batch_size, steps, bands, generator=generator).to(target)
    mask = torch.ones(batch_size, steps, dtype=torch.bool, device=target)
    doy = (torch.arange(steps, dtype=torch.int64, device=target) * 5).expand(batch_size, steps).contiguous()

    def forward() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            network(values, mask, doy)

    with torch.inference_mode():
        for _ in range(warmup):
            forward()
        if target.type == "cuda":
            torch.cuda.synchronize(target)
        started = time.perf_counter()
        for _ in range(batches):
            forward()
        if target.type == "cuda":
            torch.cuda.synchronize(target)
        seconds = time.perf_counter() - started
    return {
        "network": str(spec["name"]),
        "device": torch.cuda.get_device_name(target) if target.type == "cuda" else "cpu",
        "dtype": "bfloat16" if bf16 else "float32",
        "batch_size": batch_size,
        "batches": batches,
        "seconds": round(seconds, 4),
        "pixels_per_s": round(batch_size * batches / seconds, 1),
        "threads": torch.get_num_threads(),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m inseason.bench.throughput``: write specs (``--write-specs``) or time them; print JSON.

    Args:
        argv: the command-line arguments (None: ``sys.argv``).
    """
    parser = argparse.ArgumentParser(prog="python -m inseason.bench.throughput", description=__doc__)
    parser.add_argument("--networks", default="arset,tempcnn,ltae,inceptiontime,gru,transformer")
    parser.add_argument("--write-specs", type=Path, help="write the networks' specs to this JSON file and stop")
    parser.add_argument("--specs", type=Path, help="time the specs of this JSON file (else: the --networks)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--bf16", action="store_true", help="also time bfloat16 autocast (CUDA)")
    args = parser.parse_args(argv)
    if args.write_specs is not None:
        specs = network_specs(args.networks.split(","))
        args.write_specs.write_text(json.dumps(specs, indent=1))
        return
    specs = json.loads(args.specs.read_text()) if args.specs is not None else network_specs(args.networks.split(","))
    results = []
    for spec in specs.values():
        for bf16 in (False, True) if args.bf16 else (False,):
            results.append(
                network_throughput(
                    spec, device=args.device, batch_size=args.batch_size, batches=args.batches, bf16=bf16
                )
            )
            print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    main()
