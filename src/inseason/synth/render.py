"""Render one datatake over the world: surface reflectance, clouds, shadows, cirrus, SCL and digital numbers.

Rendering is a pure function of the world and the datatake (its random numbers come from the world seed
and the datatake index), so overlapping tiles of one datatake see the same pixels, and tests can ask for
the generator's truth at any pixel by rendering again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely.geometry import Polygon

from inseason.synth import spectra
from inseason.synth.acquisitions import Datatake, boa_offset
from inseason.synth.crops import CropCalendar
from inseason.synth.grid import BAND_RES, SPECTRAL_BANDS, WorldGrid
from inseason.synth.noise import upsampled_field

#: SCL classes (Sentinel-2 L2A scene classification).
SCL_NODATA, SCL_SATURATED, SCL_DARK, SCL_SHADOW, SCL_VEGETATION, SCL_BARE, SCL_WATER = 0, 1, 2, 3, 4, 5, 6
SCL_UNCLASSIFIED, SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_CIRRUS = 7, 8, 9, 10
CLOUD_OPACITY = 0.2  # a pixel at least this opaque is cloud (medium probability from here, high from 0.5)
_SWATH_EDGE = 0.62  # the partial orbit images the western 62 % of the world
_BAND_INDEX = {b: i for i, b in enumerate(SPECTRAL_BANDS)}


@dataclass(frozen=True)
class WorldState:
    """What a renderer needs: the grid, the landscape's units and the crop calendar."""

    seed: int
    grid: WorldGrid
    calendar: CropCalendar


def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    """``a`` averaged over ``f`` × ``f`` blocks of its last two axes (a coarser band's pixels)."""
    if f == 1:
        return a
    h, w = a.shape[-2] // f, a.shape[-1] // f
    mean: np.ndarray = a.reshape(*a.shape[:-2], h, f, w, f).mean(axis=(-3, -1), dtype=np.float32)
    return mean


def _swath_edge(grid: WorldGrid, row_m: np.ndarray | float) -> np.ndarray | float:
    """Metres from the world's left edge to the partial orbit's swath edge, ``row_m`` metres below its top."""
    edge: np.ndarray | float = grid.width_m * _SWATH_EDGE + np.tan(np.radians(12)) * (row_m - grid.height_m / 2)
    return edge


def _swath(shape: tuple[int, int], res: int, grid: WorldGrid) -> np.ndarray:
    """Valid-pixel mask of the partial orbit: pixel centres west of the slanted swath edge."""
    rows = (np.arange(shape[0]) + 0.5)[:, None] * res
    cols = (np.arange(shape[1]) + 0.5)[None, :] * res
    return cols < _swath_edge(grid, rows)


def swath_polygon(grid: WorldGrid) -> Polygon:
    """The partial orbit's imaged area in UTM (a half-plane, clipped generously around the world).

    Args:
        grid: the world's grid.

    Returns:
        The imaged area.
    """
    far = 10 * (grid.width_m + grid.height_m)
    top, bottom = -far, grid.height_m + far
    return Polygon(
        [
            (grid.left - far, grid.top + far),
            (grid.left + _swath_edge(grid, top), grid.top + far),
            (grid.left + _swath_edge(grid, bottom), grid.top - bottom),
            (grid.left - far, grid.top - bottom),
        ]
    )


def render(world: WorldState, take: Datatake) -> dict[str, np.ndarray]:
    """Digital numbers (uint16) of every band and the SCL (uint8) of ``take`` over the whole world grid.

    Args:
        world: the world (grid, landscape and crop calendar) and its seed.
        take: the datatake (date, orbit, weather, baseline).

    Returns:
        One array per band at its resolution, and ``SCL`` at 20 m; 0 outside the swath.
    """
    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 7919, take.index]))
    grid, landscape = world.grid, world.calendar.landscape
    units = landscape.units
    h, w = units.shape

    # Surface: mix endmembers by each pixel's fractions.
    state = world.calendar.state(take.date)
    green = np.clip(state["green"][units] * (1 + 0.08 * landscape.variability), 0, 1).astype(np.float32)
    dry = state["dry"][units].astype(np.float32)
    water = state["water"][units].astype(np.float32)
    lint = state["lint"][units].astype(np.float32)
    imp = state["impervious"][units].astype(np.float32)
    soil = np.clip(1 - green - dry - water - lint - imp, 0, 1)
    turbidity = np.float32(rng.uniform(0.8, 1.3))
    canopy = spectra.GREEN[state["spectrum"][units]]  # (h, w, 12)
    surface = (
        green[..., None] * canopy
        + dry[..., None] * spectra.DRY
        + water[..., None] * spectra.WATER * turbidity
        + lint[..., None] * spectra.LINT
        + imp[..., None] * spectra.IMPERVIOUS
        + soil[..., None] * spectra.SOIL * np.float32(take.soil_moisture)
    )
    surface = np.moveaxis(surface, -1, 0)  # (12, h, w)

    # Atmosphere: clouds thresholded to the requested fraction of valid pixels, shadows cast to the
    # north-west (sun in the south-east mid-morning), cirrus veils on some days.
    valid = np.ones((h, w), bool) if take.full_swath else _swath((h, w), 10, grid)
    doy = take.date.timetuple().tm_yday
    elevation = np.radians(55 + 20 * np.cos(2 * np.pi * (doy - 172) / 365.25))
    shadow_px = int(rng.uniform(800, 2000) / np.tan(elevation) / 10)
    dy, dx = -int(shadow_px * 0.8), -int(shadow_px * 0.6)
    pad = max(abs(dy), abs(dx)) + 1
    field = upsampled_field(rng, (h + pad, w + pad), factor=6, scale_px=rng.uniform(150, 400))
    inner = field[pad:, pad:]
    if take.cloud > 0:
        threshold = np.quantile(inner[valid], 1 - take.cloud) if valid.any() else np.inf
        z = (field - threshold) / 0.6
        opacity_all = np.where(
            z > 0, CLOUD_OPACITY + (1 - CLOUD_OPACITY) * (1 - np.exp(-z)), CLOUD_OPACITY * np.exp(np.minimum(z, 0) * 8)
        ).astype(np.float32)
    else:
        opacity_all = np.zeros_like(field)
    opacity = opacity_all[pad:, pad:]
    shadow = opacity_all[pad + dy : pad + dy + h, pad + dx : pad + dx + w] * (opacity < CLOUD_OPACITY)
    cirrus = np.zeros((h, w), np.float32)
    if take.cirrus:
        veil = upsampled_field(rng, (h, w), factor=6, scale_px=300)
        cirrus = (0.6 * np.clip(veil - 0.3, 0, None)).astype(np.float32)
    seen = (
        (surface * (1 - 0.6 * shadow)) * (1 - opacity)
        + opacity * spectra.CLOUD[:, None, None]
        + cirrus * spectra.CIRRUS[:, None, None]
    )

    out: dict[str, np.ndarray] = {}
    offset = -boa_offset(take.baseline)
    bias = rng.normal(0, 0.003, len(SPECTRAL_BANDS)).astype(np.float32)
    for band in SPECTRAL_BANDS:
        f = BAND_RES[band] // 10
        i = _BAND_INDEX[band]
        value = _block_mean(seen[i], f)
        value = value * (1 + rng.normal(0, 0.01, value.shape).astype(np.float32)) + bias[i]
        value += rng.normal(0, 0.003, value.shape).astype(np.float32)
        ok = valid if f == 1 else _swath(value.shape, BAND_RES[band], grid) | take.full_swath
        dn = np.clip(np.rint(value * 10_000) + offset, 1, 65_535).astype(np.uint16)
        out[band] = np.where(ok, dn, 0).astype(np.uint16)
    out["SCL"] = _scene_classification(rng, take, grid, seen, opacity, shadow, cirrus, water, soil)
    return out


def _scene_classification(
    rng: np.random.Generator,
    take: Datatake,
    grid: WorldGrid,
    seen: np.ndarray,
    opacity: np.ndarray,
    shadow: np.ndarray,
    cirrus: np.ndarray,
    water: np.ndarray,
    soil: np.ndarray,
) -> np.ndarray:
    """SCL at 20 m: right most of the time, with the misses and false alarms real SCL has."""
    red, nir = _block_mean(seen[_BAND_INDEX["B04"]], 2), _block_mean(seen[_BAND_INDEX["B8A"]], 2)
    a, sh, ci = _block_mean(opacity, 2), _block_mean(shadow, 2), _block_mean(cirrus, 2)
    wa, so = _block_mean(water, 2), _block_mean(soil, 2)
    ndvi = (nir - red) / np.maximum(nir + red, 1e-6)
    surface = np.where(ndvi > 0.4, SCL_VEGETATION, SCL_BARE).astype(np.uint8)
    surface[(wa > 0.5) & (ndvi < 0.3)] = SCL_WATER
    surface[(nir < 0.05) & (surface == SCL_BARE)] = SCL_DARK
    scl = surface.copy()
    scl[(sh > 0.3) & (rng.random(sh.shape) > 0.25)] = SCL_SHADOW
    scl[ci > 0.12] = SCL_CIRRUS
    scl[(a > 0.1) & (a < CLOUD_OPACITY) & (rng.random(a.shape) < 0.3)] = SCL_UNCLASSIFIED
    scl[a >= CLOUD_OPACITY] = SCL_CLOUD_MEDIUM
    scl[a >= 0.5] = SCL_CLOUD_HIGH
    # Misses: patches of thin cloud taken for the ground; false alarms: bright bare soil taken for cloud.
    blobs = upsampled_field(rng, a.shape, factor=3, scale_px=20)
    missed = (a >= CLOUD_OPACITY) & (a < 0.3) & (blobs > 1.0)
    scl[missed] = surface[missed]
    scl[(a < 0.05) & (so > 0.7) & (blobs < -2.2)] = SCL_CLOUD_MEDIUM
    scl[rng.random(a.shape) < 1e-5] = SCL_SATURATED
    if not take.full_swath:
        scl[~_swath(scl.shape, 20, grid)] = SCL_NODATA
    return scl


def scl_cloud_fraction(scl: np.ndarray) -> float:
    """Fraction of valid SCL pixels flagged cloud (medium or high probability).

    Args:
        scl: a scene classification raster.

    Returns:
        The fraction, 0 when no pixel is valid.
    """
    valid = scl != SCL_NODATA
    return float(np.isin(scl[valid], (SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH)).mean()) if valid.any() else 0.0
