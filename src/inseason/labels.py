"""USDA Cropland Data Layer (CDL) classes: codes, official names, colours and crop kinds.

The table ships as ``inseason/data/cdl_classes.csv`` (one row per code CDL defines). Colours are the
GeoTIFF colour table of the NASS national CDL releases.
"""

from __future__ import annotations

import csv
import difflib
import operator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from inseason.errors import InputError

__all__ = ["KINDS", "CdlClass", "cdl_class", "cdl_classes", "cdl_code", "cdl_colormap"]

KINDS: tuple[str, ...] = ("crop", "double_crop", "non_crop", "background")
"""The values of `CdlClass.kind`."""

# Names CDL uses for two codes each: the older code (63-65, 81-88: CDLs up to 2007) and the current
# NLCD-derived one. A name lookup returns the current code.
_PREFERRED: dict[str, int] = {"barren": 131, "shrubland": 152}

# Spellings of the same class found in other CDL years' attribute tables.
_ALIASES: dict[str, int] = {"grass/pasture": 176, "misc. vegs & fruits": 47, "misc vegs / fruits": 47}


@dataclass(frozen=True)
class CdlClass:
    """One CDL class: its code, official name, colour-table RGB and kind."""

    code: int
    name: str
    color: tuple[int, int, int]
    kind: str  # crop | double_crop | non_crop | background
    first_crop: int | None = None
    second_crop: int | None = None

    @property
    def is_crop(self) -> bool:
        """True for crops and double crops, False for land cover and background."""
        return self.kind in ("crop", "double_crop")


def _optional_int(text: str) -> int | None:
    return int(text) if text.strip() else None


@cache
def _table() -> dict[int, CdlClass]:
    path = files("inseason") / "data" / "cdl_classes.csv"
    with path.open("r", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    classes = {}
    for row in rows:
        cls = CdlClass(
            code=int(row["code"]),
            name=row["name"],
            color=(int(row["red"]), int(row["green"]), int(row["blue"])),
            kind=row["kind"],
            first_crop=_optional_int(row["first_crop"]),
            second_crop=_optional_int(row["second_crop"]),
        )
        classes[cls.code] = cls
    return classes


@cache
def _by_name() -> dict[str, int]:
    index: dict[str, int] = {}
    for cls in _table().values():
        index.setdefault(cls.name.casefold(), cls.code)
    index.update(_PREFERRED)
    for alias, code in _ALIASES.items():
        index.setdefault(alias, code)
    return index


def cdl_classes() -> dict[int, CdlClass]:
    """All CDL classes, by code (a fresh dict; the classes themselves are immutable)."""
    return dict(_table())


def cdl_class(code: int) -> CdlClass:
    """The CDL class with this code; raise `InputError` for a code CDL does not define."""
    table = _table()
    try:
        if isinstance(code, bool):
            raise TypeError
        code = operator.index(code)  # accepts numpy integers too
    except TypeError:
        raise InputError(
            f"CDL code {code!r} is not an integer: CDL codes are integers 0-255, "
            "see `inseason.labels.cdl_classes()`"
        ) from None
    if code in table:
        return table[code]
    if not 0 <= code <= 255:
        raise InputError(
            f"unknown CDL code {code}: CDL codes are 0-255, see `inseason.labels.cdl_classes()`"
        )
    raise InputError(
        f"unknown CDL code {code}: CDL does not define this code, "
        "see `inseason.labels.cdl_classes()` for the defined ones"
    )


def cdl_code(name: str) -> int:
    """The code of a CDL class from its official name (case-insensitive; extra spaces ignored).

    A name CDL gives to two codes ("Barren", "Shrubland") returns the current code (131, 152).
    """
    key = " ".join(str(name).split()).casefold()
    index = _by_name()
    if key in index:
        return index[key]
    official = {cls.name.casefold(): cls.name for cls in _table().values()}
    close = difflib.get_close_matches(key, list(official), n=3, cutoff=0.6)
    hint = (
        "did you mean " + ", ".join(f"{official[c]!r}" for c in close) + "?"
        if close
        else "see `inseason.labels.cdl_classes()` for the official names"
    )
    raise InputError(f"unknown CDL class name {name!r}: {hint}")


def cdl_colormap() -> dict[int, tuple[int, int, int, int]]:
    """RGBA colour for all 256 codes, ready for rasterio's ``write_colormap``.

    Defined codes are opaque (alpha 255); undefined codes are ``(0, 0, 0, 0)``.
    """
    table = _table()
    colormap: dict[int, tuple[int, int, int, int]] = {}
    for code in range(256):
        cls = table.get(code)
        colormap[code] = (*cls.color, 255) if cls is not None else (0, 0, 0, 0)
    return colormap
