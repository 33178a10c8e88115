"""The tests of inseason: the folders and file names follow src/inseason (tests/X/test_Y.py tests X/Y.py)."""
