"""The leaf schedules: closed-form functions of the step.

Each ``_value`` is the specification that the compiled engine (``src_c/fl_schedule.c``)
reproduces operation for operation; keep the two in step when changing either.
"""
from __future__ import annotations

import bisect
import math

from .. import _validate as v
from ._base import Schedule

__all__ = [
    "Constant", "Linear", "Step", "MultiStep", "Exponential", "Polynomial", "Cosine",
    "CosineRestarts", "InverseSqrt", "InverseTime", "Cyclic", "OneCycle",
    "OneCycleMomentum", "WarmupStableDecay", "PiecewiseConstant", "PiecewiseLinear",
]


def _cospi(x):
    # an infinite x only comes from t / length overflowing (absurd lengths): C gives NaN
    return math.cos(math.pi * x) if math.isfinite(x) else math.nan


def _floor(x):
    """C's floor: a float, and inf stays inf (``math.floor`` raises on it)."""
    return float(math.floor(x)) if math.isfinite(x) else x


def _pow(x, y):
    """C's pow: inf on overflow (``math.pow`` raises instead)."""
    try:
        return math.pow(x, y)
    except OverflowError:
        return math.inf


def _lr(name, value):
    return v.real(name, value, low=0.0)


_length = v.length


def _decay(name, value):
    # a factor above 1 would grow without bound and overflow at large steps
    return v.real(name, value, low=0.0, high=1.0)


class Constant(Schedule):
    """``lr`` at every step."""

    _fields = ("lr",)

    def __init__(self, lr):
        self._set(lr=_lr("lr", lr))

    def _value(self, t):
        return float(self.lr)

    def _spec(self):
        return ("constant", 0, (self.lr,), (), ())


class Linear(Schedule):
    """Linear from ``start_lr`` at ``t=0`` to ``end_lr`` at ``t=steps``, then ``end_lr``.

    ``start_lr + (end_lr - start_lr) * (t / steps)`` for ``t < steps``.
    """

    _fields = ("start_lr", "end_lr", "steps")

    def __init__(self, start_lr, end_lr, steps):
        self._set(start_lr=_lr("start_lr", start_lr), end_lr=_lr("end_lr", end_lr),
                  steps=_length("steps", steps))

    def _value(self, t):
        if t >= self.steps:
            return float(self.end_lr)
        return self.start_lr + (self.end_lr - self.start_lr) * (t / self.steps)

    def _spec(self):
        return ("linear", 0, (self.start_lr, self.end_lr, self.steps), (), ())


class Step(Schedule):
    """``lr * gamma ** floor(t / step_size)`` (torch ``StepLR``)."""

    _fields = ("lr", "step_size", "gamma")

    def __init__(self, lr, step_size, gamma=0.1):
        self._set(lr=_lr("lr", lr), step_size=_length("step_size", step_size),
                  gamma=_decay("gamma", gamma))

    def _value(self, t):
        return self.lr * _pow(self.gamma, _floor(t / self.step_size))

    def _spec(self):
        return ("step", 0, (self.lr, self.step_size, self.gamma), (), ())


class MultiStep(Schedule):
    """``lr * gamma ** k`` where ``k`` counts the milestones ``<= t`` (torch ``MultiStepLR``).

    Milestones must be sorted; a repeated milestone applies ``gamma`` once per copy.
    """

    _fields = ("lr", "milestones", "gamma")

    def __init__(self, lr, milestones, gamma=0.1):
        self._set(lr=_lr("lr", lr),
                  milestones=v.sorted_reals("milestones", milestones, strict=False, low=0.0,
                                            high=v.MAX_STEP),
                  gamma=_decay("gamma", gamma))

    def _value(self, t):
        return self.lr * _pow(self.gamma, bisect.bisect_right(self.milestones, t))

    def _spec(self):
        return ("multistep", 0, (self.lr, self.gamma), (self.milestones,), ())


class Exponential(Schedule):
    """``lr * gamma ** (t / decay_steps)``, the exponent floored when ``staircase``.

    With ``final_lr`` the value is clamped there: from below when ``gamma < 1`` (decay),
    from above when ``gamma > 1`` (growth), as optax's ``end_value``. Growth needs
    ``final_lr``: unclamped, it would overflow at large steps. ``lr = 0`` stays 0.
    """

    _fields = ("lr", "gamma", "decay_steps", "staircase", "final_lr")

    def __init__(self, lr, gamma, decay_steps=1, staircase=False, final_lr=None):
        self._set(lr=_lr("lr", lr), gamma=v.real("gamma", gamma, low=0.0, low_open=True),
                  decay_steps=_length("decay_steps", decay_steps),
                  staircase=v.flag("staircase", staircase),
                  final_lr=v.real("final_lr", final_lr, low=0.0, optional=True))
        if self.gamma > 1.0 and self.final_lr is None:
            raise ValueError(f"final_lr is required when gamma > 1 (growth), got gamma="
                             f"{self.gamma!r} and final_lr=None")

    def _value(self, t):
        if self.lr == 0.0:
            return 0.0
        p = t / self.decay_steps
        if self.staircase:
            p = _floor(p)
        value = self.lr * _pow(self.gamma, p)
        if self.final_lr is not None:
            # written as comparisons so that 0 * inf = nan (lr 0, growth) clamps too
            if self.gamma < 1.0:
                value = value if value > self.final_lr else self.final_lr
            elif self.gamma > 1.0:
                value = value if value < self.final_lr else self.final_lr
        return float(value)

    def _spec(self):
        final = math.nan if self.final_lr is None else self.final_lr
        return ("exponential", int(self.staircase),
                (self.lr, self.gamma, self.decay_steps, final), (), ())


class Polynomial(Schedule):
    """``(lr - final_lr) * (1 - min(t, T) / T) ** power + final_lr`` with ``T = total_steps``."""

    _fields = ("lr", "total_steps", "final_lr", "power")

    def __init__(self, lr, total_steps, final_lr=0.0, power=1.0):
        self._set(lr=_lr("lr", lr), total_steps=_length("total_steps", total_steps),
                  final_lr=_lr("final_lr", final_lr),
                  power=v.real("power", power, low=0.0, low_open=True))

    def _value(self, t):
        x = min(t, self.total_steps) / self.total_steps
        return (self.lr - self.final_lr) * _pow(1.0 - x, self.power) + self.final_lr

    def _spec(self):
        return ("polynomial", 0, (self.lr, self.total_steps, self.final_lr, self.power), (), ())


class Cosine(Schedule):
    """``final_lr + (lr - final_lr) * (1 + cos(pi * min(t, T) / T)) / 2``, ``T = total_steps``.

    Holds ``final_lr`` past ``T`` (torch's ``CosineAnnealingLR`` climbs back; this does not).
    """

    _fields = ("lr", "total_steps", "final_lr")

    def __init__(self, lr, total_steps, final_lr=0.0):
        self._set(lr=_lr("lr", lr), total_steps=_length("total_steps", total_steps),
                  final_lr=_lr("final_lr", final_lr))

    def _value(self, t):
        x = min(t, self.total_steps) / self.total_steps
        return self.final_lr + (self.lr - self.final_lr) * (0.5 * (1.0 + _cospi(x)))

    def _spec(self):
        return ("cosine", 0, (self.lr, self.total_steps, self.final_lr), (), ())


def restart_cycle(t, cycle_steps, cycle_mult):
    """``(i, start_i, next_start, length_i)``: the SGDR cycle holding step ``t``.

    Cycle ``i`` starts at ``S(i) = c * (m**i - 1) / (m - 1)`` (``i * c`` when ``m == 1``,
    with ``i = floor(t / c)``). The answer is the largest ``i`` with ``S(i) <= t``,
    found by doubling and bisection on exact comparisons with ``S``, not from a float
    log: so a restart step (e.g. ``c=1, m=10, t=111``) always starts its cycle, where
    torch's log puts it at the end of the one before. The doubling stops at 2**62, and
    the bisection stops when the midpoint no longer lies strictly between its ends
    (past 2**53 cycles floats cannot split the interval), so the search takes at most
    about 125 steps for any ``m >= 1`` and ``t``.
    """
    c, m = cycle_steps, cycle_mult
    if m == 1.0:
        i = _floor(t / c)
        return i, i * c, math.inf, c

    def start(k):
        return c * (_pow(m, k) - 1.0) / (m - 1.0)

    lo, hi = 0.0, 1.0            # S(lo) <= t < S(hi)
    while start(hi) <= t and hi < 2.0 ** 62:
        lo, hi = hi, 2.0 * hi
    while hi - lo > 1.0:
        mid = _floor((lo + hi) / 2.0)
        if not lo < mid < hi:    # cycle numbers past 2**53: no float between lo and hi
            break
        if start(mid) <= t:
            lo = mid
        else:
            hi = mid
    return lo, start(lo), start(lo + 1.0), c * _pow(m, lo)


class CosineRestarts(Schedule):
    """SGDR: cosine from the cycle's peak to ``final_lr`` within each cycle.

    Cycle ``i`` lasts ``cycle_steps * cycle_mult**i`` steps and peaks at
    ``lr * cycle_decay**i``; inside it, with ``x`` the fraction of the cycle elapsed,
    the value is ``final_lr + (peak_i - final_lr) * (1 + cos(pi * x)) / 2``.
    """

    _fields = ("lr", "cycle_steps", "cycle_mult", "final_lr", "cycle_decay")

    def __init__(self, lr, cycle_steps, cycle_mult=1.0, final_lr=0.0, cycle_decay=1.0):
        self._set(lr=_lr("lr", lr), cycle_steps=_length("cycle_steps", cycle_steps),
                  cycle_mult=v.real("cycle_mult", cycle_mult, low=1.0),
                  final_lr=_lr("final_lr", final_lr),
                  cycle_decay=_decay("cycle_decay", cycle_decay))

    def _value(self, t):
        i, start, _, length = restart_cycle(t, self.cycle_steps, self.cycle_mult)
        peak = self.lr * _pow(self.cycle_decay, i)
        # x is in [0, 1) in exact arithmetic; the clamp only absorbs rounding (m near 1)
        x = min(max((t - start) / length, 0.0), 1.0)
        return self.final_lr + (peak - self.final_lr) * (0.5 * (1.0 + _cospi(x)))

    def _spec(self):
        return ("restarts", 0, (self.lr, self.cycle_steps, self.cycle_mult, self.final_lr,
                                self.cycle_decay), (), ())


class InverseSqrt(Schedule):
    """``lr * sqrt(W / max(t, W))``: flat at ``lr`` until ``W = warmup_steps``, then ``1/sqrt(t)``."""

    _fields = ("lr", "warmup_steps")

    def __init__(self, lr, warmup_steps):
        self._set(lr=_lr("lr", lr), warmup_steps=_length("warmup_steps", warmup_steps))

    def _value(self, t):
        return self.lr * math.sqrt(self.warmup_steps / max(t, self.warmup_steps))

    def _spec(self):
        return ("invsqrt", 0, (self.lr, self.warmup_steps), (), ())


class InverseTime(Schedule):
    """``lr / (1 + decay_rate * t / decay_steps)`` (``floor(t / decay_steps)`` if ``staircase``)."""

    _fields = ("lr", "decay_rate", "decay_steps", "staircase")

    def __init__(self, lr, decay_rate, decay_steps=1, staircase=False):
        self._set(lr=_lr("lr", lr), decay_rate=v.real("decay_rate", decay_rate, low=0.0),
                  decay_steps=_length("decay_steps", decay_steps),
                  staircase=v.flag("staircase", staircase))

    def _value(self, t):
        p = t / self.decay_steps
        if self.staircase:
            p = _floor(p)
        return self.lr / (1.0 + self.decay_rate * p)

    def _spec(self):
        return ("invtime", int(self.staircase),
                (self.lr, self.decay_rate, self.decay_steps), (), ())


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


class Cyclic(Schedule):
    """torch ``CyclicLR``: triangular waves between ``base_lr`` and ``max_lr``.

    With ``total = up + down``, ``cycle = floor(1 + t / total)``, ``x = 1 + t/total - cycle``
    and ``f = x / r`` (rising, ``x <= r = up/total``) or ``(x - 1) / (r - 1)`` (falling):
    ``base_lr + (max_lr - base_lr) * f * scale``, where ``scale`` is 1 (``'triangular'``),
    ``1 / 2**(cycle - 1)`` (``'triangular2'``) or ``gamma**t`` (``'exp_range'``).
    ``max_lr`` may be below ``base_lr``; that is how :meth:`momentum` cycles inversely.
    """

    _fields = ("base_lr", "max_lr", "step_size_up", "step_size_down", "mode", "gamma")

    def __init__(self, base_lr, max_lr, step_size_up, step_size_down=None,
                 mode="triangular", gamma=1.0):
        self._set(base_lr=_lr("base_lr", base_lr), max_lr=_lr("max_lr", max_lr),
                  step_size_up=_length("step_size_up", step_size_up),
                  step_size_down=_length("step_size_down", step_size_down, optional=True),
                  mode=v.choice("mode", mode, _CYCLIC_MODES),
                  gamma=v.real("gamma", gamma, low=0.0, low_open=True, high=1.0))

    @property
    def _down(self):
        return self.step_size_up if self.step_size_down is None else self.step_size_down

    def _value(self, t):
        total = float(self.step_size_up + self._down)
        ratio = self.step_size_up / total
        cycle = _floor(1.0 + t / total)
        x = 1.0 + t / total - cycle
        if x <= ratio:
            f = x / ratio
        else:
            f = (x - 1.0) / (ratio - 1.0)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1.0 / _pow(2.0, cycle - 1.0)
        else:
            scale = _pow(self.gamma, t)
        return self.base_lr + (self.max_lr - self.base_lr) * f * scale

    def _spec(self):
        return ("cyclic", _CYCLIC_MODES.index(self.mode),
                (self.base_lr, self.max_lr, self.step_size_up, self._down, self.gamma), (), ())

    def momentum(self, base_momentum=0.8, max_momentum=0.9):
        """The momentum schedule torch's ``cycle_momentum`` pairs with this cycle.

        It falls from ``max_momentum`` to ``base_momentum`` while the lr rises, and back.
        """
        base = v.real("base_momentum", base_momentum, low=0.0)
        top = v.real("max_momentum", max_momentum, low=0.0)
        return type(self)(top, base, self.step_size_up, self.step_size_down, self.mode,
                          self.gamma)


_ANNEAL = ("cos", "linear")


def _onecycle_value(t, total, pct_start, anneal, three_phase, points):
    """torch ``OneCycleLR``'s phase walk; holds the last point from ``t >= total - 1``."""
    if three_phase:
        ends = (pct_start * total - 1.0, 2.0 * pct_start * total - 2.0, total - 1.0)
    else:
        ends = (pct_start * total - 1.0, total - 1.0)
    if t >= total - 1.0:
        return float(points[-1])
    start = 0.0
    last = len(ends) - 1
    for i, end in enumerate(ends):
        if t <= end or i == last:
            # a phase of zero or negative length is over as soon as it starts
            pct = (t - start) / (end - start) if end > start else 1.0
            a, b = points[i], points[i + 1]
            if anneal == 0:
                return b + (a - b) / 2.0 * (_cospi(pct) + 1.0)
            return (b - a) * pct + a
        start = end
    raise AssertionError("unreachable")


class _Phases(Schedule):
    """A schedule that walks torch OneCycleLR's phases through ``self._points``."""

    def _value(self, t):
        return _onecycle_value(t, self.total_steps, self.pct_start, _ANNEAL.index(self.anneal),
                               self.three_phase, self._points)

    def _spec(self):
        return ("onecycle", _ANNEAL.index(self.anneal) | (2 * self.three_phase),
                (self.total_steps, self.pct_start) + self._points, (), ())


class OneCycle(_Phases):
    """torch ``OneCycleLR``: ``max_lr/div_factor`` up to ``max_lr``, then down to
    ``max_lr/div_factor/final_div_factor``.

    Phase ends are at ``pct_start*N - 1`` and ``N - 1`` (three-phase: ``pct_start*N - 1``,
    ``2*pct_start*N - 2``, ``N - 1``, the middle phase returning to the initial lr);
    ``anneal`` is ``'cos'`` or ``'linear'``. From ``t >= N - 1`` it holds the final lr,
    where torch extrapolates (and at ``t > N`` raises).
    """

    _fields = ("max_lr", "total_steps", "pct_start", "anneal", "div_factor",
               "final_div_factor", "three_phase")

    def __init__(self, max_lr, total_steps, pct_start=0.3, anneal="cos", div_factor=25.0,
                 final_div_factor=1e4, three_phase=False):
        self._set(max_lr=_lr("max_lr", max_lr), total_steps=_length("total_steps", total_steps),
                  pct_start=v.real("pct_start", pct_start, low=0.0, high=1.0),
                  anneal=v.choice("anneal", anneal, _ANNEAL),
                  div_factor=v.real("div_factor", div_factor, low=0.0, low_open=True),
                  final_div_factor=v.real("final_div_factor", final_div_factor, low=0.0,
                                          low_open=True),
                  three_phase=v.flag("three_phase", three_phase))

    @property
    def _points(self):
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        if self.three_phase:
            return (initial, float(self.max_lr), initial, final)
        return (initial, float(self.max_lr), final)

    def momentum(self, base_momentum=0.85, max_momentum=0.95):
        """The matching momentum (or ``beta1``) schedule of torch's ``cycle_momentum``."""
        return self._backend.OneCycleMomentum(self.total_steps, self.pct_start, self.anneal,
                                              self.three_phase, base_momentum, max_momentum)


class OneCycleMomentum(_Phases):
    """The momentum that goes with :class:`OneCycle`: ``max_momentum`` down to
    ``base_momentum`` while the lr rises, then back up (three-phase: then held)."""

    _fields = ("total_steps", "pct_start", "anneal", "three_phase", "base_momentum",
               "max_momentum")

    def __init__(self, total_steps, pct_start=0.3, anneal="cos", three_phase=False,
                 base_momentum=0.85, max_momentum=0.95):
        self._set(total_steps=_length("total_steps", total_steps),
                  pct_start=v.real("pct_start", pct_start, low=0.0, high=1.0),
                  anneal=v.choice("anneal", anneal, _ANNEAL),
                  three_phase=v.flag("three_phase", three_phase),
                  base_momentum=v.real("base_momentum", base_momentum, low=0.0),
                  max_momentum=v.real("max_momentum", max_momentum, low=0.0))

    @property
    def _points(self):
        hi, lo = float(self.max_momentum), float(self.base_momentum)
        return (hi, lo, hi, hi) if self.three_phase else (hi, lo, hi)


_WSD_DECAY = ("linear", "cosine", "1-sqrt")


class WarmupStableDecay(Schedule):
    """Warmup-stable-decay (trapezoid): ``lr * t / W`` while ``t < W``, ``lr`` for
    ``stable_steps`` more, then over ``decay_steps`` from ``lr`` to ``final_lr``
    (``decay``: ``'linear'`` ``1-p``, ``'cosine'`` ``(1+cos(pi p))/2`` or ``'1-sqrt'``
    ``1-sqrt(p)``), then ``final_lr``.
    """

    _fields = ("lr", "warmup_steps", "stable_steps", "decay_steps", "final_lr", "decay")

    def __init__(self, lr, warmup_steps, stable_steps, decay_steps, final_lr=0.0,
                 decay="linear"):
        self._set(lr=_lr("lr", lr), warmup_steps=_length("warmup_steps", warmup_steps, zero=True),
                  stable_steps=_length("stable_steps", stable_steps, zero=True),
                  decay_steps=_length("decay_steps", decay_steps, zero=True),
                  final_lr=_lr("final_lr", final_lr), decay=v.choice("decay", decay, _WSD_DECAY))

    def _value(self, t):
        w = float(self.warmup_steps)
        stable_end = w + self.stable_steps
        if t < w:
            return self.lr * (t / w)
        if t < stable_end:
            return float(self.lr)
        if t >= stable_end + self.decay_steps:
            return float(self.final_lr)
        p = (t - stable_end) / self.decay_steps
        if self.decay == "linear":
            f = 1.0 - p
        elif self.decay == "cosine":
            f = 0.5 * (1.0 + _cospi(p))
        else:
            f = 1.0 - math.sqrt(p)
        return self.final_lr + (self.lr - self.final_lr) * f

    def _spec(self):
        return ("wsd", _WSD_DECAY.index(self.decay),
                (self.lr, self.warmup_steps, self.stable_steps, self.decay_steps,
                 self.final_lr), (), ())


class PiecewiseConstant(Schedule):
    """``values[i]`` on the i-th interval: ``values[0]`` before ``boundaries[0]``, then a
    switch AT each boundary. ``len(values) == len(boundaries) + 1``."""

    _fields = ("boundaries", "values")
    _field_attrs = {"values": "piece_values"}  # ``values`` is the method values(n)

    def __init__(self, boundaries, values):
        b = v.sorted_reals("boundaries", boundaries, strict=True, low=0.0, high=v.MAX_STEP)
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"values must be a sequence of numbers, got {v.show(values)}")
        vals = tuple(_lr(f"values[{i}]", x) for i, x in enumerate(values))
        if len(vals) != len(b) + 1:
            raise ValueError(f"values must have len(boundaries) + 1 = {len(b) + 1} elements, "
                             f"got {len(vals)}")
        self._set(boundaries=b, piece_values=vals)

    def _value(self, t):
        return float(self.piece_values[bisect.bisect_right(self.boundaries, t)])

    def _spec(self):
        return ("pwconst", 0, (), (self.boundaries, self.piece_values), ())


class PiecewiseLinear(Schedule):
    """Linear interpolation through the points ``(steps[i], lrs[i])``; flat outside them."""

    _fields = ("steps", "lrs")

    def __init__(self, steps, lrs):
        s = v.sorted_reals("steps", steps, strict=True, low=0.0, high=v.MAX_STEP, min_len=1)
        if isinstance(lrs, (str, bytes)) or not hasattr(lrs, "__iter__"):
            raise TypeError(f"lrs must be a sequence of numbers, got {v.show(lrs)}")
        vals = tuple(_lr(f"lrs[{i}]", x) for i, x in enumerate(lrs))
        if len(vals) != len(s):
            raise ValueError(f"lrs must have as many elements as steps ({len(s)}), got {len(vals)}")
        self._set(steps=s, lrs=vals)

    def _value(self, t):
        s, y = self.steps, self.lrs
        if t <= s[0]:
            return float(y[0])
        if t >= s[-1]:
            return float(y[-1])
        i = bisect.bisect_right(s, t)
        return y[i - 1] + (y[i] - y[i - 1]) * ((t - s[i - 1]) / (s[i] - s[i - 1]))

    def _spec(self):
        return ("pwlinear", 0, (), (self.steps, self.lrs), ())
