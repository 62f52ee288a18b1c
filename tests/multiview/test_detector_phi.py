"""Multi-view training on detected 2D (tracklets, --train-multiview): phi of L_MC / L_B is the
detector confidence (Iqbal et al. Eq. 8, 11), missing joints never contribute, and tracklets
alone (tracklet_fraction = 1) train. Both tests failed on the code before this change (phi = 1
for detections, L_2D pulled towards (0, 0); IndexError with tracklet_fraction = 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from weakpose.data.benchmark import make_split
from weakpose.data.contracts import save_npz_atomic
from weakpose.data.paths import data_root
from weakpose.methods.multiview.method import MultiviewConfig, MultiviewMethod
from weakpose.methods.multiview.tracklets import TrackletSet

pytestmark = pytest.mark.skipif(not (data_root() / "cmu").is_dir(), reason="shared data not available")


@pytest.fixture(scope="module")
def tracklet_file(tmp_path_factory):
    """A tracklet file (the layout `weakpose tracklets` writes): the 4 wild views of a frame are
    the frames of one tracklet, with the benchmark's detector noise (confidences < 1, missing joints)."""
    s = make_split(data_root(), (1, 3, 5, 6, 7, 8), "wild", "detector", seed=2, stride=200, multiview=True)
    F, C = s["keypoints_2d"].shape[:2]
    path = tmp_path_factory.mktemp("t") / "tracklets.npz"
    save_npz_atomic(path, keypoints_2d=s["keypoints_2d"].reshape(F * C, 17, 2),
                    confidence=s["confidence"].reshape(F * C, 17), intrinsics=s["intrinsics"].reshape(F * C, 3, 3),
                    tracklet=np.repeat(np.arange(F), C), frame_index=np.tile(np.arange(C), F))
    return path


def _method(path, **kw):
    torch.manual_seed(0)
    cfg = MultiviewConfig(steps=4, batch_size=8, width=32, blocks=1, stride=500, tracklets=str(path), **kw)
    return MultiviewMethod(cfg, data_root())


def test_tracklets_alone_train(tracklet_file):
    m = _method(tracklet_file, tracklet_fraction=1.0)
    for step in range(3):
        scalars = m.train_step(step)
    assert np.isfinite(scalars["train/total"]) and scalars["train/lmc"] > 0


def test_missing_detected_joints_never_contribute(tracklet_file):
    from weakpose.methods.multiview.data import detections_batch

    m = _method(tracklet_file, tracklet_fraction=1.0)
    m.net.eval()                                   # no dropout: equal inputs give equal outputs
    kp, conf, K = TrackletSet.load(tracklet_file).sample(np.random.default_rng(0), 6, 4)
    kp[:, 0, 12], conf[:, 0, 12] = 0.0, 0.0        # the left elbow of view 0 is missing ...
    conf[:, 2] = np.where(conf[:, 2] > 0, 0.4, 0)  # ... and view 2 is unsure
    with torch.no_grad():
        base = m.losses(detections_batch(kp.copy(), conf, K))
        moved = kp.copy()
        moved[:, 0, 12] = (700.0, 300.0)           # where a missing joint "is" carries no information
        again = m.losses(detections_batch(moved, conf, K))
        for k in ("l2d", "lmc", "lb"):
            assert torch.allclose(base[k], again[k]), k
        # phi is the detector's confidence: making view 2 sure changes the weighted terms
        sure = conf.copy()
        sure[:, 2] = np.where(conf[:, 2] > 0, 1.0, 0)
        assert not torch.allclose(base["lmc"], m.losses(detections_batch(kp.copy(), sure, K))["lmc"])


def first_training_batch(batch_size: int):
    """A small default multiview method and the batch its first training step passes to its losses."""
    torch.manual_seed(0)
    m = MultiviewMethod(MultiviewConfig(steps=4, batch_size=batch_size, width=32, blocks=1, stride=500), data_root())
    seen = []
    real_losses = m.losses
    m.losses = lambda batch: seen.append(batch) or real_losses(batch)
    m.train_step(0)
    del m.losses                                   # the method's own losses again
    return m, seen[0]


def test_default_cmu_samples_are_detections_with_confidence_as_phi():
    """The default `train multiview` (labels = "detector", Iqbal et al. §3.3): every view of the
    CMU-WS multi-view samples is detector-like 2D, which is input and 2D label at once, and phi of
    L_MC / L_B is its confidence (0 = missing: no contribution). Failed before this change (the
    default reconstructed from exact projections with phi = 1)."""
    assert MultiviewConfig().labels == "detector"
    m, batch = first_training_batch(batch_size=16)
    assert batch.label_confidence is not None
    seen_in = batch.confidence > 0
    assert np.array_equal(batch.label_confidence[seen_in], batch.confidence[seen_in])  # phi = detector confidence
    assert np.array_equal(batch.labels_2d[seen_in], batch.keypoints_2d[seen_in])      # no exact labels reach the losses
    assert (batch.label_confidence < 1).all(axis=-1).any()              # every view is detector-like
    m.net.eval()
    with torch.no_grad():
        base = m.losses(batch)
        # phi enters L_MC and L_B: the same 2D with confidence 1 gives other weighted terms
        sure = batch.__class__(**{**batch.__dict__, "label_confidence": np.where(batch.confidence > 0, 1.0, 0.0)
                                  .astype(np.float32)})
        again = m.losses(sure)
        assert not torch.allclose(base["lmc"], again["lmc"])
        assert not torch.allclose(base["lb"], again["lb"])
        # a missing joint (phi 0) contributes to no term wherever its coordinates lie
        kp = batch.keypoints_2d.copy()
        conf = batch.confidence.copy()
        kp[:, 1, 13], conf[:, 1, 13] = 0.0, 0.0
        from weakpose.methods.multiview.data import detections_batch
        a = m.losses(detections_batch(kp, conf, batch.intrinsics))
        moved = kp.copy()
        moved[:, 1, 13] = (650.0, 280.0)
        b = m.losses(detections_batch(moved, conf, batch.intrinsics))
        for k in ("l2d", "lmc", "lb"):
            assert torch.allclose(a[k], b[k]), k


def test_exact_label_option_keeps_the_annotated_2d_setting():
    """labels = "exact": the losses reconstruct from the exact projections with phi = 1."""
    m = MultiviewMethod(MultiviewConfig(labels="exact", steps=4, batch_size=8, width=32, blocks=1, stride=500),
                        data_root())
    seen = []
    real_losses = m.losses
    m.losses = lambda batch: seen.append(batch) or real_losses(batch)
    m.train_step(0)
    assert seen[0].label_confidence is None and not np.array_equal(seen[0].labels_2d, seen[0].keypoints_2d)


def test_detected_joints_hidden_from_the_input_teach_the_2d_estimate_missing_joints():
    """With detections as the 2D labels a joint the detector missed has no target, so the 2D
    estimate never learned to place missing joints (103 px on the det2d test file's missing
    joints vs 39 px with exact labels). The default hides detected limb ends from the input
    (input_mask = the detector's missing rate) and keeps them as targets. Failed before this
    change (input and labels were the same detections: no joint was missing in the input only)."""
    from weakpose.data.noise import DETECTOR_NOISE
    from weakpose.methods.multiview.data import MultiViewBatch, mask_detected_joints
    from weakpose.skeleton import LIMB_END_JOINTS

    m, batch = first_training_batch(batch_size=64)
    hidden = (batch.confidence == 0) & (batch.label_confidence > 0)
    assert hidden.any()
    assert hidden[..., [j for j in range(17) if j not in LIMB_END_JOINTS]].sum() == 0   # only limb ends
    assert (batch.keypoints_2d[hidden] == 0).all()                                      # as the detector drops them
    # the hidden joints are targets of L_2D: moving their label changes it, moving their input does not
    m.net.eval()
    with torch.no_grad():
        base = m.losses(batch)
        labels = batch.labels_2d.copy()
        labels[hidden] += 40.0
        moved = m.losses(MultiViewBatch(batch.keypoints_2d, batch.confidence, labels, batch.intrinsics, None, None,
                                           label_confidence=batch.label_confidence))
        assert moved["l2d"] > base["l2d"]
    # the rate is the detector's missing rate on the detected limb ends; off with prob 0
    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 1000, (4000, 4, 17, 2)).astype(np.float32)
    conf = np.ones((4000, 4, 17), np.float32)
    b = MultiViewBatch(kp, conf, kp, np.eye(3, dtype=np.float32)[None, None].repeat(4000, 0).repeat(4, 1),
                       None, None, label_confidence=conf)
    out = mask_detected_joints(b, rng)
    rate = (out.confidence[..., list(LIMB_END_JOINTS)] == 0).mean()
    assert abs(rate - DETECTOR_NOISE["missing_prob"]) < 0.005
    assert np.array_equal(out.labels_2d, kp) and np.array_equal(out.label_confidence, conf)
    assert (mask_detected_joints(b, rng, 0.0).confidence == 1).all()
