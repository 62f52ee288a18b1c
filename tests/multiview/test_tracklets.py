"""MannequinChallenge-style tracklets (Iqbal et al. §4.1) from a video of static people seen by a
moving camera (exact projections + the benchmark's detector noise stand in for a detector)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from weakpose.camera import look_at, project
from weakpose.data.contracts import save_npz_atomic
from weakpose.data.mocap import TEST_SUBJECTS, center_horizontally, load_cmu
from weakpose.data.noise import detector_noise
from weakpose.data.paths import data_root
from weakpose.errors import InputError
from weakpose.geometry import reconstruct_from_2p5d
from weakpose.methods.multiview.losses import loss_mc
from weakpose.methods.multiview.tracklets import (
    TrackletSet,
    build_tracklets,
    keep_pose,
    main,
)
from weakpose.vision.tracking import pose_similarity, track

K = np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]])


def test_keep_pose_rule():
    conf = np.ones((4, 17))
    conf[1, :9] = 0.4            # 9 of 17 below tau: more than half -> dropped
    conf[2, :8] = 0.4            # 8 below tau but pelvis (0) among them -> dropped
    conf[3, 1:9] = 0.4           # 8 below tau, includes thorax (8) -> dropped
    assert keep_pose(conf).tolist() == [True, False, False, False]
    conf2 = np.ones(17)
    conf2[1:8] = 0.2             # 7 low, pelvis and thorax fine -> kept
    assert keep_pose(conf2)


def test_similarity_is_one_for_identical_and_small_for_far_poses():
    a = np.random.default_rng(0).normal(500, 50, (17, 2))
    c = np.ones(17)
    assert pose_similarity(a, c, a, c) == pytest.approx(1.0)
    assert pose_similarity(a, c, a + 400, c) < 0.01
    assert pose_similarity(a, c, a, np.zeros(17)) == 0.0


def _write_detections(path, frames, kp, conf, person=None):
    """A detection file as `weakpose detect` writes it (intrinsics K for every frame)."""
    extra = {} if person is None else {"person": person.astype(np.int64)}
    save_npz_atomic(path, keypoints_2d=kp, confidence=conf, frame_index=frames.astype(np.int64),
                    intrinsics=np.broadcast_to(K, (len(frames), 3, 3)).astype(np.float32), **extra)
    return path


def _video(frames: int = 12, seed: int = 0):
    """Two static people (A at the origin, B 1.5 m to the side) filmed by a camera panning on an
    arc of 60 degrees; per-frame detections with detector noise; A is missed in frame 5; B's
    pelvis is unconfident in most frames."""
    rng = np.random.default_rng(seed)
    world = center_horizontally(load_cmu(data_root(), TEST_SUBJECTS).positions[[100, 2000]]).astype(np.float64)
    world[1, :, 0] += 1500.0
    rows = []
    for f in range(frames):
        a = np.deg2rad(60.0 * f / (frames - 1))
        eye = np.array([4000 * np.sin(a), 1500.0, -4000 * np.cos(a)])
        R, t = look_at(eye, np.array([750.0, 1000.0, 0.0]))
        for person in (0, 1):
            if person == 0 and f == 5:
                continue
            cam = world[person] @ R.T + t
            kp, conf = detector_noise(project(cam, K)[None], rng)
            conf = conf[0]
            if person == 1 and f % 4 != 0:
                conf[0] = 0.3
            rows.append((f, person, kp[0], conf, cam))
    order = rng.permutation(len(rows))   # detection order within the file is arbitrary
    rows = [rows[i] for i in order]
    f, who, kp, conf, cam = (np.array([r[i] for r in rows]) for i in range(5))
    return f, who, kp.astype(np.float32), conf.astype(np.float32), cam


def test_tracking_filters_and_keeps_the_static_person():
    f, who, kp, conf, cam = _video()
    ids = track(f, kp, conf)
    for t in np.unique(ids):                       # tracks never mix people
        assert len(set(who[ids == t])) == 1
    kept = build_tracklets(f, kp, conf)
    assert set(np.unique(kept)) == {-1, 0}
    rows = kept == 0
    # A: 12 frames, one missed (the gap is bridged), minus frames whose noisy pose fails the filter.
    expected = (who == 0) & keep_pose(conf)
    assert (who[rows] == 0).all() and rows.sum() == expected.sum() >= 9
    # B never survives: its pelvis is below tau in 3 of 4 frames, leaving 3 < 5 frames.
    assert not rows[who == 1].any()


def test_tracklet_views_are_consistent_multi_view_samples(tmp_path):
    f, who, kp, conf, cam = _video()
    det = _write_detections(tmp_path / "det.npz", f, kp, conf, person=who)
    out = tmp_path / "tracklets.npz"
    assert main(["tracklets", "--input", str(det), "--output", str(out)]) == 0
    ts = TrackletSet.load(out)
    assert len(ts.groups) == 1 and len(ts.groups[0]) == ((who == 0) & keep_pose(conf)).sum()
    kp4, conf4, K4 = ts.sample(np.random.default_rng(0), 3, 4)
    assert kp4.shape == (3, 4, 17, 2) and conf4.shape == (3, 4, 17) and K4.shape == (3, 4, 3, 3)
    # The frames are views of one static pose: with the true relative depths the multi-view
    # consistency loss of the exact projections is ~0 (Eq. 8).
    z = np.load(out)
    rows = ts.groups[0][:4]
    # every stored view is person A's detection of that frame (a tracking mix-up stores B's)
    for r in ts.groups[0]:
        same_frame = np.flatnonzero(f == z["frame_index"][r])
        match = same_frame[(kp[same_frame] == z["keypoints_2d"][r]).all(axis=(1, 2))]
        assert len(match) == 1 and who[match[0]] == 0, (r, who[same_frame])
    person_rows = np.flatnonzero(who == 0)
    order = [person_rows[np.flatnonzero(f[person_rows] == fi)[0]] for fi in z["frame_index"][rows]]
    P = torch.from_numpy(cam[order])
    s = (P[:, 0] - P[:, 8]).norm(dim=-1)
    z_rel = (P[..., 2] - P[:, :1, 2]) / s[:, None]
    pts, _ = reconstruct_from_2p5d(torch.from_numpy(project(cam[order], K)), z_rel, torch.from_numpy(K))
    assert loss_mc(pts[None], torch.ones(1, 4, 17, dtype=pts.dtype)).item() < 1e-6


def test_no_surviving_tracklet_is_an_input_error(tmp_path):
    f, who, kp, conf, cam = _video(frames=4)
    det = tmp_path / "det.npz"
    save_npz_atomic(det, keypoints_2d=kp, confidence=conf, frame_index=f.astype(np.int64))
    assert main(["tracklets", "--input", str(det), "--output", str(tmp_path / "o.npz")]) == 2
    with pytest.raises(InputError):
        TrackletSet.load(det)


def test_training_step_mixes_tracklet_samples(tmp_path):
    """Training from a tracklets file: the tracklet rows of a training batch carry the detector
    confidence as phi of L_MC / L_B (Iqbal et al. Eq. 8, 11), and a missing joint (confidence 0)
    contributes to no term (issue 15: this test never checked phi)."""
    from weakpose.methods.multiview.method import MultiviewConfig, MultiviewMethod

    f, who, kp, conf, cam = _video()
    kp[:, 12], conf[:, 12] = 0.0, 0.0          # the left elbow is never detected
    det = _write_detections(tmp_path / "det.npz", f, kp, conf)
    out = tmp_path / "tracklets.npz"
    assert main(["tracklets", "--input", str(det), "--output", str(out)]) == 0
    torch.manual_seed(0)
    cfg = MultiviewConfig(
        steps=2, batch_size=8, width=32, blocks=1, stride=500, tracklets=str(out), tracklet_fraction=0.5
    )
    m = MultiviewMethod(cfg, data_root())
    drawn, batches, losses = [], [], m.losses
    sample = m.tracklets.sample
    m.tracklets.sample = lambda *a: drawn.append(sample(*a)) or drawn[-1]
    m.losses = lambda batch: batches.append(batch) or losses(batch)
    for step in range(2):
        scalars = m.train_step(step)
    assert np.isfinite(scalars["train/total"]) and scalars["train/lmc"] > 0
    step = next(i for i, d in enumerate(drawn) if 0 < len(d[0]) < cfg.batch_size)   # a mixed batch
    t_kp, t_conf, _ = drawn[step]
    batch, rows = batches[step], slice(cfg.batch_size - len(t_kp), None)
    assert (t_conf < 1).any() and (t_conf[..., 12] == 0).all()
    assert np.array_equal(batch.label_confidence[rows], t_conf)          # phi = detector confidence
    cmu = slice(None, rows.start)                                        # CMU-WS rows (labels=detector):
    seen = batch.confidence[cmu] > 0                                     # (input_mask hides some detected joints)
    assert np.array_equal(batch.label_confidence[cmu][seen], batch.confidence[cmu][seen])  # phi = detector confidence
    assert (batch.confidence[cmu] < 1).any()
    m.net.eval()                                                         # no dropout
    with torch.no_grad():
        base = losses(batch)
        batch.keypoints_2d[rows, :, 12] = batch.labels_2d[rows, :, 12] = (700.0, 300.0)
        moved = losses(batch)
    for k in ("l2d", "lmc", "lb"):
        assert torch.allclose(base[k], moved[k]), k                      # missing joints never contribute
    with pytest.raises(InputError):
        MultiviewMethod(MultiviewConfig(supervision="ws_r", tracklets=str(out)), data_root())


def test_video_input_errors_are_one_line(tmp_path, capsys):
    """`weakpose tracklets --video` on a missing file (or without the detector extra) ends with
    exit code 2, one error line and no output file."""
    out = tmp_path / "t.npz"
    assert main(["tracklets", "--video", str(tmp_path / "missing.mp4"), "--output", str(out)]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "missing.mp4" in lines[0]
    assert not out.exists()
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not a video")
    assert main(["tracklets", "--video", str(clip), "--output", str(out)]) == 2
    assert capsys.readouterr().out.startswith("error:") and not out.exists()
