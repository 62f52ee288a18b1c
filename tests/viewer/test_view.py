"""``weakpose view``: a self-contained HTML page (plotly.js embedded), checked in headless
Chromium: it loads without errors, has one animation frame per shown pose, and moving the time
slider changes what is drawn."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("plotly", reason="weakpose view needs plotly (extra 'view')")

from weakpose.cli import main  # noqa: E402
from weakpose.data.paths import data_root  # noqa: E402
from weakpose.inference.viewer import build_figure, load_view_data  # noqa: E402

from .browser import chromium_page, errors  # noqa: E402

T = 12
LEGS = [1, 2, 3, 4, 5, 6]


def _prediction(tmp_path, frames=T, hypotheses=3, legs_unseen=True):
    """A walking test-subject sequence in the file layout of ``weakpose predict``."""
    z = np.load(data_root() / "benchmark" / "cmu_test_h36mrig_gt2d.npz")
    rows = np.arange(0, 8 * frames, 8) * 4             # every 8th frame of camera 0
    pos = z["positions_3d"][rows]
    pos = pos - pos[:, :1]
    conf = z["confidence"][rows].copy()
    if legs_unseen:
        conf[:, [2, 3, 5, 6]] = 0.0                     # knees and ankles below the picture
    rng = np.random.default_rng(0)
    arrays = dict(positions_3d=pos, keypoints_2d=z["keypoints_2d"][rows], confidence=conf,
                  frame_index=np.arange(frames), timestamp=np.arange(frames) / 10.0)
    if hypotheses:
        arrays["hypotheses"] = pos[:, None] + rng.normal(0.0, 40.0, (frames, hypotheses, 17, 3))
    path = tmp_path / "pred.npz"
    np.savez(path, **arrays)
    return path


def _trace(fig, name):
    return [t for t in fig.data if t.name == name]


def test_unseen_joints_are_drawn_as_guessed_and_hypotheses_shown(tmp_path):
    data = load_view_data(_prediction(tmp_path))
    assert data.guessed[:, [2, 3, 5, 6]].all() and not data.guessed[:, [0, 1, 4, 7, 8]].any()
    fig = build_figure(data)
    guessed_joints = _trace(fig, "joints (guessed)")[0]
    assert len(guessed_joints.x) == 4                   # knees and ankles
    seen_bones = sum(len(t.x) for t in fig.data if t.name.endswith("(seen)") and t.mode == "lines") // 3
    guessed_bones = len(_trace(fig, "guessed (unseen)")[0].x) // 3
    assert (seen_bones, guessed_bones) == (12, 4)       # 16 bones: the 4 touching an unseen joint are dashed
    assert _trace(fig, "guessed (unseen)")[0].line.dash == "dash"
    assert len(_trace(fig, "3 hypotheses")[0].x) == 3 * 16 * 3
    assert len(fig.frames) == T and len(fig.layout.sliders[0].steps) == T


def test_page_is_self_contained_and_works_in_chromium(tmp_path):
    pred = _prediction(tmp_path)
    out = tmp_path / "view.html"
    assert main(["view", str(pred), "--out", str(out)]) == 0
    html = out.read_text()
    assert "<script src=" not in html and "Plotly.newPlot" in html   # plotly.js is inside the page
    with chromium_page() as (page, messages):
        remote = []                                     # no request may leave the machine at view time
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else remote.append(r.url))
        page.goto(out.as_uri())
        page.wait_for_function("document.getElementById('weakpose-view') "
                               "&& document.getElementById('weakpose-view')._fullLayout",
                               timeout=60_000)
        page.wait_for_timeout(500)
        n_frames = page.evaluate("document.getElementById('weakpose-view')._transitionData._frames.length")
        n_steps = page.evaluate("document.getElementById('weakpose-view')._fullLayout.sliders[0].steps.length")
        assert (n_frames, n_steps) == (T, T)
        assert page.get_attribute("#weakpose-meta", "data-frames") == str(T)
        before = page.screenshot()
        rail = page.locator(".slider-rail-rect").bounding_box()
        page.mouse.click(rail["x"] + 0.9 * rail["width"], rail["y"] + rail["height"] / 2)
        page.wait_for_timeout(1000)
        after = page.screenshot()
        active = page.evaluate("document.getElementById('weakpose-view')._fullLayout.sliders[0].active")
        assert active > T // 2
        assert before != after
        assert errors(messages) == [], messages
        assert remote == []


def test_photo_page_embeds_the_picture(tmp_path):
    from PIL import Image

    pred = _prediction(tmp_path, frames=1, hypotheses=0)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((600, 400, 3), 200, np.uint8)).save(photo)
    out = tmp_path / "photo.html"
    assert main(["view", str(pred), "--image", str(photo), "--out", str(out), "--image-size", "200"]) == 0
    html = out.read_text()
    assert html.count("jpeg;base64,") == 1              # the photo, JPEG-encoded inside the page
    fig = build_figure(load_view_data(pred, [photo]), max_image_side=200)
    assert fig.frames == () and not fig.layout.sliders
    img = [t for t in fig.data if t.type == "image"][0]
    # the 2D keypoints are scaled with the downscaled picture (600 px -> 200 px)
    kp = [t for t in fig.data if t.name == "2D joints"][0]
    z = np.load(pred)
    assert np.isclose(max(kp.y), z["keypoints_2d"][0][z["confidence"][0] > 0, 1].max() / 3, atol=1e-3)
    assert img.source.startswith("data:image/jpeg;base64,")


def test_bad_prediction_file_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, keypoints_2d=np.zeros((2, 17, 2)))
    out = tmp_path / "v.html"
    assert main(["view", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {bad}: key 'positions_3d': missing") and "\n" not in err
    assert not out.exists()
