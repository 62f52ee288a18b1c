"""benchmarks/nrsfm_selection.py: per seed, the teacher restart with the best held-out score is kept
and its student (and Weaksup-bs baseline) is the one trained and tested (training and scoring
replaced by stand-ins)."""

import functools
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "nrsfm_selection.py"

# held-out PA-MPJPE of each teacher training seed (restart r of seed s trains with s + 1000 r);
# 1 and 1000 fit the 2D with the wrong depth
TEACHER_VAL = {0: 90.0, 1000: 150.0, 1: 120.0, 1001: 95.0, 2: 92.0, 1002: 91.0}


def fake_train(job: dict) -> str:
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.pt").write_text(json.dumps(job["overrides"]))
    return str(out)


def fake_score(job: dict) -> dict:
    name = Path(job["run"]).name
    if name.startswith("teacher"):
        pa = TEACHER_VAL[int(name.split("_seed")[1].split("_")[0])]
    else:   # a student: 10 % better than its teacher, width 512 1 mm better, β 0.3 1 mm worse
        pa = 0.9 * TEACHER_VAL[int(name.split("_seed")[1].split("_")[0])]
        pa += -1.0 * ("width512" in name) + 1.0 * ("_b0.3" in name) - 0.5 * ("flip_test=true" in job.get("predict", []))
    sc = {"pa": pa, "pa_refl": pa, "mpjpe": pa, "depth": pa}
    files = ("val_gt", "val_detector") if job["holdout"] is not None else \
        ("h36mrig_gt2d", "h36mrig_det2d", "wild_det2d")
    return {f: dict(sc) for f in files}


@pytest.fixture
def selection(monkeypatch):
    spec = importlib.util.spec_from_file_location("nrsfm_selection_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, mod)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "_train", fake_train)
    monkeypatch.setattr(mod, "_score", fake_score)
    return mod


def test_best_restart_per_seed_is_kept_and_distilled(selection, tmp_path):
    r = selection.main(["--out", str(tmp_path), "--jobs", "1", "--teacher-steps", "4000", "--restarts", "2",
                        "--betas", "0.1,0.3", "--student-variants", ";width=512", "--seeds", "0,1,2", "--weaksup",
                        "--predict-variants", ";flip_test=true"])
    assert r["final_runs"]["teacher"] == ["teacher_s4000_seed0_val", "teacher_s4000_seed1001_val",
                                          "teacher_s4000_seed1002_val"]
    assert (r["beta_chosen"], r["student_variant_chosen"]) == (0.1, ["width=512"])
    assert sorted(r["validation_students"]) == ["0.1", "0.1_width512", "0.3"]   # β first, then the variant
    assert r["final_runs"]["student"] == [f"student_{t}_b0.1_width512" for t in r["final_runs"]["teacher"]]
    # the students' teacher and settings are the kept ones
    overrides = json.loads((tmp_path / r["final_runs"]["student"][1] / "model.pt").read_text())
    assert f"teacher={tmp_path / 'teacher_s4000_seed1001_val'}" in overrides and "width=512" in overrides
    # Weaksup-bs: the same kept teachers and student settings, the teacher's depth as hard targets
    assert r["final_runs"]["weaksup"] == [f"weaksup_{t}_width512" for t in r["final_runs"]["teacher"]]
    overrides = json.loads((tmp_path / r["final_runs"]["weaksup"][1] / "model.pt").read_text())
    assert "loss=weaksup" in overrides and f"teacher={tmp_path / 'teacher_s4000_seed1001_val'}" in overrides
    assert r["test_mean_sd"]["teacher"]["h36mrig_gt2d"]["pa"][0] == pytest.approx((90 + 95 + 91) / 3)
    # a prediction-only option is chosen on the held-out subject without retraining and used for the
    # students' (and Weaksup-bs's) test scores, not the teachers'
    assert r["predict_variant_chosen"] == ["flip_test=true"] and sorted(r["validation_predict"]) == [
        "0.1, prediction as trained", "0.1, prediction flip_test=true", "0.1_width512, prediction as trained",
        "0.1_width512, prediction flip_test=true"]
    assert r["test_mean_sd"]["student"]["h36mrig_gt2d"]["pa"][0] == pytest.approx(0.9 * (90 + 95 + 91) / 3 - 1.5)
    md = (tmp_path / "selection.md").read_text()
    assert "teacher_s4000_seed1001_val (kept)" in md and "teacher_s4000_seed1_val |" in md


def test_restarts_must_be_positive(selection, tmp_path):
    with pytest.raises(SystemExit):
        selection.main(["--out", str(tmp_path), "--restarts", "0"])


def fake_score_mirror(job: dict) -> dict:
    """As trained, width 512 is the better student; with test-time mirroring the default width is best."""
    sc = fake_score(job)
    name = Path(job["run"]).name
    if name.startswith("student") and "flip_test=true" in job.get("predict", []):
        for f in sc.values():
            f["pa"] -= 0.5 if "width512" in name else 3.0
    return sc


def test_prediction_option_is_chosen_jointly_with_the_student_variant(selection, tmp_path, monkeypatch):
    monkeypatch.setattr(selection, "_score", fake_score_mirror)
    r = selection.main(["--out", str(tmp_path), "--jobs", "1", "--teacher-steps", "4000", "--restarts", "1",
                        "--betas", "0.1", "--student-variants", ";width=512", "--seeds", "0",
                        "--predict-variants", ";flip_test=true"])
    assert (r["student_variant_chosen"], r["predict_variant_chosen"]) == ([], ["flip_test=true"])
    assert r["final_runs"]["student"] == ["student_teacher_s4000_seed0_val_b0.1"]


# further restarts of the pool test: 2001 passes the criterion but fails the teacher check (backward knees)
POOL_VAL = {**TEACHER_VAL, 2000: 98.0, 2001: 99.0, 3001: 97.0}
KNEES = {2001: 0.45}


def _seed_of(run: str) -> int:
    return int(Path(run).name.split("_seed")[1].split("_")[0])


def fake_score_pool(pool_gain: float, job: dict) -> dict:
    """Teachers as POOL_VAL, students 10 % better than their first teacher, pool students
    ``pool_gain`` mm better still."""
    name = Path(job["run"]).name
    pa = POOL_VAL[_seed_of(name)] * (0.9 if name.startswith("student") else 1.0) - pool_gain * ("+" in name)
    files = ("val_gt", "val_detector") if job["holdout"] is not None else \
        ("h36mrig_gt2d", "h36mrig_det2d", "wild_det2d")
    return {f: {"pa": pa, "pa_refl": pa, "mpjpe": pa, "depth": pa} for f in files}


@pytest.mark.parametrize("pool_gain", [2.0, -2.0])
def test_pool_of_passing_restarts_is_distilled_when_it_wins_on_the_held_out_subject(selection, tmp_path, monkeypatch,
                                                                                 pool_gain):
    """--pool: per seed every restart with criterion <= MM and the knee check passed (further restarts
    while the pool is smaller than --pool-min); the first seed's pool student replaces the
    single-teacher students only if it is better on the held-out subject."""
    monkeypatch.setattr(selection, "_score", functools.partial(fake_score_pool, pool_gain))
    monkeypatch.setattr(selection, "_backward_knees", lambda run, holdout: KNEES.get(_seed_of(run), 0.0))
    r = selection.main(["--out", str(tmp_path), "--jobs", "1", "--teacher-steps", "4000", "--restarts", "2",
                        "--betas", "0.3", "--seeds", "0,1,2", "--pool", "100", "--max-restarts", "4"]
                       + ["--pool-always"] * (pool_gain < 0))
    pools = r["pool"]["teachers"]
    assert pools == {"0": ["teacher_s4000_seed0_val", "teacher_s4000_seed2000_val"],        # 2000: one more restart
                     "1": ["teacher_s4000_seed1001_val", "teacher_s4000_seed3001_val"],     # 2001: knees; 3001 joins
                     "2": ["teacher_s4000_seed1002_val", "teacher_s4000_seed2_val"]}        # two already: no restart
    assert not (tmp_path / "teacher_s4000_seed2002_val").exists()
    assert r["final_runs"]["teacher"] == ["teacher_s4000_seed0_val", "teacher_s4000_seed1001_val",
                                          "teacher_s4000_seed1002_val"]   # best of all restarts, as without --pool
    assert r["pool"]["used"] == (pool_gain > 0)
    if pool_gain > 0:
        assert r["final_runs"]["student"][1] == "student_teacher_s4000_seed1001_val+teacher_s4000_seed3001_val_b0.3"
        overrides = json.loads((tmp_path / r["final_runs"]["student"][1] / "model.pt").read_text())
        assert (f"teacher={tmp_path / 'teacher_s4000_seed1001_val'},{tmp_path / 'teacher_s4000_seed3001_val'}"
                in overrides)
        assert r["final_runs"]["student, one teacher"] == [f"student_{t}_b0.3" for t in r["final_runs"]["teacher"]]
        assert sorted(r["pool"]["test_members"]) == sorted(t for p in pools.values() for t in p)
        member_mean = r["test_per_seed"]["teacher pool (member mean)"][1]["h36mrig_gt2d"]["pa"]
        assert member_mean == pytest.approx((95.0 + 97.0) / 2)
    else:   # not chosen; --pool-always shows them beside the chosen single-teacher students
        assert r["final_runs"]["student"] == [f"student_{t}_b0.3" for t in r["final_runs"]["teacher"]]
        assert r["final_runs"]["student, teacher pool (not chosen)"][1] == \
            "student_teacher_s4000_seed1001_val+teacher_s4000_seed3001_val_b0.3"
        assert "student, one teacher" not in r["final_runs"]
        assert sorted(r["pool"]["test_members"]) == sorted(t for p in pools.values() for t in p)
    assert "Teacher pools" in (tmp_path / "selection.md").read_text()
