"""The model bundle (DESIGN §2): ``weights.safetensors`` + ``model.json``, loaded without unpickling.

model.json records everything needed to rebuild the network and feed it the same inputs: the registry
spec, band order, input channels, adapter, normalisation statistics (training split only), label map
(names, source codes, colours, and the first and second crop of a double-crop class) and its window rule
(No Crop Growing), season start, class prior, training data fingerprint and region (lon/lat box of the
training samples), metrics, calibration (the temperature its probabilities are divided by, see
`inseason.train.calibration`; absent in older bundles, which load with T = 1) and package versions.
Lightning checkpoints are for resuming only. A network's weights are its state dict; a classical
baseline's are its fitted trees as plain arrays (``safetensors.numpy``), so neither ever needs pickle.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file as load_arrays
from safetensors.numpy import save_file as save_arrays
from safetensors.torch import load_file, save_file

from inseason.data import AdapterConfig, FeatureConfig, InputSpec, Normalization, WindowRule
from inseason.errors import InputError
from inseason.labels import LabelClass
from inseason.models import Model, model_from_spec
from inseason.storage import atomic_path
from inseason.train.calibration import Calibration

BUNDLE_FORMAT = "inseason-model-bundle"
BUNDLE_VERSION = 1
WEIGHTS = "weights.safetensors"
MANIFEST = "model.json"


@dataclass(frozen=True)
class Bundle:
    """A loaded model bundle: the model (a network in eval mode or fitted trees) and the recipe for its inputs."""

    path: Path
    network: Model
    spec: InputSpec
    bands: tuple[str, ...]
    classes: tuple[LabelClass, ...]
    prior: np.ndarray  # float32 [K], class frequencies of the training split
    season_start: str
    manifest: dict[str, Any]

    @property
    def calibration(self) -> Calibration:
        """The bundle's calibration (T = 1, method ``"none"``, when model.json has none)."""
        return Calibration.from_json(self.manifest.get("calibration"))

    @property
    def temperature(self) -> float:
        """The temperature the model's logits are divided by (1: uncalibrated)."""
        return self.calibration.temperature

    @property
    def class_names(self) -> list[str]:
        """Class names in output order."""
        return [c.name for c in self.classes]

    def class_index(self, labels: Sequence[str] | np.ndarray) -> np.ndarray:
        """Map labels to the model's output indices.

        Args:
            labels: class names (e.g. a series table's labels, a list or a numpy array).

        Returns:
            The output index of each label, int64.

        Raises:
            InputError: a label is not in the bundle's label map.
        """
        index = {name: i for i, name in enumerate(self.class_names)}
        unknown = sorted({str(label) for label in labels if label not in index})
        if unknown:
            raise InputError(
                f"labels {unknown} are not in the model's label map ({', '.join(index)}): "
                "relabel the series with the label map the model was trained on"
            )
        return np.array([index[label] for label in labels], dtype=np.int64)


def _versions() -> dict[str, str]:
    return {name: version(name) for name in ("inseason", "torch", "numpy", "lightning", "safetensors")}


def write_bundle(
    out: str | os.PathLike[str],
    *,
    network: Model,
    model_spec: dict[str, Any],
    spec: InputSpec,
    bands: Sequence[str],
    classes: Sequence[LabelClass],
    prior: np.ndarray,
    season_start: str,
    fingerprint: str,
    metrics: dict[str, Any],
    config: dict[str, Any],
    training_region: Sequence[float] | None = None,
    leakage_audit: dict[str, Any] | None = None,
    calibration: Calibration | None = None,
) -> Path:
    """Write the bundle files into ``out`` (each to a temporary name, then renamed; model.json last).

    ``network`` is a registry network or a fitted classical baseline (its tree arrays are stored).
    ``training_region`` ([west, south, east, north], lon/lat of the training samples) lets map runs warn
    about an AOI outside it; ``leakage_audit`` is the training table's split audit, carried along so that
    whoever uses the model can see how its validation figures were obtained.

    Args:
        out: the bundle folder (created if missing).
        network: the trained model: a registry network or a fitted classical baseline.
        model_spec: the registry spec that rebuilds the network (`inseason.models.model_spec`).
        spec: the input recipe: adapter, features, normalisation and window rule.
        bands: band order of the inputs.
        classes: the label map, in output order.
        prior: class frequencies of the training split, float32 [K].
        season_start: the season start (month-day) the model's days count from.
        fingerprint: the training data's fingerprint.
        metrics: the validation metrics to record (empty before they are known).
        config: the run's resolved config as JSON values.
        training_region: [west, south, east, north] of the training samples, or None.
        leakage_audit: the training table's split audit, or None.
        calibration: the temperature scaling fitted on validation, or None (not calibrated: T = 1).

    Returns:
        The bundle folder.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / WEIGHTS) as tmp:
        if isinstance(network, torch.nn.Module):
            state = {name: tensor.detach().cpu().contiguous() for name, tensor in network.state_dict().items()}
            save_file(state, str(tmp))
        else:
            save_arrays(network.state_dict(), str(tmp))
    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "model": model_spec,
        "bands": list(bands),
        "features": spec.features.model_dump(mode="json"),
        "adapter": spec.adapter.model_dump(mode="json"),
        "normalization": spec.normalization.to_json(),
        "window_rule": None if spec.window_rule is None else spec.window_rule.to_json(),
        "classes": [c.to_json() for c in classes],
        "prior": [float(p) for p in prior],
        "season_start": season_start,
        "training_data": fingerprint,
        "training_region": None if training_region is None else [float(v) for v in training_region],
        "leakage_audit": leakage_audit,
        "metrics": metrics,
        "calibration": None if calibration is None else calibration.to_json(),
        "config": config,
        "versions": _versions(),
    }
    with atomic_path(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2))
    return out


#: Fields every model.json has (``window_rule`` and the records after ``season_start`` may be absent or null).
_REQUIRED = ("model", "bands", "features", "adapter", "normalization", "classes", "prior", "season_start")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_manifest(manifest: dict[str, Any], file: Path) -> None:
    """Refuse a tampered or truncated model.json with one line naming the file and the field.

    Raises:
        InputError: a field is missing or of the wrong type or shape.
    """

    def bad(field: str, problem: str) -> InputError:
        return InputError(f"{file}: field {field!r} {problem}: the bundle is corrupt or edited, retrain")

    for key in _REQUIRED:
        if key not in manifest:
            raise bad(key, "is missing")
    model = manifest["model"]
    if not isinstance(model, dict) or not all(_is_number(model.get(k)) for k in ("n_bands", "n_classes")):
        raise bad("model", "is not a model spec with n_bands and n_classes")
    if not isinstance(manifest["bands"], list) or not all(isinstance(b, str) for b in manifest["bands"]):
        raise bad("bands", "is not a list of band names")
    for key in ("adapter", "features"):
        if not isinstance(manifest[key], dict):
            raise bad(key, "is not an object")
    if not isinstance(manifest["season_start"], str):
        raise bad("season_start", "is not a month-day")
    normalization = manifest["normalization"]
    if not isinstance(normalization, dict):
        raise bad("normalization", "is not an object with mean and std")
    for part in ("mean", "std"):
        values = normalization.get(part)
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise bad(f"normalization.{part}", "is not a list of numbers")
        if len(values) != model["n_bands"]:
            raise bad(f"normalization.{part}", f"has {len(values)} values for the model's {model['n_bands']} inputs")
    classes = manifest["classes"]
    if not isinstance(classes, list) or len(classes) != model["n_classes"]:
        raise bad("classes", f"does not list the model's {model['n_classes']} classes")
    for i, entry in enumerate(classes):
        where = f"classes[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise bad(where, "has no name")
        color = entry.get("color")
        if (
            not isinstance(color, list)
            or len(color) != 3
            or not all(isinstance(c, int) and 0 <= c <= 255 for c in color)
        ):
            raise bad(f"{where}.color", f"(class {entry['name']!r}) is not three integers 0-255")
        codes = entry.get("codes")
        if not isinstance(codes, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
            raise bad(f"{where}.codes", f"(class {entry['name']!r}) is not a list of integer codes")
    prior = manifest["prior"]
    if not isinstance(prior, list) or len(prior) != len(classes) or not all(_is_number(p) for p in prior):
        raise bad("prior", f"is not {len(classes)} numbers, one per class")
    try:
        Calibration.from_json(manifest.get("calibration"))
    except InputError:
        raise bad("calibration", "has no positive temperature") from None


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A bundle's manifest (its ``model.json``) alone, without loading the weights.

    For readers that need only what the bundle records (its classes and their codes, for instance);
    `load_bundle` reads it the same way and then checks the format and loads the network.

    Args:
        path: the bundle folder (a finished run folder).

    Returns:
        The parsed model.json.

    Raises:
        InputError: the folder holds no model.json, or it is not valid JSON.
    """
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        raise InputError(f"{path} holds no model bundle ({MANIFEST}): give the run folder of inseason train")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{manifest_path} is not valid JSON ({exc}): the bundle is corrupt, retrain") from None
    if not isinstance(manifest, dict):
        raise InputError(f"{manifest_path} is not a JSON object: the bundle is corrupt, retrain")
    return manifest


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Load a bundle folder (or a run folder holding one): JSON and safetensors only, never pickle.

    Args:
        path: the bundle folder (a finished run folder).

    Returns:
        The bundle, its network in eval mode.

    Raises:
        InputError: the folder holds no bundle, the bundle is of another format or format version, its
            model.json is corrupt or edited (a missing field, a class without colour, a non-numeric or
            misshapen normalisation: the message names the file and field), or its weights do not fit the
            recorded architecture (each message says what to do).
    """
    path = Path(path)
    if not (path / MANIFEST).is_file() or not (path / WEIGHTS).is_file():
        raise InputError(f"{path} holds no model bundle ({MANIFEST} + {WEIGHTS}): give a finished run folder")
    manifest = read_manifest(path)
    if manifest.get("format") != BUNDLE_FORMAT or manifest.get("format_version") != BUNDLE_VERSION:
        raise InputError(
            f"{path} is a {manifest.get('format')} bundle version {manifest.get('format_version')}; "
            f"this inseason reads {BUNDLE_FORMAT} version {BUNDLE_VERSION}: retrain or upgrade"
        )
    _check_manifest(manifest, path / MANIFEST)
    try:
        network = model_from_spec(manifest["model"])
    except InputError as exc:
        raise InputError(f"{path / MANIFEST}: field 'model' does not rebuild a model ({exc}): retrain") from None
    try:
        if isinstance(network, torch.nn.Module):
            network.load_state_dict(load_file(str(path / WEIGHTS)))
            network.eval()
        else:
            network.load_state_dict(load_arrays(str(path / WEIGHTS)))
    except (RuntimeError, OSError, SafetensorError, InputError) as exc:
        raise InputError(f"{path / WEIGHTS} does not fit model {manifest['model']['name']!r}: {exc}") from None
    try:
        adapter = AdapterConfig(**manifest["adapter"])
        features = FeatureConfig(**manifest["features"])
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        field = "adapter" if "AdapterConfig" in str(exc) else "features"
        raise InputError(
            f"{path / MANIFEST}: field {field!r} is not valid: the bundle is corrupt or edited, retrain"
        ) from None
    try:
        window_rule = WindowRule.from_json(manifest.get("window_rule"))
    except (KeyError, TypeError, ValueError):
        raise InputError(
            f"{path / MANIFEST}: field 'window_rule' is not valid: the bundle is corrupt, retrain"
        ) from None
    spec = InputSpec(
        adapter=adapter,
        features=features,
        normalization=Normalization.from_json(manifest["normalization"]),
        window_rule=window_rule,
    )
    classes = tuple(LabelClass.from_json(c) for c in manifest["classes"])
    return Bundle(
        path=path,
        network=network,
        spec=spec,
        bands=tuple(manifest["bands"]),
        classes=classes,
        prior=np.asarray(manifest["prior"], np.float32),
        season_start=manifest["season_start"],
        manifest=manifest,
    )
