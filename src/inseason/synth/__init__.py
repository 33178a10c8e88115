"""The synthetic world: CDL-like labels, Sentinel-2 L2A-like COGs and a STAC catalog (DESIGN §5)."""

from inseason.synth.world import SynthRequest, WorldSummary, build_state, centre_square, load_world, run_synth, synth

__all__ = ["SynthRequest", "WorldSummary", "build_state", "centre_square", "load_world", "run_synth", "synth"]
