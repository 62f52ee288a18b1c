"""The one chunked-evaluation helper (weakpose.methods.base.batched) for numpy and torch."""

import numpy as np
import torch

from weakpose.methods.base import batched


def test_batched_keeps_the_output_structure():
    x = np.arange(10.0)
    calls = []

    def numpy_fn(a, b):
        calls.append(len(a))
        assert b is None
        return a * 2, a + 1

    twice, plus = batched(numpy_fn, [x, None], batch_size=4)
    assert calls == [4, 4, 2]
    np.testing.assert_array_equal(twice, x * 2)
    np.testing.assert_array_equal(plus, x + 1)
    np.testing.assert_array_equal(batched(lambda a: a - 1, [x], 3), x - 1)
    t = torch.arange(7.0)
    out = batched(lambda a, b: {"sum": a + b, "prod": a * b}, [t, t], 2)
    assert set(out) == {"sum", "prod"} and torch.equal(out["prod"], t * t)
    assert torch.equal(batched(lambda a: a.neg(), [t], 5), -t)
