"""The synthetic world: CDL-like labels, Sentinel-2 L2A-like COGs and a STAC catalog (DESIGN §5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inseason.lazy import lazy_exports

if TYPE_CHECKING:  # the API; at run time each name's module is imported on its first use (inseason.lazy)
    from inseason.synth.world import (
        SynthRequest,
        WorldSummary,
        build_state,
        centre_square,
        load_world,
        run_synth,
        synth,
    )

__all__ = ["SynthRequest", "WorldSummary", "build_state", "centre_square", "load_world", "run_synth", "synth"]

__getattr__, __dir__ = lazy_exports(__name__, __file__)
