"""An ONNX Runtime backend for a bundle's network: the same logits as torch, fewer seconds per map pixel.

A map spends almost all its CPU in the network's forward pass (`inseason bench predict`). ONNX Runtime runs
the exported graph with its layers fused (convolution + batch norm + ReLU) and, optionally, with int8 weights
(dynamic quantization of the matrix products and convolutions). The graph is exported from the bundle's
weights with torch's TorchScript exporter, then *verified*: it is run on a second batch of another size and
other masks and must give the torch network's logits (float32: within `FLOAT_TOLERANCE`; int8: the same
class for at least `INT8_AGREEMENT` of the rows). A network whose graph does not verify (a shape or branch the
trace cannot follow) is refused with the reason, never used silently.

The exported graph can be kept beside the weights (``model.onnx``, ``model.int8.onnx``: `export_onnx`); it
records the SHA-256 of the weights it was made from, so a graph left over from
other weights is ignored and exported again. ONNX files are protocol buffers: loading one unpickles nothing.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from inseason.errors import InputError
from inseason.storage import write_bytes
from inseason.train.bundle import WEIGHTS, Bundle

__all__ = [
    "BACKENDS",
    "FLOAT_TOLERANCE",
    "INT8_AGREEMENT",
    "Backend",
    "OnnxNetwork",
    "export_onnx",
    "onnx_file",
    "onnx_network",
    "use_graph",
]

#: The backends a bundle's network runs on: torch (the bundle's own), ONNX Runtime in float32, or in int8.
Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
#: Largest absolute difference of a float32 graph's logits from torch's on the verification batch.
FLOAT_TOLERANCE = 1e-3
#: Share of the verification rows whose class an int8 graph must give as torch does.
INT8_AGREEMENT = 0.97
#: The ONNX operator set of the export (supported by every ONNX Runtime of the lock and well beyond).
OPSET = 17
_WEIGHTS_KEY = "inseason_weights_sha256"
_INPUTS = ("values", "mask", "doy")


def onnx_file(bundle: Bundle, backend: Backend) -> Path:
    """Where the bundle keeps the graph of ``backend`` (``model.onnx`` or ``model.int8.onnx``).

    Args:
        bundle: the loaded bundle.
        backend: ``onnx`` or ``onnx-int8``.

    Returns:
        The path inside the bundle folder (it may not exist).
    """
    return bundle.path / ("model.int8.onnx" if backend == "onnx-int8" else "model.onnx")


def _weights_digest(bundle: Bundle) -> str:
    return hashlib.sha256((bundle.path / WEIGHTS).read_bytes()).hexdigest()


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise InputError(f"backend {backend!r}: choose one of {', '.join(BACKENDS)}")


def _network(bundle: Bundle) -> torch.nn.Module:
    network = bundle.network
    if not isinstance(network, torch.nn.Module):
        raise InputError(
            f"the bundle's model ({bundle.manifest.get('model', {}).get('name', 'a classical baseline')}) is not a "
            "network: ONNX Runtime runs networks only; use backend torch"
        )
    return network


def _sample_batch(bundle: Bundle, rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch of the network's input shapes: random normalised values, masks with empty tails, days of season."""
    network = _network(bundle)
    steps = int(getattr(network, "n_steps", 0) or bundle.spec.adapter.n_steps)
    channels = int(bundle.spec.normalization.mean.size)
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(rows, steps, channels, generator=generator)
    mask = torch.rand(rows, steps, generator=generator) > 0.4
    mask[:, 0] = True  # every row has an observation
    mask[rows // 2 :, steps // 2 :] = False  # in-season rows: the late steps are empty
    values[~mask] = 0.0
    doy = torch.sort(torch.randint(0, 366, (rows, steps), generator=generator), dim=1).values
    return values, mask, doy


def _export(bundle: Bundle) -> bytes:
    """The float32 graph of the bundle's network (batch size dynamic)."""
    network = _network(bundle).eval()
    inputs = _sample_batch(bundle, 8, seed=0)
    buffer = io.BytesIO()
    axes = {name: {0: "rows"} for name in (*_INPUTS, "logits")}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes: the graph is verified below
        try:
            torch.onnx.export(
                network,
                inputs,
                buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to a file object too
                dynamo=False,
                input_names=list(_INPUTS),
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=OPSET,
            )
        except Exception as exc:  # the exporter's own errors are of many kinds
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise InputError(
                f"the {type(network).__name__} network cannot be exported to ONNX ({reason}): use backend torch"
            ) from None
    import onnx

    model = onnx.load_from_string(buffer.getvalue())
    entry = model.metadata_props.add()
    entry.key, entry.value = _WEIGHTS_KEY, _weights_digest(bundle)
    return bytes(model.SerializeToString())


def _quantized(graph: bytes) -> bytes:
    """The graph with int8 weights (dynamic quantization: activations quantized per batch at run time).

    The float graph's metadata (the weights' digest) is carried over.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="inseason-onnx-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain, quantized = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx"
        plain.write_bytes(graph)
        quantize_dynamic(plain, quantized, weight_type=QuantType.QInt8)
        model = onnx.load(quantized)
    carried = {p.key for p in model.metadata_props}
    for prop in onnx.load_from_string(graph).metadata_props:
        if prop.key not in carried:
            entry = model.metadata_props.add()
            entry.key, entry.value = prop.key, prop.value
    return bytes(model.SerializeToString())


def _session(graph: bytes, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class OnnxNetwork:
    """A bundle's network as an ONNX Runtime session: called like the network, on numpy arrays."""

    session: Any
    backend: Backend
    inputs: tuple[str, ...]
    graph: bytes  # the serialized graph the session runs (sent to map workers: `use_graph`)

    @classmethod
    def of(cls, graph: bytes, backend: Backend, *, threads: int = 1) -> OnnxNetwork:
        """A session running ``graph``.

        Args:
            graph: a serialized ONNX graph taking ``values`` (and ``mask``, ``doy`` where it uses them).
            backend: ``onnx`` or ``onnx-int8``, what the graph is.
            threads: ONNX Runtime's threads for one call.

        Returns:
            The wrapper.
        """
        session = _session(graph, threads)
        return cls(session, backend, tuple(i.name for i in session.get_inputs()), graph)

    def logits(self, values: np.ndarray, mask: np.ndarray, doy: np.ndarray) -> np.ndarray:
        """Class logits [B, K] (float32) of one built batch.

        Args:
            values: normalised inputs [B, T, C], float32.
            mask: which steps hold an observation [B, T], bool.
            doy: day of season of each step [B, T], int64.

        Returns:
            The logits, float32 [B, K].
        """
        given = {"values": values, "mask": mask, "doy": doy}
        out = self.session.run(["logits"], {name: given[name] for name in self.inputs})[0]
        return np.asarray(out, np.float32)


def _verify(bundle: Bundle, runner: OnnxNetwork) -> None:
    """Refuse a graph that does not give the torch network's classes and logits on an unseen batch.

    Raises:
        InputError: the graph's logits differ beyond `FLOAT_TOLERANCE` (float32) or its classes agree with
            torch's on fewer than `INT8_AGREEMENT` of the rows (int8).
    """
    values, mask, doy = _sample_batch(bundle, 37, seed=1)
    with torch.no_grad():
        expected = _network(bundle)(values, mask, doy).float().numpy()
    got = runner.logits(values.numpy(), mask.numpy(), doy.numpy())
    name = type(_network(bundle)).__name__
    if got.shape != expected.shape:
        raise InputError(
            f"the {name} network's ONNX graph gives logits of shape {got.shape}, torch {expected.shape}: "
            "use backend torch"
        )
    if runner.backend == "onnx":
        error = float(np.abs(got - expected).max())
        if not error <= FLOAT_TOLERANCE:
            raise InputError(
                f"the {name} network's ONNX graph differs from torch by {error:.3g} in its logits (tolerance "
                f"{FLOAT_TOLERANCE}): its trace does not follow the network; use backend torch"
            )
    else:
        agreement = float((got.argmax(1) == expected.argmax(1)).mean())
        if agreement < INT8_AGREEMENT:
            raise InputError(
                f"the {name} network's int8 graph gives torch's class for {agreement:.0%} of the verification "
                f"rows (at least {INT8_AGREEMENT:.0%} needed): use backend onnx"
            )


def _graph(bundle: Bundle, backend: Backend) -> bytes:
    """The bundle's kept graph of ``backend`` when it was made from these weights, else a new export."""
    path = onnx_file(bundle, backend)
    if path.is_file():
        import onnx

        kept = path.read_bytes()
        props = {p.key: p.value for p in onnx.load_from_string(kept).metadata_props}
        if props.get(_WEIGHTS_KEY) == _weights_digest(bundle):
            return kept
    graph = _export(bundle)
    return _quantized(graph) if backend == "onnx-int8" else graph


_SESSIONS: dict[tuple[str, str, str, int], OnnxNetwork] = {}


def _key(bundle: Bundle, backend: Backend, threads: int) -> tuple[str, str, str, int]:
    return (str(bundle.path.resolve()), _weights_digest(bundle), backend, threads)


def onnx_network(bundle: Bundle, backend: Backend = "onnx", *, threads: int = 1) -> OnnxNetwork:
    """The bundle's network on ONNX Runtime, exported (or read from the bundle) and verified once per process.

    Args:
        bundle: the loaded bundle (a network).
        backend: ``onnx`` (float32) or ``onnx-int8``.
        threads: ONNX Runtime's threads for one call (1: one core, as each map worker uses; 0: its default,
            the machine's cores).

    Returns:
        The session wrapper; the same object for the same weights, backend and threads within a process.

    Raises:
        InputError: an unknown backend, a classical baseline, or a network whose graph cannot be exported or
            does not verify against torch.
    """
    _check_backend(backend)
    if backend == "torch":
        raise InputError("backend torch runs the bundle's network itself: ask for onnx or onnx-int8")
    key = _key(bundle, backend, threads)
    if key not in _SESSIONS:
        runner = OnnxNetwork.of(_graph(bundle, backend), backend, threads=threads)
        _verify(bundle, runner)
        _SESSIONS[key] = runner
    return _SESSIONS[key]


def use_graph(bundle: Bundle, graph: bytes, backend: Backend, *, threads: int = 1) -> None:
    """Make ``graph`` (exported and verified by another process) this process's `onnx_network` of the bundle.

    A map's workers get the graph the main process exported and verified instead of each exporting its own.

    Args:
        bundle: the loaded bundle the graph was made from.
        graph: the main process's `onnx_network` graph (`OnnxNetwork.graph`).
        backend: what the graph is: ``onnx`` or ``onnx-int8``.
        threads: ONNX Runtime's threads for one call.
    """
    _SESSIONS[_key(bundle, backend, threads)] = OnnxNetwork.of(graph, backend, threads=threads)


def export_onnx(bundle: Bundle, backend: Backend = "onnx") -> Path:
    """Export the bundle's network to ONNX, verify it against torch and keep it in the bundle folder.

    Maps with ``backend`` then load the graph instead of exporting it in each worker. The file is written
    atomically and records the weights' SHA-256 (a graph of other weights is not used).

    Args:
        bundle: the loaded bundle (a network).
        backend: ``onnx`` (float32) or ``onnx-int8``.

    Returns:
        The graph's path in the bundle folder.

    Raises:
        InputError: as `onnx_network`.
    """
    _check_backend(backend)
    if backend == "torch":
        raise InputError("backend torch has no graph to export: ask for onnx or onnx-int8")
    graph = _export(bundle)
    graph = _quantized(graph) if backend == "onnx-int8" else graph
    _verify(bundle, OnnxNetwork.of(graph, backend))
    path = onnx_file(bundle, backend)
    write_bytes(path, graph)
    return path
