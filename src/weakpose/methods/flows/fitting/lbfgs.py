"""Batched L-BFGS for many independent small problems.

Fitting many frames at once with ``torch.optim.LBFGS`` treats their summed objective as one
problem: a single curvature memory and one line-search step for all frames, which converges
slowly when the frames' curvatures differ (measured in docs/flows.md). Here every problem has
its own memory (two-loop recursion, batched with einsum) and its own step, found by
**Armijo backtracking**: starting from step 1, halve each problem's step until its sufficient
decrease ``f(x + a d) ≤ f(x) + c₁ a ∇fᵀd`` holds. No Wolfe curvature condition is enforced by
the line search; instead a pair enters the memory only when ``sᵀy > ε``, the usual safeguard
that keeps the inverse-Hessian estimate positive definite without a Wolfe search.

``objective(x)`` must return the per-problem values [B] for ``x`` [B, n]; gradients come from
autograd of their sum, which equals each problem's own gradient since they are independent.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def _value_and_grad(objective: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        f = objective(x)
        (g,) = torch.autograd.grad(f.sum(), x)
    return f.detach(), g.detach()


@torch.no_grad()
def batched_lbfgs(objective: Callable[[Tensor], Tensor], x0: Tensor, max_iter: int = 100, history: int = 10,
                  c1: float = 1e-4, max_backtracks: int = 12, tol_grad: float = 1e-6,
                  tol_change: float = 1e-9) -> tuple[Tensor, Tensor, int]:
    """Minimise each row's objective. Returns ``(x [B, n], f [B], iterations run)``."""
    x = x0.detach().clone()
    B, n = x.shape
    S = torch.zeros(B, history, n, dtype=x.dtype)
    Y = torch.zeros(B, history, n, dtype=x.dtype)
    rho = torch.zeros(B, history, dtype=x.dtype)
    count = torch.zeros(B, dtype=torch.long)      # pairs stored per problem
    f, g = _value_and_grad(objective, x)
    active = torch.ones(B, dtype=torch.bool)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (returned: iterations done)
        active &= g.abs().amax(1) > tol_grad
        if not active.any():
            break
        # two-loop recursion, newest pair at index (count - 1) % history
        q = g.clone()
        alpha = torch.zeros(B, history, dtype=x.dtype)
        order = [(count - 1 - k) % history for k in range(history)]
        valid = [count > k for k in range(history)]
        for k in range(history):
            idx = order[k]
            s = S[torch.arange(B), idx]
            y = Y[torch.arange(B), idx]
            r = rho[torch.arange(B), idx]
            a = torch.where(valid[k], r * (s * q).sum(1), torch.zeros_like(r))
            alpha[:, k] = a
            q = q - a[:, None] * y
        newest = order[0]
        s_new, y_new = S[torch.arange(B), newest], Y[torch.arange(B), newest]
        gamma = torch.where(count > 0, (s_new * y_new).sum(1) / (y_new * y_new).sum(1).clamp_min(1e-30),
                            1.0 / g.abs().sum(1).clamp_min(1e-30).clamp_max(1e30) * torch.ones_like(f))
        gamma = torch.where(count > 0, gamma, torch.minimum(torch.ones_like(gamma), gamma))
        r_ = gamma[:, None] * q
        for k in reversed(range(history)):
            idx = order[k]
            s = S[torch.arange(B), idx]
            y = Y[torch.arange(B), idx]
            rr = rho[torch.arange(B), idx]
            b = torch.where(valid[k], rr * (y * r_).sum(1), torch.zeros_like(rr))
            r_ = r_ + (torch.where(valid[k], alpha[:, k] - b, torch.zeros_like(b)))[:, None] * s
        d = -r_
        slope = (g * d).sum(1)
        bad = slope >= 0  # not a descent direction: reset to steepest descent
        if bad.any():
            d[bad] = -g[bad] * gamma[bad, None].abs().clamp_min(1e-12)
            count[bad] = 0
            slope = (g * d).sum(1)
        # backtracking on sufficient decrease (Armijo), per problem
        step = torch.ones(B, dtype=x.dtype)
        accepted = ~active
        x_new, f_new = x.clone(), f.clone()
        for _ in range(max_backtracks):
            trial = x + step[:, None] * d
            ft = objective(trial).detach()
            ok = (~accepted) & torch.isfinite(ft) & (ft <= f + c1 * step * slope)
            x_new[ok], f_new[ok] = trial[ok], ft[ok]
            accepted |= ok
            if accepted.all():
                break
            step = torch.where(accepted, step, step * 0.5)
        moved = active & accepted
        failed = active & ~accepted
        if failed.any():  # no decrease along the quasi-Newton direction: retry steepest descent once
            active &= ~(failed & (count == 0))
            count[failed] = 0
        if not moved.any():
            if not active.any():
                break
            continue
        g_old = g
        f_new_all, g_new = _value_and_grad(objective, x_new)
        s_k = x_new - x
        y_k = g_new - g_old
        sy = (s_k * y_k).sum(1)
        store = moved & (sy > 1e-10)
        slot = count % history
        S[store, slot[store]] = s_k[store]
        Y[store, slot[store]] = y_k[store]
        rho[store, slot[store]] = 1.0 / sy[store]
        count = count + store.long()
        change = (f - f_new_all).abs()
        x = torch.where(moved[:, None], x_new, x)
        f = torch.where(moved, f_new_all, f)
        g = torch.where(moved[:, None], g_new, g)
        active &= ~(moved & (change < tol_change * f.abs().clamp_min(1.0)))
    return x, f, it
