"""find_lr: the lr grid, the debiased smoothing, the stopping rules, the suggestions.

Expected values come from the formulas in the issue/§5 of the peer research, worked out
by hand in the comments, never from the code under test.
"""
import math

import numpy as np
import pytest


def scripted(losses):
    """A step_fn returning ``losses`` in order and recording the lrs it was given."""
    seen = []

    def step(lr):
        seen.append(lr)
        return losses[len(seen) - 1]

    return step, seen


def test_both_backends_export_the_same_tool(fl):
    import fastlr
    assert fl.find_lr is fastlr.find_lr
    assert fl.LRFinderResult is fastlr.LRFinderResult


def test_exponential_grid_reaches_end_lr(fl):
    step, seen = scripted([1.0] * 5)
    r = fl.find_lr(step, start_lr=1e-3, end_lr=10.0, num_steps=5, diverge_factor=None)
    # start*(end/start)**(i/4): one decade per step
    np.testing.assert_allclose(seen, [1e-3, 1e-2, 1e-1, 1.0, 10.0], rtol=1e-12)
    assert seen[-1] == 10.0
    np.testing.assert_array_equal(r.lrs, seen)


def test_linear_grid(fl):
    step, seen = scripted([1.0] * 5)
    fl.find_lr(step, start_lr=0.1, end_lr=0.5, num_steps=5, mode="linear")
    np.testing.assert_allclose(seen, [0.1, 0.2, 0.3, 0.4, 0.5], rtol=1e-12)


def test_debiased_ema_by_hand(fl):
    step, _ = scripted([1.0, 2.0, 3.0])
    r = fl.find_lr(step, num_steps=3, smoothing=0.5, diverge_factor=None)
    # avg: 0.5 -> 0.25+1 = 1.25 -> 0.625+1.5 = 2.125; debias by 1-0.5**(i+1)
    np.testing.assert_allclose(r.smoothed, [0.5 / 0.5, 1.25 / 0.75, 2.125 / 0.875], rtol=1e-14)
    np.testing.assert_array_equal(r.losses, [1.0, 2.0, 3.0])


def test_no_smoothing_keeps_the_losses(fl):
    losses = [3.0, 1.0, 4.0, 1.5, 5.0]
    step, _ = scripted(losses)
    r = fl.find_lr(step, num_steps=5, smoothing=0.0, diverge_factor=None)
    np.testing.assert_array_equal(r.smoothed, losses)


def test_diverging_step_fn_stops_early(fl):
    # flat at 1, then 100 from step 10 on: with no smoothing, step 10 is > 4 * best = 4
    step, seen = scripted([1.0] * 10 + [100.0] * 90)
    r = fl.find_lr(step, num_steps=100, smoothing=0.0)
    assert len(seen) == 11
    assert r.stop_reason == "diverged" and r.stopped_early
    assert len(r.lrs) == len(r.losses) == len(r.smoothed) == 11


def test_divergence_threshold_is_strict_and_relative_to_best(fl):
    # 3.9 < 4 * 1 continues; 4.0 is not > 4.0 so continues; 4.5 stops (best is 1)
    step, seen = scripted([2.0, 1.0, 3.9, 4.0, 4.5, 1.0])
    r = fl.find_lr(step, num_steps=6, smoothing=0.0)
    assert len(seen) == 5 and r.stop_reason == "diverged"


def test_smoothed_divergence_stops_later_than_raw(fl):
    # a jump from 1 to 5 at step 10: the raw loss is > 4x best at once, the debiased EMA
    # (beta 0.98) passes 4 only some steps later; the stopping step is recomputed here
    # from the formula avg = b*avg + (1-b)*loss, smoothed = avg / (1 - b**(i+1))
    losses = [1.0] * 10 + [5.0] * 90
    beta, avg, best, stop = 0.98, 0.0, math.inf, None
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        s = avg / (1 - beta ** (i + 1))
        best = min(best, s)
        if i > 0 and s > 4.0 * best:
            stop = i
            break
    assert stop is not None and stop > 10
    step, seen = scripted(losses)
    r = fl.find_lr(step, num_steps=100, smoothing=0.98)
    assert len(seen) == stop + 1 and r.stop_reason == "diverged"


def test_first_step_never_counts_as_divergence(fl):
    step, seen = scripted([1e6, 1.0, 1.0, 1.0])
    r = fl.find_lr(step, num_steps=4, smoothing=0.0)
    assert len(seen) == 4 and r.stop_reason == "completed" and not r.stopped_early


def test_diverge_factor_none_runs_all_steps(fl):
    step, seen = scripted([1.0, 1e9, 1e12, 1e15])
    r = fl.find_lr(step, num_steps=4, smoothing=0.0, diverge_factor=None)
    assert len(seen) == 4 and r.stop_reason == "completed"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_loss_stops_at_once(fl, bad):
    step, seen = scripted([3.0, 2.5, 2.0, bad, 1.0, 1.0])
    r = fl.find_lr(step, num_steps=6, diverge_factor=None)
    assert len(seen) == 4 and r.stop_reason == "non-finite"
    assert math.isnan(r.smoothed[-1]) and np.isfinite(r.smoothed[:-1]).all()
    # the three finite points still give suggestions, inside the tested range
    assert r.valley is not None and r.lrs[0] <= r.valley <= r.lrs[2]


def test_non_finite_first_loss_gives_no_suggestion(fl):
    step, _ = scripted([math.nan])
    r = fl.find_lr(step, num_steps=10)
    assert r.valley is None and r.steepest is None and r.minimum is None
    assert r.suggestion is None
    assert "None" in repr(r)


def test_loss_types(fl):
    values = iter([np.float32(2.0), np.array(1.5), 1, np.float64(0.5)])
    r = fl.find_lr(lambda lr: next(values), num_steps=4, smoothing=0.0)
    np.testing.assert_array_equal(r.losses, [2.0, 1.5, 1.0, 0.5])


# -- suggestions on hand-built curves ---------------------------------------------------
# num_steps=20 -> the window drops the first 20//10 = 2 and the last 5 points: [2:15].
HEAD = [9.0, 9.0]
TAIL = [7.0, 8.0, 9.0, 9.5, 9.9]


def run_curve(fl, window):
    assert len(window) == 13
    step, _ = scripted(HEAD + window + TAIL)
    r = fl.find_lr(step, start_lr=1e-4, end_lr=1.0, num_steps=20, smoothing=0.0,
                   diverge_factor=None)
    grid = 1e-4 * (1.0 / 1e-4) ** (np.arange(20) / 19)
    return r, grid


def test_suggestions_by_hand(fl):
    w = [8.0, 7.9, 7.8, 7.0, 5.0, 3.0, 2.9, 2.8, 2.7, 3.0, 4.0, 5.0, 6.0]
    r, grid = run_curve(fl, w)
    assert r.window == (2, 15)
    # valley: the longest strictly decreasing subsequence is w[0..8] (length 9, ends at
    # k=8); fastai's start = 8 - 9 = -1, L = 9, idx = -1 + int(3) + int(1.5) = 3 -> global 5
    assert r.valley == pytest.approx(grid[5], rel=1e-12)
    assert r.suggestion == r.minimum
    # steepest: central differences of w over equal log-lr spacing; the most negative is
    # at k=4: (3.0 - 7.0)/2 = -2.0 (k=3: -1.4, k=5: -1.05) -> global 6
    assert r.steepest == pytest.approx(grid[6], rel=1e-12)
    # minimum: lowest w is 2.7 at k=8 -> global 10, divided by 10
    assert r.minimum == pytest.approx(grid[10] / 10, rel=1e-12)


def test_valley_starting_later(fl):
    w = [5.0, 6.0, 7.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0]
    r, grid = run_curve(fl, w)
    # longest decreasing: 8,7,6,5,4,3,2,1 (k=3..10, length 8, first reached at k=10);
    # start = 10 - 8 = 2, L = 8, idx = 2 + int(8/3) + int(8/3/2) = 2 + 2 + 1 = 5 -> global 7
    assert r.valley == pytest.approx(grid[7], rel=1e-12)


def test_valley_on_a_rising_curve_uses_the_first_point(fl):
    w = [1.0 + k for k in range(13)]
    r, grid = run_curve(fl, w)
    # every run has length 1: fastai's idx is -1 (it would wrap to the last point);
    # fastlr clamps it to the window's first point, global index 2
    assert r.valley == pytest.approx(grid[2], rel=1e-12)


def test_short_run_falls_back_to_the_whole_curve(fl):
    # diverges at step 4 of 100: the [10:-5] window would be empty
    step, _ = scripted([3.0, 2.0, 1.0, 0.5, 100.0])
    r = fl.find_lr(step, num_steps=100, smoothing=0.0)
    assert r.stop_reason == "diverged" and r.window == (0, 5)
    # minimum of [3, 2, 1, 0.5, 100] is at index 3
    assert r.minimum == pytest.approx(r.lrs[3] / 10, rel=1e-12)


# -- a convex problem with a known good lr ------------------------------------------------
def least_squares(seed, batch=256, n=2000, d=10, noise=0.1):
    """Minibatch SGD on 0.5*mean((Xw - y)^2); returns (step_fn, 1/L).

    For an L-smooth quadratic, 1/L (L = the largest eigenvalue of X^T X / n) is the
    classic good step size and 2/L the stability limit: both known from theory.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + noise * rng.normal(size=n)
    L = np.linalg.eigvalsh(X.T @ X / n).max()
    w = np.zeros(d)

    def step(lr):
        idx = rng.integers(0, n, batch)
        r = X[idx] @ w - y[idx]
        w[:] -= lr * (X[idx].T @ r) / batch
        return 0.5 * float(np.mean(r ** 2))

    return step, 1.0 / L


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_convex_problem_suggestions_near_the_known_good_lr(fl, seed):
    step, good = least_squares(seed)
    r = fl.find_lr(step)  # the defaults: 1e-7 .. 10, 100 steps, beta 0.98, factor 4
    assert r.stop_reason == "diverged"  # 10 is far beyond the stability limit 2/L
    # the recommended lr and the curve-minimum and steepest-slope rules land within 10x
    # of 1/L
    assert r.suggestion == r.minimum
    for name in ("suggestion", "minimum", "steepest"):
        lr = getattr(r, name)
        assert good / 10 <= lr <= good * 10, (name, lr, good)
    # fastai's valley is deliberately conservative: on this problem it sits 10-60x
    # below 1/L (its longest decreasing run starts in the flat part of the curve), so
    # only check that it is a stable lr that makes progress
    assert good / 100 <= r.valley < 2 * good
    # and every suggestion is stable (below 2/L)
    assert max(r.valley, r.steepest, r.minimum) < 2 * good


# -- validation ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, exc, words", [
    ({"start_lr": 0.0}, ValueError, "start_lr"),
    ({"start_lr": -1e-3}, ValueError, "start_lr"),
    ({"start_lr": "1e-3"}, TypeError, "start_lr"),
    ({"start_lr": 1.0, "end_lr": 1.0}, ValueError, "end_lr"),
    ({"end_lr": math.inf}, ValueError, "end_lr"),
    ({"num_steps": 1}, ValueError, "num_steps"),
    ({"num_steps": 10.0}, TypeError, "num_steps"),
    ({"mode": "log"}, ValueError, "mode"),
    ({"smoothing": 1.0}, ValueError, "smoothing"),
    ({"smoothing": -0.1}, ValueError, "smoothing"),
    ({"diverge_factor": 1.0}, ValueError, "diverge_factor"),
    ({"diverge_factor": "4"}, TypeError, "diverge_factor"),
    ({"progress": "yes"}, TypeError, "progress"),
])
def test_bad_arguments_name_the_parameter(fl, kwargs, exc, words):
    calls = []
    with pytest.raises(exc, match=words):
        fl.find_lr(lambda lr: calls.append(lr) or 1.0, **kwargs)
    assert calls == []  # validated before any training step


def test_step_fn_must_be_callable(fl):
    with pytest.raises(TypeError, match="step_fn"):
        fl.find_lr(1.0)


@pytest.mark.parametrize("bad", ["1.0", None, [1.0, 2.0], True])
def test_step_fn_must_return_a_number(fl, bad):
    with pytest.raises(TypeError, match="step_fn must return a real number"):
        fl.find_lr(lambda lr: bad, num_steps=3)


def test_step_fn_exceptions_propagate(fl):
    def boom(lr):
        raise RuntimeError("out of memory")
    with pytest.raises(RuntimeError, match="out of memory"):
        fl.find_lr(boom)


# ---- hostile bounds and return values (issue 10) --------------------------------------

def test_extreme_range_stays_finite(fl):
    # (end/start) overflows to inf for 1e-300 .. 1e300; the grid is interpolated in
    # log space instead: finite, strictly increasing, exact at both ends
    seen = []
    r = fl.find_lr(lambda lr: seen.append(lr) or 1.0, start_lr=1e-300, end_lr=1e300,
                   num_steps=100, diverge_factor=None)
    lrs = np.asarray(seen)
    assert np.isfinite(lrs).all() and (np.diff(lrs) > 0).all()
    assert lrs[0] == 1e-300 and lrs[-1] == 1e300
    # one decade per 600/99 steps: lr_i = 10**(-300 + 600 i/99)
    np.testing.assert_allclose(np.log10(lrs), -300 + 600 * np.arange(100) / 99, rtol=1e-12)
    for x in (r.suggestion, r.valley, r.steepest, r.minimum):
        assert x is not None and math.isfinite(x)


def test_full_float_range_stays_finite(fl):
    seen = []
    fl.find_lr(lambda lr: seen.append(lr) or 1.0, start_lr=5e-324,
               end_lr=1.7976931348623157e308, num_steps=50, diverge_factor=None)
    assert np.isfinite(seen).all() and seen[-1] == 1.7976931348623157e308


@pytest.mark.parametrize("kw", [
    dict(start_lr=5e-324, end_lr=1e-320),              # subnormals: equal lrs
    dict(start_lr=1.0, end_lr=1.0 + 1e-15, mode="linear"),
    dict(start_lr=1.0, end_lr=1.0 + 1e-13, mode="exp"),
])
def test_range_too_narrow_for_the_steps(fl, kw):
    with pytest.raises(ValueError, match=r"start_lr .* and end_lr .* are too close for "
                                         r"num_steps=100"):
        fl.find_lr(lambda lr: 1.0, num_steps=100, **kw)


@pytest.mark.parametrize("kw, words", [
    (lambda: dict(start_lr=10**5000), "start_lr must be finite, got <an int with 5001 digits>"),
    (lambda: dict(end_lr=-10**400), "end_lr must be finite, got -<an int with 401 digits>"),
    (lambda: dict(num_steps=10**5000), r"num_steps must be <= 2\*\*53, got <an int with 5001"),
    (lambda: dict(num_steps=2**53 + 1), r"num_steps must be <= 2\*\*53"),
    (lambda: dict(smoothing=10**5000), "smoothing must be finite"),
    (lambda: dict(diverge_factor=10**5000), "diverge_factor must be finite"),
    (lambda: dict(start_lr=math.inf), "start_lr must be finite"),
    (lambda: dict(end_lr=math.nan), "end_lr must be finite"),
    (lambda: dict(end_lr=__import__("fractions").Fraction(10**400)), "end_lr must be finite"),
])
def test_huge_arguments_are_named(fl, kw, words):
    # (the arguments are made lazily: pytest's test ids would repr a 5000-digit int)
    with pytest.raises(ValueError, match=words):
        fl.find_lr(lambda lr: 1.0, **kw())


@pytest.mark.parametrize("loss, kind, words", [
    (lambda: 10**400, ValueError,
     r"step_fn returned a loss too large for a float: <an int with 401 digits> \(int\) at "
     r"lr=1e-07"),
    (lambda: 10**5000, ValueError, r"<an int with 5001 digits>"),
    (lambda: -10**5000, ValueError, r"-<an int with 5001 digits>"),
    (lambda: "1.0", TypeError,
     r"step_fn must return a real number \(the loss\), got '1.0' \(str\)"),
    (lambda: None, TypeError, r"step_fn must return a real number .* None \(NoneType\) at lr="),
    (lambda: 1j, TypeError, r"got 1j \(complex\)"),
    (lambda: np.complex128(1.0), TypeError, r"\(complex128\)"),
    (lambda: [1.0, 2.0], TypeError, r"got \[1.0, 2.0\] \(list\)"),
    (lambda: np.ones(2), TypeError, r"\(ndarray\)"),
    (lambda: True, TypeError, r"got True \(bool\)"),
])
def test_bad_losses_name_step_fn_and_value(fl, loss, kind, words):
    value = loss()
    with pytest.raises(kind, match=words):
        fl.find_lr(lambda lr: value, num_steps=3)


def test_loss_repr_is_bounded(fl):
    class Loud:
        def __repr__(self):
            return "x" * 10**6

    with pytest.raises(TypeError) as info:
        fl.find_lr(lambda lr: Loud(), num_steps=3)
    assert len(str(info.value)) < 300

    class Broken:
        def __repr__(self):
            raise RuntimeError("no repr")

    with pytest.raises(TypeError, match="Broken object with a failing repr"):
        fl.find_lr(lambda lr: Broken(), num_steps=3)


def test_overflowing_average_stops_as_non_finite(fl):
    # finite losses whose debiased average overflows: stop as for an inf loss
    # (the largest float M with smoothing 0.9: at the second step the debiased average
    # (0.9*0.1*M + 0.1*M) / (1 - 0.9**2) rounds above M, to inf)
    big = 1.7976931348623157e308
    r = fl.find_lr(lambda lr: big, num_steps=10, smoothing=0.9, diverge_factor=None)
    assert r.stop_reason == "non-finite" and len(r.lrs) == 2
    assert r.smoothed[0] == pytest.approx(big) and math.isnan(r.smoothed[1])
    assert r.suggestion is None


@pytest.mark.parametrize("kw, words", [
    (dict(mode=1), r"mode must be a str, one of \['exp', 'linear'\], got 1 \(int\)"),
    (dict(progress="yes"), r"progress must be a bool, got 'yes' \(str\)"),
])
def test_type_errors_name_the_argument(fl, kw, words):
    with pytest.raises(TypeError, match=words):
        fl.find_lr(lambda lr: 1.0, **kw)
    huge = {k: 10**5000 for k in kw}        # no repr possible: shown by its digit count
    with pytest.raises(TypeError, match="got <an int with 5001 digits> \\(int\\)"):
        fl.find_lr(lambda lr: 1.0, **huge)
