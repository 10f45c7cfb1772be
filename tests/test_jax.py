"""fastlr.jax.schedule: a fastlr schedule as an optax schedule, in closed form.

The values are the schedule's formula in jax.numpy. They must equal ``s(t)``: float32
(the default) to float32 rounding of the peak, with exact integer boundaries at any
int32 count; float64 under ``jax_enable_x64`` within 1e-12 of the peak, as the compiled
backend. "Peak" is as in test_schedule_parity.py: the largest reference value over the
probed steps and the first 64 steps.

The jax tests run when jax is installed and are skipped, with the reason, when it is not
(CI does not install jax). The import tests (test_optional_imports.py) run everywhere.
"""
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastlr
import fastlr.reference as ref

from strategies import schedules, steps

try:
    import jax
    import jax.numpy as jnp
except ImportError:
    jax = None

needs_jax = pytest.mark.skipif(
    jax is None, reason="jax is not installed (pip install jax); CI does not install it")
pytestmark = needs_jax

if jax is not None:
    import fastlr.jax as fj

F32_TOL = 4e-6   # of the peak: float32 transcendental functions, amplified by pow exponents
# plus an absolute floor: XLA flushes float32 below 1.2e-38 to 0, constants included, so
# a value made from one (10 * 4.5e-39) is 0 too
F32_TINY = 1e-30
F64_TOL = 1e-12  # of the peak, as compiled vs reference
F64_TINY = float(np.finfo(np.float64).tiny)  # XLA on CPU flushes subnormals to zero


def x64():
    return jax.enable_x64(True)


def assert_near_reference(got, s, t, tol, rel_step):
    """``got`` is ``s(t)`` to ``tol``, or else within ``tol`` of the range of ``s`` over
    ``[t - d, t + d]`` (17 probes), ``d = rel_step * max(t, 1)``: the reference's value
    at a step within rounding of ``t``. That is what a float format can promise where the reference's own
    formula rounds the step (a cycle of 6.9 steps is 6.900000095 in float32; ``t - i*c``
    at ``t = 2**52`` is off by a step in float64): at a jump either side of it, on a
    steep slope a value in between. Elsewhere it is plain closeness."""
    t = np.asarray(t, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    expected = s(t)
    bad = np.abs(got - expected) > tol
    if bad.any():
        tb = t[bad]
        delta = np.maximum(tb, 1.0) * rel_step
        probes = tb + delta * np.linspace(-1.0, 1.0, 17)[:, None]
        around = np.concatenate([expected[bad][None], s(np.clip(probes, 0.0, 2.0 ** 53))])
        inside = (got[bad] >= around.min(0) - tol) & (got[bad] <= around.max(0) + tol)
        assert inside.all(), (repr(s), tb[~inside], got[bad][~inside], around[:, ~inside])


def peak_of(s, expected):
    return max(float(np.max(np.abs(expected))), float(np.max(np.abs(s.values(64)))), 1e-300)


def case_list(fl):
    """At least one schedule of every class of the catalogue (Lambda aside), every mode
    and flag, with lengths and boundaries that are integers and fractions."""
    cos = fl.Cosine(1.0, 100, 0.01)
    return [
        fl.Constant(0.3),
        fl.Linear(0.1, 0.01, 50), fl.Linear(0.0, 1.0, 12.5),
        fl.Step(1.0, 7, 0.5), fl.Step(1.0, 2.5, 0.0),
        fl.MultiStep(1.0, [3, 10, 10, 40]), fl.MultiStep(1.0, []), fl.MultiStep(2.0, [0.5, 7.25]),
        fl.Exponential(1.0, 0.9, 3, True, 0.1), fl.Exponential(0.01, 1.2, 2, False, 1.0),
        fl.Exponential(1.0, 0.95), fl.Exponential(0.0, 1.5, final_lr=2.0),
        fl.Exponential(0.5, 1.1, 1.5, True, 0.0), fl.Exponential(0.5, 1.0),
        fl.Exponential(2.0, 1.5, final_lr=5e-324),  # fin / lr underflows
        fl.Polynomial(1.0, 60, 0.1, 0.5), fl.Polynomial(1.0, 60.5, 0.0, 3.0),
        fl.Cosine(1.0, 80, 0.1), fl.Cosine(0.5, 33.3),
        fl.CosineRestarts(1.0, 7, 1.0, 0.1, 0.9), fl.CosineRestarts(1.0, 1, 10.0),
        fl.CosineRestarts(1.0, 3.5, 1.5, 0.0, 0.8), fl.CosineRestarts(1.0, 2, 2, 0.1, 0.5),
        fl.CosineRestarts(1.0, 2.5, 1.0), fl.CosineRestarts(1.0, 3, 1.0001),  # closed form
        fl.InverseSqrt(1.0, 10), fl.InverseSqrt(1.0, 0.5),
        fl.InverseTime(1.0, 0.5, 3, True), fl.InverseTime(1.0, 0.5, 3), fl.InverseTime(1.0, 0.0),
        fl.Cyclic(0.1, 1.0, 5, 8, "triangular"), fl.Cyclic(0.1, 1.0, 5, None, "triangular2"),
        fl.Cyclic(0.1, 1.0, 5, 3, "exp_range", 0.98), fl.Cyclic(1.0, 0.1, 2.5, 4.5),
        fl.Cyclic(0.1, 1.0, 4, 6).momentum(),
        fl.Cyclic(0.0, 1.0, 389.0, None, "exp_range", 0.99999),  # gamma inexact in float32
        fl.OneCycle(1.0, 100), fl.OneCycle(1.0, 100, 0.25, "linear", three_phase=True),
        fl.OneCycle(1.0, 100, 0.0), fl.OneCycle(1.0, 10.5, 1.0, "cos", 10.0, 100.0, True),
        fl.OneCycle(1.0, 100).momentum(), fl.OneCycleMomentum(80, 0.4, "linear", True),
        *[fl.WarmupStableDecay(1.0, 10, 20, 30, 0.1, d) for d in ("linear", "cosine", "1-sqrt")],
        fl.WarmupStableDecay(1.0, 0, 0, 0, 0.2), fl.WarmupStableDecay(1.0, 2.5, 0, 7.5, 0.0, "1-sqrt"),
        fl.PiecewiseConstant([5, 20], [1.0, 0.5, 0.1]), fl.PiecewiseConstant([], [0.7]),
        fl.PiecewiseConstant([0.5, 2.25], [1.0, 0.5, 0.1]),
        fl.PiecewiseLinear([5, 20, 60], [0.0, 1.0, 0.1]), fl.PiecewiseLinear([3], [0.4]),
        fl.PiecewiseLinear([0, 2.5, 9.75], [1.0, 0.0, 0.5]),
        fl.Warmup(cos, 10), fl.Warmup(cos, 10, 0.01, "exponential"), fl.Warmup(cos, 10.5, 0.0, "cosine"),
        fl.Warmup(cos, 0), fl.Warmup(fl.Constant(0.0), 5, 0.1, "exponential"),
        fl.Sequence([fl.Constant(1.0), fl.Linear(1.0, 0.0, 20), fl.Cosine(0.5, 30)], [10, 10.5]),
        fl.Sequence([fl.Constant(1.0), fl.Constant(0.5), fl.Step(0.3, 4, 0.5)], [8, 8]),
        fl.Sequence([fl.Cosine(1.0, 50)], []),
        fl.Scaled(cos, 0.5), 2.0 * fl.warmup_cosine(1.0, 10, 100), fl.warmup_linear(1.0, 10.5, 100),
        fl.Sequence([fl.Warmup(fl.CosineRestarts(1.0, 5, 2.0), 5.5, 0.1, "cosine"),
                     fl.Scaled(fl.PiecewiseLinear([0, 10], [0.2, 0.9]), 0.5)], [40.25]),
        # the options and node kinds of issue 11
        fl.Polynomial(1.0, 30, 0.1, 2.0, cycle=True), fl.Polynomial(1.0, 12.5, 0.0, 0.5, True, 2.0),
        fl.Polynomial(1.0, 60, 0.1, 1.5, k_decay=0.5),
        fl.Cosine(1.0, 80, 0.1, exponent=2.0), fl.Cosine(1.0, 90, 0.0, 1.0, 1.0, 1.5),
        fl.Cosine(1.0, 70.5, 0.05, 0.5, 3.25, 0.7),
        fl.CosineRestarts(1.0, 7, 1.0, 0.1, 0.8, "amplitude"),
        fl.CosineRestarts(1.0, 5, 1.5, 0.05, 0.9, "peak", 3, 2.0),
        fl.CosineRestarts(1.0, 6.5, 1.0, 0.0, 1.0, "amplitude", 4.5, 0.5),
        fl.InverseSqrt(1.0, 10, 25), fl.InverseSqrt(1.0, 0, 7.5), fl.InverseSqrt(1.0, 4.5, 10),
        *[fl.WarmupStableDecay(1.0, 10, 20, 30, 0.1, d) for d in ("power", "exp")],
        fl.WarmupStableDecay(1.0, 10, 20, 30, 0.1, "exp", decay_ratio=0.5),
        fl.WarmupStableDecay(1.0, 10, 40, 25.5, 0.05, "power", "rsqrt", decay_power=2.0),
        fl.WarmupStableDecay(1.0, 8, 30, 40, 0.3, "cosine", "power", 5.5, 1.5),
        fl.WarmupStableDecay(1.0, 0, 20, 20, 0.0, "1-sqrt", "rsqrt", 3),
        fl.Tanh(1.0, 100, 0.1), fl.Tanh(0.5, 60.5, 0.0, -3.0, 5.0),
        fl.Warmup(cos, 10, 0.05, "1-sqrt"), fl.Warmup(cos, 10.5, 0.0, "linear", "global"),
        fl.Warmup(cos, 20, 0.001, "exponential", "global", "end"),
        fl.Warmup(fl.Tanh(1.0, 100), 12, 0.0, "cosine", "global", "end"),
        fl.Warmup(cos, 10, 0.0, "1-sqrt", "local", "end"),
        fl.Warmup(fl.InverseSqrt(1.0, 10), 10, 0.0, "linear", "global", "end"),
        fl.Product([fl.Step(1.0, 3, 0.5), fl.Exponential(1.0, 0.99)]),
        fl.Cosine(1.0, 100) * fl.Step(2.0, 30, 0.5) * fl.Linear(1.0, 0.5, 40),
        fl.SWA(cos, 0.05, 60, 10), fl.SWA(cos, 0.3, 40.5, 7.5, "linear"),
        fl.SWA(fl.Warmup(cos, 10), 0.1, 30, 0), fl.SWA(fl.Linear(1.0, 0.0, 50), 0.2, 0, 20),
    ]


def noise_cases(fl):
    """The Noise cases (they need jax_enable_x64: uint64 hashing)."""
    cos = fl.Cosine(1.0, 100, 0.01)
    return [
        fl.Noise(cos), fl.Noise(cos, 10, 80, 0.3, 1.0, "normal", 7),
        fl.Noise(cos, 5.5, 100.5, 0.5, 0.1, "normal", 2 ** 64 - 1),    # narrow: rejection
        fl.Noise(fl.Constant(0.5), 0, None, 0.2, 1.0, "uniform", 123456789012345),
        fl.Noise(fl.Warmup(cos, 10), 20, 20, 0.5),                         # empty range
        fl.Sequence([fl.Constant(1.0), fl.Noise(fl.Linear(1.0, 0.0, 100), 0, 50, 0.1)], [30]),
    ]


def test_the_cases_cover_every_schedule_class():
    cases = case_list(ref) + noise_cases(ref)
    covered = {type(s).__name__ for s in cases}
    covered |= {type(k).__name__ for s in cases for k in _subtree(s)}
    assert covered == set(ref.SCHEDULES) - {"Lambda"}


def _subtree(s):
    spec = s._spec()
    for child in spec[4]:
        yield child
        yield from _subtree(child)


N = 260


def all_at_once(fns, *counts):
    """``[[f(c) for c in counts] for f in fns]`` from ONE jitted call: compiling dominates
    the run time, and one program of every case compiles far faster than one each."""
    return [[np.asarray(v) for v in vs]
            for vs in jax.jit(lambda *cs: [[f(c) for c in cs] for f in fns])(*counts)]


def _tree(node):
    return repr((node.kind, node.flag, node.params, node.arrays, node.extra,
                 tuple(_tree(k) for k in node.kids)))


def both_backends(cases):
    """``[(reference case, compiled case)]``, after checking that both build the same
    node tree (kinds, flags, parameters, precomputed values): the jax program depends on
    nothing else, so one compiled program serves both and is checked against both."""
    pairs = list(zip(cases(ref), cases(fastlr)))
    for r, c in pairs:
        assert _tree(fj._nodes.build(r)) == _tree(fj._nodes.build(c)), r
    return pairs


def check_float32(pairs, outs):
    floats = np.arange(0, N, 0.25)                     # exact in float32
    for pair, (at_ints, at_floats) in zip(pairs, outs):
        assert at_ints.dtype == at_floats.dtype == np.float32, pair[0]
        for s in pair:
            want = s.values(N)
            tol = F32_TOL * peak_of(s, want) + F32_TINY
            np.testing.assert_allclose(at_ints, want, rtol=0, atol=tol, err_msg=repr(s))
            np.testing.assert_allclose(at_floats, s(floats), rtol=0, atol=tol, err_msg=repr(s))


def _counts32():
    return jnp.arange(N, dtype=jnp.int32), jnp.arange(0, N, 0.25, dtype=jnp.float32)


def test_float32_values():
    pairs = both_backends(case_list)
    check_float32(pairs, all_at_once([fj.schedule(r) for r, _ in pairs], *_counts32()))


def test_noise_float32_values_under_x64():
    """Noise hashes in uint64 (x64 only); its values can still be float32."""
    with x64():
        pairs = both_backends(noise_cases)
        outs = all_at_once([fj.schedule(r, dtype=jnp.float32) for r, _ in pairs], *_counts32())
    check_float32(pairs, outs)


def test_noise_without_x64_says_so(fl):
    with pytest.raises(TypeError, match="Noise needs jax_enable_x64"):
        fj.schedule(fl.Noise(fl.Constant(1.0)))
    with pytest.raises(TypeError, match="Noise needs jax_enable_x64"):
        fj.schedule(fl.Warmup(fl.Noise(fl.Constant(1.0)), 5))
    with x64():
        f = fj.schedule(fl.Noise(fl.Constant(1.0)))
    with pytest.raises(TypeError, match="Noise needs jax_enable_x64"):
        f(3)                                   # built under x64, called without


def test_noise_is_the_references_hash_at_any_step():
    """The noise of steps up to 2**53 (int64 and float counts) and of every seed width,
    all three samplers (Box-Muller, narrow rejection, uniform)."""
    ts = np.array([0, 1, 2, 3, 1000, 2 ** 31 + 5, 2 ** 32 + 1, 10 ** 12, 2 ** 52 + 1, 2 ** 53])

    def cases(fl):
        return [fl.Noise(fl.Constant(1.0), pct=pct, std=std, kind=kind, seed=seed)
                for seed in (0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 63 + 12345, 2 ** 64 - 1)
                for kind, pct, std in (("normal", 0.67, 1.0), ("normal", 0.05, 1.0),
                                       ("uniform", 0.3, 1.0))]

    with x64():
        pairs = both_backends(cases)
        outs = all_at_once([fj.schedule(r) for r, _ in pairs], jnp.asarray(ts, jnp.int64),
                           jnp.asarray(ts, jnp.float64))
    for pair, got in zip(pairs, outs):
        for s in pair:
            for g in got:
                np.testing.assert_allclose(g, s(ts), rtol=0, atol=1e-15, err_msg=repr(s))


def test_float64_values_under_x64():
    ts = np.arange(0, N, 0.25)
    huge = np.array([1e6, 1e12 + 0.5, 2.0 ** 52 + 3, 2.0 ** 53])
    with x64():
        pairs = both_backends(lambda fl: case_list(fl) + noise_cases(fl))
        # under x64 every count is converted to float64 before the first node (_clock),
        # so one float and one integer program cover every node
        outs = all_at_once([fj.schedule(r) for r, _ in pairs],
                           jnp.asarray(np.concatenate([ts, huge])),
                           jnp.arange(N, dtype=jnp.int64))
    for pair, (floats, ints) in zip(pairs, outs):
        assert floats.dtype == ints.dtype == np.float64, pair[0]
        for s in pair:
            want = s(ts)
            tol = F64_TOL * peak_of(s, want) + F64_TINY
            np.testing.assert_allclose(floats[:len(ts)], want, rtol=0, atol=tol, err_msg=repr(s))
            assert_near_reference(floats[len(ts):], s, huge, tol, 2.0 ** -49)
            np.testing.assert_allclose(ints, s.values(N), rtol=0, atol=tol, err_msg=repr(s))


def test_optax_int32_count_under_x64(fl):
    """optax keeps an int32 count even under x64."""
    s = fl.Warmup(fl.CosineRestarts(1.0, 7, 1.5, 0.1, 0.9), 10)
    with x64():
        got = jax.jit(fj.schedule(s))(jnp.arange(N, dtype=jnp.int32))
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(got), s.values(N), rtol=0, atol=1e-12)


# hypothesis: few examples by default (each new schedule and shape compiles jax ops);
# FASTLR_HYPOTHESIS=thorough (tests/conftest.py) runs the profile's many more
_THOROUGH = os.environ.get("FASTLR_HYPOTHESIS") == "thorough"
few = (lambda test: test) if _THOROUGH else settings(deadline=None, max_examples=12)


def _padded(ts, dtype):
    """``ts`` repeated to 40 steps: one shape for every example, so jax compiles each
    operation once, not once per list length."""
    return np.resize(np.array(ts, dtype=dtype), 40)


@few
@given(s=schedules(), ts=steps())
def test_random_schedules_float64(s, ts):
    """Within 1e-12 of the peak, or the reference's value at a step within 2**-49 of t
    (relative): the reference rounds too (t - i*c at 2**52), and XLA fuses a*b + c into
    one rounding where the reference rounds twice."""
    t = _padded(ts, np.float64)
    tol = F64_TOL * peak_of(s, s(t)) + F64_TINY
    with x64():
        f = fj.schedule(s)
        assert_near_reference(f(jnp.asarray(t)), s, t, tol, 2.0 ** -49)
        ti = _padded(ts, np.int64)
        assert_near_reference(f(jnp.asarray(ti)), s, ti, tol, 2.0 ** -49)


@few
@given(s=schedules(), ts=st.lists(st.one_of(st.integers(0, 5000), st.integers(0, 2 ** 24)),
                                  min_size=1, max_size=40))
def test_random_schedules_float32(s, ts):
    """int32 counts up to 2**24 (exact in float32): float32 values of the reference's at
    a step within 2**-21 relative (8 ulps of t), see assert_near_reference."""
    t = _padded(ts, np.int64)
    tol = F32_TOL * peak_of(s, s(t)) + F32_TINY
    if "Noise" in repr(s):                      # uint64 hashing: x64, float32 values
        with x64():
            got = np.asarray(fj.schedule(s, dtype=jnp.float32)(jnp.asarray(t, jnp.int32)))
    else:
        got = np.asarray(fj.schedule(s)(jnp.asarray(t, dtype=jnp.int32)))
    assert got.dtype == np.float32
    assert_near_reference(got, s, t, tol, 2.0 ** -21)


def test_exact_at_int32_boundaries_past_2_to_24():
    """Boundaries and stairs that float32 cannot hold (2**24 + 1, ...) still switch AT
    their step at int32 counts: the comparisons run on the integer count."""
    big = 2 ** 24 + 1
    cases = [
        (ref.PiecewiseConstant([big, 2 ** 31 - 2], [1.0, 0.5, 0.1]),
         [big - 1, big, 2 ** 31 - 3, 2 ** 31 - 2, 2 ** 31 - 1]),
        (ref.MultiStep(1.0, [big, big + 2], 0.5), [big - 1, big, big + 1, big + 2]),
        (ref.Sequence([ref.Constant(1.0), ref.Cosine(0.5, 1000)], [20_000_001]),
         [20_000_000, 20_000_001, 20_000_501, 20_001_001]),
        (ref.Warmup(ref.Step(1.0, 3, 0.5), big), [big - 1, big, big + 2, big + 3]),
        (ref.CosineRestarts(1.0, 1, 2.0), [2 ** 30 - 2, 2 ** 30 - 1, 2 ** 30]),
        (ref.CosineRestarts(1.0, 1000, 1.0, 0.0, 0.999), [2 ** 31 - 648, 2 ** 31 - 649,
                                                         2 ** 31 - 1]),
        (ref.Cyclic(0.0, 1.0, 1000, 3000, "triangular2"), [big + 7, 2 ** 31 - 1]),
        (ref.Linear(1.0, 0.0, big), [big - 1, big]),
        (ref.WarmupStableDecay(1.0, 10, big, 100, 0.5), [big + 9, big + 10, big + 60]),
        (ref.Step(1.0, big, 0.5), [big - 1, big, 2 * big]),
        (ref.Tanh(1.0, big, 0.1), [big - 1, big]),
        (ref.SWA(ref.Constant(1.0), 0.1, big, 0), [big - 1, big]),
        (ref.Polynomial(1.0, big, 0.0, 1.0, True), [big, big + 1, 2 * big, 2 * big + 1]),
        (ref.Warmup(ref.Cosine(1.0, 2 * big), big, 0.0, "1-sqrt", "global", "end"),
         [big - 1, big, big + 1]),
        (ref.CosineRestarts(1.0, big, 1.0, 0.0, 0.5, "amplitude", 1), [big - 1, big]),
        (ref.WarmupStableDecay(1.0, 10, big, 100, 0.5, "exp", "rsqrt"), [big + 9, big + 10]),
    ]
    for s, ts in cases:
        t = np.array(ts, dtype=np.int64)
        got = np.asarray(jax.jit(fj.schedule(s))(jnp.asarray(t, dtype=jnp.int32)))
        np.testing.assert_allclose(got, s(t), rtol=0, atol=F32_TOL * peak_of(s, s(t)) + F32_TINY,
                                   err_msg=repr(s))


def test_past_the_horizon_holds_the_final_value(fl):
    f = jax.jit(fj.schedule(fl.Cosine(1.0, 100, 0.1)))
    counts = jnp.array([100, 101, 10 ** 6, 2 ** 31 - 1], dtype=jnp.int32)  # optax saturates
    np.testing.assert_array_equal(np.asarray(f(counts)), np.float32(0.1))
    g = fj.schedule(fl.Exponential(0.1, 0.9))    # keeps falling: no table's last value
    assert float(g(60)) == pytest.approx(fl.Exponential(0.1, 0.9)(60), rel=1e-5)
    assert float(g(59)) > float(g(60)) > 0.0


def test_counts_of_every_kind(fl):
    s = fl.Step(1.0, 2, 0.5)
    f = fj.schedule(s)
    for count in (3, np.int64(3), np.uint8(3), jnp.int8(3), jnp.uint32(3), jnp.int16(3)):
        assert float(f(count)) == s(3), type(count)
    assert float(f(3.5)) == s(3.5) and float(f(jnp.float32(4.0))) == s(4)
    assert float(f(-3)) == s(0) and float(f(-0.5)) == s(0)   # below 0: step 0
    assert np.asarray(f(np.arange(6).reshape(2, 3))).shape == (2, 3)
    with pytest.raises(TypeError, match="count must have an integer or float dtype"):
        f(True)
    with pytest.raises(TypeError, match="count must have an integer or float dtype"):
        f(jnp.complex64(1))


def test_dtype_argument(fl):
    s = fl.Cosine(0.1, 100)
    assert fj.schedule(s)(3).dtype == jnp.float32
    low = fj.schedule(s, dtype=jnp.bfloat16)(3)
    assert low.dtype == jnp.bfloat16 and float(low) == pytest.approx(s(3), rel=1e-2)
    with x64():
        assert fj.schedule(s)(3).dtype == jnp.float64
        assert fj.schedule(s, dtype=jnp.float32)(3).dtype == jnp.float32
    with pytest.raises(TypeError, match="dtype must be a jax float dtype"):
        fj.schedule(s, dtype=jnp.int32)
    with pytest.raises(TypeError, match="dtype must be a jax float dtype"):
        fj.schedule(s, dtype="bogus")


def test_traces_under_jit_vmap_and_loops(fl):
    s = fl.OneCycle(0.1, 200)
    f = fj.schedule(s)
    jitted = jax.jit(f)
    for t in (0, 59, 123, 199, 500):
        assert float(jitted(jnp.int32(t))) == pytest.approx(s(t), rel=1e-6, abs=1e-9)
    steps = jnp.arange(195, 205)
    np.testing.assert_array_equal(np.asarray(jax.vmap(f)(steps)), np.asarray(f(steps)))

    @jax.jit
    def total(n):  # the count is a tracer inside a loop
        return jax.lax.fori_loop(0, n, lambda i, acc: acc + f(i), jnp.float32(0))

    assert float(total(200)) == pytest.approx(float(s.values(200).sum()), rel=1e-5)


def test_no_table_in_the_compiled_function():
    """The old table was 4 bytes per step, a jit constant: 40 MB at 10**7 steps."""
    f = fj.schedule(ref.warmup_cosine(1.0, 1000, 10 ** 7))
    text = jax.jit(f).lower(jnp.int32(0)).as_text()
    assert len(text) < 20_000


def _slope(s, t, h=1e-4):
    return (s(t + h) - s(t - h)) / (2 * h)


def test_grad_is_the_slope_and_never_nan():
    probes = (3.3, 17.7, 44.1, 71.9, 150.6)
    ts = np.concatenate([np.arange(0.0, N, 0.25), probes])
    with x64():
        pairs = both_backends(lambda fl: case_list(fl) + noise_cases(fl))
        outs = all_at_once([jax.vmap(jax.grad(fj.schedule(r))) for r, _ in pairs],
                           jnp.asarray(ts))
    for pair, (grads,) in zip(pairs, outs):
        assert np.isfinite(grads).all(), (pair[0], ts[~np.isfinite(grads)])
        # away from kinks the gradient is the slope (central difference of s)
        for s in pair:
            for t, g in zip(probes, grads[-len(probes):]):
                left, right = _slope(s, t - 1e-3, 1e-5), _slope(s, t + 1e-3, 1e-5)
                if abs(left - right) > 1e-6 * max(1.0, abs(left)):
                    continue                          # a kink or a jump nearby
                assert float(g) == pytest.approx(_slope(s, t, 1e-6), rel=1e-4,
                                                 abs=1e-6), (s, t)


def test_grad_float32_is_finite_at_the_edges(fl):
    # each of these took a NaN gradient from a branch that jnp.where did not select
    cases = [fl.Polynomial(1.0, 10, 0.0, 0.5), fl.WarmupStableDecay(1.0, 5, 5, 10, 0.0, "1-sqrt"),
             fl.Exponential(0.01, 2.0, 1, False, 1.0), fl.Step(1.0, 2, 0.0),
             fl.Warmup(fl.Constant(0.0), 5, 0.1, "exponential"),
             fl.Sequence([fl.Constant(1.0), fl.InverseSqrt(1.0, 3), fl.Polynomial(1.0, 4, 0.0, 0.3)],
                         [5, 7]),
             # sqrt and powers < 1 at 0 in the options of issue 11
             fl.Warmup(fl.Cosine(1.0, 10), 5, 0.0, "1-sqrt"),
             fl.Polynomial(1.0, 10, 0.0, 0.5, True, 0.5), fl.Polynomial(1.0, 10, 0.0, 2.0, k_decay=0.3),
             fl.Cosine(1.0, 10, 0.0, 0.5, 0.5, 0.5), fl.Cosine(1.0, 10, 0.0, 0.3, 1.0),
             fl.CosineRestarts(1.0, 4, 1.5, 0.0, 0.9, "amplitude", 3, 0.4),
             fl.WarmupStableDecay(1.0, 5, 5, 10, 0.0, "power", "power", 2, 0.5, 0.5)]
    for s in cases:
        df = jax.vmap(jax.grad(fj.schedule(s)))
        grads = np.asarray(df(jnp.concatenate([jnp.arange(0.0, 40.0, 0.5),
                                               jnp.array([1e6, 2.0 ** 31])])))
        assert np.isfinite(grads).all(), s


def test_with_optax(fl):
    optax = pytest.importorskip("optax", reason="optax is not installed (pip install optax)")
    peak, warmup, total = 1e-3, 50, 500
    ours = fj.schedule(fl.warmup_cosine(peak, warmup, total))
    theirs = optax.warmup_cosine_decay_schedule(0.0, peak, warmup, total, end_value=0.0)
    steps = jnp.arange(total + 10)
    np.testing.assert_allclose(np.asarray(ours(steps)), np.asarray(theirs(steps)),
                               rtol=1e-5, atol=1e-6 * peak)

    opt = optax.inject_hyperparams(optax.adamw)(learning_rate=ours)
    params = {"w": jnp.ones(3)}
    state = opt.init(params)

    @jax.jit
    def update(params, state):
        grads = jax.tree.map(jnp.ones_like, params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    for _ in range(60):
        params, state = update(params, state)
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(
        fl.warmup_cosine(peak, warmup, total)(59), rel=1e-6)  # lr of the 60th update


def test_total_steps_is_deprecated_and_ignored(fl):
    s = fl.Exponential(0.1, 0.9)
    with pytest.warns(DeprecationWarning, match="total_steps is ignored"):
        f = fj.schedule(s, 50)
    assert float(f(80)) == pytest.approx(s(80), rel=1e-5)   # not s(49), the old table's end
    with pytest.warns(DeprecationWarning):
        fj.schedule(s, total_steps=10)
    with pytest.raises(TypeError, match="total_steps must be an int"):
        fj.schedule(s, 10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fj.schedule(s)


def test_bad_schedules(fl):
    with pytest.raises(TypeError, match="s must be a fastlr schedule"):
        fj.schedule(lambda t: 0.1)
    with pytest.raises(TypeError, match="Lambda.*no closed form"):
        fj.schedule(fl.Lambda(lambda t: 0.1))
    with pytest.raises(TypeError, match=r"s\.Warmup\[0\] is Lambda"):
        fj.schedule(fl.Warmup(fl.Lambda(lambda t: 0.1), 5))

    class Mystery(ref.Constant):
        def _spec(self):
            return ("mystery", 0, (1.0,), (), ())

    with pytest.raises(TypeError, match="node kind 'mystery'.*no formula"):
        fj.schedule(Mystery(0.1))


def test_adding_a_node_kind_is_one_function():
    class Doubled(ref.Constant):
        def _spec(self):
            return ("test-doubled", 0, (self.lr,), (), ())

    @fj._nodes.kind("test-doubled")
    def _doubled(node, t):
        return jnp.full(t.x.shape, 2.0 * node.params[0], t.x.dtype)

    try:
        assert float(fj.schedule(ref.Warmup(Doubled(0.25), 4))(4)) == 0.5
    finally:
        del fj._nodes.KINDS["test-doubled"]


def test_plain_schedule_on_a_tracer_points_to_fastlr_jax(fl):
    s = fl.Cosine(1.0, 10)
    with pytest.raises(TypeError, match="fastlr.jax.schedule"):
        jax.jit(lambda t: s(t))(3)
    with pytest.raises(TypeError, match="fastlr.jax.schedule"):
        jax.grad(lambda t: s(t))(3.0)
