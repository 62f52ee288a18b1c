"""`weakpose train composite` (issue 17) at tiny size: every term alone, gradients, additivity,
a short run against the depth-less baseline, config errors and training-subject monitoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from weakpose.baselines import depthless_poses
from weakpose.data.contracts import InputError
from weakpose.data.paths import data_root
from weakpose.methods.composite.config import TERMS, CompositeConfig
from weakpose.methods.composite.data import draw_batch, training_sources
from weakpose.methods.composite.method import CompositeMethod, active_terms
from weakpose.methods.composite.objective import CompositeObjective
from weakpose.metrics import mpjpe

OFF = {"w2d": 0.0, "w_mc": 0.0, "w_mmd": 0.0, "w_flow": 0.0, "w_distill": 0.0, "w_sup": 0.0}
WEIGHT_KEY = {"2d": "w2d", "mc": "w_mc", "mmd": "w_mmd", "flow": "w_flow", "distill": "w_distill", "sup": "w_sup"}
TINY = {"stride": 40, "width": 64, "blocks": 1, "dropout": 0.0, "batch_size": 16, "mv_batch_size": 4,
        "teacher_steps": 20, "flow_fit_steps": 20, "flow_hidden": 32, "flow_steps": 2, "critic_pose_width": 32,
        "critic_kcs_width": 32, "monitor_samples": 64, "paired": "cmu-train"}


@pytest.fixture(scope="module")
def sources():
    return training_sources(data_root(), CompositeConfig(**TINY))


@pytest.fixture(scope="module")
def full(sources):
    torch.manual_seed(0)
    m = CompositeMethod(CompositeConfig(**TINY, w_sup=5.0), data_root(), training_data=sources)
    m.run_phases_before_training()
    m.prepare_lifter_training()
    return m


def single_term_config(term: str) -> CompositeConfig:
    return CompositeConfig(**(TINY | OFF | {WEIGHT_KEY[term]: 1.0}))


def test_all_sources_make_every_term_active(full):
    assert full.active == set(TERMS)
    assert full.data.present() == {"single_2d", "multiview_2d", "unpaired_3d", "paired"}
    # the weak sources hold no 3D: only the paired one does
    assert full.data.single_2d.positions_3d is None
    assert all(e["positions_3d"] is None and e["rotations"] is None for e in full.data.multiview_2d.sets)


@pytest.mark.parametrize("term", TERMS)
def test_each_term_alone_trains_and_its_gradient_reaches_the_lifter(term, sources):
    torch.manual_seed(0)
    m = CompositeMethod(single_term_config(term), data_root(), training_data=sources)
    assert m.active == {term}
    m.run_phases_before_training()
    m.prepare_lifter_training()
    batch = draw_batch(m.data, m.config, np.random.default_rng(1), m.parts)
    terms = m.objective.terms(m.objective.lift_batch(batch))
    assert set(terms) == {term, "total"} and torch.isfinite(terms["total"])
    m.lifter.zero_grad()
    terms["total"].backward()
    grads = [p.grad for p in m.lifter.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    # the depth head (first J outputs of the last layer) gets gradient from every term but the 2D one
    head = m.lifter.mlp.head.weight.grad[:17]
    assert (float(head.abs().sum()) > 0) == (term != "2d")
    logs = m.train_step(0)
    assert np.isfinite(logs[f"train/{term}"])


def test_flow_term_with_the_optional_spline_flow_trains(sources):
    """``flow_kind=spline`` puts spline couplings in the composite's flow (it was hard-coded Real-NVP)."""
    from weakpose.methods.flows.priors.flow import SplineCoupling

    torch.manual_seed(0)
    m = CompositeMethod(CompositeConfig(**(TINY | OFF | {"w_flow": 1.0, "flow_kind": "spline"})), data_root(),
                        training_data=sources)
    assert any(isinstance(layer, SplineCoupling) for layer in m.nets["flow"].modules())
    m.run_phases_before_training()
    m.prepare_lifter_training()
    assert np.isfinite(m.train_step(0)["train/flow"])


def test_a_teacher_phase_that_fails_the_knee_check_is_warned_about(sources, capsys):
    """The in-phase teacher gets the same 3D-free check as a ``teacher=RUN`` loaded by distill:
    more than ``max_backward_knees`` of its reconstructions with backward knees is one warning."""
    torch.manual_seed(0)
    m = CompositeMethod(CompositeConfig(**(TINY | OFF | {"w_distill": 1.0})), data_root(), training_data=sources)
    m.run_phases_before_training()
    state = m.teacher_training.predictor_state()
    m.teacher_training.predictor_state = lambda: state | {"backward_knees": 0.9}
    capsys.readouterr()
    m.prepare_lifter_training()
    err = capsys.readouterr().err
    assert "warning: [composite] teacher phase: 90 % of the teacher's reconstructions" in err


def test_terms_whose_source_is_absent_are_off():
    cfg = CompositeConfig(**TINY)
    assert active_terms(cfg, {"single_2d"}) == {"2d", "distill"}
    assert active_terms(cfg, {"multiview_2d", "unpaired_3d"}) == {"2d", "mc", "mmd", "flow"}
    assert active_terms(cfg, {"unpaired_3d"}) == set()
    assert "distill" in active_terms(CompositeConfig(**TINY, teacher="run"), {"multiview_2d"})
    assert active_terms(CompositeConfig(**TINY), {"paired"}) == {"2d", "sup"}


def test_composite_equals_the_sum_of_single_term_losses(full):
    for net in full.nets.values():
        net.eval()
    batch = draw_batch(full.data, full.config, np.random.default_rng(2), {"single_2d", "multiview_2d",
                                                                             "unpaired_3d", "paired"})
    obj = full.objective
    with torch.no_grad():
        lifted = obj.lift_batch(batch)
        together = obj.terms(lifted)
        singles = {}
        for term in TERMS:
            alone = CompositeObjective(full.config, obj.lifter, obj.mean_bones_norm, {term}, obj.critic, obj.flow,
                                       obj.template, obj.teacher)
            singles[term] = alone.terms(lifted)
    for term in TERMS:
        assert torch.allclose(singles[term][term], together[term])
    weights = obj.weights()
    assert torch.allclose(together["total"], sum(weights[t] * together[t] for t in TERMS))
    assert torch.allclose(together["total"], sum(s["total"] for s in singles.values()), rtol=1e-5)
    for net in full.nets.values():
        net.train()


@pytest.mark.parametrize("bad", [{"single_2d": "my.npz"}, {"w_mc": -1.0}, {"views": 5}, {"scale_pair": (0, 0)},
                                 {"noise": "heavy"}, {"flow_kind": "glow"}, OFF])
def test_bad_config_is_one_input_error(bad):
    with pytest.raises(InputError):
        CompositeMethod(CompositeConfig(**(TINY | bad)), data_root())


def test_several_teachers_are_refused_with_a_pointer_to_distill():
    with pytest.raises(InputError, match="the composite takes one teacher run"):
        CompositeMethod(CompositeConfig(**TINY, teacher="runs/a,runs/b"), data_root())


def test_monitoring_never_reads_test_files(full, monkeypatch):
    from weakpose.data import contracts

    def refuse(*a, **k):
        raise AssertionError("a test file was read while training")

    monkeypatch.setattr(contracts, "load_benchmark", refuse)
    full._monitor = None
    scores = full.evaluate()
    assert np.isfinite(scores["monitor/pa_mpjpe"])


def test_short_run_without_3d_labels_beats_the_depthless_baseline():
    """2D + multi-view consistency + flow + distillation (the critic is left out for time; its
    gradient is checked above), no 3D label of any training image: 150 tiny steps must beat the
    depth-less reconstruction of the same validation 2D by at least 20 mm MPJPE."""
    torch.manual_seed(0)
    cfg = CompositeConfig(**(TINY | {"paired": "", "width": 128, "batch_size": 32, "mv_batch_size": 8, "steps": 150,
                                     "w_mmd": 0.0,
                                         "teacher_steps": 50, "flow_fit_steps": 100, "noise_fraction": 0.0}))
    m = CompositeMethod(cfg, data_root())
    assert m.active == {"2d", "mc", "flow", "distill"} and m.data.paired is None
    inputs, gt = m.monitor_set()
    flat = float(mpjpe(depthless_poses(inputs, m.mean_bones_mm), gt).mean())
    m.run_phases_before_training()
    for step in range(cfg.steps):
        m.train_step(step)
    m.lifter.eval()
    after = float(mpjpe(m.predictor().predict(inputs)["positions_3d"], gt).mean())
    assert after < flat - 20.0, (flat, after)


def test_flow_fit_standardises_the_noisy_samples_it_trains_on():
    """The flow phase trains on ``data + N(0, noise²)``; its standardisation must be of those samples
    (std = sqrt(var + noise²)), not of the clean data, or low-spread bone directions arrive many
    standard deviations wide (the defect issue 16 fixed in the Zanfir prior)."""
    from weakpose.methods.composite.method import FlowFit
    from weakpose.methods.flows.priors.flow import FlowConfig, NormalizingFlow

    gen = torch.Generator().manual_seed(0)
    data = torch.randn(512, 6, generator=gen) * torch.tensor([0.0, 0.01, 0.1, 0.3, 1.0, 2.0])
    flow = NormalizingFlow(FlowConfig(6, "realnvp", 2, 16, 2, 0))
    noise = 0.05
    FlowFit(flow, data, steps=1, noise=noise, seed=0)
    expected = (data.var(0) + noise**2).sqrt()
    torch.testing.assert_close(flow.standardize.std, expected)
    # what the flow sees in training is then unit-variance per coordinate (not up to 50x wider)
    x = data + noise * torch.randn(data.shape, generator=gen)
    y, _ = flow.standardize(x)
    assert ((y.std(0) - 1).abs() < 0.1).all()
