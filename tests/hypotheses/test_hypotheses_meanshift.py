"""Mean-shift mode finding, farthest point sampling and diversity (weakpose.methods.hypotheses.meanshift)."""

import pytest
import torch

from weakpose.methods.hypotheses.meanshift import (
    farthest_point_sampling,
    hypothesis_std,
    knn_bandwidth,
    mean_shift_mode,
)


def _mixture(g, b, n, centres, weights, sigma):
    comp = torch.multinomial(torch.tensor(weights), b * n, replacement=True, generator=g).reshape(b, n)
    c = torch.stack(centres)[comp]
    return c + sigma * torch.randn(c.shape, generator=g)


def test_mean_shift_finds_the_heavier_mode_of_a_mixture():
    g = torch.Generator().manual_seed(0)
    d = 12
    a, b = torch.zeros(d), torch.full((d,), 2.0)
    # the lighter component is *wider*, so the sample mean is far from both modes
    heavy_first = _mixture(g, 64, 100, [a, b], [0.65, 0.35], 0.15)
    modes = mean_shift_mode(heavy_first)
    assert (modes - a).norm(dim=-1).max() < 0.25
    heavy_second = _mixture(g, 64, 100, [a, b], [0.3, 0.7], 0.15)
    modes2 = mean_shift_mode(heavy_second)
    assert (modes2 - b).norm(dim=-1).max() < 0.25
    # the sample mean is ~0.7 away in every coordinate (norm ~2.4): mean-shift is not averaging
    assert (heavy_first.mean(1) - a).norm(dim=-1).min() > 1.0


def test_mean_shift_unimodal_gaussian_close_to_centre_and_shape():
    g = torch.Generator().manual_seed(1)
    centre = torch.randn(17, 3, generator=g)
    x = centre + 0.1 * torch.randn(8, 200, 17, 3, generator=g)
    modes = mean_shift_mode(x)
    assert modes.shape == (8, 17, 3)
    assert (modes - centre).norm(dim=(-1, -2)).max() < 0.5  # sample mean error ~ 0.05, noise norm ~ 0.7


def test_mean_shift_fixed_bandwidth_and_bad_input():
    x = torch.tensor([[[0.0], [0.1], [0.2], [5.0]]])
    assert mean_shift_mode(x, bandwidth=0.3).item() == pytest.approx(0.1, abs=1e-3)
    with pytest.raises(ValueError):
        mean_shift_mode(x, bandwidth=-1.0)
    with pytest.raises(ValueError):
        mean_shift_mode(torch.zeros(4, 3))


def test_knn_bandwidth_hand_case():
    x = torch.tensor([[[0.0], [1.0], [3.0]]])
    # k = ceil(0.2*3) = 1: nearest-neighbour distances 1, 1, 2 -> mean 4/3
    assert knn_bandwidth(x, 0.2).item() == pytest.approx(4 / 3)


def test_farthest_point_sampling_hand_case():
    x = torch.tensor([[[0.0, 0], [1, 0], [10, 0], [5, 5], [9, 1]]])
    idx = farthest_point_sampling(x, 3)
    assert idx.tolist() == [[0, 2, 3]]
    with pytest.raises(ValueError):
        farthest_point_sampling(x, 6)


def test_hypothesis_std():
    h = torch.zeros(1, 2, 3, 3)
    h[0, 1, 1:] = 2.0  # joints 1,2 differ by 2 in every coordinate between 2 hypotheses
    # unbiased std of {0, 2} = sqrt(2); root excluded
    assert hypothesis_std(h).item() == pytest.approx(2 ** 0.5)
    h[:, :, :] += torch.randn(1, 2, 1, 3)  # moving the root with the rest changes nothing
    assert hypothesis_std(h).item() == pytest.approx(2 ** 0.5, rel=1e-5)
