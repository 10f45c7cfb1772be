"""The compiled engine agrees with the reference spec on random schedules.

DESIGN.md: within 1e-12 relative to the schedule's peak at every step. The peak here is
the largest reference value over the probed steps and the first 64 steps.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import fastlr
import fastlr.reference as ref
from fastlr import _schedule

from strategies import schedules, steps

LEVELS = [lvl for lvl in _schedule.SIMD_LEVELS
          if _schedule.SIMD_LEVELS.index(lvl)
          <= _schedule.SIMD_LEVELS.index(_schedule.simd_supported())]


@pytest.fixture(params=LEVELS, scope="module")
def simd(request):
    best = _schedule.simd_supported()
    _schedule.set_simd_level(request.param)
    yield request.param
    _schedule.set_simd_level(best)


def assert_close(compiled, reference, peak):
    np.testing.assert_allclose(compiled, reference, rtol=0, atol=1e-12 * peak)


@given(s=schedules(), ts=steps())
def test_scalar_and_array_match_reference(simd, s, ts):
    c = fastlr.from_config(s.to_config())
    assert type(c) is getattr(fastlr, type(s).__name__)
    expected = np.array([s(t) for t in ts])
    peak = max(np.max(np.abs(expected)), np.max(np.abs(s.values(64))), 1e-300)
    assert_close(np.array([c(t) for t in ts]), expected, peak)
    assert_close(c(np.array(ts, dtype=np.float64)), expected, peak)


@given(s=schedules(), n=st.integers(0, 1500))
def test_values_match_reference(simd, s, n):
    c = fastlr.from_config(s.to_config())
    expected = s.values(n)
    got = c.values(n)
    assert got.dtype == np.float64 and got.shape == (n,)
    if n:
        assert_close(got, expected, max(np.max(np.abs(expected)), 1e-300))


@given(s=schedules(max_leaves=4))
def test_simd_levels_are_bit_identical(s):
    c = fastlr.from_config(s.to_config())
    best = _schedule.simd_supported()
    results = []
    try:
        for level in LEVELS:
            _schedule.set_simd_level(level)
            results.append(c.values(700))
    finally:
        _schedule.set_simd_level(best)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_large_values_use_all_blocks_and_threads():
    # longer than the parallel threshold: every thread's chunk and the tail block
    s = ref.Sequence([ref.Linear(0.0, 1.0, 1000), ref.Constant(1.0),
                      ref.Cosine(1.0, 150_000, 0.01)], [1000, 50_000])
    c = fastlr.from_config(s.to_config())
    n = 200_003
    got = c.values(n)
    sample = np.r_[0:2000, 49_000:51_000, n - 2000:n]
    assert_close(got[sample], np.array([s(float(t)) for t in sample]), 1.0)
    # the array path over the same steps, in reverse order
    steps = np.arange(n)[::-1].copy()
    np.testing.assert_array_equal(c(steps), got[::-1])


def test_deep_nesting():
    # 1 + 2 * 49 = 99 levels, one short of the limit (fastlr._validate.MAX_DEPTH = 100)
    s = ref.Constant(1.0)
    for i in range(49):
        s = ref.Warmup(ref.Scaled(s, 0.99), 1)
    c = fastlr.from_config(s.to_config())
    ts = np.arange(300)
    assert_close(c(ts), np.array([s(t) for t in ts]), 1.0)
    assert c(10_000) == pytest.approx(0.99 ** 49, rel=1e-12)
