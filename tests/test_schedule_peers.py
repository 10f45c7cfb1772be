"""Every peer schedule as a fastlr expression: torch, optax, keras, transformers, timm.

Two kinds of checks, both on both backends:

- known values: numbers written by hand from each peer's documented formula (and the
  values research/schedules-next.md measured by running the peer), never computed by
  fastlr;
- live equality with the installed peer: 1e-12 relative for the float64 peers (torch,
  transformers, timm), float32 rounding for optax and keras. A live check skips with
  the reason when its peer is not installed.

Where a peer finds a restart from a float log and so misplaces it (torch, timm and keras
at some restart steps), fastlr keeps the exact boundary and the test says so.
"""
import importlib.util
import math
import os
import sys
import types
import warnings

import numpy as np
import pytest

import fastlr
import fastlr.reference as ref

REL = 1e-12


def close(got, expected, rtol=REL, atol=1e-15):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


def both_paths(s, ts):
    """Scalar calls and one array call must agree (they are different C entry points)."""
    ts = list(ts)
    scalar = np.array([s(t) for t in ts])
    close(s(np.asarray(ts, dtype=float)), scalar, rtol=0, atol=0)
    return scalar


# ---- known values, by hand ------------------------------------------------------------


def test_product_known_values(fl):
    # StepLR(3, .5) x ExponentialLR(.9) on lr 1: 0.5**floor(t/3) * 0.9**t
    s = fl.Step(1.0, 3, 0.5) * fl.Exponential(1.0, 0.9)
    assert type(s) is fl.Product
    expected = [0.5 ** (t // 3) * 0.9 ** t for t in range(9)]
    close(s.values(9), expected)
    close(both_paths(s, range(9)), [1.0, 0.9, 0.81, 0.3645, 0.32805, 0.295245, 0.1328602,
                                    0.11957418, 0.107616762], rtol=1e-6)
    # a product of products is one flat node; a number still scales
    p = s * fl.Constant(2.0)
    assert type(p) is fl.Product and len(p.schedules) == 3
    assert type(s * 2.0) is fl.Scaled and type(2.0 * s) is fl.Scaled
    assert p(4) == pytest.approx(2 * 0.5 * 0.9 ** 4, rel=REL)


def test_product_config_equality_pickle(fl):
    import pickle
    s = fl.Product([fl.Cosine(0.1, 100), fl.MultiStep(1.0, [10, 20], 0.5),
                    fl.Warmup(fl.Constant(1.0), 5)])
    again = fl.from_config(s.to_config())
    assert again == s and hash(again) == hash(s)
    assert pickle.loads(pickle.dumps(s)) == s
    assert s.to_config()["class"] == "Product"
    close(again.values(50), s.values(50), rtol=0, atol=0)


def test_product_rejects_bad_input(fl):
    with pytest.raises(ValueError, match="schedules must not be empty"):
        fl.Product([])
    with pytest.raises(TypeError, match=r"schedules\[1\] must be a fastlr schedule"):
        fl.Product([fl.Constant(1.0), 3.0])
    with pytest.raises(TypeError, match="schedules must be a list"):
        fl.Product(fl.Constant(1.0))


TIMM_COSINE_WARMUP = [  # T=20, W=5, warmup_lr_init=.01, t = 0, 1, 4, 5, 6, 20, 24, 25
    ("global", [0.01, 0.208, 0.802, 0.853553, 0.793893, 0.0, 0.0, 0.0]),
    ("local", [0.01, 0.208, 0.802, 1.0, 0.993844, 0.146447, 0.006156, 0.0]),
]


@pytest.mark.parametrize("clock, expected", TIMM_COSINE_WARMUP)
def test_warmup_clock_known_values(fl, clock, expected):
    s = fl.Warmup(fl.Cosine(1.0, 20), 5, start_lr=0.01, clock=clock)
    close(both_paths(s, [0, 1, 4, 5, 6, 20, 24, 25]), expected, rtol=0, atol=5e-7)


def test_warmup_global_targets(fl):
    # target='start' rises to schedule(0) then drops to schedule(W); 'end' is continuous
    inner = fl.Cosine(1.0, 20)
    start = fl.Warmup(inner, 5, clock="global")
    end = fl.Warmup(inner, 5, clock="global", target="end")
    w = 0.5 * (1 + math.cos(math.pi * 5 / 20))
    assert start(2.5) == pytest.approx(0.5, rel=REL)
    assert end(2.5) == pytest.approx(0.5 * w, rel=REL)
    assert start(5) == end(5) == pytest.approx(w, rel=REL)
    # on the local clock both targets are schedule(0)
    assert fl.Warmup(inner, 5, target="end")(2.5) == fl.Warmup(inner, 5)(2.5)
    # the defaults are today's warmup, bit for bit
    old = fl.Warmup(inner, 5, 0.1, "cosine")
    assert old == fl.Warmup(inner, 5, 0.1, "cosine", "local", "start")
    assert old.to_config()["clock"] == "local" and old.to_config()["target"] == "start"


def test_warmup_1_sqrt_known_values(fl):
    # transformers WSD warmup_type='1-sqrt', W=10, min_lr_ratio .1: m + (1-m)(1-sqrt(1-t/W))
    s = fl.Warmup(fl.Constant(1.0), 10, start_lr=0.1, mode="1-sqrt")
    close(both_paths(s, [0, 2, 5, 8, 10]), [0.1, 0.1950155, 0.3636039, 0.5975078, 1.0],
          rtol=0, atol=5e-8)


def test_inverse_sqrt_transformers_known_values(fl):
    s = fl.Warmup(fl.InverseSqrt(1.0, 4), 4, clock="global")     # min(t/W, sqrt(W/t))
    close(both_paths(s, [0, 2, 4, 9, 16, 100]), [0, 0.5, 1, 2 / 3, 0.5, 0.2], rtol=REL)
    s = fl.Warmup(fl.InverseSqrt(1.0, 4, timescale=10), 4, clock="global")
    close(both_paths(s, [0, 2, 4, 9, 16, 100]),
          [0, 0.5, 1, 0.8164966, 0.6741999, 0.3071476], rtol=0, atol=5e-8)
    s = fl.InverseSqrt(1.0, 0, timescale=10_000)                  # W = 0: sqrt(1e4/(t+1e4))
    close(both_paths(s, [0, 1, 10_000, 30_000]), [1, 0.99995, 0.7071068, 0.5], rtol=0,
          atol=5e-8)
    with pytest.raises(ValueError, match="warmup_steps must be a number of steps"):
        fl.InverseSqrt(1.0, 0)


def test_swa_known_values(fl):
    # torch SWALR 1.0 -> 0.05 over 4 steps (schedules-next.md A2)
    cos = fl.SWA(fl.Constant(1.0), 0.05, 0, 4)
    close(both_paths(cos, range(6)), [1.0, 0.8608757211, 0.525, 0.1891242789, 0.05, 0.05],
          rtol=0, atol=5e-11)
    lin = fl.SWA(fl.Constant(1.0), 0.05, 0, 4, "linear")
    close(both_paths(lin, range(6)), [1.0, 0.7625, 0.525, 0.2875, 0.05, 0.05], rtol=REL)
    # the anneal starts from the main schedule's value at start, and holds swa_lr
    s = fl.SWA(fl.Linear(1.0, 0.0, 100), 0.3, 40, 10, "linear")
    assert s(39) == pytest.approx(0.61, rel=REL) and s(40) == pytest.approx(0.6, rel=REL)
    assert s(45) == pytest.approx(0.45, rel=REL) and s(50) == s(10 ** 9) == 0.3
    # anneal_steps=0: swa_lr right after start
    s0 = fl.SWA(fl.Constant(1.0), 0.2, 3, 0)
    close(both_paths(s0, [0, 2, 2.5, 3, 4]), [1, 1, 1, 0.2, 0.2], rtol=0, atol=0)


def test_cosine_exponent_known_values(fl):
    # optax cosine_decay_schedule(1, 100, alpha=.1, exponent=2)
    s = fl.Cosine(1.0, 100, 0.1, exponent=2.0)
    close(both_paths(s, [0, 25, 50, 75, 100, 150]),
          [1.0, 0.7556981, 0.325, 0.1193020, 0.1, 0.1], rtol=0, atol=5e-7)
    for e, expected in [(0.5, [1, 0.987688, 0.707107, 0.156434, 0]),
                        (3.0, [1, 0.928367, 0.125, 1.5e-05, 0])]:
        close(both_paths(fl.Cosine(1.0, 100, exponent=e), [0, 10, 50, 90, 100]), expected,
              rtol=0, atol=5e-7)


def test_cosine_num_cycles_known_values(fl):
    # transformers get_cosine_schedule_with_warmup W=10 N=110 (t < N; fastlr holds at N)
    ts = [0, 5, 10, 35, 60, 85, 109]
    for nc, expected in [(0.5, [0, .5, 1, .8535534, .5, .1464466, 0.0002467]),
                         (1.0, [0, .5, 1, .5, 0, .5, 0.9990134]),
                         (1.5, [0, .5, 1, .1464466, .5, .8535534, 0.0022190])]:
        s = fl.Warmup(fl.Cosine(1.0, 100, num_cycles=nc), 10)
        close(both_paths(s, ts), expected, rtol=0, atol=5e-7)
        # past N the value at N is held (transformers' wave goes on)
        end = 0.5 * (1 + math.cos(2 * math.pi * nc))
        assert s(110) == pytest.approx(end, abs=1e-12) and s(10 ** 6) == s(110)


def test_k_decay_known_values(fl):
    # timm k_decay: Cosine T=20 lr_min .1, and Poly T=20 power .5
    ts = [0, 5, 10, 15, 19, 20, 25]
    close(both_paths(fl.Cosine(1.0, 20, 0.1, k_decay=0.5), ts),
          [1, .55, .277435, .139274, .101423, .1, .1], rtol=0, atol=5e-7)
    close(both_paths(fl.Cosine(1.0, 20, 0.1, k_decay=2.0), ts),
          [1, .991353, .868198, .462209, .120946, .1, .1], rtol=0, atol=5e-7)
    close(both_paths(fl.Polynomial(1.0, 20, 0.0, 0.5, k_decay=2.0), ts[:-1]),
          [1, .968246, .866025, .661438, .31225, 0], rtol=0, atol=5e-7)
    # k on the restart cycles too: within cycle i the ratio is elapsed**k / length**k
    s = fl.CosineRestarts(1.0, 20, final_lr=0.1, k_decay=0.5)
    close(both_paths(s, [20, 25, 30]), [1, .55, .277435], rtol=0, atol=5e-7)


def test_polynomial_cycle_known_values(fl):
    # keras PolynomialDecay(1, 10, end=.1, cycle=True)
    s = fl.Polynomial(1.0, 10, 0.1, cycle=True)
    close(both_paths(s, [0, 1, 5, 9, 10, 11, 15, 20, 21, 30, 31]),
          [1.0, .91, .55, .19, .1, .505, .325, .1, .37, .1, .3025], rtol=REL)
    s = fl.Polynomial(1.0, 10, 0.1, 2.0, cycle=True)
    close(both_paths(s, [0, 5, 10, 11, 15, 20]), [1.0, .325, .1, .28225, .15625, .1], rtol=REL)


def test_restarts_amplitude_decay_known_values(fl):
    # keras CosineDecayRestarts(1, 10, t_mul=2, m_mul=.5, alpha=.1): fixed floor
    s = fl.CosineRestarts(1.0, 10, 2.0, 0.1, 0.5, cycle_decay_mode="amplitude")
    close(both_paths(s, [0, 5, 9, 10, 11, 20, 29, 30, 31, 50, 69, 70]),
          [1.0, .55, .122025, .55, .54723, .325, .10277, .325, .324653, .2125, .100347, .2125],
          rtol=0, atol=5e-7)
    # the peak mode (timm, the default) shrinks the peak: cycle 1 peaks at .5
    assert fl.CosineRestarts(1.0, 10, 2.0, 0.1, 0.5)(10) == pytest.approx(0.5, rel=REL)


def test_cycle_limit_known_values(fl):
    # timm Cosine T=10 lr_min .1 cycle_decay .5, cycle_limit 1, 2, 3
    ts = [0, 9, 10, 15, 19, 20, 29, 30, 40]
    for limit, expected in [(1, [1, .122025, .1, .1, .1, .1, .1, .1, .1]),
                            (2, [1, .122025, .5, .3, .109789, .1, .1, .1, .1]),
                            (3, [1, .122025, .5, .3, .109789, .25, .103671, .1, .1])]:
        s = fl.CosineRestarts(1.0, 10, 1.0, 0.1, 0.5, cycle_limit=limit)
        close(both_paths(s, ts), expected, rtol=0, atol=5e-7)
    assert fl.CosineRestarts(1.0, 10, cycle_limit=0).values(3).tolist() == [0.0, 0.0, 0.0]


def test_tanh_known_values(fl):
    # timm TanhLRScheduler defaults (lb -7, ub 3), T=20
    s = fl.Tanh(1.0, 20)
    close(both_paths(s, [0, 5, 10, 15, 19, 20, 100]),
          [.999999, .999877, .982014, .268941, .006693, 0, 0], rtol=0, atol=5e-7)
    assert s(0) == pytest.approx(0.5 * (1 - math.tanh(-7)), rel=REL)     # not exactly lr
    # timm's warmup, prefix False: rises to the curve at W (continuous)
    w = fl.Warmup(s, 5, clock="global", target="end")
    close(both_paths(w, [0, 1, 4, 5, 6]), [0, .199975, .799901, .999877, .999665], rtol=0,
          atol=5e-7)
    with pytest.raises(ValueError, match="ub must be >"):
        fl.Tanh(1.0, 10, lb=3.0, ub=3.0)


WSD_TS = [0, 5, 10, 20, 30, 35, 40, 45, 49, 50, 55]


@pytest.mark.parametrize("stable, kw, expected", [
    ("constant", {}, [0, .5, 1, 1, 1, 1, 1, .505, .109, .01, .01]),
    ("rsqrt", {}, [0, .5, 1, .707107, .57735, .534522, .5, .240702, .054175, .01, .01]),
    ("power", {"stable_power": 1.0},
     [0, .5, 1, .5, .333333, .285714, .25, .116111, .029408, .01, .01]),
])
def test_wsd_stable_phases_known_values(fl, stable, kw, expected):
    # timm WSDLRScheduler(t_initial=40, decay_t=10, warmup_t=10, lr_min=.01, 'linear')
    s = fl.WarmupStableDecay(1.0, 10, 30, 10, 0.01, "linear", stable=stable, **kw)
    close(both_paths(s, WSD_TS), expected, rtol=0, atol=5e-7)


@pytest.mark.parametrize("decay, kw, expected", [
    ("linear", {}, [1, .8, .5, .2, .1, 0, 0]),
    ("1-sqrt", {}, [1, .552786, .292893, .105573, .051317, 0, 0]),
    ("cosine", {}, [1, .904508, .5, .095492, .024472, 0, 0]),
    ("power", {"decay_power": 2.0}, [1, .96, .75, .36, .19, 0, 0]),
    ("exp", {"decay_ratio": 0.1}, [1, .589953, .240253, .064988, .028769, 0, 0]),
])
def test_wsd_decays_known_values(fl, decay, kw, expected):
    s = fl.WarmupStableDecay(1.0, 10, 30, 10, 0.0, decay, **kw)
    close(both_paths(s, [40, 42, 45, 48, 49, 50, 60]), expected, rtol=0, atol=5e-7)


def test_wsd_stable_timescale_rules(fl):
    with pytest.raises(ValueError, match="stable_timescale is required"):
        fl.WarmupStableDecay(1.0, 0, 10, 10, stable="rsqrt")
    s = fl.WarmupStableDecay(1.0, 0, 10, 10, stable="rsqrt", stable_timescale=4)
    assert s(8) == pytest.approx(3 ** -0.5, rel=REL)            # (1 + s/tau)**-0.5, s = t
    assert s(12) == pytest.approx(0.8 * 4 ** -0.5, rel=REL)     # decays from the top at t
    # the stable value is clamped at final_lr from below
    low = fl.WarmupStableDecay(1.0, 1, 10 ** 6, 10, 0.1, stable="rsqrt")
    assert low(10 ** 5) == 0.1


def test_timm_cycles_of_tanh_and_poly_as_a_sequence(fl):
    # timm's cycle_limit on Tanh/Poly: one leaf per cycle, each peak shrunk by cycle_decay
    # (TanhLRScheduler T=20, lb=-3, ub=3, lr_min=.1, cycle_limit=2, cycle_decay=.5)
    s = fl.Sequence([fl.Tanh(1.0, 20, 0.1, -3, 3), fl.Tanh(0.5, 20, 0.1, -3, 3),
                     fl.Constant(0.1)], [20, 40])
    close(both_paths(s, [0, 10, 19, 20, 30, 39, 40]),
          [.997775, .55, .104047, .499011, .3, .101799, .1], rtol=0, atol=5e-7)


def test_noise_is_a_pure_function_of_seed_and_step(fl):
    base = fl.Cosine(1.0, 100)
    s = fl.Noise(base, 10, 20, seed=7)
    v = s.values(30)
    assert np.array_equal(v[:10], base.values(10)) and np.array_equal(v[20:], base(range(20, 30)))
    ratio = v[10:20] / base(range(10, 20)) - 1.0
    assert np.all(np.abs(ratio) < 0.67) and np.unique(ratio).size == 10
    # the same step always gets the same noise: resume, arrays, fractional steps
    assert s(15) == v[15] and s(15.5) == pytest.approx(base(15.5) * (1 + ratio[5]), rel=REL)
    assert fl.Noise(base, 10, 20, seed=7) == s and fl.Noise(base, 10, 20, seed=8)(15) != s(15)
    # an end of None is no end (timm's int noise_range_t)
    forever = fl.Noise(fl.Constant(1.0), 50, None, kind="uniform")
    assert forever(49) == 1.0 and forever(50) != 1.0 and forever(10 ** 12) != 1.0


# Kolmogorov-Smirnov at the 0.1% level, without scipy: reject when the largest gap between
# the empirical and the model CDF exceeds c(0.001) = 1.949 / sqrt(n)
KS_C = 1.949


def _truncnorm_cdf(x, pct, std):
    phi = [0.5 * (1 + math.erf(v / (std * math.sqrt(2)))) for v in (-pct, pct)]
    return (np.array([0.5 * (1 + math.erf(v / (std * math.sqrt(2)))) for v in x])
            - phi[0]) / (phi[1] - phi[0])


def ks_gap(sample, cdf):
    x = np.sort(sample)
    n = x.size
    f = cdf(x)
    return max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))


def test_noise_distribution_matches_timm_definition(fl):
    # timm: n = randn * std redrawn until |n| < pct (a truncated normal); uniform on [-p, p)
    m = 20_000
    for pct, std, seed in [(0.67, 1.0, 42), (0.9, 0.3, 3)]:   # narrow and wide windows
        s = fl.Noise(fl.Constant(1.0), 0, None, pct=pct, std=std, seed=seed)
        n = s(np.arange(m)) - 1.0
        assert np.all(np.abs(n) < pct)
        assert ks_gap(n, lambda x: _truncnorm_cdf(x, pct, std)) < KS_C / math.sqrt(m)
        # and not merely "some distribution on the window": a uniform fails the test
        assert ks_gap(n, lambda x: (x + pct) / (2 * pct)) > KS_C / math.sqrt(m)
    uni = fl.Noise(fl.Constant(1.0), 0, None, pct=0.5, kind="uniform", seed=1)
    n = uni(np.arange(m)) - 1.0
    assert np.all((n >= -0.5) & (n < 0.5))
    assert ks_gap(n, lambda x: x + 0.5) < KS_C / math.sqrt(m)


def test_noise_rejects_bad_input(fl):
    c = fl.Constant(1.0)
    with pytest.raises(ValueError, match="end must be >= start"):
        fl.Noise(c, 10, 5)
    with pytest.raises(ValueError, match="pct must be <= 1.0"):
        fl.Noise(c, pct=1.5)
    with pytest.raises(TypeError, match="seed must be an int"):
        fl.Noise(c, seed=1.5)
    with pytest.raises(ValueError, match="seed must be in"):
        fl.Noise(c, seed=-1)


def test_noise_is_identical_in_c_and_python():
    # the same hash, the same libm calls: bit for bit, for both samplers and the uniform
    steps = np.r_[0:3000, 2.0 ** 40, 2.0 ** 53]
    for pct, std, kind in [(0.3, 0.2, "normal"), (0.2, 0.3, "normal"), (0.5, 1.0, "uniform")]:
        s = ref.Noise(ref.Constant(1.0), 0, None, pct, std, kind, seed=2 ** 63 + 12345)
        c = fastlr.from_config(s.to_config())
        np.testing.assert_array_equal(c(steps), [s(float(t)) for t in steps])
        np.testing.assert_array_equal(c.values(3000), c(steps[:3000]))


def test_new_options_at_their_defaults_keep_the_old_formulas_bit_for_bit():
    # the formulas before the options existed, written out; the reference must give the
    # same bits (the compiled twin runs its old loops at the defaults: parity tests)
    ts = [0.0, 0.5, 1.0, 7.0, 33.3, 99.0, 100.0, 250.0, 1e12]
    lr, T, fin = 0.3, 100, 0.01
    for t in ts:
        x = min(t, T) / T
        assert ref.Cosine(lr, T, fin)(t) == fin + (lr - fin) * (0.5 * (1.0 + math.cos(math.pi * x)))
        assert ref.Polynomial(lr, T, fin, 2.0)(t) == (lr - fin) * (1.0 - x) ** 2.0 + fin
        assert ref.InverseSqrt(lr, 10)(t) == lr * math.sqrt(10 / max(t, 10))
        w = ref.Warmup(ref.Cosine(lr, T), 10, 0.01)
        expected = (0.01 + (lr - 0.01) * (t / 10) if t < 10
                    else ref.Cosine(lr, T)(t - 10))
        assert w(t) == expected
    for t in range(0, 200, 7):
        i = t // 30
        x = (t - 30 * i) / 30
        peak = lr * 0.5 ** i
        assert ref.CosineRestarts(lr, 30, 1.0, fin, 0.5)(t) == \
            fin + (peak - fin) * (0.5 * (1.0 + math.cos(math.pi * x)))


# ---- torch, live ----------------------------------------------------------------------

try:
    import torch
    sched = torch.optim.lr_scheduler
except ImportError:  # pragma: no cover - torch is a test dependency
    torch = sched = None
needs_torch = pytest.mark.skipif(torch is None, reason="the live checks need torch==2.13.0")


def torch_lrs(make, n, base_lr=1.0):
    param = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([param], lr=base_lr)
    s = make(opt)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            s.step()
    return np.array(lrs)


CHAINS = [
    ("Step*Exp", lambda o: [sched.StepLR(o, 3, 0.5), sched.ExponentialLR(o, 0.9)],
     lambda fl: fl.Step(0.1, 3, 0.5) * fl.Exponential(1.0, 0.9), 60),
    ("Linear*Exp", lambda o: [sched.LinearLR(o, 0.25, 1.0, 4), sched.ExponentialLR(o, 0.9)],
     lambda fl: fl.Linear(0.025, 0.1, 4) * fl.Exponential(1.0, 0.9), 60),
    ("Cosine*Exp (t <= T)", lambda o: [sched.CosineAnnealingLR(o, 10), sched.ExponentialLR(o, 0.9)],
     lambda fl: fl.Cosine(0.1, 10) * fl.Exponential(1.0, 0.9), 10),
    ("Poly*Exp", lambda o: [sched.PolynomialLR(o, 8, 2.0), sched.ExponentialLR(o, 0.9)],
     lambda fl: fl.Polynomial(0.1, 8, power=2.0) * fl.Exponential(1.0, 0.9), 40),
    ("Constant*MultiStep", lambda o: [sched.ConstantLR(o, 0.5, 3),
                                      sched.MultiStepLR(o, [5, 8], 0.1)],
     lambda fl: fl.PiecewiseConstant([3], [0.05, 0.1]) * fl.MultiStep(1.0, [5, 8], 0.1), 30),
    ("Multiplicative*Step", lambda o: [sched.MultiplicativeLR(o, lambda t: 0.9),
                                       sched.StepLR(o, 2, 0.5)],
     lambda fl: fl.Exponential(0.1, 0.9) * fl.Step(1.0, 2, 0.5), 40),
    ("Step*Linear*Exp", lambda o: [sched.StepLR(o, 5, 0.7), sched.LinearLR(o, 0.1, 1.0, 10),
                                   sched.ExponentialLR(o, 0.97)],
     lambda fl: fl.Step(0.1, 5, 0.7) * fl.Linear(0.1, 1.0, 10) * fl.Exponential(1.0, 0.97),
     80),
]


@needs_torch
@pytest.mark.parametrize("name, children, ours, n", CHAINS, ids=[c[0] for c in CHAINS])
def test_chained_scheduler_matches_torch(fl, name, children, ours, n):
    chained = torch_lrs(lambda o: sched.ChainedScheduler(children(o)), n, base_lr=0.1)
    s = ours(fl)
    close(s.values(n), chained)
    close(both_paths(s, range(n)), chained)


@needs_torch
def test_compound_schedulers_match_the_product(fl):
    # stepping two schedulers by hand ("compound") is the same product
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    a, b = sched.StepLR(opt, 4, 0.3), sched.ExponentialLR(opt, 0.95)
    lrs = []
    for _ in range(50):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        a.step()
        b.step()
    close((fl.Step(0.1, 4, 0.3) * fl.Exponential(1.0, 0.95)).values(50), lrs)


@needs_torch
def test_constant_and_multiplicative_lr_match_torch(fl):
    close(fl.PiecewiseConstant([4], [0.25, 1.0]).values(12),
          torch_lrs(lambda o: sched.ConstantLR(o, 0.25, 4), 12))
    close(fl.Exponential(1.0, 0.95).values(40),
          torch_lrs(lambda o: sched.MultiplicativeLR(o, lambda t: 0.95), 40))


@needs_torch
def test_cosine_with_eta_min_is_not_a_product():
    # documented limit: torch's chain with an affine child is not the product
    chained = torch_lrs(lambda o: sched.ChainedScheduler(
        [sched.CosineAnnealingLR(o, 10, 0.1), sched.ExponentialLR(o, 0.9)]), 11)
    product = (ref.Cosine(1.0, 10, 0.1) * ref.Exponential(1.0, 0.9)).values(11)
    assert abs(chained[10] - 0.09) < 1e-12 and abs(product[10] - 0.1 * 0.9 ** 10) < 1e-12


def swa_torch(main, swa_lr, anneal_epochs, strategy, swa_start, epochs):
    """torch's documented SWA loop: the lr each epoch trains with."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    scheduler = main(opt)
    swa = torch.optim.swa_utils.SWALR(opt, swa_lr, anneal_epochs, strategy)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(epochs):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            if epoch > swa_start:
                swa.step()
            else:
                scheduler.step()
    return np.array(lrs)


@needs_torch
@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("swa_lr", [0.05, 0.001])
def test_swalr_matches_torch_documented_loop(fl, strategy, swa_lr):
    # CosineAnnealingLR(T=300) on 0.1, SWALR(anneal 10) from swa_start = 160 (A2's run)
    expected = swa_torch(lambda o: sched.CosineAnnealingLR(o, 300), swa_lr, 10, strategy,
                         160, 300)
    s = fl.SWA(fl.Cosine(0.1, 300), swa_lr, start=160 + 1, anneal_steps=10, anneal=strategy)
    close(s.values(300), expected)
    close(both_paths(s, range(300)), expected)
    if swa_lr == 0.05 and strategy == "cos":
        close(expected[[159, 160, 161, 162, 171]],
              [0.045295, 0.044774, 0.044253, 0.044394, 0.05], rtol=0, atol=5e-7)


@needs_torch
def test_swalr_after_step_schedule_matches_torch(fl):
    expected = swa_torch(lambda o: sched.MultiStepLR(o, [10, 20], 0.5), 0.07, 3, "linear",
                         25, 40)
    s = fl.SWA(fl.MultiStep(0.1, [10, 20], 0.5), 0.07, 26, 3, "linear")
    close(s.values(40), expected)


@needs_torch
def test_restart_misplaced_by_torch_float_log(fl):
    # torch's step(epoch) finds the cycle from a float log: at epoch 111 of
    # CosineAnnealingWarmRestarts(T_0=1, T_mult=10) it lands at the end of the cycle
    # before; fastlr finds the cycle exactly and returns the restart's peak
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    s = sched.CosineAnnealingWarmRestarts(opt, 1, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s.step(111)
    assert opt.param_groups[0]["lr"] < 1e-12
    assert fl.CosineRestarts(1.0, 1, 10)(111) == 1.0


# ---- transformers, live -----------------------------------------------------------------


def hf_lrs(make, n, lr=1.0):
    tf_opt = pytest.importorskip("transformers.optimization",
                                 reason="transformers is not installed")
    return torch_lrs(lambda o: make(tf_opt, o), n, base_lr=lr)


@needs_torch
@pytest.mark.parametrize("nc", [0.5, 1.0, 1.5, 2.25])
def test_transformers_cosine_num_cycles(fl, nc):
    n = 110
    expected = hf_lrs(lambda m, o: m.get_cosine_schedule_with_warmup(o, 10, n, nc), n)
    s = fl.Warmup(fl.Cosine(1.0, n - 10, num_cycles=nc), 10)
    close(s.values(n), expected, atol=1e-14)


@needs_torch
def test_transformers_hard_restarts(fl):
    n = 110
    expected = hf_lrs(lambda m, o: m.get_cosine_with_hard_restarts_schedule_with_warmup(
        o, 10, n, 2), n + 20)
    # equal cycles at full peak, then a hard 0 from N on
    s = fl.Warmup(fl.Sequence([fl.CosineRestarts(1.0, 50), fl.Constant(0.0)], [100]), 10)
    close(s.values(n + 20), expected, atol=1e-14)


@needs_torch
@pytest.mark.parametrize("w, tau", [(4, None), (4, 10), (100, 7), (0, None), (0, 50)])
def test_transformers_inverse_sqrt(fl, w, tau):
    expected = hf_lrs(lambda m, o: m.get_inverse_sqrt_schedule(o, w, tau), 400)
    timescale = tau if tau is not None else (w or 10_000)
    if w and tau is None:
        inner = fl.InverseSqrt(1.0, w)
    else:
        inner = fl.InverseSqrt(1.0, w, timescale=timescale)
    s = fl.Warmup(inner, w, clock="global") if w else inner
    close(s.values(400), expected)


@needs_torch
@pytest.mark.parametrize("warmup", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("decay", ["linear", "cosine", "1-sqrt"])
@pytest.mark.parametrize("m, nc", [(0.1, 0.5), (0.0, 1.0)])
def test_transformers_wsd(fl, warmup, decay, m, nc):
    W, D, N = 10, 20, 60
    S = N - W - D
    expected = hf_lrs(lambda mod, o: mod.get_wsd_schedule(
        o, W, D, N, warmup_type=warmup, decay_type=decay, min_lr_ratio=m, num_cycles=nc), 80)
    tail = {"linear": fl.Linear(1.0, m, D),
            "cosine": fl.Cosine(1.0, D, m, num_cycles=nc),
            "1-sqrt": fl.Polynomial(1.0, D, m, k_decay=0.5)}[decay]
    s = fl.Warmup(fl.Sequence([fl.Constant(1.0), tail, fl.Constant(m)], [S, S + D]), W,
                  start_lr=m, mode=warmup)
    close(s.values(80), expected, atol=1e-14)


@needs_torch
@pytest.mark.parametrize("helper, name", [("warmup_cosine", "get_cosine_schedule_with_warmup"),
                                          ("warmup_linear", "get_linear_schedule_with_warmup")])
def test_transformers_warmup_equal_to_total(fl, helper, name):
    # accepted by transformers: all warmup; fastlr then holds final_lr
    expected = hf_lrs(lambda m, o: getattr(m, name)(o, 10, 10), 10)
    s = getattr(fl, helper)(1.0, 10, 10)
    close(s.values(10), expected)
    assert s(10) == s(10 ** 6) == 0.0
    assert getattr(fl, helper)(1.0, 10, 10, final_lr=0.2)(11) == 0.2


@needs_torch
def test_transformers_polynomial_with_warmup(fl):
    expected = hf_lrs(lambda m, o: m.get_polynomial_decay_schedule_with_warmup(
        o, 10, 100, lr_end=1e-3, power=2.0), 130, lr=0.1)
    s = fl.Warmup(fl.Polynomial(0.1, 90, 1e-3, 2.0), 10)
    close(s.values(130), expected)


def test_transformers_constant_with_warmup(fl):
    expected = hf_lrs(lambda m, o: m.get_constant_schedule_with_warmup(o, 7), 30, lr=0.1)
    close(fl.Warmup(fl.Constant(0.1), 7).values(30), expected)


@pytest.mark.parametrize("kw", [dict(min_lr=0.01), dict(min_lr_rate=0.2, num_cycles=1.0)])
def test_transformers_cosine_with_min_lr(fl, kw):
    n = 100
    expected = hf_lrs(lambda m, o: m.get_cosine_with_min_lr_schedule_with_warmup(
        o, 10, n, **kw), n, lr=0.1)
    floor = kw.get("min_lr", 0.1 * kw.get("min_lr_rate", 0.0))
    s = fl.Warmup(fl.Cosine(0.1, n - 10, floor, num_cycles=kw.get("num_cycles", 0.5)), 10)
    close(s.values(n), expected)


@pytest.mark.parametrize("rate", [None, 0.05])
def test_transformers_cosine_warmup_with_min_lr(fl, rate):
    # the (t+1)/W warmup and a cosine clock one step ahead: a Sequence switching at W - 1
    n, w = 110, 10
    expected = hf_lrs(lambda m, o: m.get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
        o, w, n, min_lr=1e-3, warmup_lr_rate=rate), n, lr=0.1)
    start = 0.1 / w if rate is None else 0.1 * rate
    s = fl.Sequence([fl.Linear(start, 0.1, w - 1), fl.Cosine(0.1, n - w, 1e-3)], [w - 1])
    close(s.values(n), expected)


# ---- timm, live ---------------------------------------------------------------------------


def _timm_scheduler(module):
    """timm.scheduler.<module>, imported without timm's package __init__ (it needs
    torchvision, which the test environment need not have)."""
    if "timm" not in sys.modules:
        spec = importlib.util.find_spec("timm")
        if spec is None:
            pytest.skip("timm is not installed")
        pkg = types.ModuleType("timm")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["timm"] = pkg
    return importlib.import_module(f"timm.scheduler.{module}")


def timm_lrs(make, n, base_lr=1.0):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=base_lr)
    s = make(opt)
    lrs = []
    for t in range(n):
        s.step(t)
        lrs.append(opt.param_groups[0]["lr"])
    return np.array(lrs)


def assert_equal_but_restarts(ours, theirs, restarts):
    """Equal to 1e-12, except at restart steps the peer misplaces (it returns the end of
    the previous cycle there; fastlr the restart's peak)."""
    bad = ~np.isclose(ours, theirs, rtol=REL, atol=1e-15)
    assert set(np.flatnonzero(bad)) <= set(restarts), np.flatnonzero(bad)
    return np.flatnonzero(bad)


@needs_torch
@pytest.mark.parametrize("prefix", [False, True])
@pytest.mark.parametrize("kw", [
    dict(),
    dict(lr_min=0.1, cycle_decay=0.5, cycle_limit=3),
    dict(lr_min=0.01, cycle_mul=2.0, cycle_decay=0.7, cycle_limit=4, k_decay=1.5),
    dict(lr_min=0.05, k_decay=0.5, cycle_limit=2),
])
def test_timm_cosine(fl, prefix, kw):
    mod = _timm_scheduler("cosine_lr")
    T, W = 20, 5
    expected = timm_lrs(lambda o: mod.CosineLRScheduler(
        o, T, warmup_t=W, warmup_lr_init=0.01, warmup_prefix=prefix, **kw), 400)
    inner = fl.CosineRestarts(1.0, T, kw.get("cycle_mul", 1.0), kw.get("lr_min", 0.0),
                              kw.get("cycle_decay", 1.0), cycle_limit=kw.get("cycle_limit", 1),
                              k_decay=kw.get("k_decay", 1.0))
    s = fl.Warmup(inner, W, 0.01, clock="local" if prefix else "global")
    assert_equal_but_restarts(s.values(400), expected, [])


@needs_torch
def test_timm_cosine_misplaced_restart(fl):
    # timm's float log puts (t_initial=1, cycle_mul=3) step 121 at the end of cycle 3
    mod = _timm_scheduler("cosine_lr")
    expected = timm_lrs(lambda o: mod.CosineLRScheduler(o, 1, cycle_mul=3.0, cycle_limit=10),
                        200)
    ours = fl.CosineRestarts(1.0, 1, 3.0, cycle_limit=10).values(200)
    assert list(assert_equal_but_restarts(ours, expected, [121])) == [121]
    assert ours[121] == 1.0 and expected[121] < 1e-12


@needs_torch
@pytest.mark.parametrize("prefix", [False, True])
@pytest.mark.parametrize("power, k", [(0.5, 1.0), (2.0, 2.0), (1.0, 0.5)])
def test_timm_poly(fl, prefix, power, k):
    mod = _timm_scheduler("poly_lr")
    expected = timm_lrs(lambda o: mod.PolyLRScheduler(
        o, 30, power=power, lr_min=0.02, warmup_t=4, warmup_lr_init=0.1,
        warmup_prefix=prefix, k_decay=k), 60)
    s = fl.Warmup(fl.Polynomial(1.0, 30, 0.02, power, k_decay=k), 4, 0.1,
                  clock="local" if prefix else "global")
    close(s.values(60), expected)


@needs_torch
@pytest.mark.parametrize("prefix", [False, True])
def test_timm_tanh(fl, prefix):
    mod = _timm_scheduler("tanh_lr")
    expected = timm_lrs(lambda o: mod.TanhLRScheduler(
        o, 20, lb=-5, ub=4, lr_min=0.03, warmup_t=5, warmup_lr_init=0.0,
        warmup_prefix=prefix), 40)
    tanh = fl.Tanh(1.0, 20, 0.03, -5, 4)
    if prefix:      # timm's prefixed tanh warmup rises to the base lr, not to tanh(0)
        s = fl.Sequence([fl.Linear(0.0, 1.0, 5), tanh], [5])
    else:           # and without the prefix to the curve at W: continuous
        s = fl.Warmup(tanh, 5, 0.0, clock="global", target="end")
    close(s.values(40), expected)


@needs_torch
@pytest.mark.parametrize("stable_fn, stable_kw", [("constant", {}), ("rsqrt", {}),
                                                  ("power", {"stable_power": 0.7})])
@pytest.mark.parametrize("decay_fn, decay_kw", [("linear", {}), ("1-sqrt", {}), ("cosine", {}),
                                                ("power", {"decay_power": 2.0}),
                                                ("exp", {"decay_ratio": 0.2})])
def test_timm_wsd(fl, stable_fn, stable_kw, decay_fn, decay_kw):
    mod = _timm_scheduler("wsd_lr")
    timm_kw = {**stable_kw, **decay_kw}
    expected = timm_lrs(lambda o: mod.WSDLRScheduler(
        o, 40, 15, lr_min=0.02, stable_fn=stable_fn, decay_fn=decay_fn, warmup_t=10,
        **timm_kw), 70)
    s = fl.WarmupStableDecay(1.0, 10, 25, 15, 0.02, decay_fn, stable=stable_fn, **timm_kw)
    close(s.values(70), expected)


def test_timm_tanh_and_poly_cycles(fl):
    tanh = _timm_scheduler("tanh_lr")
    expected = timm_lrs(lambda o: tanh.TanhLRScheduler(
        o, 20, lb=-3, ub=3, lr_min=0.1, cycle_limit=2, cycle_decay=0.5), 60)
    s = fl.Sequence([fl.Tanh(1.0, 20, 0.1, -3, 3), fl.Tanh(0.5, 20, 0.1, -3, 3),
                     fl.Constant(0.1)], [20, 40])
    close(s.values(60), expected)
    poly = _timm_scheduler("poly_lr")
    expected = timm_lrs(lambda o: poly.PolyLRScheduler(
        o, 10, power=2.0, lr_min=0.05, cycle_mul=2.0, cycle_limit=3, cycle_decay=0.8), 90)
    s = fl.Sequence([fl.Polynomial(1.0, 10, 0.05, 2.0), fl.Polynomial(0.8, 20, 0.05, 2.0),
                     fl.Polynomial(0.64, 40, 0.05, 2.0), fl.Constant(0.05)], [10, 30, 70])
    close(s.values(90), expected)


def test_timm_step_and_multistep(fl):
    mod = _timm_scheduler("step_lr")
    expected = timm_lrs(lambda o: mod.StepLRScheduler(o, 7, 0.5, warmup_t=3,
                                                      warmup_lr_init=0.1), 40)
    close(fl.Warmup(fl.Step(1.0, 7, 0.5), 3, 0.1).values(40), expected)
    mod = _timm_scheduler("multistep_lr")
    # timm applies milestone m at t == m - 1 (after the prefix warmup)
    expected = timm_lrs(lambda o: mod.MultiStepLRScheduler(o, [10, 20], 0.3, warmup_t=3,
                                                           warmup_lr_init=0.1), 40)
    close(fl.Warmup(fl.MultiStep(1.0, [9, 19], 0.3), 3, 0.1).values(40), expected)


def test_timm_noise_distribution(fl):
    # timm's noise (torch's generator seeded with seed + t) and fastlr's hash noise: two
    # samples of one truncated normal (two-sample KS at the 0.1% level)
    mod = _timm_scheduler("cosine_lr")
    n = 3000
    theirs = timm_lrs(lambda o: mod.CosineLRScheduler(o, 10 ** 9, noise_range_t=(0, n)), n)
    clean = fl.Cosine(1.0, 10 ** 9)
    ours = fl.Noise(clean, 0, n, seed=42).values(n)
    a, b = theirs / clean.values(n) - 1, ours / clean.values(n) - 1
    assert np.all(np.abs(a) < 0.67) and np.all(np.abs(b) < 0.67)
    grid = np.sort(np.r_[a, b])
    gap = np.max(np.abs(np.searchsorted(np.sort(a), grid, side="right") / n
                        - np.searchsorted(np.sort(b), grid, side="right") / n))
    assert gap < KS_C * math.sqrt(2 / n)


# ---- keras and optax, live (float32 peers) -------------------------------------------------


def _keras_schedules():
    os.environ.setdefault("KERAS_BACKEND", "numpy")
    try:
        import keras
    except Exception as exc:  # keras needs a backend; without one there is nothing to test
        pytest.skip(f"keras is not usable here: {exc}")
    return keras.optimizers.schedules


# float32 rounding: a few float32 ulps of the peak (1.0), which cos(pi x) in float32
# then carries into small values
F32 = dict(rtol=2e-6, atol=1e-6)


@needs_torch
@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
def test_keras_polynomial_cycle(fl, power):
    ks = _keras_schedules()
    k = ks.PolynomialDecay(1.0, 10, end_learning_rate=0.1, power=power, cycle=True)
    ts = range(0, 120)
    expected = [float(k(t)) for t in ts]
    close(fl.Polynomial(1.0, 10, 0.1, power, cycle=True)(np.array(ts)), expected, **F32)


@needs_torch
@pytest.mark.parametrize("t_mul, m_mul, alpha", [(2.0, 0.5, 0.1), (1.0, 0.7, 0.0),
                                                 (1.5, 1.0, 0.2)])
def test_keras_cosine_decay_restarts(fl, t_mul, m_mul, alpha):
    ks = _keras_schedules()
    k = ks.CosineDecayRestarts(1.0, 10, t_mul=t_mul, m_mul=m_mul, alpha=alpha)
    ts = np.arange(0, 300)
    expected = np.array([float(k(int(t))) for t in ts])
    s = fl.CosineRestarts(1.0, 10, t_mul, alpha, m_mul, cycle_decay_mode="amplitude")
    close(s(ts), expected, **F32)


@needs_torch
def test_keras_misplaced_restart(fl):
    # keras finds the cycle from a float32 log: with t_mul=2 the restart at T0*(2**15 - 1)
    # lands at the end of the cycle before (0.0); fastlr returns the restart's peak
    ks = _keras_schedules()
    t = 10 * (2 ** 15 - 1)
    assert float(ks.CosineDecayRestarts(1.0, 10, t_mul=2.0)(t)) < 1e-6
    assert fl.CosineRestarts(1.0, 10, 2.0)(t) == 1.0


def test_keras_cosine_decay_with_warmup(fl):
    ks = _keras_schedules()
    k = ks.CosineDecay(0.01, 90, alpha=0.1, warmup_target=1.0, warmup_steps=10)
    ts = np.arange(130)
    close(fl.Warmup(fl.Cosine(1.0, 90, 0.1), 10, 0.01)(ts), [float(k(int(t))) for t in ts],
          **F32)


def test_keras_piecewise_constant_switches_after_the_boundary(fl):
    ks = _keras_schedules()
    k = ks.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    ts = np.arange(30)
    close(fl.PiecewiseConstant([11, 21], [1.0, 0.5, 0.1])(ts), [float(k(int(t))) for t in ts],
          **F32)


def test_optax_onecycle(fl):
    optax = pytest.importorskip("optax", reason="optax is not installed")
    ts = np.arange(120)
    o = optax.cosine_onecycle_schedule(100, 1.0, pct_start=0.3)
    s = fl.Warmup(fl.Cosine(1.0, 70, 0.04 / 1e4), 30, 0.04, mode="cosine")
    close(s(ts), [float(o(t)) for t in ts], **F32)
    o = optax.linear_onecycle_schedule(100, 1.0, pct_start=0.3, pct_final=0.85)
    s = fl.Warmup(fl.Sequence([fl.Linear(1.0, 0.04, 55), fl.Linear(0.04, 0.04 / 1e4, 15)],
                              [55]), 30, 0.04)
    close(s(ts), [float(o(t)) for t in ts], **F32)


def test_optax_cosine_exponent(fl):
    optax = pytest.importorskip("optax", reason="optax is not installed")
    for e in (0.5, 2.0, 3.0):
        o = optax.cosine_decay_schedule(1.0, 100, alpha=0.1, exponent=e)
        ts = np.arange(150)
        close(fl.Cosine(1.0, 100, 0.1, exponent=e)(ts), [float(o(t)) for t in ts], **F32)
        o = optax.warmup_cosine_decay_schedule(0.0, 1.0, 10, 110, end_value=0.1, exponent=e)
        s = fl.Warmup(fl.Cosine(1.0, 100, 0.1, exponent=e), 10)
        close(s(ts), [float(o(t)) for t in ts], **F32)


def _optax():
    return pytest.importorskip("optax", reason="optax is not installed")


OPTAX_CASES = [
    ("exponential_decay", lambda o: o.exponential_decay(1.0, 5, 0.5, transition_begin=10,
                                                        staircase=True, end_value=0.05),
     lambda fl: fl.Sequence([fl.Constant(1.0), fl.Exponential(1.0, 0.5, 5, True, 0.05)], [10])),
    ("polynomial_schedule", lambda o: o.polynomial_schedule(1.0, 0.1, 2.0, 20, 5),
     lambda fl: fl.Sequence([fl.Constant(1.0), fl.Polynomial(1.0, 20, 0.1, 2.0)], [5])),
    ("linear_schedule", lambda o: o.linear_schedule(0.0, 1.0, 20, 5),
     lambda fl: fl.Sequence([fl.Constant(0.0), fl.Linear(0.0, 1.0, 20)], [5])),
    ("piecewise_constant", lambda o: o.piecewise_constant_schedule(1.0, {10: 0.5, 30: 0.1}),
     lambda fl: fl.PiecewiseConstant([10, 30], [1.0, 0.5, 0.05])),
    ("piecewise_interpolate linear",
     lambda o: o.piecewise_interpolate_schedule("linear", 1.0, {10: 0.5, 30: 0.1}),
     lambda fl: fl.PiecewiseLinear([0, 10, 30], [1.0, 0.5, 0.05])),
    ("piecewise_interpolate cosine",
     lambda o: o.piecewise_interpolate_schedule("cosine", 1.0, {10: 0.5, 30: 0.1}),
     lambda fl: fl.Sequence([fl.Warmup(fl.Constant(0.5), 10, 1.0, "cosine"),
                             fl.Warmup(fl.Constant(0.05), 20, 0.5, "cosine")], [10])),
    ("warmup_exponential_decay",
     lambda o: o.warmup_exponential_decay_schedule(0.0, 1.0, 10, 5, 0.5, 3, False, 0.01),
     lambda fl: fl.Warmup(fl.Sequence([fl.Constant(1.0),
                                       fl.Exponential(1.0, 0.5, 5, False, 0.01)], [3]), 10)),
    ("sgdr", lambda o: o.sgdr_schedule([
        dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=20, end_value=0.1),
        dict(init_value=0.1, peak_value=0.5, warmup_steps=3, decay_steps=30, end_value=0.0)]),
     lambda fl: fl.Sequence([fl.Warmup(fl.Cosine(1.0, 15, 0.1), 5),
                             fl.Warmup(fl.Cosine(0.5, 27, 0.0), 3, 0.1)], [20])),
    ("warmup_constant", lambda o: o.warmup_constant_schedule(0.1, 1.0, 10),
     lambda fl: fl.Warmup(fl.Constant(1.0), 10, 0.1)),
]


@pytest.mark.parametrize("name, theirs, ours", OPTAX_CASES, ids=[c[0] for c in OPTAX_CASES])
def test_optax_schedules(fl, name, theirs, ours):
    o = theirs(_optax())
    ts = np.arange(60)
    close(ours(fl)(ts), [float(o(int(t))) for t in ts], **F32)


def test_keras_exponential_and_inverse_time(fl):
    ks = _keras_schedules()
    ts = np.arange(60)
    for staircase in (False, True):
        k = ks.ExponentialDecay(1.0, 7, 0.6, staircase=staircase)
        close(fl.Exponential(1.0, 0.6, 7, staircase)(ts), [float(k(int(t))) for t in ts], **F32)
        k = ks.InverseTimeDecay(1.0, 7, 0.6, staircase=staircase)
        close(fl.InverseTime(1.0, 0.6, 7, staircase)(ts), [float(k(int(t))) for t in ts], **F32)
