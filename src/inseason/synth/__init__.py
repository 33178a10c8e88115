"""The synthetic world: CDL-like labels, Sentinel-2 L2A-like COGs and a STAC catalog (DESIGN §5)."""

from inseason.synth.world import WorldSummary, build_state, load_world, synth

__all__ = ["WorldSummary", "build_state", "load_world", "synth"]
