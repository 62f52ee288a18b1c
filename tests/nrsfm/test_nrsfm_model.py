"""Deep NRSfM network: orthonormal camera, unrolled encoder/decoder shapes, tied dictionaries."""

import pytest
import torch

from weakpose.camera import complete_rotation
from weakpose.methods.nrsfm.network import (
    PAPER_6_LEVELS,
    RELEASE_12_LEVELS,
    DeepNRSfM,
    gauge_matrix,
    orthonormal_camera,
    reduced_gauge_basis,
    resolve_atoms,
)


def test_presets_match_paper_and_release():
    assert PAPER_6_LEVELS == (256, 128, 64, 32, 16, 8)
    assert RELEASE_12_LEVELS == (125, 114, 104, 93, 83, 72, 62, 51, 41, 30, 20, 10)
    assert resolve_atoms("release12") == RELEASE_12_LEVELS
    assert resolve_atoms("40, 20,10") == (40, 20, 10)
    with pytest.raises(ValueError):
        resolve_atoms("big")
    with pytest.raises(ValueError):
        resolve_atoms([16, 0])


def test_orthonormal_camera_hand_made_and_random():
    m = torch.tensor([[2.0, 0.0], [0.0, 3.0], [0.0, 0.0]])
    assert torch.allclose(orthonormal_camera(m), torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), atol=1e-6)
    g = torch.Generator().manual_seed(0)
    m = torch.randn(64, 3, 2, generator=g, dtype=torch.float64)
    o = orthonormal_camera(m)
    assert torch.allclose(o.transpose(1, 2) @ o, torch.eye(2, dtype=torch.float64).expand(64, 2, 2), atol=1e-10)
    # idempotent, and the nearest: no random orthonormal matrix is closer
    assert torch.allclose(orthonormal_camera(o), o, atol=1e-10)
    q, _ = torch.linalg.qr(torch.randn(64, 3, 2, generator=g, dtype=torch.float64))
    assert ((o - m).flatten(1).norm(dim=1) <= (q - m).flatten(1).norm(dim=1) + 1e-12).all()


def test_eq5_camera_completes_to_a_proper_rotation():
    g = torch.Generator().manual_seed(1)
    m = orthonormal_camera(torch.randn(32, 3, 2, generator=g, dtype=torch.float64))
    r = complete_rotation(m.mT).mT
    assert torch.allclose(r.transpose(1, 2) @ r, torch.eye(3, dtype=torch.float64).expand(32, 3, 3), atol=1e-10)
    assert torch.allclose(torch.linalg.det(r), torch.ones(32, dtype=torch.float64), atol=1e-10)
    assert torch.equal(r[..., :2], m)


def test_gauges():
    s = torch.randn(5, 3)
    assert torch.allclose((gauge_matrix(5, 2) @ s)[2], torch.zeros(3))
    assert torch.allclose((gauge_matrix(5, "mean") @ s).sum(0), torch.zeros(3), atol=1e-6)
    for center in (0, "mean"):
        q = reduced_gauge_basis(5, center)
        assert q.shape == (4, 5)
        assert torch.allclose(q @ q.T, torch.eye(4), atol=1e-6)
        assert torch.allclose(q @ torch.ones(5) if center == "mean" else q[:, 0], torch.zeros(4), atol=1e-6)
    with pytest.raises(ValueError):
        gauge_matrix(5, 7)


@pytest.mark.parametrize("atoms", [(12, 8, 4), RELEASE_12_LEVELS[-4:]])
def test_unrolled_shapes(atoms):
    torch.manual_seed(0)
    net = DeepNRSfM(17, atoms, center=0)
    w = torch.randn(5, 17, 2)
    codes = net.encode(w)
    assert [tuple(c.shape) for c in codes] == [(5, k, 3, 2) for k in atoms]
    assert all((c >= 0).all() for c in codes)  # ReLU = non-negative soft threshold
    out = net(w)
    assert out.shape.shape == (5, 17, 3) and out.camera.shape == (5, 3, 2)
    assert out.code.shape == (5, atoms[0]) and (out.code >= 0).all()
    # the camera is orthonormal (Eq. 1), so the camera frame is a rigid motion of the shape and its
    # image an orthographic view: no distance grows in the image, none changes in the camera frame
    eye = torch.eye(2).expand(5, 2, 2)
    assert torch.allclose(out.camera.transpose(1, 2) @ out.camera, eye, atol=1e-5)
    d_shape, d_image = torch.cdist(out.shape, out.shape), torch.cdist(out.projection, out.projection)
    assert (d_image <= d_shape + 1e-4).all()
    assert torch.allclose(torch.cdist(out.camera_frame(), out.camera_frame()), d_shape, atol=1e-4)
    assert torch.allclose(out.shape[:, 0], torch.zeros(5, 3), atol=1e-6)  # root-relative gauge
    with pytest.raises(ValueError):
        net.encode(torch.randn(5, 16, 2))


def test_first_level_is_one_ista_step_from_zero():
    torch.manual_seed(0)
    net = DeepNRSfM(4, (3,), center=0)
    with torch.no_grad():
        net.enc_bias[0].fill_(-0.1)
    w = torch.randn(2, 4, 2)
    d = net.shape_dictionary()                           # [P, 3, K]
    expected = torch.relu(torch.einsum("pck,bpd->bkcd", d, w) - 0.1)
    assert torch.allclose(net.encode(w)[0], expected, atol=1e-6)
    # single level: the shape is s = D̄ φ with no bias
    phi = torch.rand(2, 3)
    shape, code = net.decode(phi)
    assert torch.allclose(shape, torch.einsum("pck,bk->bpc", d, phi), atol=1e-6)


def test_dictionaries_are_tied_between_encoder_and_decoder():
    torch.manual_seed(0)
    atoms = (10, 6, 3)
    net = DeepNRSfM(17, atoms)
    # one weight tensor per level and no separate decoder weights
    dict_params = [net.dict1] + list(net.dicts)
    assert [tuple(p.shape) for p in dict_params] == [(17, 3, 10), (10, 6), (6, 3)]
    n_params = sum(p.numel() for p in net.parameters())
    # encoder biases only (the Eq. 3 decoder has none)
    expected = 17 * 3 * 10 + 10 * 6 + 6 * 3 + sum(atoms) + 3 * 6 * 3 + 3
    assert n_params == expected
    # the decoder uses D_i: changing D_2's direction changes the decoded shape from a fixed code
    phi_n = torch.rand(4, 3)
    before, _ = net.decode(phi_n)
    with torch.no_grad():
        net.dicts[0].add_(torch.randn(10, 6))
    after, _ = net.decode(phi_n)
    assert not torch.allclose(before, after)
    # and gradients from the decoder alone and the encoder alone both reach the same tensor
    net.zero_grad()
    net.decode(phi_n)[0].sum().backward()
    g_dec = net.dicts[0].grad.clone()
    net.zero_grad()
    net.encode(torch.randn(4, 17, 2))[-1].sum().backward()
    g_enc = net.dicts[0].grad.clone()
    assert g_dec.abs().sum() > 0 and g_enc.abs().sum() > 0


def test_orthonormal_camera_gradient_is_finite_for_rank_one_cameras():
    g = torch.Generator().manual_seed(2)
    m = torch.randn(16, 3, 2, generator=g, dtype=torch.float64)
    m[:8, :, 1] = 0.5 * m[:8, :, 0]                       # rank one
    m.requires_grad_(True)
    out = orthonormal_camera(m)
    assert torch.allclose(out.transpose(1, 2) @ out, torch.eye(2, dtype=torch.float64).expand(16, 2, 2), atol=1e-10)
    out.sum().backward()
    assert torch.isfinite(m.grad).all()


def test_atoms_have_unit_norm_after_an_optimiser_step():
    """Eq. 4's scale: the atoms the network uses have unit norm whatever the parameters do."""
    torch.manual_seed(0)
    net = DeepNRSfM(17, (12, 8, 4), center=0)
    opt = torch.optim.SGD(net.parameters(), lr=10.0)
    w = torch.randn(32, 17, 2)
    out = net(w)
    (out.shape.square().sum() + out.code.sum()).backward()
    opt.step()
    d1 = net.shape_dictionary()
    assert torch.allclose(d1.flatten(0, 1).norm(dim=0), torch.ones(12), atol=1e-6)
    for level in (2, 3):
        assert torch.allclose(net.dictionary(level).norm(dim=0), torch.ones(net.atoms[level - 1]), atol=1e-6)


def test_scaling_a_dictionary_parameter_changes_nothing():
    """The degeneracy of the issue: D₁·3 with codes/3 explained the same 2D with a third of the
    L1; with unit-norm atoms the parameter's scale has no effect on shapes, cameras or codes."""
    torch.manual_seed(0)
    net = DeepNRSfM(17, (12, 8, 4), center=0)
    w = torch.randn(8, 17, 2)
    before = net(w)
    with torch.no_grad():
        net.dict1.mul_(3.0)
        net.dicts[0].mul_(0.25)
    after = net(w)
    for a, b in ((before.shape, after.shape), (before.camera, after.camera), (before.code, after.code)):
        assert torch.allclose(a, b, atol=1e-5)


def test_every_code_is_non_negative_and_the_decoder_has_no_bias():
    """Eq. 3: φ_n ≥ 0 too, and φ_{i-1} = D_i φ_i wherever that is non-negative."""
    torch.manual_seed(1)
    net = DeepNRSfM(17, (12, 8, 4), center=0)
    with torch.no_grad():
        net.code_head.weight.normal_()                 # many negative pre-activations
    w = torch.randn(64, 17, 2)
    phi_n, _ = net.estimate(net.encode(w)[-1])
    assert (phi_n >= 0).all() and (phi_n == 0).any()
    # a non-negative dictionary keeps every level's product non-negative: equality is exact
    with torch.no_grad():
        for d in net.dicts:
            d.abs_()
    phi_n = torch.rand(5, 4)
    _, phi1 = net.decode(phi_n)
    expected = phi_n @ net.dictionary(3).T @ net.dictionary(2).T
    assert torch.allclose(phi1, expected, atol=1e-6)


def test_checkpoint_from_before_the_bias_free_decoder_is_a_one_line_error(tmp_path):
    """A Deep NRSfM run saved with the old decoder biases (before unit-norm atoms and the
    bias-free Eq. 3 decoder) cannot load into today's network: one line saying to retrain."""
    from weakpose.engine.config import config_to_dict
    from weakpose.errors import InputError
    from weakpose.inference_api import predictor_from_payload
    from weakpose.methods.registry import get_method

    cls = get_method("nrsfm")
    config = cls.Config()
    modules = {k: m.state_dict() for k, m in cls.build_modules(config).items()}
    net = next(iter(modules))
    modules[net]["dec_bias.0"] = torch.zeros(3)  # what the old decoder stored
    payload = {"method": "nrsfm", "config": config_to_dict(config), "modules": modules}
    with pytest.raises(InputError, match="must be retrained") as err:
        predictor_from_payload(payload, tmp_path / "old.pt")
    assert "\n" not in str(err.value)
