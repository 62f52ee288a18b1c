"""Figures: 2D skeletons on images, 3D skeletons from chosen viewpoints (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from weakpose.skeleton import H36M17, Skeleton

LEFT_COLOR, RIGHT_COLOR, CENTER_COLOR = "tab:blue", "tab:red", "0.3"


def _bone_color(skeleton: Skeleton, child: int) -> str:
    if child in skeleton.left:
        return LEFT_COLOR
    if child in skeleton.right:
        return RIGHT_COLOR
    return CENTER_COLOR


def draw_2d(ax, keypoints: np.ndarray, confidence: np.ndarray | None = None, skeleton: Skeleton = H36M17,
            image: np.ndarray | None = None, linewidth: float = 2.0) -> None:
    """Draw a 2D skeleton (pixels, y down); missing joints (confidence 0) are skipped."""
    if image is not None:
        ax.imshow(image)
    conf = np.ones(len(keypoints)) if confidence is None else confidence
    for p, c in skeleton.bones:
        if conf[p] > 0 and conf[c] > 0:
            ax.plot(keypoints[[p, c], 0], keypoints[[p, c], 1], color=_bone_color(skeleton, c), lw=linewidth)
    seen = conf > 0
    ax.scatter(keypoints[seen, 0], keypoints[seen, 1], s=8, c="k", zorder=3)
    if image is None:
        ax.invert_yaxis()
        ax.set_aspect("equal")


def rotation_about_vertical(deg: float) -> np.ndarray:
    """Rotation about the camera's y axis (down): turns the viewpoint around the person."""
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def draw_3d_view(ax, poses: list[np.ndarray], styles: list[dict], azimuth_deg: float = 0.0,
                 skeleton: Skeleton = H36M17) -> None:
    """Draw root-relative camera-frame poses (mm) seen from a viewpoint turned by ``azimuth_deg``
    about the vertical: 0 = the input camera's view, 90 = from the side (depth left-right)."""
    R = rotation_about_vertical(azimuth_deg)
    for pose, style in zip(poses, styles):
        p = (pose - pose[:1]) @ R.T
        for a, b in skeleton.bones:
            color = style.get("color") or _bone_color(skeleton, b)
            ax.plot(p[[a, b], 0], p[[a, b], 1], color=color, lw=style.get("lw", 2), ls=style.get("ls", "-"),
                    alpha=style.get("alpha", 1.0))
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def pose_figure(path: str | Path, keypoints_2d: np.ndarray, confidence: np.ndarray, pred: np.ndarray,
                gt: np.ndarray | None = None, titles: list[str] | None = None, dpi: int = 80) -> Path:
    """One row per sample: 2D input; 3D front view; 3D side view (prediction solid, truth dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from weakpose.atomic import atomic_path

    n = len(pred)
    fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n), squeeze=False)
    for i in range(n):
        draw_2d(axes[i, 0], keypoints_2d[i], confidence[i])
        axes[i, 0].set_title(titles[i] if titles else "2D input (px)", fontsize=9)
        for k, az in enumerate((0.0, 90.0)):
            poses, styles = [pred[i]], [{}]
            if gt is not None:
                poses.append(gt[i])
                styles.append({"color": "k", "ls": "--", "lw": 1.2, "alpha": 0.8})
            draw_3d_view(axes[i, k + 1], poses, styles, az)
            axes[i, k + 1].set_title(("camera view" if az == 0 else "side view") + " (3D, mm)", fontsize=9)
    fig.suptitle("prediction: coloured (left blue, right red); ground truth: dashed black", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return Path(path)
