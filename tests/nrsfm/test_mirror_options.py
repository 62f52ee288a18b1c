"""The distillation's mirror options (not in the paper): ``flip_distill`` (Eq. 15 averaged over a
batch and its left-right mirror image) and ``flip_test`` (predictions averaged with the mirrored
input's), and the mirror helpers they share."""

import pytest
import torch

from weakpose.data.paths import data_root
from weakpose.engine.config import resolve_config
from weakpose.errors import InputError
from weakpose.methods.nrsfm.codec import knee_chirality, mirror_keypoints, mirror_poses
from weakpose.methods.nrsfm.distill import DistillConfig, KeypointDistillMethod, StudentPredictor
from weakpose.methods.nrsfm.keypoint_student import KeypointStudent
from weakpose.training import train

TINY = ["stride=24", "eval_every=0", "checkpoint_every=100000", "monitor_samples=64", "calibration_samples=256"]


def _poses(n=32, seed=0):
    return torch.randn(n, 17, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_mirror_helpers_commute_with_projection_and_keep_the_knee_rule():
    x = _poses()
    mask = (torch.rand(32, 17, generator=torch.Generator().manual_seed(1)) > 0.2).double()
    wm, mm = mirror_keypoints(x[..., :2], mask)
    assert torch.equal(wm, mirror_poses(x)[..., :2])                         # image of the mirrored pose
    assert torch.equal(mirror_poses(mirror_poses(x)), x) and torch.equal(mirror_keypoints(wm, mm)[1], mask)
    assert torch.equal(mm[:, [4, 5, 6]], mask[:, [1, 2, 3]]) and torch.equal(mm[:, 0], mask[:, 0])
    # a mirrored human (left and right swapped) is a proper human: its knees bend the same way
    assert torch.allclose(knee_chirality(mirror_poses(x)), knee_chirality(x), atol=1e-12)


@pytest.mark.parametrize("flip_test", [True, False])
def test_flip_test_makes_the_predictor_mirror_equivariant(flip_test):
    torch.manual_seed(0)
    net = KeypointStudent(17, 64, 1, 0.0)
    pred = StudentPredictor(net, 0, 1.0, torch.ones(16).numpy(), flip_test=flip_test)
    w = _poses()[..., :2].float()
    w = w - w[:, :1]
    mask = torch.ones(32, 17)
    wm, mm = mirror_keypoints(w, mask)
    a, b = pred.normalised_poses(w, mask), mirror_poses(pred.normalised_poses(wm, mm))
    assert torch.allclose(a[..., :2], w - w[:, :1])                           # observed 2D kept
    gap = (a - b).abs().max().item()
    assert (gap < 1e-5) if flip_test else (gap > 1e-3), gap


@pytest.fixture(scope="module")
def method_factory(tiny_teacher):
    def make(*overrides):
        config = resolve_config(DistillConfig, None, TINY + [f"teacher={tiny_teacher}", "width=64", *overrides])
        return KeypointDistillMethod(config, data_root())
    return make


def test_flip_distill_averages_eq15_over_the_mirror_image_and_is_mirror_symmetric(method_factory):
    plain, flip = method_factory(), method_factory("flip_distill=true")
    w, mask = plain.w[:64], plain.mask[:64]
    pred = torch.randn(64, 17, 3, generator=torch.Generator().manual_seed(2)) * 0.2
    wm, mm = mirror_keypoints(w, mask)
    predm = mirror_poses(pred)

    def loss(m, *args):
        return m.objective(*args)["loss"].item()

    assert loss(flip, pred, w, mask) == pytest.approx(0.5 * (loss(plain, pred, w, mask) + loss(plain, predm, wm, mm)),
                                                      rel=1e-6)
    # the option's objective does not change under mirroring; the paper's does (the teacher is not
    # mirror-equivariant), which is what the option averages out
    assert loss(flip, predm, wm, mm) == pytest.approx(loss(flip, pred, w, mask), rel=1e-6)
    assert abs(loss(plain, predm, wm, mm) - loss(plain, pred, w, mask)) > 1e-3 * loss(plain, pred, w, mask)


def test_mirror_options_refused_where_they_do_not_apply(tiny_teacher, tmp_path):
    with pytest.raises(InputError, match="flip_test"):
        train("distill", tmp_path / "img", overrides=TINY + [f"teacher={tiny_teacher}", "variant=image", "steps=1",
                                                            "flip_test=true"], progress=False)
    assert not (tmp_path / "img" / "model.pt").exists()
