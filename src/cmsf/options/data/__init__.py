"""Data files shipped with the options app (read with importlib.resources)."""
