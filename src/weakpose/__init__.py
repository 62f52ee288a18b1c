"""weakpose: monocular 3D human pose learned without 3D annotations of the training images."""

__version__ = "0.1.0"
