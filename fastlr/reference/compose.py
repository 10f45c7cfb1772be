"""Schedules built from schedules: warmup, sequencing, scaling, and Python callables."""
from __future__ import annotations

import bisect
import math

from .. import _validate as v
from ._base import Schedule
from .schedules import _cospi, _pow

__all__ = ["Warmup", "Sequence", "Scaled", "Lambda", "warmup_cosine", "warmup_linear"]


def _schedule(name, value):
    if not isinstance(value, Schedule):
        raise TypeError(f"{name} must be a fastlr schedule, got {v.show(value)} "
                        f"({type(value).__name__})")
    return value


_WARMUP_MODES = ("linear", "exponential", "cosine", "1-sqrt")
_WARMUP_CLOCKS = ("local", "global")
_WARMUP_TARGETS = ("start", "end")


class Warmup(Schedule):
    """A warmup in front of ``schedule``.

    For ``t < W`` (``W = warmup_steps``) the value rises from ``start_lr`` to
    ``peak`` (``schedule(0)`` unless ``target`` says otherwise): ``'linear'`` ``start + (peak - start) * t/W``,
    ``'exponential'`` ``start * (peak/start) ** (t/W)``, computed as
    ``start ** (1 - t/W) * peak ** (t/W)`` so that it stays finite when ``peak/start``
    would overflow (a tiny ``start_lr``) or underflow (needs ``start_lr > 0``), or
    ``'cosine'`` ``start + (peak - start) * (1 - cos(pi t/W)) / 2`` or ``'1-sqrt'``
    ``start + (peak - start) * (1 - sqrt(1 - t/W))`` (transformers' WSD
    ``warmup_type='1-sqrt'``). From ``W`` on it is ``schedule(t - W)``: the wrapped
    schedule starts its own clock after the warmup.

    ``clock='global'`` keeps the wrapped schedule on the global clock instead (timm's
    ``warmup_prefix=False``, the default of its cosine, poly and tanh schedulers): from
    ``W`` on the value is ``schedule(t)``, so the warmup replaces the schedule's first
    ``W`` steps. ``target`` is what the warmup rises to: ``'start'``, ``schedule(0)``
    (timm's cosine and poly: the value then drops to ``schedule(W)`` at ``W``), or
    ``'end'``, the schedule's value where the warmup ends, ``schedule(W)`` on the
    global clock (timm's tanh, transformers' inverse sqrt: continuous). On the local
    clock both targets are ``schedule(0)``.
    """

    _fields = ("schedule", "warmup_steps", "start_lr", "mode", "clock", "target")

    def __init__(self, schedule, warmup_steps, start_lr=0.0, mode="linear", clock="local",
                 target="start"):
        _schedule("schedule", schedule)
        mode = v.choice("mode", mode, _WARMUP_MODES)
        start = v.real("start_lr", start_lr, low=0.0, low_open=(mode == "exponential"))
        self._set(schedule=schedule, warmup_steps=v.length("warmup_steps", warmup_steps, zero=True),
                  start_lr=start, mode=mode, clock=v.choice("clock", clock, _WARMUP_CLOCKS),
                  target=v.choice("target", target, _WARMUP_TARGETS))

    @property
    def _shift(self):
        """How far the wrapped schedule's clock lags the global one from ``W`` on."""
        return float(self.warmup_steps) if self.clock == "local" else 0.0

    @property
    def _target_at(self):
        """The wrapped schedule's step whose value the warmup rises to."""
        return self.warmup_steps - self._shift if self.target == "end" else 0.0

    @property
    def _peak(self):
        return self.schedule._value(self._target_at)

    def _value(self, t):
        w = self.warmup_steps
        if t >= w:
            return self.schedule._value(t - self._shift)
        peak, start, x = self._peak, self.start_lr, t / w
        if self.mode == "linear":
            return start + (peak - start) * x
        if self.mode == "exponential":
            # both factors lie between 1 and their base, and the product between start
            # and peak, so nothing overflows (peak / start can, for a subnormal start)
            return _pow(start, 1.0 - x) * _pow(peak, x)
        if self.mode == "1-sqrt":
            return start + (peak - start) * (1.0 - math.sqrt(max(1.0 - x, 0.0)))
        return start + (peak - start) * (0.5 * (1.0 - _cospi(x)))

    def _spec(self):
        # p[2] holds the step of the target until the builder replaces it by the value
        return ("warmup", _WARMUP_MODES.index(self.mode),
                (self.warmup_steps, self.start_lr, self._target_at, self._shift), (),
                (self.schedule,))


class Sequence(Schedule):
    """``schedules[i](t - boundaries[i-1])`` on the i-th interval (optax
    ``join_schedules``, torch ``SequentialLR``): each schedule runs on its own clock,
    which starts at its boundary. The switch happens AT the boundary."""

    _fields = ("schedules", "boundaries")

    def __init__(self, schedules, boundaries):
        if isinstance(schedules, Schedule) or not hasattr(schedules, "__iter__"):
            raise TypeError(f"schedules must be a list of schedules, got {v.show(schedules)}")
        items = tuple(_schedule(f"schedules[{i}]", s) for i, s in enumerate(schedules))
        if not items:
            raise ValueError("schedules must not be empty, got []")
        b = v.sorted_reals("boundaries", boundaries, strict=False, low=0.0, high=v.MAX_STEP)
        if len(b) != len(items) - 1:
            raise ValueError(f"boundaries must have len(schedules) - 1 = {len(items) - 1} "
                             f"elements, got {v.show(list(b))}")
        self._set(schedules=items, boundaries=b)

    def _value(self, t):
        i = bisect.bisect_right(self.boundaries, t)
        origin = self.boundaries[i - 1] if i else 0.0
        return self.schedules[i]._value(t - origin)

    def _spec(self):
        return ("sequence", 0, (), (self.boundaries,), self.schedules)


class Scaled(Schedule):
    """``factor * schedule(t)``; also written ``schedule * factor`` or ``factor * schedule``."""

    _fields = ("schedule", "factor")

    def __init__(self, schedule, factor):
        self._set(schedule=_schedule("schedule", schedule),
                  factor=v.real("factor", factor, low=0.0))

    def _value(self, t):
        return self.factor * self.schedule._value(t)

    def _spec(self):
        return ("scaled", 0, (self.factor,), (), (self.schedule,))


class Lambda(Schedule):
    """A Python callable ``fn(t) -> float`` as a schedule.

    It composes with everything, but it runs in Python on every step (nothing around
    it is compiled either) and it cannot be turned into a config.
    """

    _fields = ("fn",)

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {v.show(fn)} ({type(fn).__name__})")
        self._set(fn=fn)

    def _value(self, t):
        return _lambda_value(self.fn, t, self.fn(t))

    def _spec(self):
        return None  # not compilable

    def to_config(self):
        """Always raises ``TypeError``: a Python callable has no config (pickle the
        schedule instead, or use a built-in schedule)."""
        raise TypeError("Lambda wraps a Python callable and has no config; "
                        "use a built-in schedule or pickle it instead")


def _lambda_value(fn, t, value):
    """``value`` (what ``fn(t)`` returned) as a finite float, or a clear error naming both:
    a lr must be a finite real number (not a bool, str, None, NaN, inf, or an int past
    float range)."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        raise TypeError(f"Lambda fn {v.show(fn)} returned {v.show(value)} "
                        f"({type(value).__name__}) at step {t!r}; it must return a real number")
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    except (TypeError, ValueError):
        raise TypeError(f"Lambda fn {v.show(fn)} returned {v.show(value)} "
                        f"({type(value).__name__}) at step {t!r}; it must return a real number"
                        ) from None
    if not math.isfinite(x):
        raise ValueError(f"Lambda fn {v.show(fn)} returned {v.show(value)} at step {t!r}; "
                         f"it must return a finite number")
    return x


def _warmup_then(backend, peak_lr, warmup_steps, total_steps, final_lr, make):
    """``Warmup(make(peak, decay_steps, final), warmup_steps)`` with checked arguments.

    ``warmup_steps == total_steps`` (which transformers accepts) is all warmup: the
    line to ``peak_lr``, then ``final_lr`` from ``total_steps`` on (the decay has no
    steps left, so its final value is held).
    """
    peak = v.real("peak_lr", peak_lr, low=0.0)
    final = v.real("final_lr", final_lr, low=0.0)
    w = v.length("warmup_steps", warmup_steps, zero=True)
    total = v.length("total_steps", total_steps)
    if not total >= w:
        raise ValueError(f"total_steps must be >= warmup_steps ({w!r}), got {total!r}")
    if total == w:
        # on the global clock the warmup rises to peak = schedule(0), then final from w on
        return backend.Warmup(backend.PiecewiseConstant([w], [peak, final]), w, start_lr=0.0,
                              clock="global")
    return backend.Warmup(make(peak, total - w, final), w, start_lr=0.0)


def warmup_cosine(peak_lr, warmup_steps, total_steps, final_lr=0.0, *, _backend=None):
    """Linear warmup from 0 to ``peak_lr`` over ``warmup_steps``, then cosine down to
    ``final_lr`` at ``total_steps`` (which counts the warmup), as transformers'
    ``get_cosine_schedule_with_warmup``. The value at ``t=0`` is 0. With
    ``warmup_steps == total_steps`` it is transformers' all-warmup run for
    ``t < total_steps`` and ``final_lr`` after (transformers' cosine alternates 1, 0)."""
    return _warmup_then(_backend, peak_lr, warmup_steps, total_steps, final_lr,
                        _backend.Cosine)


def warmup_linear(peak_lr, warmup_steps, total_steps, final_lr=0.0, *, _backend=None):
    """Linear warmup from 0 to ``peak_lr`` over ``warmup_steps``, then linear down to
    ``final_lr`` at ``total_steps`` (which counts the warmup), as transformers'
    ``get_linear_schedule_with_warmup``. The value at ``t=0`` is 0. With
    ``warmup_steps == total_steps`` it is transformers' all-warmup run for
    ``t < total_steps`` and ``final_lr`` after."""
    return _warmup_then(_backend, peak_lr, warmup_steps, total_steps, final_lr,
                        lambda peak, n, final: _backend.Linear(peak, final, n))

