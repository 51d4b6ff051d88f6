"""Benchmarks that are documentation: each prints our figure and the peers'."""
