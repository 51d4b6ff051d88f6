"""The exchange gateway: wiring, I/O shells and the command line over the C core."""
