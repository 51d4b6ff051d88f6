"""What the bytes mean: protocol layouts, encoders, reference decoders.

Nothing in this package opens a file or a socket or reads a clock.
"""
