"""Build-time helpers for the C core (the CFFI builder and the layout generator)."""
