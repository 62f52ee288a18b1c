"""The rendered clip of the video-path tests: 24 frames of a walk, frames 11-14 show somebody else."""

from __future__ import annotations

from functools import partial

from weakpose.rendering.clips import write_walk_clip

SIZE, FRAMES, FPS = 320, 24, 30.0
INTRUDER = [11, 12, 13, 14]   # frames that show somebody else

render_clip = partial(write_walk_clip, frames=FRAMES, size=SIZE, fps=FPS, intruder=INTRUDER)
