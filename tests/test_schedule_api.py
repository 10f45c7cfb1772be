"""Schedule API contract on both backends: arguments, steps, configs, value semantics."""
import copy
import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import given

import fastlr
import fastlr.reference as ref

from strategies import schedules


def examples(fl):
    return [
        fl.Constant(0.1), fl.Linear(0.0, 1.0, 10), fl.Step(1.0, 3), fl.MultiStep(1.0, [2, 5]),
        fl.Exponential(1.0, 0.9, final_lr=0.1), fl.Polynomial(1.0, 10), fl.Cosine(1.0, 10),
        fl.CosineRestarts(1.0, 4, 2.0), fl.InverseSqrt(1.0, 4), fl.InverseTime(1.0, 0.5),
        fl.Cyclic(0.1, 1.0, 4), fl.OneCycle(1.0, 100), fl.OneCycle(1.0, 100).momentum(),
        fl.WarmupStableDecay(1.0, 2, 3, 4), fl.PiecewiseConstant([3], [1.0, 0.1]),
        fl.PiecewiseLinear([0, 10], [0.0, 1.0]), fl.Warmup(fl.Cosine(1.0, 10), 5),
        fl.Sequence([fl.Constant(1.0), fl.Cosine(1.0, 5)], [3]),
        fl.Scaled(fl.Step(1.0, 2), 0.5), fl.warmup_cosine(1.0, 2, 10),
    ]


# -- steps ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [-1, -0.5, math.nan, math.inf, -math.inf, 10 ** 400,
                                 2 ** 53 + 1, 2.0 ** 54])
def test_bad_scalar_step_is_a_value_error(fl, bad):
    with pytest.raises(ValueError, match=r"step must be a finite number in \[0, 2\*\*53\], got"):
        fl.Cosine(1.0, 10)(bad)


@pytest.mark.parametrize("bad", [True, "3", None, 1j, object()])
def test_non_numeric_step_is_a_type_error(fl, bad):
    with pytest.raises(TypeError, match="step"):
        fl.Cosine(1.0, 10)(bad)


@pytest.mark.parametrize("bad", [[0, -1, 2], [0.0, math.nan], [math.inf], [2.0 ** 60]])
def test_bad_array_step_names_the_value(fl, bad):
    with pytest.raises(ValueError, match=r"steps must be a finite number in \[0, 2\*\*53\], got"):
        fl.warmup_cosine(1.0, 2, 10)(np.array(bad))


def test_step_types_and_shapes(fl):
    s = fl.Cosine(1.0, 10)
    for t in (3, 3.0, np.int64(3), np.uint8(3), np.float32(3.0), np.float64(3.0)):
        v = s(t)
        assert type(v) is float and v == s(3)
    for dtype in (np.int8, np.int32, np.int64, np.uint16, np.float32, np.float64):
        out = s(np.arange(6, dtype=dtype).reshape(2, 3))
        assert out.dtype == np.float64 and out.shape == (2, 3)
        np.testing.assert_array_equal(out.ravel(), s.values(6))
    assert s(np.array(4)).shape == ()
    assert s(np.zeros((0, 3))).shape == (0, 3)
    assert s([1, 2]).tolist() == [s(1), s(2)]
    np.testing.assert_array_equal(s(np.arange(10)[::2]), s.values(10)[::2])  # strided input
    with pytest.raises(TypeError, match="dtype"):
        s(np.array([True, False]))


def test_values_argument(fl):
    s = fl.Constant(1.0)
    assert s.values(0).shape == (0,)
    with pytest.raises(ValueError, match="n must be >= 0, got -1"):
        s.values(-1)
    with pytest.raises(TypeError, match="n must be an int"):
        s.values(2.0)


def test_piecewise_constant_values_is_still_the_method(fl):
    s = fl.PiecewiseConstant([2], [1.0, 0.5])
    assert s.values(3).tolist() == [1.0, 1.0, 0.5]
    assert s.to_config()["values"] == [1.0, 0.5]
    assert "values=[1.0, 0.5]" in repr(s)


# -- bad arguments ----------------------------------------------------------------------

BAD = [
    (lambda fl: fl.Constant(-0.1), ValueError, r"lr must be >= 0.0, got -0.1"),
    (lambda fl: fl.Constant(math.nan), ValueError, r"lr must be finite, got nan"),
    (lambda fl: fl.Constant("0.1"), TypeError, r"lr must be a real number, got '0.1'"),
    (lambda fl: fl.Constant(True), TypeError, r"lr must be a real number"),
    (lambda fl: fl.Linear(0, 1, 0), ValueError, r"steps must be a number of steps in \[2\*\*-20, 2\*\*53\], got 0"),
    (lambda fl: fl.Step(1, -3), ValueError, r"step_size must be a number of steps in \[2\*\*-20, 2\*\*53\], got -3"),
    (lambda fl: fl.MultiStep(1, [5, 2]), ValueError, r"milestones must be sorted"),
    (lambda fl: fl.MultiStep(1, [-1]), ValueError, r"milestones\[0\] must be >= 0.0"),
    (lambda fl: fl.MultiStep(1, 5), TypeError, r"milestones must be a sequence"),
    (lambda fl: fl.Exponential(1, 0.0), ValueError, r"gamma must be > 0.0, got 0.0"),
    (lambda fl: fl.Exponential(1, 0.5, staircase=1), TypeError, r"staircase must be a bool"),
    (lambda fl: fl.Polynomial(1, 10, power=0), ValueError, r"power must be > 0.0"),
    (lambda fl: fl.Step(1, 3, gamma=2.0), ValueError, r"gamma must be <= 1.0, got 2.0"),
    (lambda fl: fl.MultiStep(1, [3], gamma=1.5), ValueError, r"gamma must be <= 1.0"),
    (lambda fl: fl.Exponential(1, 1.1), ValueError,
     r"final_lr is required when gamma > 1 \(growth\), got gamma=1.1"),
    (lambda fl: fl.CosineRestarts(1, 5, cycle_decay=1.2), ValueError,
     r"cycle_decay must be <= 1.0, got 1.2"),
    (lambda fl: fl.Cyclic(0.1, 1, 4, mode="exp_range", gamma=1.01), ValueError,
     r"gamma must be <= 1.0"),
    (lambda fl: fl.Cosine(1, math.inf), ValueError, r"total_steps must be finite, got inf"),
    (lambda fl: fl.CosineRestarts(1, 5, cycle_mult=0.5), ValueError, r"cycle_mult must be >= 1.0"),
    (lambda fl: fl.InverseSqrt(1, 0), ValueError, r"warmup_steps must be a number of steps in \[2\*\*-20, 2\*\*53\], got 0"),
    (lambda fl: fl.Cyclic(0.1, 1, 4, mode="sine"), ValueError,
     r"mode must be one of \['triangular', 'triangular2', 'exp_range'\], got 'sine'"),
    (lambda fl: fl.Cyclic(0.1, 1, 4, mode=2), TypeError, r"mode must be a str"),
    (lambda fl: fl.OneCycle(1, 100, pct_start=1.5), ValueError, r"pct_start must be <= 1.0"),
    (lambda fl: fl.OneCycle(1, 100, anneal="cosine"), ValueError, r"anneal must be one of"),
    (lambda fl: fl.WarmupStableDecay(1, 1, 1, 1, decay="step"), ValueError, r"decay must be"),
    (lambda fl: fl.WarmupStableDecay(1, -1, 1, 1), ValueError, r"warmup_steps must be 0 or a number of steps in \[2\*\*-20, 2\*\*53\], got -1"),
    (lambda fl: fl.PiecewiseConstant([1, 1], [1, 2, 3]), ValueError, r"strictly increasing"),
    (lambda fl: fl.PiecewiseConstant([1], [1.0]), ValueError, r"values must have"),
    (lambda fl: fl.PiecewiseLinear([], []), ValueError, r"steps must have at least 1"),
    (lambda fl: fl.PiecewiseLinear([0, 1], [1.0]), ValueError, r"lrs must have as many"),
    (lambda fl: fl.Warmup(0.1, 10), TypeError, r"schedule must be a fastlr schedule, got 0.1"),
    (lambda fl: fl.Warmup(fl.Constant(1), 10, mode="exponential"), ValueError,
     r"start_lr must be > 0.0, got 0.0"),
    (lambda fl: fl.Sequence([], []), ValueError, r"schedules must not be empty"),
    (lambda fl: fl.Sequence([fl.Constant(1)], [3]), ValueError, r"boundaries must have"),
    (lambda fl: fl.Sequence([fl.Constant(1), 2], [3]), TypeError, r"schedules\[1\] must be"),
    (lambda fl: fl.Sequence([fl.Constant(1)] * 3, [5, 3]), ValueError, r"boundaries must be sorted"),
    (lambda fl: fl.Scaled(fl.Constant(1), -2), ValueError, r"factor must be >= 0.0, got -2"),
    (lambda fl: fl.Lambda(3), TypeError, r"fn must be callable, got 3"),
    (lambda fl: fl.warmup_cosine(1.0, 11, 10), ValueError, r"total_steps must be >= warmup_steps"),
    (lambda fl: fl.ReduceOnPlateau(1.0, factor=1.0), ValueError, r"factor must be < 1.0"),
    (lambda fl: fl.ReduceOnPlateau(1.0, patience=-1), ValueError, r"patience must be >= 0"),
    (lambda fl: fl.ReduceOnPlateau(1.0, mode="up"), ValueError, r"mode must be one of"),
    (lambda fl: fl.from_config({"class": "Nope"}), ValueError, r"config\['class'\] must name"),
    (lambda fl: fl.from_config([1]), TypeError, r"config must be a dict"),
]


@pytest.mark.parametrize("make, exc, message", BAD)
def test_bad_arguments_are_named(fl, make, exc, message):
    with pytest.raises(exc, match=message):
        make(fl)


def test_domain_bounds_keep_every_ratio_finite(fl):
    # lengths below 2**-20 or steps above 2**53 would let t / length overflow
    with pytest.raises(ValueError, match=r"step_size must be a number of steps in"):
        fl.Step(1.0, 2.2250738585e-313)
    with pytest.raises(ValueError, match=r"step_size_up must be a number of steps in"):
        fl.Cyclic(0.0, 1.0, 1e308)
    # at the edges of the domain every schedule stays finite; the cycle search ends
    for s in (fl.Step(1.0, 2.0 ** -20), fl.CosineRestarts(1.0, 2.0 ** -20, 2.0),
              fl.CosineRestarts(1.0, 2.0 ** -20), fl.Cyclic(0.1, 1.0, 2.0 ** -20),
              fl.CosineRestarts(1.0, 1.0, 1.0 + 2 ** -52), fl.CosineRestarts(0.1, 0.001, 2.0),
              fl.InverseTime(1.0, 1.0, 2.0 ** -20, staircase=True)):
        for t in (0, 1, 1e12, 2 ** 53):
            v = s(t)
            assert isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 1.0, (s, t, v)
    assert fl.Exponential(0.0, 2.0, final_lr=1.0)(1e12) == 0.0   # 0 stays 0


# -- value semantics ----------------------------------------------------------------------

def test_config_roundtrip_eq_hash_repr_pickle(fl):
    for s in examples(fl):
        config = s.to_config()
        assert json.loads(json.dumps(config)) == config
        again = fl.from_config(json.loads(json.dumps(config)))
        assert again == s and hash(again) == hash(s) and type(again) is type(s)
        assert pickle.loads(pickle.dumps(s)) == s
        assert copy.deepcopy(s) == s
        assert repr(s).startswith(type(s).__name__ + "(")
        assert eval(repr(s), vars(fl)) == s   # repr is constructor syntax
        np.testing.assert_array_equal(again.values(12), s.values(12))


def test_inequality_and_immutability(fl):
    a, b = fl.Cosine(1.0, 10), fl.Cosine(1.0, 11)
    assert a != b and len({a, b, fl.Cosine(1.0, 10)}) == 2
    with pytest.raises(AttributeError, match="immutable"):
        a.lr = 2.0
    # the two backends build distinct types that do not compare equal
    other = ref if fl is fastlr else fastlr
    assert a != getattr(other, "Cosine")(1.0, 10)


def test_lambda_is_not_serialisable_but_works_everywhere(fl):
    s = fl.Sequence([fl.Lambda(math.exp), fl.Constant(0.5)], [1])
    with pytest.raises(TypeError, match="Lambda wraps a Python callable"):
        s.to_config()
    assert s(0) == 1.0 and s(3) == 0.5
    np.testing.assert_array_equal(s(np.array([0, 3])), [1.0, 0.5])
    with pytest.raises(ValueError, match="steps must be"):
        s(np.array([-1.0]))


def test_momentum_schedules(fl):
    m = fl.OneCycle(1.0, 100).momentum(0.8, 0.9)
    assert isinstance(m, fl.OneCycleMomentum)
    assert fl.from_config(m.to_config()) == m
    c = fl.Cyclic(0.1, 1.0, 4).momentum()
    assert isinstance(c, fl.Cyclic) and c(0) == 0.9 and c(4) == 0.8


@given(s=schedules(max_leaves=5))
def test_random_schedules_roundtrip(s):
    for mod in (fastlr, ref):
        built = mod.from_config(s.to_config())
        assert built.to_config() == s.to_config()
        assert pickle.loads(pickle.dumps(built)) == built


# -- ReduceOnPlateau ----------------------------------------------------------------------

def test_plateau_torch_rules(fl):
    # torch, patience=2, constant metric, factor .5: 1 | 1 1 1 .5 .5 .5 .25
    p = fl.ReduceOnPlateau(1.0, factor=0.5, patience=2)
    assert p.lr == 1.0
    assert [p.update(1.0) for _ in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    # patience=0, cooldown=2: a cut every cooldown + patience + 1 = 3 updates
    q = fl.ReduceOnPlateau(1.0, factor=0.5, patience=0, cooldown=2)
    got = [q.update(1.0) for _ in range(7)]
    assert got == [1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    # threshold .1 rel: .95 after 1 is no improvement
    r = fl.ReduceOnPlateau(1.0, patience=0, threshold=0.1)
    r.update(1.0)
    assert r.update(0.95) == pytest.approx(0.1)


def test_plateau_min_lr_eps_and_max_mode(fl):
    p = fl.ReduceOnPlateau(1.0, factor=0.1, patience=0, min_lr=0.05)
    p.update(1.0)
    assert p.update(2.0) == pytest.approx(0.1)
    assert p.update(2.0) == pytest.approx(0.05)
    assert p.update(2.0) == pytest.approx(0.05)
    m = fl.ReduceOnPlateau(1.0, mode="max", factor=0.5, patience=0)
    m.update(0.5)
    assert m.update(0.6) == 1.0 and m.update(0.6) == 0.5
    # NaN never improves (as in torch): with patience 0 the first NaN already cuts
    assert fl.ReduceOnPlateau(1.0, patience=0).update(math.nan) == pytest.approx(0.1)
    with pytest.raises(TypeError, match="metric must be a real number"):
        p.update("0.5")


def test_plateau_after_warmup_and_resume(fl):
    warm = fl.Warmup(fl.Constant(1.0), 4)
    p = fl.ReduceOnPlateau(warm, factor=0.5, patience=1)
    assert [p(t) for t in range(5)] == [0, 0.25, 0.5, 0.75, 1.0]
    lrs = [p.update(loss) for loss in [3.0, 2.0, 2.0, 2.0, 2.0, 2.0]]
    assert lrs == [0.25, 0.5, 0.75, 0.5, 0.5, 0.25]
    state = p.state_dict()
    q = fl.ReduceOnPlateau(warm, factor=0.5, patience=1)
    q.load_state_dict(json.loads(json.dumps(state)))
    assert [q.update(2.0) for _ in range(3)] == [p.update(2.0) for _ in range(3)]
    with pytest.raises(ValueError, match="missing"):
        q.load_state_dict({})
