"""divergence: surveillance of tokenized stocks against their underlying."""

__version__ = "0.1.0"
