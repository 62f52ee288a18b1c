"""``weakpose view PRED.npz [--video CLIP | --image PHOTO ...] --out view.html``: one
self-contained HTML page to look at a prediction.

Left: the 2D keypoints over the (downscaled, base64-embedded) photo or video frame. Right: the
3D skeleton (rotate, zoom, pan with the mouse), shown with the person's up direction up
(camera frame x right, z forward, −y up). Sequences get a time slider and a play button.
Joints the detector did not see (``guessed`` in the prediction file, else confidence 0) are
drawn as open grey markers joined by dashed grey bones: they are the lifter's guess. Several
hypotheses (``hypotheses`` [N, H, 17, 3], e.g. Li & Lee's generator) are drawn as thin lines
behind the main prediction.

plotly draws everything; its JavaScript bundle is copied from the installed ``plotly`` package
into the page, so the file opens offline (extra ``view``).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weakpose.data.contracts import InputError, load_prediction_frames
from weakpose.skeleton import H36M17

#: Colours of the person's left and right sides and of the centre line (as in the figures).
SIDE_COLORS = {"left": "#1f77b4", "right": "#d62728", "center": "#555555"}
GUESSED_COLOR = "#9a9a9a"
HYPOTHESIS_COLOR = "rgba(120, 80, 160, 0.35)"
#: Half-width of the fixed 3D box around the pelvis (mm): the box does not jump between frames.
BOX_MM = 1000.0


def _import_plotly():
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise InputError("view: needs plotly; install the viewer extra: pip install 'weakpose[view]'") from None
    return go


@dataclass
class ViewData:
    """What the page shows, one row per displayed frame."""

    positions_3d: np.ndarray          # [T, 17, 3] mm, camera frame, root-relative
    keypoints_2d: np.ndarray | None   # [T, 17, 2] px in the original image
    guessed: np.ndarray               # [T, 17] bool: joint not seen by the detector
    hypotheses: np.ndarray | None     # [T, H, 17, 3]
    labels: list[str]                 # slider label per frame
    images: list[np.ndarray | None]   # RGB uint8 frame per row (None: no picture)


def guessed_joints(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """[N, 17] bool: the ``guessed`` key of a prediction file, else joints with confidence 0,
    else none."""
    n = len(arrays["positions_3d"])
    if "guessed" in arrays:
        return np.asarray(arrays["guessed"], bool).reshape(n, 17)
    if "confidence" in arrays and np.shape(arrays["confidence"]) == (n, 17):
        return np.asarray(arrays["confidence"]) <= 0
    return np.zeros((n, 17), bool)


def _encode_image(image: np.ndarray, max_side: int, quality: int = 75) -> tuple[str, float]:
    """(JPEG data URI of the image downscaled to ``max_side`` px, the scale factor applied)."""
    from PIL import Image

    im = Image.fromarray(np.asarray(image, np.uint8))
    scale = min(1.0, max_side / max(im.size))
    if scale < 1.0:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), scale


def _bone_segments(points: np.ndarray, bones: list[tuple[int, int]]) -> list[list[float | None]]:
    """Coordinates of line segments separated by ``None`` (one trace draws many bones)."""
    cols: list[list[float | None]] = [[] for _ in range(points.shape[-1])]
    for a, b in bones:
        for d in range(points.shape[-1]):
            cols[d] += [float(points[a, d]), float(points[b, d]), None]
    return cols


def _side(child: int) -> str:
    return "left" if child in H36M17.left else "right" if child in H36M17.right else "center"


def _to_display(p: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> plot axes (x right, depth, up)."""
    p = p - p[..., :1, :]
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)


def _frame_traces(go, data: ViewData, t: int, image_uri: str | None, scale: float) -> list:
    """Every trace of frame ``t`` in a fixed order (animation frames replace them one by one)."""
    guessed = data.guessed[t]
    traces = []
    if image_uri is not None:
        traces.append(go.Image(source=image_uri, xaxis="x", yaxis="y", hoverinfo="skip", name="frame"))
    # 2D: detected joints only (a guessed joint has no 2D position)
    if data.keypoints_2d is not None:
        kp = data.keypoints_2d[t] * scale
        seen_bones = [(a, b) for a, b in H36M17.bones if not guessed[a] and not guessed[b]]
        x, y = _bone_segments(kp, seen_bones)
        traces.append(go.Scatter(x=x, y=y, mode="lines", line=dict(color="#ffcc00", width=3), name="2D bones",
                                 xaxis="x", yaxis="y", hoverinfo="skip", showlegend=False))
        ok = ~guessed
        traces.append(go.Scatter(x=kp[ok, 0], y=kp[ok, 1], mode="markers", xaxis="x", yaxis="y", name="2D joints",
                                 marker=dict(size=6, color="white", line=dict(color="black", width=1)),
                                 text=[H36M17.names[j] for j in np.flatnonzero(ok)], hoverinfo="text",
                                 showlegend=False))
    p = _to_display(data.positions_3d[t])
    for side in ("left", "right", "center"):
        bones = [(a, b) for a, b in H36M17.bones if _side(b) == side and not guessed[a] and not guessed[b]]
        x, y, z = _bone_segments(p, bones)
        traces.append(go.Scatter3d(x=x, y=y, z=z, mode="lines", line=dict(color=SIDE_COLORS[side], width=7),
                                   name=f"{side} (seen)", scene="scene", hoverinfo="skip"))
    x, y, z = _bone_segments(p, [(a, b) for a, b in H36M17.bones if guessed[a] or guessed[b]])
    traces.append(go.Scatter3d(x=x, y=y, z=z, mode="lines", line=dict(color=GUESSED_COLOR, width=5, dash="dash"),
                               name="guessed (unseen)", scene="scene", hoverinfo="skip"))
    for mask, style, name in ((~guessed, dict(size=4, color="black"), "joints (seen)"),
                              (guessed, dict(size=5, color="white", line=dict(color=GUESSED_COLOR, width=2)),
                               "joints (guessed)")):
        idx = np.flatnonzero(mask)
        traces.append(go.Scatter3d(x=p[idx, 0], y=p[idx, 1], z=p[idx, 2], mode="markers", marker=style, name=name,
                                   scene="scene", text=[H36M17.names[j] for j in idx], hoverinfo="text",
                                   showlegend=False))
    if data.hypotheses is not None:
        h = _to_display(data.hypotheses[t])
        cols: list[list[float | None]] = [[], [], []]
        for hyp in h:
            for d, c in enumerate(_bone_segments(hyp, H36M17.bones)):
                cols[d] += c
        traces.append(go.Scatter3d(x=cols[0], y=cols[1], z=cols[2], mode="lines",
                                   line=dict(color=HYPOTHESIS_COLOR, width=2),
                                   name=f"{len(h)} hypotheses", scene="scene", hoverinfo="skip"))
    return traces


def build_figure(data: ViewData, max_image_side: int = 360):
    """The plotly figure: 2D panel (x/y axes) beside the 3D scene, with frames, slider, play."""
    go = _import_plotly()
    T = len(data.positions_3d)
    encoded = [(None, 1.0) if im is None else _encode_image(im, max_image_side) for im in data.images]
    frames = [go.Frame(data=_frame_traces(go, data, t, *encoded[t]), name=str(t)) for t in range(T)]
    fig = go.Figure(data=frames[0].data, frames=frames if T > 1 else None)
    has_image = encoded[0][0] is not None
    fig.update_layout(
        template="plotly_white", height=560, margin=dict(l=10, r=10, t=40, b=10 if T == 1 else 90),
        title=dict(text=data.labels[0] if T == 1 else f"{T} frames", font=dict(size=14)),
        xaxis=dict(domain=[0.0, 0.42], visible=False, scaleanchor="y", constrain="domain"),
        yaxis=dict(domain=[0.0, 1.0], visible=False, autorange="reversed"),
        scene=dict(
            domain=dict(x=[0.45, 1.0], y=[0.0, 1.0]), aspectmode="cube",
            xaxis=dict(range=[-BOX_MM, BOX_MM], title="x (mm)"),
            yaxis=dict(range=[-BOX_MM, BOX_MM], title="depth (mm)"),
            zaxis=dict(range=[-BOX_MM, BOX_MM], title="up (mm)"),
            camera=dict(eye=dict(x=0.3, y=-1.9, z=0.4), up=dict(x=0, y=0, z=1)),
        ),
        legend=dict(x=0.46, y=1.0, bgcolor="rgba(255,255,255,0.6)"),
        uirevision="keep",  # the user's 3D view survives frame changes
    )
    if not has_image and data.keypoints_2d is not None:
        kp = data.keypoints_2d[~data.guessed]
        if kp.size:
            pad = 0.1 * float(np.ptp(kp, 0).max() + 1)
            fig.update_layout(xaxis_range=[kp[:, 0].min() - pad, kp[:, 0].max() + pad],
                              yaxis_range=[kp[:, 1].max() + pad, kp[:, 1].min() - pad], yaxis_autorange=None)
    if T > 1:
        anim = dict(mode="immediate", frame=dict(duration=80, redraw=True), transition=dict(duration=0))
        fig.update_layout(
            updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.02, xanchor="left", yanchor="top",
                              buttons=[dict(label="▶ play", method="animate",
                                            args=[None, dict(anim, fromcurrent=True)]),
                                       dict(label="❚❚ pause", method="animate",
                                            args=[[None], dict(anim, frame=dict(duration=0, redraw=False))])])],
            sliders=[dict(active=0, x=0.12, len=0.88, y=-0.02, yanchor="top", currentvalue=dict(prefix="frame: "),
                          steps=[dict(label=data.labels[t], method="animate", args=[[str(t)], anim])
                                 for t in range(T)])],
        )
    return fig


def figure_html(fig, num_frames: int) -> str:
    """The page: plotly.js embedded (no network), and a ``weakpose-view`` element that states the
    number of frames (read by tests and scripts)."""
    html = fig.to_html(include_plotlyjs=True, full_html=True, div_id="weakpose-view",
                       config=dict(displaylogo=False, responsive=True))
    meta = f'<div id="weakpose-meta" data-frames="{num_frames}" style="display:none"></div>'
    return html.replace("<head>", "<head>\n" + _INTERRUPTED_ANIMATION_GUARD, 1).replace("<body>", "<body>\n" + meta, 1)


#: plotly.js rejects the promise of an animation that a newer one interrupts (a slider drag, or a
#: click while playing) with ``undefined``, which browsers report as an uncaught error; this
#: handler drops exactly those rejections and lets every other error through.
_INTERRUPTED_ANIMATION_GUARD = """<script>
window.addEventListener("unhandledrejection", function (e) { if (e.reason === undefined) e.preventDefault(); });
</script>"""


def select_frames(n: int, max_frames: int) -> np.ndarray:
    """At most ``max_frames`` evenly spaced rows of ``n`` (all when ``n ≤ max_frames``)."""
    if max_frames < 1:
        raise InputError(f"command line: --max-frames must be ≥ 1, got {max_frames}")
    if n <= max_frames:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_frames).round().astype(int))


def load_view_data(pred_path: str | Path, images: list[str | Path] | None = None, video: str | Path | None = None,
                   max_frames: int = 150) -> ViewData:
    """Read a prediction file (and its photos or video) into what the page shows."""
    from weakpose.inference.detect import iter_video
    from weakpose.vision.photos import read_image

    pred_path = Path(pred_path)
    arrays = load_prediction_frames(pred_path)
    pos = arrays["positions_3d"]
    n = len(pos)
    kp = arrays.get("keypoints_2d")
    if kp is not None and np.shape(kp) != (n, 17, 2):
        raise InputError(f"{pred_path}: key 'keypoints_2d': shape {np.shape(kp)}, expected [{n}, 17, 2]")
    rows = select_frames(n, max_frames)
    frame_index = np.asarray(arrays.get("frame_index", np.arange(n))).reshape(-1)
    if len(frame_index) != n:
        raise InputError(f"{pred_path}: key 'frame_index': {len(frame_index)} entries for {n} poses")
    pics: list[np.ndarray | None] = [None] * len(rows)
    if images:
        if len(images) not in (1, n) or (len(images) == 1 and n != 1):
            raise InputError(f"{images[0]}: {len(images)} image(s) given for {n} poses in {pred_path}")
        pics = [read_image(images[int(r)]) for r in rows]
    elif video is not None:
        wanted = {int(frame_index[r]): k for k, r in enumerate(rows)}
        _, frames = iter_video(video, max(wanted) + 1)
        for f, img in enumerate(frames):
            if f in wanted:
                pics[wanted[f]] = img
        missing = [f for f, k in wanted.items() if pics[k] is None]
        if missing:
            raise InputError(f"{video}: has no frame {missing[0]} (key 'frame_index' of {pred_path})")
    times = arrays.get("timestamp")
    labels = [f"{int(frame_index[r])}" + (f" ({float(times[r]):.2f} s)" if times is not None else "") for r in rows]
    if images:
        labels = [Path(images[int(r)] if len(images) > 1 else images[0]).name for r in rows]
    hyp = arrays.get("hypotheses")
    return ViewData(
        positions_3d=pos[rows], keypoints_2d=None if kp is None else np.asarray(kp, np.float64)[rows],
        guessed=guessed_joints(arrays)[rows], hypotheses=None if hyp is None else hyp[rows], labels=labels,
        images=pics,
    )


def write_view(pred_path: str | Path, out: str | Path, images: list[str | Path] | None = None,
               video: str | Path | None = None, max_frames: int = 150, max_image_side: int = 360) -> Path:
    """Build the page of a prediction file and write it atomically; returns its path."""
    from weakpose.atomic import write_text_atomic

    data = load_view_data(pred_path, images, video, max_frames)
    html = figure_html(build_figure(data, max_image_side), len(data.positions_3d))
    return write_text_atomic(out, html)


def view_command(args) -> int:
    """``weakpose view`` (see module docstring)."""
    if args.image and args.video:
        raise InputError("command line: view takes --image or --video, not both")
    out = write_view(args.prediction, args.out, args.image, args.video, args.max_frames, args.image_size)
    size = out.stat().st_size / 1e6
    print(f"wrote {out} ({size:.1f} MB, opens offline in a browser)")
    return 0


__all__ = ["ViewData", "build_figure", "figure_html", "guessed_joints", "load_view_data", "write_view",
           "view_command", "select_frames"]
