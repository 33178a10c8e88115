"""The labelled confusion image: readable at up to ten classes, colours by row share, names that fit their slots."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from inseason.train.figures import HIGH, LOW, _font, cell_colour, draw_confusion, fit_label

NAMES = ["Corn", "Cotton", "Grassland/Pasture", "Dbl Crop WinWht/Soybeans", "Rice", "Soybeans"]
LONG = (
    "Other Hay/Non Alfalfa grown on irrigated river terraces and mixed with clover in the northern counties "
    "of the state"
)


def _inside(box, outer) -> bool:
    return outer[0] <= box[0] <= box[2] <= outer[2] and outer[1] <= box[1] <= box[3] <= outer[3]


def test_image_is_readable_size_for_up_to_ten_classes():
    for k in (1, 2, 3, 6, 10):
        figure = draw_confusion(np.eye(k, dtype=np.int64) * 5, [f"Class {i}" for i in range(k)])
        height, width, channels = figure.image.shape
        assert width >= 600 and height >= 600 and channels == 3 and figure.image.dtype == np.uint8
        assert figure.cell >= 56
        assert figure.grid[2] <= width and figure.grid[3] <= height


def test_image_changes_with_counts_even_when_row_shares_are_equal():
    a = draw_confusion(np.array([[3, 1], [0, 2]]), ["A", "B"]).image
    b = draw_confusion(np.array([[6, 2], [0, 2]]), ["A", "B"]).image  # same row shares, other counts
    c = draw_confusion(np.array([[3, 1], [0, 2]]), ["A", "B"]).image
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert np.array_equal(a, c)  # deterministic


def test_cell_colour_is_the_row_share():
    matrix = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    figure = draw_confusion(matrix, ["A", "B", "C"])
    expected = {(0, 0): 0.75, (0, 1): 0.25, (0, 2): 0.0, (1, 1): 0.0, (2, 2): 0.5, (2, 0): 0.25}
    for (i, j), share in expected.items():
        left, top, _, _ = figure.cell_box(i, j)
        pixel = figure.image[int(top) + 3, int(left) + 3]  # a corner, clear of the text
        colour = [round(lo + (hi - lo) * share) for lo, hi in zip(LOW, HIGH)]
        assert pixel.tolist() == colour, (i, j)
    assert cell_colour(0.0) == LOW and cell_colour(1.0) == HIGH
    diagonal, off = figure.cell_box(0, 0), figure.cell_box(0, 1)
    assert (
        figure.image[int(diagonal[1]) + 3, int(diagonal[0]) + 3].sum()
        < figure.image[int(off[1]) + 3, int(off[0]) + 3].sum()
    )


def test_text_is_light_on_dark_cells_and_dark_on_light_cells():
    figure = draw_confusion(np.array([[50, 0], [0, 50]]), ["A", "B"])
    for (i, j), dark in (((0, 0), True), ((0, 1), False)):
        left, top, right, bottom = (int(v) for v in figure.cell_box(i, j))
        pixels = figure.image[top + 2 : bottom - 1, left + 2 : right - 1].reshape(-1, 3).astype(int)
        luminance = pixels @ np.array([299, 587, 114]) / 1000
        background = luminance[0]
        if dark:  # white digits on dark blue
            assert background < 80 and luminance.max() > 240
        else:  # dark digits on near-white
            assert background > 240 and luminance.min() < 80


def test_all_names_fit_their_slots_and_long_names_are_wrapped_or_shortened():
    names = [*NAMES, LONG, "Supercalifragilisticexpialidociouslyenormousclassname"]
    figure = draw_confusion(np.arange(64).reshape(8, 8), names)
    height, width, _ = figure.image.shape
    image_box = (0, 0, width, height)
    assert set(figure.label_boxes) == {(kind, i) for kind in ("row", "column") for i in range(8)}
    for key, box in figure.label_boxes.items():
        assert _inside(box, figure.label_slots[key]), key
        assert _inside(figure.label_slots[key], image_box), key
    rows = [figure.label_slots["row", i] for i in range(8)]
    columns = [figure.label_slots["column", i] for i in range(8)]
    assert all(a[3] <= b[1] for a, b in itertools.pairwise(rows))  # slots do not overlap
    assert all(a[2] <= b[0] for a, b in itertools.pairwise(columns))
    for kind in ("row", "column"):
        assert figure.label_lines[kind, 0] == ["Corn"]
        assert "".join(figure.label_lines[kind, 3]).replace(" ", "") == "DblCropWinWht/Soybeans"  # wrapped whole
        long_lines = figure.label_lines[kind, 6]
        assert long_lines[0].startswith("Other Hay/") and long_lines[-1].endswith("…")
        assert figure.label_lines[kind, 7][-1].endswith("…")
    font = _font(14)
    lines = fit_label(LONG, font, width=120, height=40)
    assert len(lines) == 2 and all(font.getlength(line) <= 120 for line in lines) and lines[-1].endswith("…")


def test_bad_matrix_shape_is_refused():
    with pytest.raises(ValueError, match="does not match 3 class names"):
        draw_confusion(np.zeros((2, 2)), ["A", "B", "C"])
