"""Flow invertibility and log-determinants against autograd Jacobians; GMM / VAE sanity."""

import math

import pytest
import torch

from weakpose.methods.flows.priors.flow import (
    AffineCoupling,
    FlowConfig,
    InvertibleLinear,
    InvertiblePReLU,
    NormalizingFlow,
    SplineCoupling,
    latent_log_prob,
)
from weakpose.methods.flows.priors.gmm import GMMPrior
from weakpose.methods.flows.priors.vae import PoseVAE, VAEConfig

try:
    import zuko  # noqa: F401  (optional extra `splines`)
    HAVE_ZUKO = True
except ImportError:
    HAVE_ZUKO = False
needs_zuko = pytest.mark.skipif(not HAVE_ZUKO, reason="the spline flow needs zuko (extra 'splines')")


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _jacobian_logdet(fn, x: torch.Tensor) -> torch.Tensor:
    out = []
    for i in range(x.shape[0]):
        jac = torch.autograd.functional.jacobian(lambda v: fn(v[None])[0][0], x[i])
        out.append(torch.linalg.slogdet(jac)[1])
    return torch.stack(out)


@pytest.mark.parametrize("step_factory", [
    lambda d: InvertibleLinear(d, generator=torch.Generator().manual_seed(1)),
    lambda d: AffineCoupling(d, hidden=16),
    lambda d: InvertiblePReLU(d),
    pytest.param(lambda d: SplineCoupling(d, hidden=16), marks=needs_zuko),
])
def test_step_inverse_and_logdet(step_factory):
    torch.manual_seed(0)
    step = step_factory(7).double()
    _randomise(step)
    x = torch.randn(5, 7, dtype=torch.float64)
    y, logdet = step(x)
    assert torch.allclose(step.inverse(y), x, atol=1e-10)
    assert torch.allclose(logdet, _jacobian_logdet(step, x), atol=1e-8)


@pytest.mark.parametrize("kind", ["realnvp", "prelu", pytest.param("spline", marks=needs_zuko)])
def test_flow_inverse_logdet_and_density(kind):
    flow = NormalizingFlow(FlowConfig(dim=6, kind=kind, steps=3, hidden=16)).double()
    _randomise(flow, seed=3)
    data = torch.randn(50, 6, dtype=torch.float64) * torch.arange(1, 7) + 2.0
    flow.standardize.set_statistics(data)
    x = data[:4]
    z, logdet = flow(x)
    assert torch.allclose(flow.inverse(z), x, atol=1e-9)
    assert torch.allclose(logdet, _jacobian_logdet(flow, x), atol=1e-7)
    assert torch.allclose(flow.log_prob(x), latent_log_prob(z) + logdet)


def test_identity_flow_density_is_standardised_gaussian():
    """A fresh RealNVP flow is linear (couplings start at identity), so its density is Gaussian."""
    flow = NormalizingFlow(FlowConfig(dim=2, steps=1, hidden=8)).double()
    flow.steps[0].log_s.data.zero_()
    flow.steps[0].lower.data.zero_()
    flow.steps[0].upper.data.zero_()  # W = P, a permutation; |det| = 1
    flow.standardize.mean.fill_(1.0)
    flow.standardize.std.fill_(2.0)
    x = torch.tensor([[1.0, 1.0], [3.0, 1.0]], dtype=torch.float64)
    expected = torch.tensor([-math.log(2 * math.pi) - 2 * math.log(2.0),
                             -math.log(2 * math.pi) - 2 * math.log(2.0) - 0.5])
    assert torch.allclose(flow.log_prob(x), expected.double())


def test_flow_rejects_bad_shapes():
    flow = NormalizingFlow(FlowConfig(dim=4, steps=1, hidden=8))
    with pytest.raises(ValueError):
        flow(torch.zeros(3, 5))
    with pytest.raises(ValueError):
        NormalizingFlow(FlowConfig(dim=4, kind="maf"))


def test_flow_maximum_likelihood_learns_a_correlated_gaussian():
    torch.manual_seed(0)
    cov = torch.tensor([[1.0, 0.9], [0.9, 1.0]])
    data = torch.randn(2000, 2) @ torch.linalg.cholesky(cov).T
    true_ll = torch.distributions.MultivariateNormal(torch.zeros(2), cov).log_prob(data).mean()
    flow = NormalizingFlow(FlowConfig(dim=2, steps=2, hidden=16))
    flow.standardize.set_statistics(data)
    opt = torch.optim.Adam(flow.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = -flow.log_prob(data).mean()
        loss.backward()
        opt.step()
    assert float(-loss.detach()) > float(true_ll) - 0.05


def test_gmm_recovers_two_clusters_and_closest_mode_energy():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(300, 2, generator=gen) * 0.1 + torch.tensor([3.0, 0.0])
    b = torch.randn(100, 2, generator=gen) * 0.2 + torch.tensor([-3.0, 1.0])
    gmm = GMMPrior(dim=2, modes=2)
    history = gmm.fit(torch.cat([a, b]), iterations=20)
    assert history[-1] >= history[0] - 1e-9
    order = torch.argsort(gmm.means[:, 0])
    assert torch.allclose(gmm.means[order], torch.tensor([[-3.0, 1.0], [3.0, 0.0]]), atol=0.05)
    assert torch.allclose(torch.exp(gmm.log_weights[order]), torch.tensor([0.25, 0.75]), atol=1e-3)
    x = torch.tensor([[3.0, 0.0]])
    # closest mode at its mean: -log w - log N(mu; mu, Σ) = -log .75 + 0.5 log det(2πΣ)
    k = order[1]
    expected = -math.log(0.75) + 0.5 * (float(gmm.log_det_cov[k]) + 2 * math.log(2 * math.pi))
    assert abs(float(gmm.energy(x)) - expected) < 0.02
    assert float(gmm.log_prob(x)) >= -float(gmm.energy(x)) - 1e-6  # mixture ≥ its largest term
    assert gmm.sample(10, torch.Generator().manual_seed(1)).shape == (10, 2)


def test_vae_log_prob_is_finite_and_training_reduces_loss():
    torch.manual_seed(0)
    data = torch.randn(256, 3) @ torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.2]])
    vae = PoseVAE(VAEConfig(dim=3, latent=2, hidden=32, dropout=0.0, kl_weight=1.0))
    vae.set_statistics(data)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    first = None
    for _ in range(200):
        opt.zero_grad()
        loss, _ = vae.loss(data)
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss.detach()) < first - 0.5
    ll = vae.log_prob(data[:8], samples=16)
    assert torch.isfinite(ll).all() and float(ll.mean()) > -float(loss.detach()) - 0.5


def test_standardisation_sees_the_training_noise_so_zero_spread_coordinates_arrive_at_unit_scale():
    """Issue 16: a coordinate without spread in the clean data (a 1-DOF knee/elbow axis) was
    standardised by a std clamped to 1e-3 while training adds 0.05 noise: inputs 50× too large."""
    g = torch.Generator().manual_seed(0)
    data = torch.randn(4000, 6, generator=g) * 0.4
    data[:, :2] = 0.3
    flow = NormalizingFlow(FlowConfig(6, "realnvp", 2, 16, 1, 0))
    flow.standardize.set_statistics(data, noise=0.05)
    seen = (data + 0.05 * torch.randn(data.shape, generator=g) - flow.standardize.mean) / flow.standardize.std
    assert torch.allclose(seen.std(0), torch.ones(6), atol=0.05)


@pytest.mark.parametrize("kind", ["realnvp", pytest.param("spline", marks=needs_zuko)])
def test_flow_round_trip_at_three_sigma_codes_in_float32(kind):
    """After training on data with zero-spread coordinates plus dequantisation noise, codes at
    3σ map back to poses of the data's scale (not 100+ rad) and f(f⁻¹(z)) = z in float32 — for
    the affine couplings (measured 3.3 rad; 115 with the clamped std) and the spline couplings,
    whose bounded tails keep f⁻¹ of far codes near the data."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    n, d, noise = 2000, 8, 0.05
    data = torch.randn(n, d, generator=g) * 0.4
    data[:, :3] = 0.3
    flow = NormalizingFlow(FlowConfig(d, kind, 3, 32, 2, 0))
    flow.standardize.set_statistics(data, noise=noise)
    opt = torch.optim.Adam(flow.parameters(), 1e-3)
    for _ in range(150):
        x = data[torch.randint(0, n, (256,), generator=g)] + noise * torch.randn(256, d, generator=g)
        loss = -flow.log_prob(x).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 10.0)
        opt.step()
    with torch.no_grad():
        z = torch.randn(2000, d, generator=g)
        z = 3.0 * d ** 0.5 * z / z.norm(dim=1, keepdim=True)
        theta = flow.inverse(z)
        back, _ = flow(theta)
    assert theta.abs().max() < 10.0
    assert (back - z).abs().max() < 1e-3


@needs_zuko
def test_spline_coupling_is_the_identity_far_from_the_data():
    """Bounded tails (issue 16): outside [-5, 5] every spline is the identity, so the inverse
    cannot amplify a far code (an affine coupling multiplies it by up to e^2 per step)."""
    torch.manual_seed(0)
    step = SplineCoupling(6, hidden=16).double()
    _randomise(step)
    y = torch.tensor([[7.0, -9.0, 30.0, -6.0, 12.0, 5.5]], dtype=torch.float64)
    x, ladj = step(y)
    assert torch.equal(step.inverse(y), y) and torch.equal(x, y)
    assert abs(float(ladj.detach())) < 1e-12
    affine = AffineCoupling(6, hidden=16).double()
    _randomise(affine)
    assert not torch.allclose(affine.inverse(y), y)


def test_spline_flow_without_zuko_is_one_config_error(monkeypatch):
    """`flow_kind=spline` on an installation without the `splines` extra: a one-line InputError
    naming the key and the extra, not an ImportError traceback."""
    import sys

    from weakpose.errors import InputError

    monkeypatch.setitem(sys.modules, "zuko.flows.autoregressive", None)   # import now fails
    with pytest.raises(InputError, match="key 'flow_kind'.*weakpose\\[splines\\]"):
        SplineCoupling(6, hidden=16)
