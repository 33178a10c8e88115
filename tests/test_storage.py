"""Storage helpers on the local disk and on a loopback S3 server: URIs, atomic writes, appends, listings,
S3 settings from the standard AWS environment, clear errors, and COG reads through GDAL's /vsis3/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from inseason import storage
from inseason.errors import InputError
from inseason.testing.s3 import LoopbackS3


def test_local_uris_and_files(tmp_path: Path) -> None:
    base = f"file://{tmp_path}"
    assert storage.local_path(base) == tmp_path
    uri = storage.join_uri(base, "year=2021", "a.txt")
    assert uri == str(tmp_path / "year=2021" / "a.txt")
    assert not storage.exists(uri)
    storage.write_bytes(uri, b"first")
    storage.write_bytes(uri, b"second")
    storage.append_line(storage.join_uri(tmp_path, "log.jsonl"), '{"n": 1}')
    storage.append_line(storage.join_uri(tmp_path, "log.jsonl"), '{"n": 2}')
    assert storage.read_bytes(uri) == b"second"
    assert storage.read_bytes(tmp_path / "log.jsonl") == b'{"n": 1}\n{"n": 2}\n'
    assert [Path(p).name for p in storage.list_files(tmp_path)] == ["log.jsonl", "a.txt"]  # sorted by path
    assert storage.list_files(tmp_path, suffix=".txt") == [uri]
    storage.put_file(uri, storage.join_uri(base, "copies", "b.txt"))
    assert (tmp_path / "copies" / "b.txt").read_bytes() == b"second"
    assert not list(tmp_path.rglob(".*tmp*"))  # temporary names are renamed away
    assert storage.folder_uri(base) == str(tmp_path) and storage.folder_uri("s3://b/maps/") == "s3://b/maps"


def test_s3_round_trip(s3: LoopbackS3, tmp_path: Path) -> None:
    bucket = s3.create_bucket("round-trip")
    uri = storage.join_uri(bucket, "obs", "year=2021", "part-a.parquet")
    assert uri == "s3://round-trip/obs/year=2021/part-a.parquet"
    storage.write_bytes(uri, b"parquet bytes")
    storage.append_line(f"{bucket}/obs/_manifest.jsonl", "one")
    storage.append_line(f"{bucket}/obs/_manifest.jsonl", "two")
    assert storage.exists(uri) and not storage.exists(f"{bucket}/obs/missing")
    assert storage.read_bytes(uri) == b"parquet bytes"
    assert storage.read_bytes(f"{bucket}/obs/_manifest.jsonl") == b"one\ntwo\n"
    assert storage.list_files(f"{bucket}/obs", suffix=".parquet") == [uri]
    assert storage.list_files(f"{bucket}/nothing-here") == []
    storage.check_bucket(uri)
    local = tmp_path / "map.tif"
    local.write_bytes(b"cog bytes" * 1000)
    storage.put_file(local, f"{bucket}/maps/map.tif")
    assert storage.read_bytes(f"{bucket}/maps/map.tif") == local.read_bytes()


def test_s3_mistakes_are_named(s3: LoopbackS3) -> None:
    with pytest.raises(InputError, match="S3 bucket no-such-bucket of s3://no-such-bucket/x does not exist"):
        storage.check_bucket("s3://no-such-bucket/x")
    with pytest.raises(InputError, match="not an s3://bucket/key URI"):
        storage.split_s3("s3:///key")
    with pytest.raises(InputError, match="is not on the local disk"):
        storage.local_path("s3://bucket/key")


def test_settings_come_from_the_aws_environment_and_hide_secrets(s3: LoopbackS3) -> None:
    settings = storage.s3_settings()
    assert (settings.endpoint_host, settings.https, settings.region) == (s3.endpoint_url[7:], False, "us-east-1")
    assert settings.access_key == "loopback" and "loopback" not in repr(settings)


def test_endpoint_from_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[profile store]\nregion = eu-west-3\nendpoint_url = https://objects.example.org\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "store")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    settings = storage.s3_settings()
    assert (settings.endpoint_host, settings.https, settings.region) == ("objects.example.org", True, "eu-west-3")


def test_missing_credentials_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_NO_SIGN_REQUEST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(InputError, match="no AWS credentials for s3:// paths: set AWS_ACCESS_KEY_ID"):
        storage.filesystem("s3://bucket/key")
    monkeypatch.setenv("AWS_NO_SIGN_REQUEST", "YES")
    assert storage.s3_settings().unsigned


def test_cog_window_from_s3_equals_local(s3: LoopbackS3, tiny_world: Path) -> None:
    local = next(tiny_world.glob("scenes/*/2021/*/B04.tif"))
    scene = local.parent
    uri = s3.upload(scene, "cogs", prefix=f"scenes/{scene.name}") + "/B04.tif"
    assert storage.gdal_path(uri) == f"/vsis3/cogs/scenes/{scene.name}/B04.tif"
    assert storage.gdal_path(f"file://{local}") == str(local)
    window = Window(8, 8, 64, 64)
    with rasterio.open(local) as ds:
        expected = ds.read(1, window=window)
    with (
        storage.gdal_env([uri], GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"),
        rasterio.open(storage.gdal_path(uri)) as ds,
    ):
        np.testing.assert_array_equal(ds.read(1, window=window), expected)
    with storage.open_raster(uri, GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR") as ds:
        np.testing.assert_array_equal(ds.read(1, window=window), expected)
