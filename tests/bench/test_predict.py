"""`inseason bench predict` on the tiny world: the table's shape and consistency (never its timings)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from inseason.bench.predict import bench_predict
from inseason.errors import InputError
from tests.cli.helpers import run_cli


def test_bench_predict_table(tiny_world: Path) -> None:
    # one band of each resolution (10, 20, 60 m) keeps the real-layout files few; SCL is read too. A season of
    # 8 scenes (hard links) whose cycle of COG blocks under one map block (8 x 7 MiB) is 3.5 times the memory
    # bound of each of the two reader processes: as 70 real scenes x 13 files are to 512 MiB
    result = bench_predict(
        networks=("arset", "tempcnn"),
        world=tiny_world,
        block_size=256,
        read_bands=("B02", "B11", "B01"),
        read_scenes=8,
        read_memory_mb=16,
        read_compare_scenes=2,
        read_workers=2,
        side_m=1200.0,
    )
    json.dumps(result)
    assert set(result["end_to_end_over_model_only"]) == set(result["update_over_full"]) == {"arset", "tempcnn"}
    height, width = result["world"]["grid"]
    assert 120 <= height <= 122 and 120 <= width <= 122 and result["world"]["side_m"] == 1200.0
    for network, row in result["networks"].items():
        assert height * width * 0.9 < row["pixels"] <= height * width
        assert row["end_to_end_over_model_only"] > 0
        assert row["end_to_end_over_model_only"] == result["end_to_end_over_model_only"][network]
        # the update read the week's scenes only (the tiny world has a scene every few days) and took time
        assert 0 < row["update_scenes"] < result["world"]["scenes"] / 4 and row["update_s"] > 0
        assert row["update_over_full"] == result["update_over_full"][network] > 0
    # the map reader on COGs with the real layout: every COG block fetched and decoded once between the two
    # workers, through their memory caches and the job folder they share
    read = result["read"]
    assert read["size_10m"] == 10_980 and read["bands"] == ["B02", "B11", "B01", "SCL"]
    assert (read["scenes"], read["workers"], read["memory_mb"], read["compare_scenes"]) == (8, 2, 16, 2)
    assert result["read_amplification"] == read["read_amplification"] <= 1.1
    assert read["bytes_read"] >= read["touched_bytes"] > 0
    assert read["decoded_blocks"] == read["touched_blocks"] and read["decode_amplification"] == 1.0
    assert read["disk_hits"] > read["touched_blocks"] and read["disk_bytes"] > read["touched_blocks"] << 19
    # the memory cache alone, under the same pressure, fetches blocks again for every map block; so does no cache
    assert read["memory_read_amplification"] > 2 and read["memory_decode_amplification"] > 2
    assert read["memory_over_shared"] > 2
    assert read["uncached_read_amplification"] > 1.5 and read["uncached_decode_amplification"] > 4
    assert read["uncached_over_shared"] > 1.4


#: The networks bench predict maps: every network preset (the models of #19 included).
NETWORKS = (
    "arset, tempcnn, tempcnn-small, inceptiontime, minirocket, ltae, gru, gru-incremental, lstm, transformer, "
    "ensemble, ensemble-sequence"
)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"networks": ["resnet"]},
            f"bench predict: unknown network 'resnet': use {NETWORKS} (--networks",
        ),
        (
            {"networks": []},
            f"bench predict: no network: use {NETWORKS}",
        ),
        ({"workers": 0}, "--workers 0: give at least 1 worker process"),
        ({"workers": -2}, "--workers -2: give at least 1 worker process"),
        ({"block_size": 4}, "block_size=4 is too small: use at least 16 pixels"),
        ({"read_scenes": 0}, "bench predict: read_scenes=0: give at least 1 scene"),
        ({"read_bands": ["B13"]}, "bench predict: read bands ['B13']: use L2A bands (B01, B02"),
        ({"read_memory_mb": 0}, "bench predict: read_memory_mb=0: give at least 1 MiB"),
        ({"read_workers": 0}, "bench predict: read_workers=0: give at least 1 worker process"),
        ({"side_m": 0.0}, "bench predict: side_m=0.0: give a positive square side in metres"),
        ({"update_days": 0}, "bench predict: update_days=0: give at least 1 day"),
        ({"backend": "tflite"}, "bench predict: backend 'tflite': choose one of torch, onnx, onnx-int8"),
        ({"student": True, "student_setting": "nosuch"}, "bench predict: unknown student setting 'nosuch'"),
    ],
)
def test_bad_options_are_refused_before_any_work(
    options: dict[str, Any], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # any folder made would show here
    with pytest.raises(InputError) as refused:
        bench_predict(**options)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_world_folder_without_a_world_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is not a world folder"):
        bench_predict(world=tmp_path / "nowhere")


def test_cli_unknown_network_is_one_error_line() -> None:
    result = run_cli("bench", "predict", "--networks", "arset,resnet")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.strip() == (
        f"error: bench predict: unknown network 'resnet': use {NETWORKS} (--networks, a comma list)"
    )


def test_bench_student_scores_and_times_teacher_and_student(
    tiny_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from inseason.bench import distill
    from inseason.extract.scenes import find_scenes
    from inseason.predict.read import map_grid, plan_blocks, read_block, scene_refs
    from inseason.synth import centre_square

    # two epochs each: the bench's own trainings follow the data size (what it measures, not what is tested)
    real_default, real_config = distill.default_config, distill.train_config
    monkeypatch.setattr(distill, "default_config", lambda name: real_default(name, overrides={"epochs": 2}))

    def short_config(*, preset: str, overrides: dict[str, Any] | None = None) -> Any:
        return real_config(preset=preset, overrides={**(overrides or {}), "epochs": 2})

    monkeypatch.setattr(distill, "train_config", short_config)
    aoi = centre_square(json.loads((tiny_world / "world.json").read_text()), side_m=400.0)
    date = dt.date(2022, 8, 1)
    scenes = find_scenes(
        stac=str(tiny_world / "stac" / "catalog.json"),
        aoi=aoi,
        start=dt.date(2022, 1, 1),
        end=date,
        out=tmp_path / "scenes.parquet",
        min_valid=0.0,
        quiet=True,
    )
    refs = scene_refs(scenes, since=dt.date(2022, 1, 1), until=date)
    grid = map_grid(aoi, refs)
    stores = [
        read_block(block, grid=grid, scenes=refs, aoi=aoi).store(season="01-01", year=2022)
        for block in plan_blocks(grid, aoi, block_size=64)
    ]
    result = distill.bench_student(
        tmp_path / "student",
        scenes=tmp_path / "scenes.parquet",
        aoi=aoi,
        date=date,
        stores=stores,
        block_size=64,
        setting="base",
        scale=0.2,
    )
    json.dumps(result)
    models = result["models"]
    assert set(models) == {"teacher", "student", "small"} and result["student_backend"] in ("torch", "onnx")
    assert models["student"]["parameters"] == models["small"]["parameters"] < models["teacher"]["parameters"] / 10
    for model in models.values():
        assert 0 <= model["macro_f1"] <= 1 and 0 <= model["macro_f1_in_season"] <= 1
        for backend in ("torch", "onnx"):
            assert model[backend]["model_only_pixels_per_s"] > 0 and model[backend]["end_to_end_pixels_per_s"] > 0
    teacher, student = models["teacher"]["torch"], models["student"][result["student_backend"]]
    assert result["speedup"]["model_only"] == round(
        student["model_only_pixels_per_s"] / teacher["model_only_pixels_per_s"], 2
    )
    assert result["macro_f1_drop"] == round(100 * (models["teacher"]["macro_f1"] - models["student"]["macro_f1"]), 2)
    config = (tmp_path / "student" / "student" / "config.yaml").read_text()
    assert "teacher: " + str(tmp_path / "student" / "teacher") in config
    with pytest.raises(InputError, match="unknown student setting 'nosuch'"):
        distill.check_student_setting("nosuch", ("torch",))
