"""`weakpose predict` and the API with the image-input variants (multi-view image network,
image-input distilled student, flows-ws image network): the person is cropped from a box (given,
from the 2D file, or from the detector's 2D) and the 3D comes back in the photo's camera frame."""

from pathlib import Path

import numpy as np
import pytest
from image_checkpoints import KINDS, image_checkpoint

import weakpose
from weakpose.camera import image_intrinsics
from weakpose.cli import main
from weakpose.data.paths import data_root
from weakpose.rendering.sheet import save_png
from weakpose.vision.crops import person_box


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("image_models")
    return {k: image_checkpoint(k, base / k) for k in KINDS}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two full h36m-rig images (320 px) of test subject 2 saved as PNG, with their true 2D
    (frames 0 and 2 of three: MediaPipe finds the person in both in static-image mode)."""
    from weakpose.rendering.scenes import RenderedMotion, camera_arrays, render_scene

    src = RenderedMotion(data_root(), subjects=(2,), rig="h36m", seed=5)
    K, R, t, wh = camera_arrays(src.cameras)
    frames = src.rng.integers(0, len(src), 3)
    o = render_scene(src.positions[frames], K[:1], R[:1], t[:1], wh[:1], subject=src.subject[frames],
                     seed=5, width=320, height=320).render.numpy()
    folder = tmp_path_factory.mktemp("photos")
    paths = [save_png(o["rgb"][i, 0], folder / f"person{i}.png") for i in (0, 2)]
    return paths, o["joints_2d"][[0, 2], 0].astype(np.float64)


@pytest.mark.parametrize("kind", KINDS)
def test_crop_and_camera_bookkeeping_is_consistent(kind, runs, photos):
    """The same person placed elsewhere on a larger canvas, with the principal point moved with it,
    is the same physical view: the crop is the same, so the 3D must be identical and the network's
    2D (photo px) must move by exactly the offset. Using the crop's camera, or the photo's, in the
    wrong place breaks this."""
    model = weakpose.load(runs[kind])
    assert model.takes_images
    paths, j2d = photos
    img = np.asarray(__import__("PIL.Image", fromlist=["x"]).open(paths[0]).convert("RGB"))
    box = person_box(j2d[0])
    K = image_intrinsics(np.array([[img.shape[1], img.shape[0]]]))[0]
    a = model.lift_image(img, box=box, intrinsics=K)
    dx, dy = 57, 23
    canvas = np.zeros((img.shape[0] + 80, img.shape[1] + 100, 3), np.uint8)
    canvas[dy:dy + img.shape[0], dx:dx + img.shape[1]] = img
    K2 = K.copy()
    K2[0, 2] += dx
    K2[1, 2] += dy
    b = model.lift_image(canvas, box=box + [dx, dy, dx, dy], intrinsics=K2)
    assert a["positions_3d"].shape == (17, 3) and np.isfinite(a["positions_3d"]).all()
    np.testing.assert_allclose(a["positions_3d"][0], 0.0, atol=1e-3)          # root-relative
    assert np.abs(a["positions_3d"]).max() > 1.0                              # not collapsed
    # mm (the multi-view model with the unshifted K is off by 23 mm)
    np.testing.assert_allclose(b["positions_3d"], a["positions_3d"], atol=0.01)
    np.testing.assert_allclose(b["keypoints_2d_predicted"], a["keypoints_2d_predicted"] + [dx, dy], atol=1e-3)
    # the crop is where the box says: its centre maps to the box centre
    T = a["crop"].astype(np.float64)
    centre = np.linalg.solve(T, [(model.predictor.crop_size - 1) / 2] * 2 + [1.0])[:2]
    np.testing.assert_allclose(centre, (box[:2] + box[2:]) / 2, atol=1e-3)
    # an image model needs images; a camera must be [3, 3]
    with pytest.raises(weakpose.InputError, match="image model"):
        model.lift(j2d[0])
    with pytest.raises(weakpose.InputError, match="key 'intrinsics'"):
        model.lift_image(img, box=box, intrinsics=np.eye(4))


@pytest.mark.parametrize("kind", KINDS)
def test_predict_input_file_with_image_paths(kind, runs, photos, tmp_path, capsys):
    """A 2D file with `image_path` (relative to the file) and `box`, as the COCO/MPII converters
    write: the CLI output equals the API's on the same crops; without `box`, the box of the 2D
    keypoints is used; without `image_path` it is a one-line error."""
    paths, j2d = photos
    boxes = person_box(j2d)
    names = np.array([p.name for p in paths])
    twod = paths[0].parent / f"2d_{kind}.npz"
    np.savez(twod, keypoints_2d=j2d, image_path=names, box=boxes, frame_index=np.array([4, 9]))
    out = tmp_path / "p.npz"
    assert main(["predict", "--checkpoint", str(runs[kind]), "--input", str(twod), "--output", str(out)]) == 0
    z = np.load(out)
    assert z["positions_3d"].shape == (2, 17, 3) and z["frame_index"].tolist() == [4, 9]
    np.testing.assert_allclose(z["box"], boxes, atol=1e-3)
    assert "assumed intrinsics" in str(z["frame"])
    model = weakpose.load(runs[kind])
    for i in range(2):
        one = model.lift_image(paths[i], box=boxes[i])
        np.testing.assert_allclose(z["positions_3d"][i], one["positions_3d"], atol=0.01)  # mm; batch of 2 vs 1
        np.testing.assert_allclose(z["keypoints_2d_predicted"][i], one["keypoints_2d_predicted"], atol=1e-3)
    # the API with images= gives the same arrays (one pose with one photo too)
    api = model.lift(j2d, images=paths)
    np.testing.assert_allclose(model.lift(j2d[1], images=paths[1])["positions_3d"], api["positions_3d"][1], atol=0.01)
    np.testing.assert_allclose(api["box"], person_box(j2d), atol=1e-3)
    # no box: the box of the 2D keypoints (here the same joints, so the same prediction)
    np.savez(twod, keypoints_2d=j2d, image_path=names)
    assert main(["predict", "--checkpoint", str(runs[kind]), "--input", str(twod), "--output", str(out)]) == 0
    np.testing.assert_allclose(np.load(out)["positions_3d"], z["positions_3d"], atol=0.01)
    np.testing.assert_allclose(api["positions_3d"], z["positions_3d"], atol=0.01)
    capsys.readouterr()
    np.savez(twod, keypoints_2d=j2d)
    assert main(["predict", "--checkpoint", str(runs[kind]), "--input", str(twod),
                 "--output", str(tmp_path / "x.npz")]) == 2
    assert "key 'image_path'" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()
    np.savez(twod, keypoints_2d=j2d, image_path=names, box=boxes[:, :3])
    assert main(["predict", "--checkpoint", str(runs[kind]), "--input", str(twod),
                 "--output", str(tmp_path / "x.npz")]) == 2
    assert "key 'box'" in capsys.readouterr().err


@pytest.mark.parametrize("kind", KINDS)
def test_predict_image_with_detector_box(kind, runs, photos, tmp_path):
    """`weakpose predict --image` with an image model: MediaPipe's 2D gives the box."""
    pytest.importorskip("mediapipe")
    paths, _ = photos
    out = tmp_path / "p.npz"
    assert main(["predict", "--checkpoint", str(runs[kind]), "--image", str(paths[1]), "--output", str(out)]) == 0
    z = np.load(out)
    assert z["positions_3d"].shape == (1, 17, 3) and np.isfinite(z["positions_3d"]).all()
    np.testing.assert_allclose(z["box"], person_box(z["keypoints_2d"].astype(np.float64), z["confidence"]), atol=1e-3)
    assert z["keypoints_2d_predicted"].shape == (1, 17, 2) and "intrinsics" in z
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    one = weakpose.load(runs[kind]).lift_image(paths[1])
    np.testing.assert_allclose(one["positions_3d"], z["positions_3d"][0], atol=0.01)


def test_predict_video_with_an_image_model(runs, photos, tmp_path):
    pytest.importorskip("mediapipe")
    import cv2

    from weakpose.vision.photos import read_image

    frames = [read_image(photos[0][0]), np.full((320, 320, 3), 90, np.uint8), read_image(photos[0][1])]
    video = tmp_path / "clip.mp4"
    vw = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 320))
    for f in frames:
        vw.write(np.ascontiguousarray(f[..., ::-1]))
    vw.release()
    out = tmp_path / "v.npz"
    assert main(["predict", "--checkpoint", str(runs["multiview"]), "--video", str(video), "--output", str(out)]) == 0
    z = np.load(out)
    assert z["frames_without_person"].tolist() == [1] and z["frame_index"].tolist() == [0, 2]
    assert z["positions_3d"].shape == (2, 17, 3) and z["box"].shape == (2, 4)
    assert Path(out.with_suffix(".gif")).read_bytes()[:3] == b"GIF"
    # without a figure the frames are still kept: the image model crops them (viewer's --no-figure)
    quiet = tmp_path / "quiet.npz"
    assert main(["predict", "--checkpoint", str(runs["multiview"]), "--video", str(video), "--output", str(quiet),
                 "--no-figure"]) == 0
    assert not quiet.with_suffix(".gif").exists()
    np.testing.assert_allclose(np.load(quiet)["positions_3d"], z["positions_3d"], atol=1e-4)
