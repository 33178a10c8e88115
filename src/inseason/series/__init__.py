"""The series table (DESIGN §2): observations → series, splits and the leakage audit.

* :mod:`inseason.series.build` — :func:`~inseason.series.build.make_series`, out of core with DuckDB;
* :mod:`inseason.series.assemble` — sorted observation rows → ragged list columns, chunk by chunk;
* :mod:`inseason.series.split` — :func:`~inseason.series.split.split_series` (random, year, field, block, k-fold);
* :mod:`inseason.series.audit` — :func:`~inseason.series.audit.audit_split` and its JSON/Markdown files;
* :mod:`inseason.series.geometry` — planar coordinates, spatial blocks and field groups;
* :mod:`inseason.series.normalize` — robust per-band statistics of the training split;
* :mod:`inseason.series.long_table` — :func:`~inseason.series.long_table.import_series`, a long-format table
  (one row per sample and date, from any sensor) to the series table.

Nothing is imported here.
"""
