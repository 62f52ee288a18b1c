"""Training step of the hypotheses trainer: critic updates per step, and the collapse monitor
(restore the last healthy state, then stop clearly)."""

import math

import pytest
import torch

from weakpose.errors import InputError
from weakpose.methods.hypotheses import losses as L
from weakpose.methods.hypotheses.core import CollapseError, HypothesesCore, HypothesesSettings

TINY = dict(width=32, latent_dim=4, critic_pose_width=16, critic_kcs_width=16, batch_size=8, monitor_every=1,
            collapse_warmup=0, collapse_max_restores=2)


def test_collapse_restores_then_stops_with_a_message(root, data):
    core = HypothesesCore(HypothesesSettings(collapse_min_std_mm=0.0, **TINY), root, data=data)
    logs = core.step(0)
    assert "diversity_std_mm" in logs and logs["diversity_std_mm"] > 0 and math.isfinite(logs["mmd2"])
    healthy = {k: v.clone() for k, v in core.net.state_dict().items()}
    core.cfg.collapse_min_std_mm = 1e9  # from now on every check reports a collapse
    logs = core.step(1)
    assert logs["restored"] == 1.0 and core.lr_scale == 0.5
    assert all((core.net.state_dict()[k] == v).all() for k, v in healthy.items())  # back to step 0's state
    core.step(2)
    with pytest.raises(CollapseError, match="collapsed.*diversity STD"):
        core.step(3)


def test_collapse_without_a_healthy_state_stops_at_once(root, data):
    core = HypothesesCore(HypothesesSettings(collapse_min_std_mm=1e9, **TINY), root, data=data)
    with pytest.raises(CollapseError, match="lambda_reg"):
        core.step(0)


def test_critic_steps_updates_the_critic_k_times_per_generator_update(root, data):
    core = HypothesesCore(HypothesesSettings(critic_steps=3, **TINY), root, data=data)
    core.step(0)
    d_steps = {int(s["step"]) for s in core.opt_d.state.values()}
    g_steps = {int(s["step"]) for s in core.opt_g.state.values()}
    assert d_steps == {3} and g_steps == {1}
    with pytest.raises(InputError, match="critic_steps"):
        HypothesesSettings(critic_steps=0).validate()


def test_learning_rate_decays_per_step_not_per_pass_over_the_data(root, data):
    """Issue 16: the decay follows the step count (0.94 per lr_decay_steps), whatever the size of
    the 2D training set; per pass over these 100 poses (12 steps) it would be 0.94^500 by 6k steps."""
    core = HypothesesCore(HypothesesSettings(lr_decay_steps=24000, **TINY), root, data=data)
    assert core._set_lr(0) == pytest.approx(core.cfg.lr)
    assert core._set_lr(6000) == pytest.approx(core.cfg.lr * 0.94 ** 0.25)
    assert core._set_lr(48000) == pytest.approx(core.cfg.lr * 0.94 ** 2)




def test_reflection_aware_critic_adds_the_mirror_terms_to_the_critic_loss(root, data):
    """lambda_mirror (not in the paper; issue 16's depth mirrors): L_D gains
    λ_m (−MMD²(real, mirror(real)) + λ_gp L_gp(real, mirror)) -- Eq. 8-9 with the real poses'
    mirror images as the negatives -- and nothing else changes (same networks, same real-fake terms)."""
    plain = HypothesesCore(HypothesesSettings(seed=0, **TINY), root, data=data)
    aware = HypothesesCore(HypothesesSettings(lambda_mirror=2.0, seed=0, **TINY), root, data=data)
    real, fake = plain.real3d[:16], plain.real3d[16:32] * 1.1
    loss_plain, gp_plain = plain.critic_loss(real, fake)
    loss_aware, gp_aware = aware.critic_loss(real, fake)
    assert torch.equal(gp_plain, gp_aware)
    mirror = L.mirrored_real(real, plain.template)
    cfg = plain.cfg
    mmd_m = L.mmd2_loss(plain.critic_features(real), plain.critic_features(mirror), cfg.kernel_alphas, cfg.dot_weight)
    gp_m = L.witness_gradient_penalty(plain.critic_features, real, mirror, cfg.kernel_alphas, cfg.dot_weight, plain.gen)
    assert mmd_m > 0
    assert float(loss_aware) == pytest.approx(float(loss_plain + 2.0 * (-mmd_m + cfg.lambda_gp * gp_m)), rel=1e-5)
    with pytest.raises(InputError, match="lambda_mirror"):
        HypothesesSettings(lambda_mirror=-1.0).validate()


def test_chirality_input_lets_the_kcs_side_of_the_critic_tell_a_pose_from_its_mirror(root, data):
    """critic_chirality (not in the paper; issue 16): with the pose branch cut off, the paper's
    critic gives a pose and its depth mirror the same features (Ψ = BᵀB is reflection-invariant);
    with the chirality input it does not."""
    real = HypothesesCore(HypothesesSettings(**TINY), root, data=data).real3d[:8]
    mirror = real * torch.tensor([1.0, 1.0, -1.0])
    gaps = {}
    for chirality in (False, True):
        core = HypothesesCore(HypothesesSettings(critic_chirality=chirality, seed=0, **TINY), root, data=data)
        with torch.no_grad():
            core.critic.out.weight[:, :TINY["critic_pose_width"]] = 0.0  # KCS side only
        gaps[chirality] = float((core.critic_features(real) - core.critic_features(mirror)).abs().max())
    assert gaps[False] < 1e-5 < 1e-3 < gaps[True]
