"""Image methods train from image files on disk: a 2D file with `image_path` (and `box`), here a
folder of rendered people written by `weakpose render --folder`."""

import shutil

import numpy as np
import pytest
import torch

from weakpose.cli import main
from weakpose.data.image_files import ImageFiles
from weakpose.errors import InputError
from weakpose.vision.crops import apply_affine, person_box
from weakpose.vision.photos import read_image


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("rendered_photos")
    assert main(["render", "--rig", "wild", "--num", "16", "--views", "1", "--size", "96", "--seed", "1",
                 "--folder", str(out)]) == 0
    return out


def _blacked_out(folder, dest):
    """A copy of the folder whose photos are all black (same 2D file)."""
    shutil.copytree(folder, dest)
    for p in dest.glob("*.png"):
        from weakpose.rendering.sheet import save_png

        save_png(np.zeros_like(read_image(p)), p)
    return dest / "2d.npz"


def test_image_files_read_photos_from_disk(folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                      # image paths are relative to the 2D file's folder
    z = dict(np.load(folder / "2d.npz"))
    assert len(list(folder.glob("image_*.png"))) == 16 and z["image_path"][0] == "image_00000.png"
    files = ImageFiles(folder / "2d.npz")
    crops = files.crops(np.array([3, 5]), 64)
    assert files.reads == 2 and crops.rgb.shape == (2, 64, 64, 3)
    expected = apply_affine(z["keypoints_2d"][[3, 5]].astype(np.float64), crops.crop)
    np.testing.assert_allclose(crops.keypoints.numpy(), expected, atol=1e-3)
    # the person fills the crop as in training: the box's larger side covers 75 % of it
    box = apply_affine(z["box"][[3, 5]].reshape(2, 2, 2).astype(np.float64), crops.crop)
    assert np.allclose(np.abs(box[:, 1] - box[:, 0]).max(-1), 0.75 * 64, atol=1e-3)
    # without a box, the box of the labelled joints (the rule of the rendered crops)
    np.savez(tmp_path / "nobox.npz", **{k: v for k, v in z.items() if k not in ("box", "image_path")},
             image_path=np.array([str(folder / p) for p in z["image_path"]]))
    expected = person_box(z["keypoints_2d"].astype(np.float64), z["confidence"])
    np.testing.assert_allclose(ImageFiles(tmp_path / "nobox.npz").boxes, expected, atol=1e-3)
    # bad files: one-line errors before anything trains
    np.savez(tmp_path / "nopath.npz", keypoints_2d=z["keypoints_2d"])
    with pytest.raises(InputError, match="key 'image_path'"):
        ImageFiles(tmp_path / "nopath.npz")
    np.savez(tmp_path / "missing.npz", keypoints_2d=z["keypoints_2d"], image_path=np.array(["nope.png"] * 16))
    with pytest.raises(InputError, match=r"key 'image_path': 1 image file\(s\) not found, e.g. nope.png"):
        ImageFiles(tmp_path / "missing.npz")


def test_multiview_image_variant_trains_from_the_files(folder, tmp_path, root):
    """`images=FILE` replaces the rendered 2D-labelled images: the photos are read, and their
    content drives L_H (the same step on blacked-out copies of the photos gives another loss)."""
    from weakpose.methods.multiview.method import METHOD as MULTIVIEW
    from weakpose.methods.multiview.method import MultiviewConfig

    def step(images):
        c = MultiviewConfig(variant="image", supervision="ws", backbone="resnet-tiny", steps=2, labelled_batch=8,
                            batch_size=2, unlabeled_pool=2, pretrain_steps=0, pseudo_tau=0.0, monitor_instants=2,
                            images=str(images))
        torch.manual_seed(0)
        m = MULTIVIEW(c, root)
        out = [m.train_step(i) for i in range(2)]
        return m, out, m.labelled_batch()[0]

    m, out, rgb = step(folder / "2d.npz")
    assert m.labelled_files is not None and m.labelled_files.reads > 0
    assert all(np.isfinite(v) for s in out for v in s.values())
    _, dark, dark_rgb = step(_blacked_out(folder, tmp_path / "dark"))
    # the network's 2D-labelled input is the photos (black copies give black input) ...
    assert rgb.mean() > 0.1 and dark_rgb.abs().max() == 0
    # ... and the training loss after a step depends on them
    assert abs(dark[1]["train/lh"] - out[1]["train/lh"]) > 1e-3 * abs(out[1]["train/lh"]), (dark, out)
    with pytest.raises(InputError, match="images"):
        MULTIVIEW(MultiviewConfig(images=str(folder / "2d.npz")), root)


def test_2d_pretraining_on_the_files_beats_the_mean_pose(folder):
    """The 2D pre-training (methods.multiview.pretrain) on 16 photos from disk for 100 steps: on those
    photos' crops its 2D error beats the mean-pose baseline (the mean of their crop-space 2D).
    Measured: 11.6 px untrained, 5.39 px baseline, 2.24 px after 100 steps."""
    from weakpose.methods.multiview.pretrain import Train2DConfig, evaluate_2d, train_heatmap_model

    files = ImageFiles(folder / "2d.npz")
    crops = files.crops(np.arange(len(files)), 64)
    visible = torch.ones(len(files), 17, dtype=torch.bool)
    baseline = (crops.keypoints.mean(0, keepdim=True) - crops.keypoints).norm(dim=-1).mean().item()
    torch.manual_seed(0)
    res = train_heatmap_model(Train2DConfig(backbone="resnet-tiny", crop_size=64, batch=16, steps=100, lr=2e-3,
                                            augment=False, log_every=100), None, images=files)
    err = evaluate_2d(res.model, crops.rgb, crops.keypoints, visible)["mean_px"]
    assert err < 0.6 * baseline, (err, baseline)
