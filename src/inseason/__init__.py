"""inseason: in-season crop-type mapping from irregularly spaced satellite image time series."""

__version__ = "0.1.0"
