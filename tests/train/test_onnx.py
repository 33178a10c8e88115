"""The ONNX Runtime backend (issue 20, item 5): a bundle's network exported, verified against torch and run on
ONNX Runtime gives torch's probabilities; int8 gives its classes; a network the exporter cannot follow, a graph
that differs from torch and a classical baseline are refused with one line; a kept graph of other weights is
not used."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from inseason.bench.predict import untrained_bundle
from inseason.data import decode_series, synthetic_series
from inseason.errors import InputError
from inseason.train import Predictor, export_onnx, load_bundle
from inseason.train import onnx as onnx_backend


@pytest.fixture(scope="module")
def store_and_bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("onnx")
    table = synthetic_series(60, seed=3)
    bundles = {
        "tempcnn": untrained_bundle("tempcnn", root / "tempcnn", seed=1, params={"filters": 8, "hidden": 16}),
        "arset": untrained_bundle("arset", root / "arset", seed=2),
        "ltae": untrained_bundle("ltae", root / "ltae", seed=3),
        "gru": untrained_bundle("gru", root / "gru", seed=4),
    }
    return decode_series(table, season="01-01"), bundles


@pytest.mark.parametrize("network", ["tempcnn", "arset", "ltae"])
def test_onnx_gives_torch_probabilities_in_season_and_at_the_end(store_and_bundles: tuple, network: str) -> None:
    store, bundles = store_and_bundles
    bundle = load_bundle(bundles[network])
    torch_side, onnx_side = Predictor(bundle, batch_size=17), Predictor(bundle, batch_size=17, backend="onnx")
    assert onnx_side.onnx is not None and torch_side.onnx is None
    for as_of in (120, None):
        expected = torch_side.predict_proba(store, as_of=as_of)
        got = onnx_side.predict_proba(store, as_of=as_of)
        assert got.shape == expected.shape == (len(store), len(bundle.classes))
        np.testing.assert_allclose(got, expected, atol=1e-5)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    early = onnx_side.predict_proba(store, as_of=-1)  # nothing observed yet: the class prior, as torch gives
    np.testing.assert_allclose(early, np.broadcast_to(bundle.prior, early.shape))


def test_int8_keeps_the_classes(store_and_bundles: tuple) -> None:
    store, bundles = store_and_bundles
    bundle = load_bundle(bundles["tempcnn"])
    expected = Predictor(bundle).predict_proba(store).argmax(axis=1)
    int8 = Predictor(bundle, backend="onnx-int8")
    assert int8.onnx is not None and int8.onnx.backend == "onnx-int8"
    assert (int8.predict_proba(store).argmax(axis=1) == expected).mean() >= onnx_backend.INT8_AGREEMENT


def test_what_onnx_cannot_run_is_refused_with_the_reason(store_and_bundles: tuple, tmp_path: Path) -> None:
    _, bundles = store_and_bundles
    with pytest.raises(InputError, match=r"GRUClassifier network cannot be exported to ONNX \(.+\): use backend torch"):
        Predictor(load_bundle(bundles["gru"]), backend="onnx")
    with pytest.raises(InputError, match="backend 'tflite': choose one of torch, onnx, onnx-int8"):
        onnx_backend.onnx_network(load_bundle(bundles["tempcnn"]), "tflite")  # type: ignore[arg-type]
    forest = tmp_path / "forest"
    from inseason.train import train

    train(
        synthetic_series(60, seed=5),
        out=forest,
        overrides={"model.name": "random_forest", "adapter.kind": "bucketed", "model.params": {"n_estimators": 5}},
    )
    with pytest.raises(InputError, match="is not a network: ONNX Runtime runs networks only; use backend torch"):
        Predictor(load_bundle(forest), backend="onnx")


def test_a_graph_that_differs_from_torch_is_refused(
    store_and_bundles: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bundles = store_and_bundles
    other = load_bundle(untrained_bundle("tempcnn", tmp_path / "other", seed=9, params={"filters": 8, "hidden": 16}))
    foreign = onnx_backend._export(other)  # a graph of other weights
    monkeypatch.setattr(onnx_backend, "_export", lambda bundle: foreign)
    folder = tmp_path / "copy"
    shutil.copytree(bundles["tempcnn"], folder)  # a path of its own: nothing cached for it
    with pytest.raises(InputError, match=r"ONNX graph differs from torch by .+ in its logits .+ use backend torch"):
        onnx_backend.onnx_network(load_bundle(folder), "onnx")


def test_a_kept_graph_is_used_for_its_weights_only(store_and_bundles: tuple, tmp_path: Path) -> None:
    store, bundles = store_and_bundles
    folder = tmp_path / "bundle"
    shutil.copytree(bundles["tempcnn"], folder)
    bundle = load_bundle(folder)
    path = export_onnx(bundle)
    assert path == folder / "model.onnx" and path.stat().st_size > 1000
    assert export_onnx(bundle, "onnx-int8") == folder / "model.int8.onnx"
    assert onnx_backend._graph(bundle, "onnx") == path.read_bytes()  # read, not exported again
    assert onnx_backend._graph(bundle, "onnx-int8") == (folder / "model.int8.onnx").read_bytes()
    # the same folder with other weights: the kept graph records the old weights' digest and is not used
    shutil.copy(
        untrained_bundle("tempcnn", tmp_path / "new", seed=11, params={"filters": 8, "hidden": 16})
        / "weights.safetensors",
        folder / "weights.safetensors",
    )
    retrained = load_bundle(folder)
    assert onnx_backend._graph(retrained, "onnx") != path.read_bytes()
    np.testing.assert_allclose(
        Predictor(retrained, backend="onnx").predict_proba(store), Predictor(retrained).predict_proba(store), atol=1e-5
    )
