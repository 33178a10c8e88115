"""USDA Cropland Data Layer (CDL) classes (codes, official names, colours, crop kinds) and label maps.

The table ships as ``inseason/data/cdl_classes.csv`` (one row per code CDL defines). Colours are the
GeoTIFF colour table of the NASS national CDL releases. A label map turns source labels (CDL codes or a
foreign dataset's names) into the classes a model learns: presets ``cdl``, ``arset``, ``cdl-major[:N]``
or a user YAML file.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import operator
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from inseason.config import load_yaml
from inseason.errors import InputError

__all__ = [
    "INVALID_SCL",
    "KINDS",
    "NO_CROP_GROWING",
    "PRESETS",
    "CdlClass",
    "LabelClass",
    "LabelMap",
    "MappedLabels",
    "cdl_class",
    "cdl_classes",
    "cdl_code",
    "cdl_colormap",
    "color_table",
    "hex_rgb",
    "label_map_preset",
    "load_label_map",
    "map_labels",
    "no_crop_growing",
    "resolve_label_map",
    "rgb_hex",
    "window_label",
]

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
    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))
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
    """All CDL classes, by code.

    Returns:
        A fresh dict of code: class (the classes themselves are immutable).
    """
    return dict(_table())


def cdl_class(code: int) -> CdlClass:
    """The CDL class with this code.

    Args:
        code: a CDL code (a numpy integer too).

    Returns:
        The class.

    Raises:
        InputError: ``code`` is not an integer, or CDL does not define it.
    """
    table = _table()
    try:
        if isinstance(code, bool):
            raise TypeError
        code = operator.index(code)  # accepts numpy integers too
    except TypeError:
        raise InputError(
            f"CDL code {code!r} is not an integer: CDL codes are integers 0-255, see `inseason.labels.cdl_classes()`"
        ) from None
    if code in table:
        return table[code]
    if not 0 <= code <= 255:
        raise InputError(f"unknown CDL code {code}: CDL codes are 0-255, see `inseason.labels.cdl_classes()`")
    raise InputError(
        f"unknown CDL code {code}: CDL does not define this code, "
        "see `inseason.labels.cdl_classes()` for the defined ones"
    )


def cdl_code(name: str) -> int:
    """The code of a CDL class from its official name (case-insensitive; extra spaces ignored).

    A name CDL gives to two codes ("Barren", "Shrubland") returns the current code (131, 152).

    Args:
        name: the class name (other CDL years' spellings are known too).

    Returns:
        The code.

    Raises:
        InputError: no CDL class has this name (the message suggests close ones).
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


def rgb_hex(rgb: Sequence[int]) -> str:
    """The ``#rrggbb`` text of a colour given as red, green and blue values (0–255).

    Args:
        rgb: red, green and blue; a fourth value (alpha) is ignored.

    Returns:
        The colour text, lower-case.
    """
    return "#" + "".join(f"{int(c):02x}" for c in rgb[:3])


def hex_rgb(color: str) -> tuple[int, int, int]:
    """The red, green and blue values (0–255) of a ``#rrggbb`` colour (the ``#`` is optional).

    Args:
        color: the colour text.

    Returns:
        ``(red, green, blue)``.

    Raises:
        ValueError: ``color`` is not six hexadecimal digits.
    """
    text = color.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"colour {color!r} is not #rrggbb")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def color_table(colors: Mapping[int, Sequence[int]], size: int) -> dict[int, tuple[int, int, int, int]]:
    """A raster colour table, ready for rasterio's ``write_colormap``: the values ``0 .. size - 1`` in order.

    A value with a colour is opaque (alpha 255); any other value is transparent ``(0, 0, 0, 0)``.

    Args:
        colors: the red, green and blue of each coloured value (a fourth value is ignored).
        size: how many values the table lists, from 0.

    Returns:
        (red, green, blue, alpha) by value.
    """
    table: dict[int, tuple[int, int, int, int]] = {}
    for value in range(size):
        color = colors.get(value)
        table[value] = (int(color[0]), int(color[1]), int(color[2]), 255) if color is not None else (0, 0, 0, 0)
    return table


def cdl_colormap() -> dict[int, tuple[int, int, int, int]]:
    """RGBA colour for all 256 codes, ready for rasterio's ``write_colormap``.

    Defined codes are opaque (alpha 255); undefined codes are ``(0, 0, 0, 0)``.

    Returns:
        (red, green, blue, alpha) by code, for the codes 0-255.
    """
    return color_table({code: cls.color for code, cls in _table().items()}, 256)


# ---------------------------------------------------------------------------------------------------------
# Label maps: source labels (CDL codes, or the names of a foreign dataset) → the classes a model learns.
# ---------------------------------------------------------------------------------------------------------

#: SCL classes that make an observation invalid (the ARSET course drops them); the others are kept.
INVALID_SCL: frozenset[int] = frozenset({0, 1, 7, 8, 9, 11})
#: SCL class "vegetation".
SCL_VEGETATION = 4
#: Rule of the ``arset`` preset: a crop whose last two valid SCL values in a window are not vegetation.
NO_CROP_GROWING = "No Crop Growing"
#: Names of the built-in label-map presets (``cdl-major:N`` picks the N largest classes).
PRESETS: tuple[str, ...] = ("cdl", "arset", "cdl-major")
SPARSE_POLICIES: tuple[str, ...] = ("merge", "drop")
_OTHER_COLOR = (128, 128, 128)  # the colour of a label map's Other class
_DEFAULT_MAJOR = 10


@dataclass(frozen=True, kw_only=True)
class LabelClass:
    """One class a model learns, of a label map or a model bundle's label map.

    Fields are keyword-only. ``codes`` are the source codes mapped to the class as a model bundle records
    them (empty where none are recorded: a label map's classes, whose samples carry their own codes, and
    the window rule's No Crop Growing). A double crop has the names of its first and second crop (None
    otherwise); a map run gives such a class a crop sequence even when stray source codes joined its
    double-crop code.
    """

    name: str
    color: tuple[int, int, int]
    codes: tuple[int, ...] = ()
    first_crop: str | None = None
    second_crop: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Write the class as its model.json entry.

        Returns:
            ``{"name", "codes", "color"}``, plus ``first_crop`` and ``second_crop`` when it has them.
        """
        entry: dict[str, Any] = {"name": self.name, "codes": list(self.codes), "color": list(self.color)}
        if self.first_crop is not None or self.second_crop is not None:
            entry.update(first_crop=self.first_crop, second_crop=self.second_crop)
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> LabelClass:
        """Read a class from its model.json entry.

        Args:
            entry: the entry `to_json` wrote (bundles written before the crop names have none).

        Returns:
            The class.
        """
        red, green, blue = (int(c) for c in entry["color"])
        return cls(
            name=entry["name"],
            codes=tuple(int(c) for c in entry["codes"]),
            color=(red, green, blue),
            first_crop=entry.get("first_crop"),
            second_crop=entry.get("second_crop"),
        )


@dataclass(frozen=True)
class LabelMap:
    """How source labels become classes.

    ``members`` maps each class name to the source labels it takes (CDL codes as ``int``, or label names as
    ``str``); ``other`` names the class of every source label no class claims (``None`` drops them);
    ``drop`` lists source labels dropped outright; classes with fewer than ``min_count`` samples are merged
    into ``other`` or dropped (``sparse``); ``rules`` names window-level rules (``no_crop_growing``).
    """

    name: str
    members: dict[str, tuple[int | str, ...]]
    other: str | None = "Other"
    drop: tuple[int | str, ...] = ()
    min_count: int = 0
    sparse: str = "merge"
    rules: tuple[str, ...] = ()
    top: int | None = None  # cdl-major: keep the ``top`` largest CDL classes, the rest go to ``other``


@dataclass(frozen=True)
class MappedLabels:
    """The result of applying a label map to samples.

    One class name (or ``None``: dropped) per sample, the classes in order, and a report of what was merged
    or dropped and why.
    """

    labels: list[str | None]
    classes: list[LabelClass]
    report: dict[str, Any]

    def metadata(self, label_map: LabelMap) -> str:
        """The label map as JSON for the ``inseason:label_map`` metadata of a series table.

        Args:
            label_map: the map these labels came from (its name and rules are recorded).

        Returns:
            JSON text: the map's name, rules, classes in order (index, name, colour, crop names) and report.
        """
        return json.dumps(
            {
                "name": label_map.name,
                "rules": list(label_map.rules),
                "classes": [
                    {
                        "index": i,
                        "name": c.name,
                        "color": list(c.color),
                        "first_crop": c.first_crop,
                        "second_crop": c.second_crop,
                    }
                    for i, c in enumerate(self.classes)
                ],
                "report": self.report,
            }
        )


def _arset_map() -> LabelMap:
    table = _table()
    named = {"Soybeans": 5, "Rice": 3, "Corn": 1, "Cotton": 2}
    crops = tuple(c for c, cls in sorted(table.items()) if cls.kind == "crop" and c not in named.values())
    uncultivated = tuple(c for c, cls in sorted(table.items()) if cls.kind in ("non_crop", "background"))
    doubles = tuple(c for c, cls in sorted(table.items()) if cls.kind == "double_crop")
    return LabelMap(
        name="arset",
        members={
            "Uncultivated": uncultivated,
            "Cultivated": crops,
            NO_CROP_GROWING: (),
            **{k: (v,) for k, v in named.items()},
        },
        other=None,
        drop=doubles,
        min_count=1,
        sparse="drop",
        rules=("no_crop_growing",),
    )


def label_map_preset(name: str) -> LabelMap:
    """A built-in label map: ``cdl``, ``arset`` or ``cdl-major[:N]``.

    ``cdl`` makes every CDL class its own class; ``arset`` has the course's seven classes, double crops
    dropped as the course did; ``cdl-major[:N]`` keeps the N largest CDL classes (default 10, double crops
    included as their own classes), everything else goes to ``Other``.

    Args:
        name: the preset's name (case and surrounding spaces do not matter).

    Returns:
        The label map.

    Raises:
        InputError: an unknown preset, or an N that is not a positive number.
    """
    key = name.strip().lower()
    if key == "cdl":
        return LabelMap(name="cdl", members={}, other=None, min_count=1, sparse="drop")
    if key == "arset":
        return _arset_map()
    if key == "cdl-major" or key.startswith("cdl-major:"):
        text = key.partition(":")[2] or str(_DEFAULT_MAJOR)
        if not text.isdigit() or int(text) < 1:
            raise InputError(
                f"label map {name!r}: write cdl-major:N with N a positive number of classes, e.g. cdl-major:8"
            )
        return LabelMap(name=f"cdl-major:{int(text)}", members={}, other="Other", top=int(text))
    raise InputError(f"unknown label map {name!r}: choose one of {', '.join(PRESETS)} or give a YAML file")


def _source_label(item: Any, where: str) -> int | str:
    if isinstance(item, bool) or not isinstance(item, (int, str)):
        raise InputError(f"label map {where}: {item!r} is neither a code nor a label name")
    return item


def load_label_map(path: str | os.PathLike[str]) -> LabelMap:
    """Read a user label map from YAML.

    ::

        name: delta            # optional, default: the file name
        classes:               # class name: source codes or names (CDL names are checked)
          Corn: [1, Sweet Corn]
          Soybeans: [5]
          Double soy: [26]
        other: Other           # class of every unlisted source label; null drops them
        drop: [111]            # source labels to drop outright
        min_count: 50          # classes with fewer samples are merged into `other` or dropped
        sparse: merge          # merge | drop
        rules: []              # no_crop_growing (the ARSET rule, applied per window)

    Args:
        path: the YAML file.

    Returns:
        The label map.

    Raises:
        InputError: the file is missing or malformed, has unknown keys, no classes, a source label that is
            neither a code nor a name, or an invalid ``sparse``, ``rules`` or ``min_count``.
    """
    data = load_yaml(Path(path))
    known = {"name", "classes", "other", "drop", "min_count", "sparse", "rules"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"label map {path}: unknown keys {unknown} (allowed: {', '.join(sorted(known))})")
    classes = data.get("classes")
    if not isinstance(classes, dict) or not classes:
        raise InputError(f"label map {path} needs `classes:`, a mapping of class name to source codes or names")
    members: dict[str, tuple[int | str, ...]] = {}
    for cls_name, items in classes.items():
        items = items if isinstance(items, list) else [items]
        members[str(cls_name)] = tuple(_source_label(i, f"{path} class {cls_name!r}") for i in items)
    sparse = str(data.get("sparse", "merge"))
    if sparse not in SPARSE_POLICIES:
        raise InputError(f"label map {path}: sparse: {sparse!r} must be merge or drop")
    rules = tuple(str(r) for r in data.get("rules") or ())
    if any(r != "no_crop_growing" for r in rules):
        raise InputError(f"label map {path}: unknown rules {list(rules)} (known: no_crop_growing)")
    min_count = data.get("min_count", 0)
    if not isinstance(min_count, int) or min_count < 0:
        raise InputError(f"label map {path}: min_count {min_count!r} must be a non-negative integer")
    drop = data.get("drop") or []
    return LabelMap(
        name=str(data.get("name", Path(path).stem)),
        members=members,
        other=None if data.get("other", "Other") is None else str(data.get("other", "Other")),
        drop=tuple(_source_label(i, f"{path} drop") for i in (drop if isinstance(drop, list) else [drop])),
        min_count=min_count,
        sparse=sparse,
        rules=rules,
    )


def resolve_label_map(spec: str | os.PathLike[str] | LabelMap | None) -> LabelMap:
    """A label map from a preset name, a YAML path or a `LabelMap`.

    Args:
        spec: a preset name, a YAML file (``.yaml``/``.yml`` or an existing file), a `LabelMap` (returned
            as is), or ``None`` for the ``cdl`` identity map.

    Returns:
        The label map.

    Raises:
        InputError: an unknown preset or an invalid YAML map.
    """
    if spec is None:
        return label_map_preset("cdl")
    if isinstance(spec, LabelMap):
        return spec
    text = str(spec)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return load_label_map(text)
    return label_map_preset(text)


def _class_of(label_map: LabelMap, code: int | None, name: str) -> tuple[str | None, str | None]:
    """(class, drop reason) of one source label; a class of ``None`` with a reason means dropped."""
    keys: list[int | str] = [name] if code is None else [code, name]
    if any(k in label_map.drop for k in keys):
        return None, "dropped by the label map"
    if not label_map.members:  # identity (cdl) and cdl-major, which ranks the classes afterwards
        return name, None
    for cls_name, items in label_map.members.items():
        if any(k in items for k in keys):
            return cls_name, None
    if label_map.other is None:
        return None, "not in the label map"
    return label_map.other, None


def _check_member_names(label_map: LabelMap, names: set[str], cdl: bool) -> None:
    for cls_name, items in label_map.members.items():
        for item in items:
            if isinstance(item, str):
                if cdl:
                    cdl_code(item)  # raises with suggestions
                elif item not in names:
                    close = difflib.get_close_matches(item, sorted(names), n=3)
                    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
                    raise InputError(
                        f"label map {label_map.name}: class {cls_name!r} lists label {item!r}, "
                        f"which no sample has{hint}: fix the name in the mapping"
                    )
            elif cdl:
                cdl_class(item)


def _class_color(name: str, codes: list[int]) -> tuple[int, int, int]:
    table = _table()
    if codes:
        return table[codes[0]].color if codes[0] in table else _OTHER_COLOR
    if name == NO_CROP_GROWING:
        return table[61].color
    try:
        return table[cdl_code(name)].color
    except InputError:
        return _OTHER_COLOR


def _double_crop_names(code: int | None) -> tuple[str | None, str | None]:
    table = _table()
    cls = table.get(code) if code is not None else None
    if cls is None or cls.kind != "double_crop" or cls.first_crop is None or cls.second_crop is None:
        return None, None
    return table[cls.first_crop].name, table[cls.second_crop].name


def map_labels(
    label_map: LabelMap, *, codes: Sequence[int | None], names: Sequence[str], cdl: bool = True
) -> MappedLabels:
    """Apply ``label_map`` to samples given by source code (``None`` when there is none) and source name.

    ``cdl`` says the source labels are CDL classes (names in the map are then checked against the CDL
    table); otherwise they are checked against the names present. Classes below ``min_count`` samples are
    merged into ``other`` or dropped, as the map says, and reported; a class left empty raises `InputError`.
    A class that takes exactly one double-crop code keeps its two crop names.

    Args:
        label_map: the label map.
        codes: each sample's source code (``None`` when there is none).
        names: each sample's source label name.
        cdl: whether the source labels are CDL classes.

    Returns:
        Each sample's class (or ``None``: dropped), the classes in order, and the report.

    Raises:
        InputError: a name in the map matches no CDL class (or no sample's label), a declared class is left
            without samples (with ``min_count`` 0), or no sample is left.
    """
    _check_member_names(label_map, set(names), cdl)
    if cdl:  # CDL names in the map become codes, so spelling and case do not matter
        as_code = lambda item: cdl_code(item) if isinstance(item, str) else item  # noqa: E731
        label_map = replace(
            label_map,
            drop=tuple(map(as_code, label_map.drop)),
            members={c: tuple(map(as_code, items)) for c, items in label_map.members.items()},
        )
    labels: list[str | None] = []
    dropped: dict[str, int] = {}
    class_codes: dict[str, list[int]] = {}
    for code, name in zip(codes, names):
        cls_name, reason = _class_of(label_map, code, name)
        labels.append(cls_name)
        if cls_name is None:
            dropped[f"{name} ({reason})"] = dropped.get(f"{name} ({reason})", 0) + 1
        elif code is not None:
            class_codes.setdefault(cls_name, [])
            if code not in class_codes[cls_name]:
                class_codes[cls_name].append(code)
    counts = Counter(lab for lab in labels if lab is not None)
    report: dict[str, Any] = {"samples": len(labels), "dropped": dropped, "merged": {}, "sparse_dropped": {}}
    if label_map.top is not None:
        ranked = sorted(counts, key=lambda c: (-counts[c], c))
        keep = set(ranked[: label_map.top])
        for i, lab in enumerate(labels):
            if lab is not None and lab not in keep:
                report["merged"][lab] = counts[lab]
                labels[i] = label_map.other
    counts = Counter(lab for lab in labels if lab is not None)
    sparse = {c: n for c, n in counts.items() if n < label_map.min_count}
    for cls_name, n in sorted(sparse.items()):
        if label_map.sparse == "merge" and label_map.other is not None and cls_name != label_map.other:
            report["merged"][cls_name] = n
            labels[:] = [label_map.other if lab == cls_name else lab for lab in labels]
        else:
            report["sparse_dropped"][cls_name] = n
            labels[:] = [None if lab == cls_name else lab for lab in labels]
    counts = Counter(lab for lab in labels if lab is not None)
    rule_classes = {NO_CROP_GROWING} if "no_crop_growing" in label_map.rules else set()
    declared = [c for c in label_map.members if c not in rule_classes]
    if label_map.min_count == 0:
        empty = [c for c in declared if counts.get(c, 0) == 0]
        if empty:
            raise InputError(
                f"label map {label_map.name}: classes {empty} have no samples: remove them from the "
                "map, or set min_count so sparse classes are merged or dropped"
            )
    if not counts:
        raise InputError(f"label map {label_map.name} leaves no samples: check the map against the labels")
    report["counts"] = dict(sorted(counts.items()))
    order = [c for c in label_map.members if counts.get(c) or c in rule_classes]
    order += sorted(c for c in counts if c not in order and c != label_map.other)
    if label_map.other is not None and counts.get(label_map.other):
        order.append(label_map.other)
    classes = []
    for cls_name in order:
        codes_of = class_codes.get(cls_name, [])
        first, second = _double_crop_names(codes_of[0]) if len(codes_of) == 1 else (None, None)
        classes.append(
            LabelClass(name=cls_name, color=_class_color(cls_name, codes_of), first_crop=first, second_crop=second)
        )
    return MappedLabels(labels=labels, classes=classes, report=report)


def no_crop_growing(scl: Sequence[int]) -> bool:
    """The ARSET rule: True when neither of the last two valid SCL values of a window is 4 (vegetation).

    Invalid SCL values (`INVALID_SCL`) are skipped; a window with no valid value is not relabelled, and
    one with a single valid value is judged on it. Apply it per model window, not per season: a crop is
    always harvested by the end of its season.

    Args:
        scl: the window's SCL values, in date order.

    Returns:
        True when the window's crop is not growing.
    """
    valid = [int(s) for s in scl if int(s) not in INVALID_SCL]
    return bool(valid) and all(s != SCL_VEGETATION for s in valid[-2:])


def window_label(label: str, scl: Sequence[int], *, rules: Sequence[str], crops: Sequence[str]) -> str:
    """The label of one model window: ``No Crop Growing`` when the map's rule applies, else ``label``.

    Args:
        label: the sample's class.
        scl: the window's SCL values, in date order.
        rules: the label map's rules (only ``no_crop_growing`` relabels).
        crops: the class names the rule may relabel.

    Returns:
        ``No Crop Growing`` or ``label`` unchanged.
    """
    if "no_crop_growing" in rules and label in crops and no_crop_growing(scl):
        return NO_CROP_GROWING
    return label
