"""The self-contained HTML report of an evaluation (``inseason report``)."""

from inseason.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]
