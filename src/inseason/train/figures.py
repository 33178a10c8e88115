"""Pictures for TensorBoard drawn with Pillow: a labelled confusion matrix as an RGB image.

TensorBoard shows images at their own pixel size, so the matrix is drawn large enough to read (at least
600 px wide for up to ten classes): class names on both axes (truth in rows, prediction in columns, long
names wrapped or shortened to fit their slot), the count and row share in each cell, colours normalised by
row (the diagonal reads as recall) and white text on dark cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Colour ramp of a row share: near-white (none of the row) to dark blue (the whole row).
LOW = (247, 251, 255)
HIGH = (8, 48, 107)
_GRID = (200, 200, 200)
_DARK_TEXT = (33, 33, 33)
_LIGHT_TEXT = (255, 255, 255)
_BACKGROUND = (255, 255, 255)
#: Cells are at least this wide, and the grid at least ``_MIN_GRID`` pixels, so ten classes make a readable
#: image and two classes are not a postage stamp.
_MIN_CELL, _MIN_GRID = 56, 520
#: Width of the row labels and height of the (rotated) column labels: the longest name, within these bounds.
_MIN_LABEL, _MAX_LABEL = 48, 170
_PAD, _GAP, _TITLE = 10, 6, 24
_SPACING = 2  # pixels between the lines of a wrapped label
_INSET = 3  # pixels kept free inside a label slot: glyphs may reach past their advance width
_ELLIPSIS = "…"

Font = ImageFont.FreeTypeFont
Box = tuple[float, float, float, float]


@lru_cache(maxsize=16)
def _font(size: int) -> Font:
    """Pillow's embedded font at ``size`` pixels (cached: fonts are immutable); it needs FreeType."""
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # Pillow built without FreeType: no sizes, no metrics
        raise RuntimeError("Pillow has no FreeType support, which the confusion image needs: reinstall Pillow")
    return font


def cell_colour(share: float) -> tuple[int, int, int]:
    """Pick the fill colour of a cell on the ramp from `LOW` to `HIGH`.

    Args:
        share: the cell's share (0–1) of its true class's samples; values outside are clipped.

    Returns:
        The RGB colour.
    """
    share = min(max(float(share), 0.0), 1.0)
    red, green, blue = (round(lo + (hi - lo) * share) for lo, hi in zip(LOW, HIGH))
    return (red, green, blue)


def text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Pick dark text on light backgrounds and white text on dark ones (by perceived luminance).

    Args:
        background: the RGB colour the text is drawn on.

    Returns:
        The RGB text colour.
    """
    r, g, b = background
    return _DARK_TEXT if 0.299 * r + 0.587 * g + 0.114 * b > 140 else _LIGHT_TEXT


def _width(font: Font, text: str) -> float:
    return float(font.getlength(text))


def _shorten(text: str, font: Font, width: float) -> str:
    """``text`` cut at the end with an ellipsis so that it is at most ``width`` pixels wide."""
    if _width(font, text) <= width:
        return text
    while text and _width(font, text.rstrip() + _ELLIPSIS) > width:
        text = text[:-1]
    return text.rstrip() + _ELLIPSIS if text else ""


def _words(text: str) -> list[str]:
    """Pieces a label may break after: words, and the parts of ``Grassland/Pasture`` after each slash."""
    pieces: list[str] = []
    for word in text.split():
        parts = word.replace("/", "/\0").replace("-", "-\0").split("\0")
        pieces.extend(p for p in parts if p)
        pieces[-1] += " "
    if pieces:
        pieces[-1] = pieces[-1].rstrip()
    return pieces


def fit_label(text: str, font: Font, *, width: float, height: float) -> list[str]:
    """Break ``text`` into the lines that fit a ``width`` × ``height`` pixel slot.

    The whole text goes on one line when it fits, else it is wrapped at spaces, slashes and hyphens onto as
    many lines as the height holds, the last line shortened with an ellipsis when the text still does not fit.

    Args:
        text: the label (a class name).
        font: the font it will be drawn with.
        width: the slot's width in pixels.
        height: the slot's height in pixels.

    Returns:
        At least one line, each at most ``width`` pixels wide in ``font``.
    """
    ascent, descent = font.getmetrics()
    line_height = ascent + descent
    max_lines = max(1, int((height + _SPACING) // (line_height + _SPACING)))
    text = " ".join(text.split())
    if _width(font, text) <= width:
        return [text]
    lines: list[str] = []
    current = ""
    for piece in _words(text):
        candidate = current + piece
        if not current or _width(font, candidate.rstrip()) <= width:
            current = candidate
            continue
        lines.append(current.rstrip())
        current = piece
    lines.append(current.rstrip())
    if len(lines) > max_lines:  # the rest of the text on the last line, cut with an ellipsis
        rest = " ".join([lines[max_lines - 1], *lines[max_lines:]])
        lines = [*lines[: max_lines - 1], _shorten(rest, font, width)]
        if not lines[-1].endswith(_ELLIPSIS):
            lines[-1] = _shorten(lines[-1] + _ELLIPSIS, font, width)
    return [_shorten(line, font, width) for line in lines]


def _count_text(count: int, font: Font, width: float) -> str:
    """``count`` in full when it fits the cell, else compact (``12.3k``, ``4.5M``)."""
    text = str(count)
    if _width(font, text) <= width:
        return text
    for divisor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= divisor:
            value = count / divisor
            return f"{value:.1f}{suffix}" if value < 100 else f"{value:.0f}{suffix}"
    return text


@dataclass
class ConfusionFigure:
    """A drawn confusion matrix and where its text went, so callers (and tests) can check the layout.

    Attributes:
        image: [H, W, 3] uint8 RGB picture.
        grid: the matrix's box (left, top, right, bottom) in pixels.
        cell: one cell's side in pixels.
        label_slots: per label key (``("row", i)`` or ``("column", j)``) the box it may use.
        label_boxes: per label key the box its text actually covers.
        label_lines: per label key the lines drawn (wrapped or shortened class name).
    """

    image: np.ndarray
    grid: Box
    cell: int
    label_slots: dict[tuple[str, int], Box] = field(default_factory=dict)
    label_boxes: dict[tuple[str, int], Box] = field(default_factory=dict)
    label_lines: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    def cell_box(self, row: int, column: int) -> Box:
        """Locate one cell of the matrix in the image.

        Args:
            row: the true class's index.
            column: the predicted class's index.

        Returns:
            The cell's pixel box (left, top, right, bottom), grid lines included.
        """
        left, top = self.grid[0] + column * self.cell, self.grid[1] + row * self.cell
        return (left, top, left + self.cell, top + self.cell)


def draw_confusion(matrix: np.ndarray, class_names: Sequence[str], *, cell: int | None = None) -> ConfusionFigure:
    """Draw a confusion matrix (rows: true class, columns: predicted class) with its class names.

    Each cell shows its count and its share of the row, filled by `cell_colour` of that share; an empty
    row stays white. The image is at least 600 px wide for up to ten classes.

    Args:
        matrix: [K, K] counts.
        class_names: the K class names, in the matrix's order.
        cell: a cell's side in pixels (default: the grid's 520 px shared by the classes, at least 56).

    Returns:
        The image and its layout.

    Raises:
        ValueError: when the matrix is not square or does not match the number of names.
    """
    counts = np.asarray(matrix)
    k = len(class_names)
    if counts.ndim != 2 or counts.shape != (k, k):
        raise ValueError(f"confusion matrix of shape {counts.shape} does not match {k} class names")
    counts = np.rint(counts).astype(np.int64)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape, np.float64), where=totals > 0)
    cell = cell or max(_MIN_CELL, -(-_MIN_GRID // max(k, 1)))
    label_font, title_font = _font(14), _font(16)
    count_font, share_font = _font(max(12, min(24, cell // 4))), _font(max(10, min(16, cell // 6)))
    caption_font = _font(12)
    widest = max((_width(label_font, " ".join(str(name).split())) for name in class_names), default=0.0)
    label_size = int(min(_MAX_LABEL, max(_MIN_LABEL, np.ceil(widest) + 2 * _INSET + 1)))

    grid_left = _PAD + _TITLE + label_size + _GAP
    grid_top = _PAD + _TITLE + label_size + _GAP
    grid_size = k * cell
    width = grid_left + grid_size + _PAD
    caption = "Colour: share of the true class (row-normalised, recall on the diagonal). Numbers: count and row share."
    caption_lines = fit_label(caption, caption_font, width=width - 2 * _PAD, height=3 * 16)
    caption_height = len(caption_lines) * (sum(caption_font.getmetrics()) + _SPACING)
    height = grid_top + grid_size + _GAP + caption_height + _PAD
    image = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    figure = ConfusionFigure(
        image=np.zeros(0), grid=(grid_left, grid_top, grid_left + grid_size, grid_top + grid_size), cell=cell
    )

    for i in range(k):
        for j in range(k):
            left, top, right, bottom = figure.cell_box(i, j)
            fill = cell_colour(share[i, j])
            draw.rectangle((left, top, right, bottom), fill=fill, outline=_GRID)
            colour = text_colour(fill)
            middle_x, middle_y = (left + right) / 2, (top + bottom) / 2
            number = _count_text(int(counts[i, j]), count_font, cell - 8)
            if totals[i, 0] > 0 and cell >= 48:
                draw.text((middle_x, middle_y), number, font=count_font, fill=colour, anchor="md")
                draw.text((middle_x, middle_y + 2), f"{share[i, j]:.0%}", font=share_font, fill=colour, anchor="ma")
            else:
                draw.text((middle_x, middle_y), number, font=count_font, fill=colour, anchor="mm")

    for i, name in enumerate(class_names):  # row labels, right-aligned next to the grid
        slot = (
            float(_PAD + _TITLE),
            float(grid_top + i * cell),
            float(grid_left - _GAP),
            float(grid_top + (i + 1) * cell),
        )
        lines = fit_label(
            str(name), label_font, width=slot[2] - slot[0] - 2 * _INSET, height=slot[3] - slot[1] - 2 * _INSET
        )
        anchor = (slot[2] - _INSET, (slot[1] + slot[3]) / 2)
        text = "\n".join(lines)
        draw.multiline_text(
            anchor, text, font=label_font, fill=_DARK_TEXT, anchor="rm", align="right", spacing=_SPACING
        )
        figure.label_slots["row", i] = slot
        x0, y0, x1, y1 = draw.multiline_textbbox(
            anchor, text, font=label_font, anchor="rm", align="right", spacing=_SPACING
        )
        figure.label_boxes["row", i] = (float(x0), float(y0), float(x1), float(y1))
        figure.label_lines["row", i] = lines

    for j, name in enumerate(class_names):  # column labels: drawn on a tile, turned to read bottom-up
        tile_width, tile_height = label_size, cell
        lines = fit_label(str(name), label_font, width=tile_width - 2 * _INSET, height=tile_height - 2 * _INSET)
        text = "\n".join(lines)
        tile = Image.new("RGB", (tile_width, tile_height), _BACKGROUND)
        tile_draw = ImageDraw.Draw(tile)
        anchor = (_INSET, tile_height / 2)  # the tile's left edge turns into the bottom, next to the grid
        tile_draw.multiline_text(
            anchor, text, font=label_font, fill=_DARK_TEXT, anchor="lm", align="left", spacing=_SPACING
        )
        x0, y0, x1, y1 = tile_draw.multiline_textbbox(
            anchor, text, font=label_font, anchor="lm", align="left", spacing=_SPACING
        )
        left, top = grid_left + j * cell, _PAD + _TITLE
        image.paste(tile.transpose(Image.Transpose.ROTATE_90), (left, top))
        # a 90° turn sends tile point (x, y) to (y, tile_width - x)
        figure.label_slots["column", j] = (float(left), float(top), float(left + cell), float(top + label_size))
        figure.label_boxes["column", j] = (left + y0, top + tile_width - x1, left + y1, top + tile_width - x0)
        figure.label_lines["column", j] = lines

    draw.text(
        (grid_left + grid_size / 2, _PAD + _TITLE / 2), "Predicted class", font=title_font, fill=_DARK_TEXT, anchor="mm"
    )
    title = Image.new("RGB", (max(grid_size, 1), _TITLE), _BACKGROUND)
    ImageDraw.Draw(title).text((grid_size / 2, _TITLE / 2), "True class", font=title_font, fill=_DARK_TEXT, anchor="mm")
    image.paste(title.transpose(Image.Transpose.ROTATE_90), (_PAD, grid_top))
    draw.multiline_text(
        (_PAD, grid_top + grid_size + _GAP),
        "\n".join(caption_lines),
        font=caption_font,
        fill=_DARK_TEXT,
        spacing=_SPACING,
    )
    figure.image = np.ascontiguousarray(np.asarray(image, np.uint8))
    return figure


def confusion_image(matrix: np.ndarray, class_names: Sequence[str], *, cell: int | None = None) -> np.ndarray:
    """Draw a labelled, row-normalised confusion matrix as a [H, W, 3] uint8 picture (see `draw_confusion`).

    Args:
        matrix: [K, K] counts (rows: true class, columns: predicted class).
        class_names: the K class names.
        cell: a cell's side in pixels (default: chosen from K).

    Returns:
        The RGB image, ready for ``SummaryWriter.add_image(..., dataformats="HWC")``.

    Raises:
        ValueError: when the matrix does not match the class names.
    """
    return draw_confusion(matrix, class_names, cell=cell).image
