"""Reading the scenes' files on Planetary Computer: SAS signing at open time against a loopback stand-in of Azure
Blob Storage (path-style ``/{account}/{container}/...``, 403 without a valid token) and of the token endpoint;
the access settings carried by the scene manifest into ``extract``."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pytest
import rasterio
import shapely
from rasterio.errors import RasterioError
from rasterio.transform import from_origin

from inseason.errors import InputError, RemoteError
from inseason.extract.quality import scl_valid_fraction
from inseason.extract.sample import GDAL_COG_ENV
from inseason.extract.stage import extract
from inseason.sources.access import (
    DEFAULT_SAS_URL,
    PLANETARY_COMPUTER,
    SasSigner,
    SigningError,
    access_metadata,
    blob_container,
    detect_signing,
    input_access,
    input_path,
    manifest_access,
    open_input,
    redact,
    sign_href,
)
from inseason.sources.http import RetryCounter, make_session
from inseason.storage import InputAccess
from inseason.tables import SCENE_MANIFEST, read_table, write_table
from inseason.testing.http_files import RangeFileServer, SasPolicy, SasTokenServer

ACCOUNT, CONTAINER = "sentinel2l2a01", "sentinel2-l2"  # where Planetary Computer keeps Sentinel-2 L2A
PC_HREF = (
    "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/10/T/FK/2023/06/02/"
    "S2A_MSIL2A_20230602T185921_N0509_R013_T10TFK_20230603T014911.SAFE/GRANULE/"
    "L2A_T10TFK_A041484_20230602T190810/IMG_DATA/R10m/T10TFK_20230602T185921_B04_10m.tif"
)
PC = InputAccess(signing=PLANETARY_COMPUTER)


@pytest.fixture(scope="module")
def blob_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out as blob storage: ``{account}/{container}/tile/B04.tif``, a 64 x 64 COG."""
    root = tmp_path_factory.mktemp("blobs")
    cog = root / ACCOUNT / CONTAINER / "tile" / "B04.tif"
    cog.parent.mkdir(parents=True)
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "uint16", "crs": "EPSG:32610"}
    with rasterio.open(
        cog, "w", **profile, transform=from_origin(600_000, 4_500_000, 10, 10), tiled=True, blockxsize=32, blockysize=32
    ) as ds:
        ds.write(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64), 1)
    return root


@pytest.fixture
def servers(blob_root: Path) -> Iterator[tuple[RangeFileServer, SasTokenServer]]:
    policy = SasPolicy(key=b"test-key")
    with RangeFileServer(blob_root, sas=policy) as files, SasTokenServer(policy) as tokens:
        yield files, tokens


def signer_of(
    tokens: SasTokenServer, *, clock: Callable[[], float] = time.time, counter: RetryCounter | None = None
) -> SasSigner:
    return SasSigner(sas_url=tokens.sas_url, session=make_session(backoff=0, counter=counter), clock=clock)


def token_requests(tokens: SasTokenServer) -> int:
    return tokens.stats().requests


def test_accounts_containers_and_the_signing_hrefs_need() -> None:
    assert blob_container(PC_HREF) == (ACCOUNT, CONTAINER)
    assert blob_container("http://127.0.0.1:10000/devstoreaccount1/box/a/b.tif") == ("devstoreaccount1", "box")
    assert blob_container("http://localhost:8080/acct/box/b.tif") == ("acct", "box")
    assert blob_container("https://example.org/acct/box/b.tif") is None  # a host that is not blob storage
    assert blob_container("https://sentinel2l2a01.blob.core.windows.net/only-container") is None
    assert blob_container("s3://bucket/key.tif") is None and blob_container("/data/a.tif") is None
    assert detect_signing(["s3://bucket/a.tif", PC_HREF]) == PLANETARY_COMPUTER
    assert detect_signing(["https://sentinel-cogs.s3.us-west-2.amazonaws.com/a.tif"]) is None
    assert input_access(hrefs=[PC_HREF]) == PC
    assert input_access(sign="none", hrefs=[PC_HREF]) == InputAccess()
    assert input_access(sign=PLANETARY_COMPUTER).signing == PLANETARY_COMPUTER
    with pytest.raises(InputError, match="--sign 'azure' is not one of auto, planetary-computer, none"):
        input_access(sign="azure")


def test_environment_flags_count_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_NO_SIGN_REQUEST", "YES")
    monkeypatch.delenv("AWS_REQUEST_PAYER", raising=False)
    assert input_access() == InputAccess(no_sign_request=True)
    assert input_access(requester_pays=True) == InputAccess(requester_pays=True)  # signed reads, not anonymous
    monkeypatch.delenv("AWS_NO_SIGN_REQUEST")
    monkeypatch.setenv("AWS_REQUEST_PAYER", "requester")
    assert input_access() == InputAccess(requester_pays=True)


def test_the_manifest_carries_the_access(tmp_path: Path) -> None:
    row = {
        "scene_id": "S2A_10TFK_20230602_0_L2A",
        "datetime": None,
        "hrefs": [("B04", PC_HREF)],
    }
    rows = pa.Table.from_pylist([row], schema=pa.schema([SCENE_MANIFEST.field(n) for n in row]))
    assert manifest_access(rows) == PC  # an older manifest: the signing its hrefs need
    access = InputAccess(no_sign_request=True)
    path = tmp_path / "scenes.parquet"
    write_table(rows, path, metadata=access_metadata(access))
    assert manifest_access(read_table(path, what="scene manifest")) == access
    broken = rows.replace_schema_metadata({b"inseason:input_access": b'{"signing": 3}'})
    with pytest.raises(InputError, match=r"scenes\.parquet records unreadable input access settings"):
        manifest_access(broken, where=str(path))


def test_signed_reads_succeed_and_unsigned_ones_say_what_to_do(
    servers: tuple[RangeFileServer, SasTokenServer], blob_root: Path
) -> None:
    files, tokens = servers
    href = files.url_for(blob_root / ACCOUNT / CONTAINER / "tile" / "B04.tif")
    signer = signer_of(tokens)
    signed = input_path(href, PC, signer=signer)
    assert signed.startswith(href + "?se=") and "&sig=" in signed
    with open_input(href, PC, signer=signer, **GDAL_COG_ENV) as ds:
        np.testing.assert_array_equal(ds.read(1)[10, :4], [640, 641, 642, 643])
    log = files.stats().log
    assert log and all(r.status < 400 and "sig=" in r.query for r in log)
    assert token_requests(tokens) == 1
    with pytest.raises(InputError) as caught, open_input(href, InputAccess(), **GDAL_COG_ENV):
        pass
    message = str(caught.value)
    assert message.startswith(f"{href} refused the read (HTTP response code: 403)") and "\n" not in message
    assert "--sign planetary-computer" in message
    assert files.stats().log[-1].status == 403


def test_a_token_never_shows_in_messages(servers: tuple[RangeFileServer, SasTokenServer], blob_root: Path) -> None:
    files, tokens = servers
    signer = signer_of(tokens)
    token = signer.token(ACCOUNT, CONTAINER)
    signature = re.search(r"sig=([^&]+)", token)
    assert signature is not None
    hidden = token.replace(signature.group(1), "REDACTED")
    assert redact(f"GET {PC_HREF}?{token}: 404") == f"GET {PC_HREF}?{hidden}: 404"
    missing = files.url + f"{ACCOUNT}/{CONTAINER}/tile/missing.tif"
    with pytest.raises(RasterioError) as caught, open_input(missing, PC, signer=signer, **GDAL_COG_ENV):
        pass
    chain: list[str] = []
    seen: BaseException | None = caught.value
    while seen is not None:
        chain.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    assert chain and not any(signature.group(1) in text for text in chain)


def test_tokens_are_cached_per_container_and_fetched_again_near_expiry(
    servers: tuple[RangeFileServer, SasTokenServer],
) -> None:
    _, tokens = servers
    now = [tokens.policy.clock()]
    signer = signer_of(tokens, clock=lambda: now[0])
    first = signer.sign(PC_HREF)
    assert first.startswith(PC_HREF + "?se=") and signer.sign(PC_HREF) == first
    assert signer.sign(PC_HREF.replace("sentinel2-l2", "landsat")) != first  # another container: its own token
    assert token_requests(tokens) == 2
    now[0] += 3600 - 61  # tokens live an hour: still more than a minute left
    assert signer.sign(PC_HREF) == first and token_requests(tokens) == 2
    now[0] += 2  # 59 s left: fetched anew
    signer.sign(PC_HREF)
    assert token_requests(tokens) == 3
    assert signer.sign(PC_HREF + "?st=x&se=y&sig=already") == PC_HREF + "?st=x&se=y&sig=already"
    assert signer.sign("https://example.org/a.tif") == "https://example.org/a.tif"
    assert token_requests(tokens) == 3


def test_the_token_endpoint_is_retried_and_its_refusal_is_one_line(
    servers: tuple[RangeFileServer, SasTokenServer],
) -> None:
    _, tokens = servers
    tokens.fail_next(2, 500)
    counter = RetryCounter()
    assert "sig=" in signer_of(tokens, counter=counter).token(ACCOUNT, CONTAINER)
    assert (token_requests(tokens), counter.value) == (3, 2)
    tokens.reset_stats()
    tokens.fail_next(100, 403)
    with pytest.raises(SigningError) as caught:
        signer_of(tokens).token(ACCOUNT, CONTAINER)
    message = str(caught.value)
    assert isinstance(caught.value, RemoteError) and "\n" not in message
    assert f"{tokens.sas_url}/{ACCOUNT}/{CONTAINER}" in message and "HTTP 403" in message
    assert "PC_SDK_SUBSCRIPTION_KEY" in message and "PC_SDK_SAS_URL" in message
    assert token_requests(tokens) == 1  # a refusal is not retried


def test_the_subscription_key_and_the_endpoint_come_from_the_environment(
    servers: tuple[RangeFileServer, SasTokenServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, tokens = servers
    tokens.subscription_key = "my-key"
    monkeypatch.delenv("PC_SDK_SAS_URL", raising=False)
    monkeypatch.delenv("PC_SDK_SUBSCRIPTION_KEY", raising=False)
    assert SasSigner().token_url(ACCOUNT, CONTAINER) == f"{DEFAULT_SAS_URL}/{ACCOUNT}/{CONTAINER}"
    monkeypatch.setenv("PC_SDK_SAS_URL", tokens.sas_url)
    with pytest.raises(SigningError, match="HTTP 401"):
        sign_href(PC_HREF, PC)
    monkeypatch.setenv("PC_SDK_SUBSCRIPTION_KEY", "my-key")
    assert "sig=" in sign_href(PC_HREF, PC)  # this process's signer for these settings
    assert sign_href(PC_HREF, InputAccess()) == PC_HREF


def test_the_token_endpoint_answering_nonsense_is_named(servers: tuple[RangeFileServer, SasTokenServer]) -> None:
    _, tokens = servers
    signer = SasSigner(sas_url=tokens.url + "elsewhere", session=make_session(retries=0))
    with pytest.raises(SigningError, match=r"cannot sign the hrefs of sentinel2l2a01/sentinel2-l2: .*HTTP 404"):
        signer.token(ACCOUNT, CONTAINER)


def test_extract_reads_a_planetary_computer_manifest_signed(
    engine_inputs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    points, scenes = engine_inputs
    table = read_table(scenes, what="scene manifest")
    root = tmp_path / "blobs"
    base = root / ACCOUNT / CONTAINER
    base.mkdir(parents=True)
    policy = SasPolicy(key=b"extract-key")
    with RangeFileServer(root, sas=policy) as files, SasTokenServer(policy) as tokens:
        rows = []
        for row in table.to_pylist():
            moved = []
            for band, href in row["hrefs"]:
                rel = Path(href.removeprefix("file://")).relative_to(Path(href.removeprefix("file://")).parents[3])
                (base / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(href.removeprefix("file://"), base / rel)
                moved.append((band, files.url_for(base / rel)))
            rows.append({**row, "hrefs": moved})
        served = pa.Table.from_pylist(rows, schema=table.schema)
        signed_manifest, unsigned_manifest = tmp_path / "pc.parquet", tmp_path / "pc-unsigned.parquet"
        write_table(served, signed_manifest, metadata=access_metadata(PC))
        write_table(served, unsigned_manifest, metadata=access_metadata(InputAccess()))
        monkeypatch.setenv("PC_SDK_SAS_URL", tokens.sas_url)
        local = extract(points, scenes, out=tmp_path / "local", workers=1, quiet=True)
        remote = extract(points, signed_manifest, out=tmp_path / "remote", workers=1, quiet=True)
        assert (remote.scenes, remote.done, remote.skipped) == (local.scenes, local.done, 0)
        assert remote.observations == local.observations > 0
        assert files.stats().requests > 0 and all(r.status < 400 for r in files.stats().log)
        assert token_requests(tokens) == 1  # one container, one token for the whole run
        with pytest.raises(InputError, match=r"refused the read .*--sign planetary-computer"):
            extract(points, unsigned_manifest, out=tmp_path / "unsigned", workers=1, quiet=True)


def test_scenes_quality_reads_stop_on_an_unsigned_refusal(
    servers: tuple[RangeFileServer, SasTokenServer], blob_root: Path
) -> None:
    files, _ = servers
    href = files.url_for(blob_root / ACCOUNT / CONTAINER / "tile" / "B04.tif")
    aoi = shapely.box(-121.83, 40.63, -121.82, 40.64)
    with pytest.raises(InputError, match=r"refused the read \(HTTP response code: 403\).*--sign planetary-computer"):
        scl_valid_fraction(href, aoi)  # was: an unreadable scene, skipped, and an empty manifest


RECORDED_PC_ITEM = (
    Path(__file__).parent
    / "recorded"
    / "stac"
    / "items"
    / "S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531.json"
)


def test_the_recorded_planetary_computer_item_is_signed_and_read(tmp_path: Path) -> None:
    item = json.loads(RECORDED_PC_ITEM.read_text())
    hrefs = {band: asset["href"] for band, asset in item["assets"].items()}
    assert detect_signing(hrefs.values()) == PLANETARY_COMPUTER
    assert {blob_container(h) for h in hrefs.values()} == {(ACCOUNT, CONTAINER)}
    # the item's B04, at its real path and on its real grid origin, on a loopback blob store (a 64 px excerpt)
    path = urlsplit(hrefs["B04"]).path.lstrip("/")
    cog = tmp_path / ACCOUNT / path
    cog.parent.mkdir(parents=True)
    a, _, left, _, e, top = item["assets"]["B04"]["proj:transform"][:6]
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "uint16"}
    with rasterio.open(
        cog, "w", **profile, crs=f"EPSG:{item['properties']['proj:epsg']}", transform=from_origin(left, top, a, -e)
    ) as ds:
        ds.write(np.full((64, 64), 1234, np.uint16), 1)
    policy = SasPolicy(key=b"recorded")
    with RangeFileServer(tmp_path, sas=policy) as files, SasTokenServer(policy) as tokens:
        signer = signer_of(tokens)
        real = sign_href(hrefs["B04"], PC, signer=signer)
        assert real.startswith(hrefs["B04"] + "?se=") and "&sig=" in real
        loopback = files.url + f"{ACCOUNT}/{path}"
        with open_input(loopback, PC, signer=signer, **GDAL_COG_ENV) as ds:
            assert (ds.crs.to_epsg(), ds.transform.c, ds.transform.f) == (32606, 399960.0, 6800040.0)
            assert int(ds.read(1)[5, 5]) == 1234
        assert token_requests(tokens) == 1  # one container: the token signed both
