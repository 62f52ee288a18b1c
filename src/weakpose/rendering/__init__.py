"""Synthetic person images from 3D poses (capsule/ellipsoid bodies, z-buffered ray casting).

Main entry points: :func:`render_batch` (camera-frame poses), :func:`render_views` and
:func:`render_wild` (world poses and cameras), the label map in :mod:`.labels`.
"""

from weakpose.rendering.appearance import Appearance, sample_appearance, sample_backgrounds
from weakpose.rendering.body import BodyShape
from weakpose.rendering.labels import NUM_PARTS, PART_NAMES, colorize_parts
from weakpose.rendering.renderer import RenderOutput, render_batch

__all__ = [
    "Appearance",
    "BodyShape",
    "NUM_PARTS",
    "PART_NAMES",
    "RenderOutput",
    "colorize_parts",
    "render_batch",
    "sample_appearance",
    "sample_backgrounds",
]
