"""weakpose: monocular 3D human pose learned without 3D annotations of the training images."""

import os

# Intel MKL (torch's CPU BLAS) chooses code paths by memory alignment unless told otherwise, so
# the same computation can round differently from one run to the next; an exact `--resume`
# (docs/training.md) needs bit-reproducible steps. AUTO keeps the fastest path for the CPU. It
# takes effect only when set before torch is first imported (the `weakpose` command does so).
os.environ.setdefault("MKL_CBWR", "AUTO")

__version__ = "0.1.0"
