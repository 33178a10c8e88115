"""The width of printed output (COLUMNS, a terminal's own width, OUTPUT_WIDTH for a pipe) and plural counts."""

from __future__ import annotations

import os

import pytest

from inseason.progress import OUTPUT_WIDTH, output_width, plural


def test_output_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """COLUMNS wins; a terminal gets its width up to OUTPUT_WIDTH; a pipe or file gets OUTPUT_WIDTH."""
    import fcntl
    import io
    import pty
    import struct
    import termios

    monkeypatch.delenv("COLUMNS", raising=False)
    assert output_width(io.StringIO()) == OUTPUT_WIDTH
    master, slave = pty.openpty()
    try:
        with open(slave, "w", closefd=False) as terminal:
            for columns, expected in ((60, 60), (OUTPUT_WIDTH + 80, OUTPUT_WIDTH)):
                fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
                assert output_width(terminal) == expected
            monkeypatch.setenv("COLUMNS", "132")
            assert output_width(terminal) == output_width(io.StringIO()) == 132
    finally:
        os.close(master)
        os.close(slave)


def test_plural() -> None:
    assert plural(1, "block") == "1 block"
    assert plural(0, "block") == "0 blocks"
    assert plural(2, "block") == "2 blocks"
    assert plural(1234, "label point") == "1,234 label points"
    assert plural(2, "class", "classes") == "2 classes" and plural(1, "class", "classes") == "1 class"
