"""The landscape: fields between section-line roads, a bayou with riparian forest, woodlots and a town.

Everything lives on the world's 10 m UTM grid as a raster of *units*: each crop field is its own unit
(``1..n_fields``); every other land cover shares one unit per kind (``n_fields + 1 + kind``). What grows
on a field each year is decided in :mod:`inseason.synth.crops`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from scipy import ndimage

from inseason.synth.noise import upsampled_field


class Cover(IntEnum):
    """Land cover kinds of the non-field units, with the CDL code each is labelled with."""

    FIELD = 0
    WATER = 1
    DECIDUOUS_FOREST = 2
    WOODY_WETLANDS = 3
    GRASS = 4
    DEVELOPED_OPEN = 5
    DEVELOPED_LOW = 6
    DEVELOPED_MEDIUM = 7
    DEVELOPED_HIGH = 8
    ROAD = 9


#: CDL code of each non-field cover (roads are mapped like CDL does: developed/open space).
COVER_CDL: dict[Cover, int] = {
    Cover.WATER: 111,
    Cover.DECIDUOUS_FOREST: 141,
    Cover.WOODY_WETLANDS: 190,
    Cover.GRASS: 176,
    Cover.DEVELOPED_OPEN: 121,
    Cover.DEVELOPED_LOW: 122,
    Cover.DEVELOPED_MEDIUM: 123,
    Cover.DEVELOPED_HIGH: 124,
    Cover.ROAD: 121,
}

_ROAD_SPACING_PX = 160  # section lines every mile (1.6 km)
_FIELD_MEDIAN_PX = 3000  # 30 ha at 10 m
_MIN_FIELD_PX = 60


@dataclass(frozen=True)
class Landscape:
    """The unit raster of a world and what each unit is."""

    units: np.ndarray  # int32 (rows, cols), 10 m grid of the world
    n_fields: int
    variability: np.ndarray  # float32 (rows, cols): smooth within-field growth variability, about N(0, 1)

    def cover_unit(self, cover: Cover) -> int:
        """Unit id shared by all pixels of a non-field cover.

        Args:
            cover: a land cover.

        Returns:
            The unit id.
        """
        return self.n_fields + 1 + int(cover)

    @property
    def n_units(self) -> int:
        """Number of unit ids, including the unused id 0."""
        return self.n_fields + 1 + len(Cover)


def _split(
    rng: np.random.Generator, r0: int, r1: int, c0: int, c1: int, target: float, out: list[tuple[int, int, int, int]]
) -> None:
    """Recursively cut a block into field rectangles near ``target`` pixels each."""
    h, w = r1 - r0, c1 - c0
    if h * w <= target * 1.6 or min(h, w) < 16:
        out.append((r0, r1, c0, c1))
        return
    cut = rng.uniform(0.3, 0.7)
    if h >= w:
        m = r0 + int(h * cut)
        _split(rng, r0, m, c0, c1, target, out)
        _split(rng, m, r1, c0, c1, target, out)
    else:
        m = c0 + int(w * cut)
        _split(rng, r0, r1, c0, m, target, out)
        _split(rng, r0, r1, m, c1, target, out)


def _road_lines(rng: np.random.Generator, n: int) -> list[int]:
    """Positions of roads across ``n`` pixels, about every road spacing, slightly jittered."""
    start = int(rng.integers(_ROAD_SPACING_PX // 3, _ROAD_SPACING_PX))
    return [p + int(rng.integers(-8, 9)) for p in range(start, n - 4, _ROAD_SPACING_PX)]


def make_landscape(rng: np.random.Generator, shape: tuple[int, int], *, field_scale: float = 1.0) -> Landscape:
    """Draw a delta landscape on a 10 m grid of ``shape`` (rows, cols).

    Args:
        rng: the generator of the draws.
        shape: the grid's (rows, cols).
        field_scale: a multiplier of field sizes.

    Returns:
        The unit raster, its number of fields and the within-field variability.
    """
    h, w = shape
    cover = np.full(shape, Cover.GRASS, dtype=np.int8)  # field borders, turn rows and ditches stay grass

    # Fields: blocks between roads cut into rectangles with a one-pixel grass border.
    rows, cols = _road_lines(rng, h), _road_lines(rng, w)
    row_edges, col_edges = [0, *rows, h], [0, *cols, w]
    target = _FIELD_MEDIAN_PX * field_scale**2
    rects: list[tuple[int, int, int, int]] = []
    for a, b in itertools.pairwise(row_edges):
        for c, d in itertools.pairwise(col_edges):
            _split(rng, a + 2, b, c + 2, d, target * float(rng.lognormal(0.0, 0.35)), rects)
    for r0, r1, c0, c1 in rects:
        cover[r0 + 1 : r1, c0 + 1 : c1] = Cover.FIELD
    for r in rows:
        cover[r : r + 2, :] = Cover.ROAD
    for c in cols:
        cover[:, c : c + 2] = Cover.ROAD

    # A meandering bayou along the longer axis, in a belt of woody wetlands.
    along, across = (w, h) if w >= h else (h, w)
    t = np.arange(along)
    centre = across * rng.uniform(0.3, 0.7) + across * 0.12 * np.sin(
        2 * np.pi * t / rng.uniform(0.6, 1.2) / along + rng.uniform(0, 2 * np.pi)
    )
    centre += np.cumsum(rng.normal(0, 0.4, along))
    half_width = (10 + 12 * field_scale) * (1 + 0.3 * np.sin(t / 37.0))
    dist = np.abs(np.arange(across)[:, None] - centre[None, :])
    belt = dist < half_width[None, :]
    if w < h:
        dist, belt = dist.T, belt.T
    cover[belt] = Cover.WOODY_WETLANDS
    cover[dist < 2.5] = Cover.WATER

    # Woodlots where the soil is too wet or sandy to farm.
    woods = upsampled_field(rng, shape, factor=4, scale_px=40)
    cover[(woods > np.quantile(woods, 0.95)) & (cover != Cover.WATER)] = Cover.DECIDUOUS_FOREST

    # A small town: rings of decreasing intensity around its centre.
    rc, cc = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    radius = 0.08 * min(h, w) * rng.uniform(0.8, 1.2)
    yy, xx = np.ogrid[:h, :w]
    town = np.hypot(yy - rc, xx - cc) / radius
    for limit, kind in (
        (1.0, Cover.DEVELOPED_OPEN),
        (0.8, Cover.DEVELOPED_LOW),
        (0.55, Cover.DEVELOPED_MEDIUM),
        (0.3, Cover.DEVELOPED_HIGH),
    ):
        cover[(town < limit) & (cover != Cover.WATER)] = kind

    # Fields are the connected pieces left; slivers cut off by woods or water become grass.
    fields, n = ndimage.label(cover == Cover.FIELD)
    sizes = np.bincount(fields.ravel(), minlength=n + 1)
    keep = sizes >= _MIN_FIELD_PX
    keep[0] = False
    renumber = np.zeros(n + 1, dtype=np.int32)
    renumber[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    n_fields = int(keep.sum())
    units = renumber[fields]
    others = units == 0
    cover[others & (cover == Cover.FIELD)] = Cover.GRASS
    units[others] = n_fields + 1 + cover[others].astype(np.int32)
    variability = upsampled_field(rng, shape, factor=2, scale_px=12)
    return Landscape(units=units, n_fields=n_fields, variability=variability)
