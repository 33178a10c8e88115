"""The BOA offset of a scene, decided from its metadata and checked against its pixels.

Since processing baseline 04.00 (25 January 2022) Sentinel-2 L2A reflectances carry ``BOA_ADD_OFFSET =
-1000``: a pixel's reflectance is ``(DN - 1000) / 10 000``, so that slightly negative reflectances can be
stored. Earth Search's old ``sentinel-2-l2a`` collection removed the offset from many items' pixels and says
so with ``earthsearch:boa_offset_applied: true`` (the item's offset is then 0,
`inseason.sources.stac.boa_offset`). The flag is not always right: public reports on Element84's trackers list
items flagged false whose pixels were already corrected (``S2B_52SFA_20220126_0_L2A`` in earth-search#66,
``S2B_20HMD_20221023_0_L2A`` in cirrus-earth-search#33, ``S2B_10SGF_20250808_0_L2A`` and
``S2B_33UXP_20250302_0_L2A`` in earth-search#71; the recorded ``S2B_33TWN_20220226_0_L2A``, baseline 04.00
flagged false, has their metadata), so trusting the metadata alone makes every reflectance of such a scene
0.1 too low, without a word.

The pixels can tell. While the offset is still in the pixels, a reflectance ``r >= 0`` is stored as
``DN = 1000 + 10 000 r >= 1000``; a DN below 1000 is a negative reflectance, which atmospheric correction
produces only rarely (over-corrected dark water or shadow, well under 1 % of clear land and water pixels in
the blue band). Once the offset was removed, ``DN = 10 000 r`` and every surface darker than 0.1 in the blue
(vegetation 0.01–0.05, water 0.01–0.08, most soils) is stored below 1000: usually more than half of a
scene's clear pixels. :func:`decide_offset` looks at the blue band (B02; B01 where a scene lacks it) on the
AOI's pixels that the scene classification calls vegetation, bare soil or water (SCL 4, 5, 6):

* metadata ``-1000`` and at least :data:`FLIP_SHARE` (25 %) of at least :data:`MIN_DARK_PIXELS` valid values
  below 1000 DN: the pixels win, the scene's offset becomes 0 (the threshold is 25 times the share of
  negative reflectances real offset data shows, and about half the share a corrected scene of vegetation or
  water shows, so neither side comes near it);
* fewer valid values than :data:`MIN_DARK_PIXELS`: the metadata is kept and the check says so;
* metadata ``0`` on a baseline of 04.00 or later (the flag says the offset was removed): a share below
  1000 DN at or above :data:`FLIP_SHARE` confirms it. No value below 1000 does **not** flip it: a bright
  scene (bare soil, sand, haze the correction left) with the offset removed looks exactly like a dark scene
  with the offset still in, so the absence of dark values proves nothing; the check says it cannot tell.

Scenes before baseline 04.00 whose metadata says 0 have no offset to doubt and are not read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.windows import from_bounds

from inseason.extract.quality import AoiQuality, UnreadableScene
from inseason.extract.sample import GDAL_COG_ENV
from inseason.sources.access import open_input
from inseason.sources.stac import OFFSET_BASELINE
from inseason.storage import InputAccess

__all__ = [
    "DARK_BANDS",
    "FLIP_SHARE",
    "MIN_DARK_PIXELS",
    "OFFSET_DN",
    "SURFACE_CLASSES",
    "OffsetCheck",
    "OffsetFromPixels",
    "check_offset",
    "decide_offset",
    "needs_check",
    "read_dark_band",
]

log = logging.getLogger(__name__)

#: The offset the pixels of baseline 04.00 and later carry, in DN.
OFFSET_DN = 1000
#: Bands dark over land and water, tried in this order (blue at 10 m, coastal aerosol at 60 m).
DARK_BANDS: tuple[str, ...] = ("B02", "B01")
#: SCL classes whose pixels are judged: vegetation, bare soil, water.
SURFACE_CLASSES: tuple[int, ...] = (4, 5, 6)
#: Share of valid dark-band values below 1000 DN above which the offset cannot be in the pixels.
FLIP_SHARE = 0.25
#: Valid dark-band pixels (on SCL's 20 m grid) needed to judge; fewer keep the metadata.
MIN_DARK_PIXELS = 100

Verdict = Literal["agrees", "pixels", "too few pixels", "undecidable", "unread"]


class OffsetFromPixels(TypedDict):
    """A scene whose offset the pixels decided against its metadata (``inseason:offset_from_pixels``)."""

    scene_id: str
    #: the offset the item's metadata gave (DN).
    metadata: int
    #: the offset the manifest uses, from the pixels (DN).
    pixels: int
    #: the share of valid dark-band values below 1000 DN.
    share: float
    #: the dark band read, and how many of its values were judged.
    band: str
    valid_pixels: int


@dataclass(frozen=True)
class OffsetCheck:
    """What the pixels say about a scene's BOA offset.

    Attributes:
        metadata: the offset from the item's metadata (DN: ``-1000`` or ``0``).
        offset: the offset to use (the pixels' where they decided against the metadata, else the metadata's).
        verdict: ``agrees``, ``pixels`` (the pixels overrule the metadata), ``too few pixels``, ``undecidable``
            (metadata 0 and no dark value: a bright scene looks the same) or ``unread`` (the band could not be
            read).
        band: the dark band read (None when none was).
        valid_pixels: the dark-band values judged (AOI pixels of SCL 4, 5, 6 with data).
        below: how many of them are below 1000 DN.
        reason: one line for logs.
    """

    metadata: int
    offset: int
    verdict: Verdict
    band: str | None
    valid_pixels: int
    below: int
    reason: str

    @property
    def share(self) -> float:
        """The share of judged values below 1000 DN (0 when none was judged)."""
        return self.below / self.valid_pixels if self.valid_pixels else 0.0

    def flipped(self, scene_id: str) -> OffsetFromPixels:
        """The manifest's record of a scene whose pixels overruled its metadata.

        Args:
            scene_id: the scene checked.

        Returns:
            The record.
        """
        return OffsetFromPixels(
            scene_id=scene_id,
            metadata=self.metadata,
            pixels=self.offset,
            share=round(self.share, 4),
            band=self.band or "",
            valid_pixels=self.valid_pixels,
        )


def needs_check(metadata: int, baseline: str) -> bool:
    """Whether a scene's offset is worth checking against its pixels.

    Args:
        metadata: the offset from the item's metadata (DN).
        baseline: the item's processing baseline (``NN.NN``, empty when unknown).

    Returns:
        True when the metadata says the pixels carry an offset, or the baseline is one that introduced it
        (04.00 and later); False for older scenes the metadata gives no offset.
    """
    return metadata != 0 or (bool(baseline) and baseline >= OFFSET_BASELINE)


def decide_offset(
    metadata: int,
    dark: npt.NDArray[np.integer[Any]],
    scl: npt.NDArray[np.integer[Any]],
    inside: npt.NDArray[np.bool_],
    *,
    band: str = "B02",
) -> OffsetCheck:
    """The offset a scene's pixels support, given the metadata's and the dark band on the SCL's grid.

    Judged are the AOI pixels (``inside``) whose SCL is vegetation, bare soil or water and whose dark-band
    value is not nodata (0). See the module's notes for the rule and its threshold.

    Args:
        metadata: the offset from the item's metadata (DN, ``-1000`` or ``0``).
        dark: the dark band's DNs on the SCL window's pixels.
        scl: the SCL window.
        inside: True where an SCL pixel lies in the AOI.
        band: the dark band's name, for the record.

    Returns:
        The check: the offset to use and why.
    """
    judged = inside & np.isin(scl, SURFACE_CLASSES) & (dark > 0)
    n = int(judged.sum())
    below = int((judged & (dark < OFFSET_DN)).sum())
    share = below / n if n else 0.0
    words = f"{below} of {n} valid {band} values below {OFFSET_DN} DN ({share:.1%})"
    if n < MIN_DARK_PIXELS:
        return OffsetCheck(
            metadata,
            metadata,
            "too few pixels",
            band,
            n,
            below,
            f"{n} valid {band} pixels over the AOI (fewer than {MIN_DARK_PIXELS}): kept the metadata's offset "
            f"{metadata}",
        )
    if metadata != 0:
        if share >= FLIP_SHARE:
            return OffsetCheck(
                metadata,
                0,
                "pixels",
                band,
                n,
                below,
                f"{words}: the offset was already removed from the pixels although the metadata gives {metadata}",
            )
        return OffsetCheck(metadata, metadata, "agrees", band, n, below, f"{words}: the offset is in the pixels")
    if share >= FLIP_SHARE:
        return OffsetCheck(metadata, 0, "agrees", band, n, below, f"{words}: the offset was removed, as the item says")
    return OffsetCheck(
        metadata,
        metadata,
        "undecidable",
        band,
        n,
        below,
        f"{words}: the offset may still be in the pixels, or the scene is bright; kept the metadata's 0",
    )


def read_dark_band(
    href: str,
    transform: Affine,
    crs: Any,
    shape: tuple[int, int],
    *,
    gdal_options: Mapping[str, object] | None = None,
    access: InputAccess | None = None,
) -> npt.NDArray[np.integer[Any]]:
    """The band at ``href`` over the area of an SCL window, on that window's pixels.

    The area is read at the SCL's resolution (``out_shape``), so GDAL reads a 10 m band's 20 m overview where
    the COG has one: a quarter of the bytes of the full-resolution window.

    Args:
        href: the band's COG (a path or a ``file://``, ``http(s)://`` or ``s3://`` URI).
        transform: the affine transform of the SCL window's top-left pixel.
        crs: the SCL's CRS; the band must be in the same.
        shape: ``(rows, columns)`` of the SCL window.
        gdal_options: GDAL settings over `GDAL_COG_ENV`.
        access: how the scene's files are read (`inseason.sources.access.open_input`).

    Returns:
        The band's DNs, one per SCL pixel (nearest neighbour).

    Raises:
        UnreadableScene: the file cannot be opened or read, or is in another CRS than the SCL.
        InputError: the server refused the read (credentials, signing, requester pays).
        SigningError: the href needs a token and none could be fetched.
    """
    env = {**GDAL_COG_ENV, **(gdal_options or {})}
    rows, cols = shape
    west, north = transform.c, transform.f
    east, south = west + cols * transform.a, north + rows * transform.e
    try:
        with open_input(href, access, signer=None, **env) as ds:
            if ds.crs is None or ds.crs != crs:
                raise UnreadableScene(f"{href} is in {ds.crs}, not in the SCL's {crs}")
            window = from_bounds(west, south, east, north, transform=ds.transform)
            within = (
                window.col_off >= 0
                and window.row_off >= 0
                and window.col_off + window.width <= ds.width
                and window.row_off + window.height <= ds.height
            )
            # a boundless read goes through a warped VRT that reads full-resolution blocks (a tile's 10 m band
            # over HTTP: 30 s instead of 0.1 s), so only a window reaching past the edges takes that path
            data: npt.NDArray[np.integer[Any]] = ds.read(
                1, window=window, out_shape=shape, resampling=Resampling.nearest, boundless=not within, fill_value=0
            )
    except (RasterioError, OSError, ValueError, MemoryError) as exc:
        raise UnreadableScene(" ".join(str(exc).split()) or type(exc).__name__) from None
    except Exception as exc:  # GDAL's CPLE_* errors that rasterio lets through
        if type(exc).__module__.startswith("rasterio"):
            raise UnreadableScene(" ".join(str(exc).split()) or type(exc).__name__) from None
        raise
    return data


def check_offset(
    hrefs: Mapping[str, str],
    quality: AoiQuality,
    metadata: int,
    *,
    gdal_options: Mapping[str, object] | None = None,
    access: InputAccess | None = None,
) -> OffsetCheck:
    """Check a scene's metadata offset against its dark band on the AOI pixels its SCL read found valid.

    Args:
        hrefs: the scene's band → href (B02 or B01 is read).
        quality: the SCL read over the AOI with ``keep_pixels`` (`inseason.extract.quality.scl_valid_fraction`).
        metadata: the offset from the item's metadata (DN).
        gdal_options: GDAL settings over `GDAL_COG_ENV`.
        access: how the scene's files are read (`inseason.sources.access.open_input`).

    Returns:
        The check (``unread`` with the metadata's offset when no dark band exists; ``too few pixels`` when the
        AOI misses the scene).

    Raises:
        UnreadableScene: the dark band exists but cannot be read (the caller decides: retry, or keep the
            metadata and say so).
        InputError: the server refused the read (credentials, signing, requester pays).
        SigningError: the href needs a token and none could be fetched.
    """
    band = next((b for b in DARK_BANDS if b in hrefs), None)
    if band is None:
        return OffsetCheck(metadata, metadata, "unread", None, 0, 0, "no B02 or B01 asset: kept the metadata's offset")
    if quality.scl is None or quality.inside is None or quality.transform is None:
        return OffsetCheck(
            metadata, metadata, "too few pixels", band, 0, 0, "the AOI holds no pixel of the scene: kept the metadata"
        )
    dark = read_dark_band(
        hrefs[band], quality.transform, quality.crs, quality.scl.shape, gdal_options=gdal_options, access=access
    )
    return decide_offset(metadata, dark, quality.scl, quality.inside, band=band)
