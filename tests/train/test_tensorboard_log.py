"""The TensorBoard helpers: class tags, flattened hyper-parameters, hparams records and restart marks."""

from __future__ import annotations

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from torch.utils.tensorboard import SummaryWriter

from inseason.train.tensorboard_log import class_tags, flat_hparams, mark_restart, write_hparams


def test_class_tags_are_flat_readable_and_unique():
    tags = class_tags(
        [
            "Grassland/Pasture",
            "Dbl Crop WinWht/Soybeans",
            "Peas & Beans",
            "Corn (sweet)",
            "corn sweet",
            "Grassland Pasture",
            "Grassland-Pasture",
            "",
            "Maïs",
        ]
    )
    assert tags == [
        "Grassland-Pasture",
        "Dbl_Crop_WinWht-Soybeans",
        "Peas_and_Beans",
        "Corn_sweet",
        "corn_sweet_2",
        "Grassland_Pasture",
        "Grassland-Pasture_2",
        "class_7",
        "Maïs",
    ]
    assert not any("/" in tag or " " in tag for tag in tags)


def test_flat_hparams_keeps_scalar_leaves():
    config = {
        "model": {"name": "tempcnn", "params": {"filters": 16}},
        "features": {"indices": ["NDVI", "NDWI"]},
        "val_as_of": None,
        "histograms": True,
        "optimizer": {"lr": 0.01},
        "epochs": 4,
        "odd": [{"a": 1}],
    }
    assert flat_hparams(config) == {
        "model.name": "tempcnn",
        "model.params.filters": 16,
        "features.indices": "NDVI, NDWI",
        "histograms": True,
        "optimizer.lr": 0.01,
        "epochs": 4,
    }


def test_hparams_records_and_restart_marks_read_back(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        for step in range(3):
            writer.add_scalar("val/oa", 0.1 * step, step)
        writer.flush()
        mark_restart(writer, 1)  # a resumed process rewrites steps 1 and 2
        for step in (1, 2):
            writer.add_scalar("val/oa", 0.5 + step, step)
        write_hparams(
            writer,
            {"optimizer.lr": 0.01, "histograms": False, "model.name": "tempcnn"},
            {"val_oa": 0.75, "best_epoch": 2},
            step=2,
        )
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("val/oa")] == [(0, 0.0), (1, 1.5), (2, 2.5)]
    assert [(e.step, e.value) for e in events.Scalars("final/val_oa")] == [(2, 0.75)]
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["optimizer.lr"].number_value == 0.01
    assert start.hparams["histograms"].WhichOneof("kind") == "bool_value" and not start.hparams["histograms"].bool_value
    assert start.hparams["model.name"].string_value == "tempcnn"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert [m.name.tag for m in experiment.metric_infos] == ["final/val_oa", "final/best_epoch"]
    assert {h.name for h in experiment.hparam_infos} == {"optimizer.lr", "histograms", "model.name"}
