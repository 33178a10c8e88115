"""Label and scene sources: where the labels stage and the scenes stage read from.

* :mod:`inseason.sources.aoi` — the area of interest from a lon/lat bbox or a vector file, in any CRS;
* :mod:`inseason.sources.cdl` — CDL GeoTIFFs (local, any CRS) and the CropScape ``GetCDLFile`` service;
* :mod:`inseason.sources.vector` — vector labels (GeoJSON, GeoPackage, Shapefile) with a class column;
* :mod:`inseason.sources.sampling` — stride, stratified and per-field sampling of label rasters;
* :mod:`inseason.sources.points` — the ``labels`` stage: :func:`~inseason.sources.points.make_label_points`;
* :mod:`inseason.sources.http` — the shared HTTP session (timeouts, retries with backoff, clear errors);
* :mod:`inseason.sources.stac` — STAC search (the scene manifest is built by :mod:`inseason.extract.scenes`).

Nothing is imported here, so importing one source does not pay for the others.
"""
