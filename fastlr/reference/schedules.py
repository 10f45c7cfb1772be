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
    "OneCycleMomentum", "WarmupStableDecay", "PiecewiseConstant", "PiecewiseLinear", "Tanh",
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
    """``(lr - final_lr) * (1 - min(t, T) / T) ** power + final_lr`` with ``T = total_steps``.

    ``cycle=True`` is keras' ``PolynomialDecay(cycle=True)``: the horizon grows to the
    next multiple of ``T``, ``T' = T * max(1, ceil(t / T))``, and ``x = t / T'``, so the
    value is ``final_lr`` at every multiple of ``T`` and then jumps up to a lower peak
    (not back to ``lr``). ``k_decay`` is timm's: ``x = t**k / T**k`` (``k < 1`` decays
    early, ``k > 1`` holds the lr longer).
    """

    _fields = ("lr", "total_steps", "final_lr", "power", "cycle", "k_decay")

    def __init__(self, lr, total_steps, final_lr=0.0, power=1.0, cycle=False, k_decay=1.0):
        self._set(lr=_lr("lr", lr), total_steps=_length("total_steps", total_steps),
                  final_lr=_lr("final_lr", final_lr),
                  power=v.real("power", power, low=0.0, low_open=True),
                  cycle=v.flag("cycle", cycle), k_decay=_k_decay(k_decay))

    def _value(self, t):
        T = self.total_steps
        if self.cycle:
            T = T * max(1.0, math.ceil(t / T))
            x = _k_ratio(t, T, self.k_decay)
        else:
            x = _k_ratio(min(t, T), T, self.k_decay)
        return (self.lr - self.final_lr) * _pow(1.0 - x, self.power) + self.final_lr

    def _spec(self):
        return ("polynomial", int(self.cycle),
                (self.lr, self.total_steps, self.final_lr, self.power, self.k_decay), (), ())


class Cosine(Schedule):
    """``final_lr + (lr - final_lr) * (1 + cos(pi * min(t, T) / T)) / 2``, ``T = total_steps``.

    Holds ``final_lr`` past ``T`` (torch's ``CosineAnnealingLR`` climbs back; this does not).

    The options generalise the wave: with ``x = min(t, T) / T`` (timm's ``k_decay``:
    ``min(t, T)**k / T**k``) the value is ``final_lr + (lr - final_lr) * c ** exponent``
    with ``c = (1 + cos(2 pi num_cycles x)) / 2``. ``exponent`` is optax's
    (``cosine_decay_schedule(exponent=...)``); ``num_cycles`` counts cosine *periods*
    over ``T`` as transformers' ``get_cosine_schedule_with_warmup`` does (0.5, the
    default, is the half wave; 1.0 goes down and back up). Past ``T`` the value at ``T``
    is held, where transformers' wave goes on.
    """

    _fields = ("lr", "total_steps", "final_lr", "exponent", "num_cycles", "k_decay")

    def __init__(self, lr, total_steps, final_lr=0.0, exponent=1.0, num_cycles=0.5,
                 k_decay=1.0):
        self._set(lr=_lr("lr", lr), total_steps=_length("total_steps", total_steps),
                  final_lr=_lr("final_lr", final_lr),
                  exponent=v.real("exponent", exponent, low=0.0, low_open=True),
                  num_cycles=v.real("num_cycles", num_cycles, low=0.0, low_open=True,
                                    high=2.0 ** 20),
                  k_decay=_k_decay(k_decay))

    def _value(self, t):
        x = _k_ratio(min(t, self.total_steps), self.total_steps, self.k_decay)
        c = 0.5 * (1.0 + _cospi_any(2.0 * self.num_cycles * x))
        if self.exponent != 1.0:
            c = _pow(c, self.exponent)
        return self.final_lr + (self.lr - self.final_lr) * c

    def _spec(self):
        return ("cosine", 0, (self.lr, self.total_steps, self.final_lr, self.exponent,
                              self.num_cycles, self.k_decay), (), ())


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

    ``cycle_decay_mode='amplitude'`` shrinks the amplitude above the fixed floor
    instead, keras' ``CosineDecayRestarts(m_mul=...)``: ``final_lr + (lr - final_lr) *
    cycle_decay**i * (1 + cos(pi * x)) / 2`` (the default ``'peak'`` is timm's
    ``cycle_decay``). After ``cycle_limit`` cycles (timm's ``cycle_limit``; ``None``:
    never) the value is ``final_lr``. ``k_decay`` is timm's: ``x`` becomes
    ``elapsed**k / length**k``.
    """

    _fields = ("lr", "cycle_steps", "cycle_mult", "final_lr", "cycle_decay",
               "cycle_decay_mode", "cycle_limit", "k_decay")

    def __init__(self, lr, cycle_steps, cycle_mult=1.0, final_lr=0.0, cycle_decay=1.0,
                 cycle_decay_mode="peak", cycle_limit=None, k_decay=1.0):
        self._set(lr=_lr("lr", lr), cycle_steps=_length("cycle_steps", cycle_steps),
                  cycle_mult=v.real("cycle_mult", cycle_mult, low=1.0),
                  final_lr=_lr("final_lr", final_lr),
                  cycle_decay=_decay("cycle_decay", cycle_decay),
                  cycle_decay_mode=v.choice("cycle_decay_mode", cycle_decay_mode,
                                            _RESTART_DECAY_MODES),
                  cycle_limit=v.real("cycle_limit", cycle_limit, low=0.0, optional=True),
                  k_decay=_k_decay(k_decay))

    def _value(self, t):
        i, start, _, length = restart_cycle(t, self.cycle_steps, self.cycle_mult)
        if self.cycle_limit is not None and i >= self.cycle_limit:
            return float(self.final_lr)
        if self.cycle_decay_mode == "peak":
            amplitude = self.lr * _pow(self.cycle_decay, i) - self.final_lr
        else:
            amplitude = (self.lr - self.final_lr) * _pow(self.cycle_decay, i)
        # x is in [0, 1) in exact arithmetic; the clamp only absorbs rounding (m near 1)
        x = min(max(_k_ratio(t - start, length, self.k_decay), 0.0), 1.0)
        return self.final_lr + amplitude * (0.5 * (1.0 + _cospi(x)))

    def _spec(self):
        limit = math.inf if self.cycle_limit is None else float(self.cycle_limit)
        return ("restarts", _RESTART_DECAY_MODES.index(self.cycle_decay_mode),
                (self.lr, self.cycle_steps, self.cycle_mult, self.final_lr,
                 self.cycle_decay, limit, self.k_decay), (), ())


class InverseSqrt(Schedule):
    """``lr * sqrt(W / max(t, W))``: flat at ``lr`` until ``W = warmup_steps``, then ``1/sqrt(t)``.

    With a ``timescale`` ``tau`` it is ``lr * sqrt(tau / (max(t, W) - W + tau))``, the
    decay of transformers' ``get_inverse_sqrt_schedule(timescale=...)`` (there
    ``tau = W or 10_000``); ``warmup_steps`` may then be 0. For transformers' warmup in
    front, wrap it: ``Warmup(InverseSqrt(lr, W), W, clock='global')`` is
    ``lr * min(t/W, sqrt(W/t))``.
    """

    _fields = ("lr", "warmup_steps", "timescale")

    def __init__(self, lr, warmup_steps, timescale=None):
        timescale = _length("timescale", timescale, optional=True)
        self._set(lr=_lr("lr", lr),
                  warmup_steps=_length("warmup_steps", warmup_steps,
                                       zero=timescale is not None),
                  timescale=timescale)

    def _value(self, t):
        w = self.warmup_steps
        if self.timescale is None:
            return self.lr * math.sqrt(w / max(t, w))
        return self.lr * math.sqrt(self.timescale / (max(t, w) - w + self.timescale))

    def _spec(self):
        tau = 0.0 if self.timescale is None else self.timescale
        return ("invsqrt", int(self.timescale is not None), (self.lr, self.warmup_steps, tau),
                (), ())


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


_WSD_DECAY = ("linear", "cosine", "1-sqrt", "power", "exp")
_WSD_STABLE = ("constant", "rsqrt", "power")


class WarmupStableDecay(Schedule):
    """Warmup-stable-decay (trapezoid): ``lr * t / W`` while ``t < W``, ``lr`` for
    ``stable_steps`` more, then over ``decay_steps`` from ``lr`` to ``final_lr``
    (``decay``: ``'linear'`` ``1-p``, ``'cosine'`` ``(1+cos(pi p))/2`` or ``'1-sqrt'``
    ``1-sqrt(p)``), then ``final_lr``.

    timm's ``WSDLRScheduler`` adds decays ``'power'`` ``1 - p**decay_power`` and
    ``'exp'`` ``(r**p - r) / (1 - r)`` with ``r = decay_ratio``, and stable phases that
    keep decaying: ``stable='rsqrt'`` ``lr * (1 + s/tau) ** -0.5`` or ``'power'``
    ``lr * (1 + s/tau) ** -stable_power``, with ``s = t - W`` and ``tau =
    stable_timescale`` (default ``W``), clamped at ``final_lr`` from below. The decay
    then starts from that decaying value, step by step: ``final_lr + (top(t) -
    final_lr) * f(p)`` (Big Vision's form).
    """

    _fields = ("lr", "warmup_steps", "stable_steps", "decay_steps", "final_lr", "decay",
               "stable", "stable_timescale", "stable_power", "decay_power", "decay_ratio")

    def __init__(self, lr, warmup_steps, stable_steps, decay_steps, final_lr=0.0,
                 decay="linear", stable="constant", stable_timescale=None, stable_power=0.5,
                 decay_power=0.5, decay_ratio=0.1):
        self._set(lr=_lr("lr", lr), warmup_steps=_length("warmup_steps", warmup_steps, zero=True),
                  stable_steps=_length("stable_steps", stable_steps, zero=True),
                  decay_steps=_length("decay_steps", decay_steps, zero=True),
                  final_lr=_lr("final_lr", final_lr), decay=v.choice("decay", decay, _WSD_DECAY),
                  stable=v.choice("stable", stable, _WSD_STABLE),
                  stable_timescale=_length("stable_timescale", stable_timescale, optional=True),
                  stable_power=v.real("stable_power", stable_power, low=0.0, low_open=True,
                                      high=64.0),
                  decay_power=v.real("decay_power", decay_power, low=0.0, low_open=True,
                                     high=64.0),
                  decay_ratio=v.real("decay_ratio", decay_ratio, low=0.0, low_open=True,
                                     high=1.0, high_open=True))
        if self.stable != "constant" and self._tau == 0:
            raise ValueError(f"stable_timescale is required when stable={self.stable!r} and "
                             f"warmup_steps is 0, got stable_timescale=None")

    @property
    def _tau(self):
        return self.warmup_steps if self.stable_timescale is None else self.stable_timescale

    def _top(self, t):
        """The stable phase's value at ``t`` (where the decay starts from)."""
        if self.stable == "constant":
            return float(self.lr)
        power = 0.5 if self.stable == "rsqrt" else self.stable_power
        value = self.lr * _pow(1.0 + (t - self.warmup_steps) / self._tau, -power)
        return max(value, float(self.final_lr))

    def _value(self, t):
        w = float(self.warmup_steps)
        stable_end = w + self.stable_steps
        if t < w:
            return self.lr * (t / w)
        if t < stable_end:
            return self._top(t)
        if t >= stable_end + self.decay_steps:
            return float(self.final_lr)
        p = (t - stable_end) / self.decay_steps
        if self.decay == "linear":
            f = 1.0 - p
        elif self.decay == "cosine":
            f = 0.5 * (1.0 + _cospi(p))
        elif self.decay == "1-sqrt":
            f = 1.0 - math.sqrt(p)
        elif self.decay == "power":
            f = 1.0 - _pow(p, self.decay_power)
        else:
            r = self.decay_ratio
            f = (_pow(r, p) - r) / (1.0 - r)
        return self.final_lr + (self._top(t) - self.final_lr) * f

    def _spec(self):
        decay_param = self.decay_ratio if self.decay == "exp" else self.decay_power
        stable_power = 0.5 if self.stable == "rsqrt" else self.stable_power
        return ("wsd", _WSD_DECAY.index(self.decay) | (_WSD_STABLE.index(self.stable) << 3),
                (self.lr, self.warmup_steps, self.stable_steps, self.decay_steps,
                 self.final_lr, self._tau, stable_power, decay_param), (), ())


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


# -- options shared by several leaves ------------------------------------------------------

_RESTART_DECAY_MODES = ("peak", "amplitude")


def _k_decay(value):
    # timm's k_decay: bounded so that length**k stays finite for every length
    return v.real("k_decay", value, low=0.0, low_open=True, high=16.0)


def _k_ratio(elapsed, length, k):
    """``elapsed / length``, or timm's ``elapsed**k / length**k``."""
    if k == 1.0:
        return elapsed / length
    return _pow(elapsed, k) / _pow(length, k)


def _cospi_any(x):
    """``cos(pi x)`` for any finite ``x >= 0``: folded exactly into [0, 1] first (C does
    the same before its polynomial, which is only accurate there)."""
    if not math.isfinite(x):
        return math.nan
    y = math.fmod(x, 2.0)
    if y > 1.0:
        y = 2.0 - y
    return _cospi(y)


class Tanh(Schedule):
    """timm's ``TanhLRScheduler`` (one cycle): with ``x = t / T`` (``T = total_steps``),
    ``final_lr + (lr - final_lr) * (1 - tanh(lb * (1 - x) + ub * x)) / 2`` for ``t < T``,
    then ``final_lr``.

    As in timm, even ``t = 0`` is not exactly ``lr`` (``lb = -7`` gives 0.99999917 of
    it) and the last ``(1 - tanh(ub))/2`` of the amplitude (0.25% for ``ub = 3``) is
    dropped at ``T``. timm's warmup (``warmup_prefix=False``) rises to the curve at
    ``W``: ``Warmup(Tanh(...), W, clock='global', target='end')``.
    """

    _fields = ("lr", "total_steps", "final_lr", "lb", "ub")

    def __init__(self, lr, total_steps, final_lr=0.0, lb=-7.0, ub=3.0):
        lb = v.real("lb", lb, low=-1e6, high=1e6)
        self._set(lr=_lr("lr", lr), total_steps=_length("total_steps", total_steps),
                  final_lr=_lr("final_lr", final_lr), lb=lb,
                  ub=v.real("ub", ub, low=lb, low_open=True, high=1e6))

    def _value(self, t):
        if t >= self.total_steps:
            return float(self.final_lr)
        x = t / self.total_steps
        return self.final_lr + (self.lr - self.final_lr) * (
            0.5 * (1.0 - math.tanh(self.lb * (1.0 - x) + self.ub * x)))

    def _spec(self):
        return ("tanh", 0, (self.lr, self.total_steps, self.final_lr, self.lb, self.ub), (), ())
