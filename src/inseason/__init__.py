"""inseason: in-season crop-type mapping from irregularly spaced satellite image time series."""

from __future__ import annotations

import os
from importlib.metadata import version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inseason.train.bundle import Bundle

#: The installed distribution's version (pyproject.toml is its one source).
__version__ = version("inseason")
__all__ = ["__version__", "load_model"]


def load_model(path: str | os.PathLike[str]) -> Bundle:
    """Load a model bundle: the network in eval mode with its band order, label map, normalisation and recipe.

    Reads JSON and safetensors only, never a pickle.

    Args:
        path: a run folder or a bundle folder.

    Returns:
        The bundle.

    Raises:
        InputError: the folder holds no bundle, another format or format version, or weights that do not fit
            the recorded architecture.
    """
    from inseason.train.bundle import load_bundle

    return load_bundle(path)
