"""The synthetic world's geometry: where it lies, its UTM tile grid and its CDL label grid.

A world lies in the lower Mississippi delta, in UTM zone 15. A world ``across_zones`` lies astride the
boundary of zones 15 and 16 (90° W): its tiles come from both zones, each in its own CRS, and, as real
Sentinel-2 tiles near a zone boundary do, each zone's tiles reach past the boundary into the other zone, by
the real tiles' reach scaled to the world's tile size. Its landscape grid stays in zone 15; the zone 16
tiles see it through their own, slightly rotated, grids.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import floor

import numpy as np
from affine import Affine
from pyproj import Transformer

from inseason.config import SynthConfig
from inseason.testing.real_layout import BAND_RESOLUTION

#: Centre of the world: the lower Mississippi delta near Leland, MS (the ARSET course's region).
CENTRE_LON, CENTRE_LAT = -90.80, 33.40
UTM_EPSG = 32615  # WGS 84 / UTM zone 15N
#: The boundary of UTM zones 15 and 16, the centre of a world ``across_zones`` (the delta's east edge).
BOUNDARY_LON = -90.0
EAST_EPSG = 32616  # WGS 84 / UTM zone 16N
LABEL_EPSG = 5070  # NAD83 / Conus Albers, the CDL grid
LABEL_RES = 30
#: Sentinel-2 band name → ground sampling distance in metres (the real L2A layout's, one home).
BAND_RES: dict[str, int] = BAND_RESOLUTION
SPECTRAL_BANDS: tuple[str, ...] = tuple(b for b in BAND_RES if b != "SCL")

_MGRS_COLUMNS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_MGRS_ROWS = "ABCDEFGHJKLMNPQRSTUV"
_LAT_BANDS = "CDEFGHJKLMNPQRSTUVWX"


@dataclass(frozen=True)
class Tile:
    """One MGRS-like tile: a square in UTM whose 10, 20 and 60 m grids share the upper-left corner."""

    name: str
    epsg: int
    left: float
    top: float
    size_m: int

    def transform(self, res: int) -> Affine:
        """Affine transform of the tile's grid at ``res`` metres.

        Args:
            res: the pixel size in metres (10, 20 or 60).

        Returns:
            The transform of the grid's upper-left corner.
        """
        return Affine(res, 0.0, self.left, 0.0, -res, self.top)

    def shape(self, res: int) -> tuple[int, int]:
        """(rows, cols) of the tile's grid at ``res`` metres.

        Args:
            res: the pixel size in metres (10, 20 or 60).

        Returns:
            The grid's shape.
        """
        n = self.size_m // res
        return n, n

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the tile's CRS."""
        return self.left, self.top - self.size_m, self.left + self.size_m, self.top


#: Side of a real Sentinel-2 L2A tile (MGRS 100 km square plus 9.8 km of overlap), metres.
REAL_TILE_M = 109_800


def real_tile(tile: Tile) -> Tile:
    """The real Sentinel-2 tile that holds ``tile``: 109.8 km, where the real tile of its MGRS square lies.

    A real tile's upper-left corner is its 100 km square's west edge rounded down to a multiple of 60 m and its
    north edge rounded up to one (``499980``, ``5300040``: the origins differ modulo 60 m between tile rows),
    and it reaches 109.8 km east and south of it. The square is the one holding ``tile``'s upper-left
    corner; where the world tile would stick out of that square's tile (a world tile near the square's south
    or east edge), the real tile moves by whole 60 m steps to hold it, so every band's grid still nests.

    Args:
        tile: a world tile (its corners are multiples of 60 m).

    Returns:
        A tile of the same name and CRS, `REAL_TILE_M` wide, on whose 10, 20 and 60 m grids ``tile``'s pixels
        fall exactly.
    """
    left = floor(floor(tile.left / 100_000) * 100_000 / 60) * 60
    top = _up60(floor(tile.top / 100_000) * 100_000 + 100_000)
    left += _up60(max(0.0, tile.left + tile.size_m - (left + REAL_TILE_M)))
    top -= _up60(max(0.0, (top - REAL_TILE_M) - (tile.top - tile.size_m)))
    return Tile(name=tile.name, epsg=tile.epsg, left=left, top=top, size_m=REAL_TILE_M)


def _up60(value: float) -> int:
    """``value`` rounded up to a multiple of 60 m."""
    return -floor(-value / 60) * 60


def mgrs_name(easting: float, northing: float, zone: int, lat: float) -> str:
    """The MGRS grid-zone and 100 km square designation (e.g. ``15SXR``) of a UTM coordinate.

    Args:
        easting: the UTM easting in metres.
        northing: the UTM northing in metres.
        zone: the UTM zone.
        lat: the latitude, for the latitude band.

    Returns:
        The tile name.
    """
    column = _MGRS_COLUMNS[(zone - 1) % 3][floor(easting / 100_000) - 1]
    row = _MGRS_ROWS[(floor(northing / 100_000) + (5 if zone % 2 == 0 else 0)) % 20]
    return f"{zone}{_LAT_BANDS[int((lat + 80) // 8)]}{column}{row}"


@dataclass(frozen=True)
class WorldGrid:
    """Tiles of a world and the extent (10 m grid in UTM, ``epsg``) that holds them all."""

    tiles: tuple[Tile, ...]
    left: float
    top: float
    width_m: int
    height_m: int
    epsg: int = UTM_EPSG

    @property
    def transform(self) -> Affine:
        """Transform of the world's 10 m landscape grid (UTM)."""
        return Affine(10.0, 0.0, self.left, 0.0, -10.0, self.top)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the 10 m landscape grid."""
        return self.height_m // 10, self.width_m // 10

    def tile_window(self, tile: Tile) -> tuple[slice, slice]:
        """Rows and columns of the landscape grid covered by ``tile``.

        Args:
            tile: one of the world's tiles in the grid's CRS.

        Returns:
            The row and column slices.
        """
        r0 = round((self.top - tile.top) / 10)
        c0 = round((tile.left - self.left) / 10)
        n = tile.size_m // 10
        return slice(r0, r0 + n), slice(c0, c0 + n)

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """The world's extent in longitude and latitude.

        Returns:
            (west, south, east, north) in EPSG:4326.
        """
        to_ll = Transformer.from_crs(self.epsg, 4326, always_xy=True)
        xs = np.linspace(self.left, self.left + self.width_m, 21)
        ys = np.linspace(self.top - self.height_m, self.top, 21)
        gx, gy = np.meshgrid(xs, ys)
        lon, lat = to_ll.transform(gx.ravel(), gy.ravel())
        return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def world_grid(config: SynthConfig) -> WorldGrid:
    """Lay the tiles of ``config`` around the world centre, aligned to 60 m so all band grids nest.

    Args:
        config: the world's settings (tile size, overlap, tiles across and down, across two zones).

    Returns:
        The tiles and the world extent.
    """
    if config.across_zones:
        return _two_zone_grid(config)
    to_utm = Transformer.from_crs(4326, UTM_EPSG, always_xy=True)
    cx, cy = to_utm.transform(CENTRE_LON, CENTRE_LAT)
    step = config.tile_m - config.overlap_m
    width = config.tile_m + step * (config.tiles_x - 1)
    height = config.tile_m + step * (config.tiles_y - 1)
    left = floor((cx - width / 2) / 60) * 60
    top = floor((cy + height / 2) / 60) * 60
    tiles = _tile_block(config, 15, UTM_EPSG, left, top)
    return WorldGrid(tiles=tiles, left=left, top=top, width_m=width, height_m=height)


def _tile_block(config: SynthConfig, zone: int, epsg: int, left: float, top: float) -> tuple[Tile, ...]:
    """The ``tiles_x`` by ``tiles_y`` tiles of one zone whose upper-left corner is (``left``, ``top``)."""
    step = config.tile_m - config.overlap_m
    base = mgrs_name(left, top, zone, CENTRE_LAT)
    columns = _MGRS_COLUMNS[(zone - 1) % 3]
    tiles = []
    for j in range(config.tiles_y):
        for i in range(config.tiles_x):
            # neighbours get the next column / previous row letters, as MGRS squares do
            col = columns[(columns.index(base[3]) + i) % len(columns)]
            row = _MGRS_ROWS[(_MGRS_ROWS.index(base[4]) - j) % len(_MGRS_ROWS)]
            tiles.append(
                Tile(
                    name=f"{base[:3]}{col}{row}",
                    epsg=epsg,
                    left=left + i * step,
                    top=top - j * step,
                    size_m=config.tile_m,
                )
            )
    return tuple(tiles)


def boundary_reach(epsg: int, lat: float) -> float:
    """How far past the 90° W zone boundary the real Sentinel-2 tiles of a zone reach, at ``lat``.

    Zone 15's easternmost tiles run on to their 100 km square's east edge plus 9.8 km; zone 16's westernmost
    start at their square's west edge (both rounded to 60 m as real tile origins are). At 33.4° N that is about
    31 km east and 21 km west: a band some 50 km wide that tiles of both zones cover.

    Args:
        epsg: ``32615`` (the zone west of the boundary) or ``32616`` (east of it).
        lat: the latitude.

    Returns:
        The reach, metres.
    """
    easting = Transformer.from_crs(4326, epsg, always_xy=True).transform(BOUNDARY_LON, lat)[0]
    square_left = floor(floor(easting / 100_000) * 100_000 / 60) * 60
    if epsg == UTM_EPSG:
        return float(square_left + REAL_TILE_M - easting)
    return float(easting - square_left)


def _two_zone_grid(config: SynthConfig) -> WorldGrid:
    """Tiles of zones 15 and 16 astride 90° W, and the zone 15 landscape grid that holds them all.

    Each zone has ``tiles_x`` by ``tiles_y`` tiles; zone 15's reach east of the boundary and zone 16's west
    of it by `boundary_reach` scaled from 109.8 km tiles to ``tile_m``, so the middle of the world is seen
    from both zones and each side from one only.
    """
    step = config.tile_m - config.overlap_m
    width = config.tile_m + step * (config.tiles_x - 1)
    height = config.tile_m + step * (config.tiles_y - 1)
    blocks: list[Tile] = []
    for epsg, zone in ((UTM_EPSG, 15), (EAST_EPSG, 16)):
        x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(BOUNDARY_LON, CENTRE_LAT)
        reach = boundary_reach(epsg, CENTRE_LAT) * config.tile_m / REAL_TILE_M
        left = floor((x + reach - width if zone == 15 else x - reach) / 60) * 60
        top = floor((y + height / 2) / 60) * 60
        blocks.extend(_tile_block(config, zone, epsg, left, top))
    # the landscape grid: zone 15, 60 m aligned, around every tile's corners (zone 16's seen rotated)
    to_grid = Transformer.from_crs(EAST_EPSG, UTM_EPSG, always_xy=True)
    xs, ys = [], []
    for tile in blocks:
        left, bottom, right, top = tile.bounds
        edge = np.linspace(0.0, 1.0, 9)
        ex = np.concatenate(
            [left + (right - left) * edge, np.full(9, right), right - (right - left) * edge, np.full(9, left)]
        )
        ey = np.concatenate(
            [np.full(9, top), top - (top - bottom) * edge, np.full(9, bottom), bottom + (top - bottom) * edge]
        )
        if tile.epsg != UTM_EPSG:
            ex, ey = to_grid.transform(ex, ey)
        xs.append(ex)
        ys.append(ey)
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)
    left = floor((x_all.min() - 60) / 60) * 60
    top = -floor(-(y_all.max() + 60) / 60) * 60
    width_m = int(-floor(-(x_all.max() + 60 - left) / 60) * 60)
    height_m = int(-floor(-(top - y_all.min() + 60) / 60) * 60)
    return WorldGrid(tiles=tuple(blocks), left=left, top=top, width_m=width_m, height_m=height_m)
