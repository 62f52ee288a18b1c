"""Data: file contracts, data location, CMU mocap, noise models, benchmark generation, converters."""
