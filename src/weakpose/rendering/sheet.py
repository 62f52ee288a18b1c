"""Contact sheets: rendered images beside their part masks, for people to look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from weakpose.rendering.labels import colorize_parts
from weakpose.rendering.renderer import RenderOutput

_BONES = [(0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
          (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16)]


def _dot(img: np.ndarray, u: float, v: float, color, r: int = 1) -> None:
    H, W = img.shape[:2]
    ui, vi = int(round(u)), int(round(v))
    img[max(vi - r, 0) : min(vi + r + 1, H), max(ui - r, 0) : min(ui + r + 1, W)] = color


def draw_joints(rgb: np.ndarray, joints_2d: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """Copy of a uint8 image with joints drawn: visible white-on-red, hidden blue."""
    img = rgb.copy()
    vis = np.ones(len(joints_2d), bool) if visible is None else np.asarray(visible, bool)
    r = max(1, img.shape[0] // 96)
    for (u, v), ok in zip(joints_2d, vis):
        _dot(img, u, v, (255, 40, 40) if ok else (40, 80, 255), r)
    return img


def contact_sheet(render: RenderOutput, columns: int = 4, with_joints: bool = True) -> np.ndarray:
    """A uint8 grid [rows*H, columns*2W, 3]: each image followed by its coloured part mask.

    ``render`` may have any leading axes; they are flattened in order.
    """
    arr = render.numpy()
    H, W = arr["rgb"].shape[-3:-1]
    rgb = arr["rgb"].reshape(-1, H, W, 3)
    parts = arr["parts"].reshape(-1, H, W)
    j2d = arr["joints_2d"].reshape(-1, 17, 2)
    vis = arr["visible"].reshape(-1, 17)
    n = len(rgb)
    rows = -(-n // columns)
    pad = 2
    sheet = np.full((rows * (H + pad) + pad, columns * (2 * W + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        y, x = pad + r * (H + pad), pad + c * (2 * W + pad)
        img = draw_joints(rgb[i], j2d[i], vis[i]) if with_joints else rgb[i]
        sheet[y : y + H, x : x + W] = img
        sheet[y : y + H, x + W : x + 2 * W] = colorize_parts(parts[i])
    return sheet


def save_png(image: np.ndarray, path: str | Path, palette: bool = False) -> Path:
    """Write a uint8 RGB image as PNG (via Pillow, a matplotlib dependency), atomically.
    ``palette`` quantises to 256 colours (small files for docs)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    img = Image.fromarray(np.ascontiguousarray(image))
    if palette:
        img = img.quantize(256)
    img.save(tmp, format="PNG", optimize=True)
    tmp.replace(path)
    return path
