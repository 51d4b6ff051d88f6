"""pytest configuration for tests/protocols.

Nothing special happens here.  Shared helpers (the CI-aware skip, the path of
the shared data folder, the tiny pcap reader, hypothesis strategies and the
itchfeed name mapping) live in ``_protocols_util.py`` next to this file; it
has a unique name so that it cannot shadow a helper module of another test
folder on ``sys.path``.
"""
