"""Wall-to-wall in-season maps: block-wise reads, model inference, COG/STAC outputs, double-crop timing."""
