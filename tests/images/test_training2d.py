import torch

from weakpose.data.mocap import TEST_SUBJECTS
from weakpose.data.paths import data_root
from weakpose.methods.multiview.pretrain import Train2DConfig, evaluate_2d, render_test_set, train_heatmap_model
from weakpose.models.heatmap_net import build_heatmap_net


def test_short_training_on_rendered_crops_reduces_test_subject_error():
    """80 steps on training-subject renders must cut the 2D error on test-subject renders
    (subjects 2, 9) by at least 40 % relative to the untrained network."""
    test = render_test_set(data_root(), 48, 32, subjects=TEST_SUBJECTS)["h36m"]
    torch.manual_seed(0)
    before = evaluate_2d(build_heatmap_net("resnet-tiny"), *test)["mean_px"]
    cfg = Train2DConfig(backbone="resnet-tiny", crop_size=32, batch=16, steps=80, lr=3e-3, sigma=1.0, log_every=40)
    res = train_heatmap_model(cfg, data_root())
    after = evaluate_2d(res.model, *test)["mean_px"]
    assert [e["step"] for e in res.log] == [40, 80]
    assert after < 0.6 * before, (before, after)
