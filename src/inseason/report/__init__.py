"""The self-contained HTML report of an evaluation (``inseason report``).

Optionally with the wall-to-wall maps of an ``inseason predict`` folder (`read_maps`).
"""

from inseason.report.html import ReportRequest, ReportResult, render_report, run_report, write_report
from inseason.report.maps import MapSet, error_adjusted_areas, read_maps

__all__ = [
    "MapSet",
    "ReportRequest",
    "ReportResult",
    "error_adjusted_areas",
    "read_maps",
    "render_report",
    "run_report",
    "write_report",
]
