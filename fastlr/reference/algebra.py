"""Schedules that combine schedules beyond shifting clocks: products, an anneal that
starts from another schedule's value (SWA), and multiplicative noise.

``Sequence`` and ``Warmup`` only move clocks; these nodes use the *values* of their
children: a product of them, or a child's value at a fixed step. They stay closed
forms of the step, so they compile, serialise and resume like every other schedule.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _validate as v
from ._base import Schedule
from .schedules import _cospi

__all__ = ["Product", "SWA", "Noise", "noise_factor"]


def _schedule(name, value):
    if not isinstance(value, Schedule):
        raise TypeError(f"{name} must be a fastlr schedule, got {value!r} "
                        f"({type(value).__name__})")
    return value


class Product(Schedule):
    """``schedules[0](t) * schedules[1](t) * ...``, multiplied in list order; also
    written ``s1 * s2`` (a product of products is flattened).

    torch's ``ChainedScheduler`` (and stepping several schedulers by hand, the
    "compound" schedulers) is this product when every child is *multiplicative*:
    ``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``ConstantLR``, ``LinearLR``,
    ``PolynomialLR`` and ``CosineAnnealingLR`` with ``eta_min=0`` up to ``T_max``, each
    contributing its factor ``closed_form(t) / base``. Give one factor the base lr and
    the others ``lr=1``: ``ChainedScheduler([StepLR(opt, 3, 0.5), ExponentialLR(opt,
    0.9)])`` on lr 0.1 is ``Step(0.1, 3, 0.5) * Exponential(1.0, 0.9)``. Other chains
    are not products: ``CosineAnnealingLR`` with ``eta_min > 0`` is affine (the chain
    depends on the order of its children), past ``T_max`` torch's cosine adds instead
    of multiplying, and an absolute child (``LambdaLR``, ``CyclicLR``, ``OneCycleLR``,
    ``CosineAnnealingWarmRestarts``) resets the product at every step.
    """

    _fields = ("schedules",)

    def __init__(self, schedules):
        if isinstance(schedules, Schedule) or not hasattr(schedules, "__iter__"):
            raise TypeError(f"schedules must be a list of schedules, got {schedules!r}")
        items = tuple(_schedule(f"schedules[{i}]", s) for i, s in enumerate(schedules))
        if not items:
            raise ValueError("schedules must not be empty, got []")
        self._set(schedules=items)

    def _value(self, t):
        value = self.schedules[0]._value(t)
        for s in self.schedules[1:]:
            value = value * s._value(t)
        return value

    def _spec(self):
        return ("product", 0, (), (), self.schedules)


_SWA_ANNEAL = ("cos", "linear")


class SWA(Schedule):
    """``schedule`` until step ``start``, then an anneal from the value it reached there
    to ``swa_lr`` over ``anneal_steps`` steps, then ``swa_lr`` (torch ``SWALR``).

    With ``L = schedule(start)``, ``x = min(1, (t - start) / anneal_steps)`` (1 when
    ``anneal_steps == 0``) and ``f(x) = (1 - cos(pi x)) / 2`` (``anneal='cos'``) or
    ``x`` (``'linear'``), the value at ``t >= start`` is ``swa_lr + (L - swa_lr) *
    (1 - f(x))``: continuous at ``start``, ``swa_lr`` from ``start + anneal_steps`` on.

    In torch's documented loop (``scheduler.step()`` while ``epoch <= swa_start``, then
    ``swa_scheduler.step()``) the main scheduler steps ``swa_start + 1`` times, so the
    anneal starts from its value at ``swa_start + 1``: ``start = swa_start + 1``. torch
    with ``anneal_epochs=0`` sets ``swa_lr`` already in SWALR's constructor; here
    ``anneal_steps=0`` switches to ``swa_lr`` right after ``start``.
    """

    _fields = ("schedule", "swa_lr", "start", "anneal_steps", "anneal")

    def __init__(self, schedule, swa_lr, start, anneal_steps=10, anneal="cos"):
        self._set(schedule=_schedule("schedule", schedule),
                  swa_lr=v.real("swa_lr", swa_lr, low=0.0),
                  start=v.length("start", start, zero=True),
                  anneal_steps=v.length("anneal_steps", anneal_steps, zero=True),
                  anneal=v.choice("anneal", anneal, _SWA_ANNEAL))

    def _value(self, t):
        if t < self.start:
            return self.schedule._value(t)
        base = self.schedule._value(float(self.start))
        if self.anneal_steps == 0:
            x = 1.0
        else:
            x = min((t - self.start) / self.anneal_steps, 1.0)
        f = 0.5 * (1.0 - _cospi(x)) if self.anneal == "cos" else x
        return self.swa_lr + (base - self.swa_lr) * (1.0 - f)

    def _spec(self):
        # p[3] holds the step of the start value until the builder replaces it
        return ("swa", _SWA_ANNEAL.index(self.anneal),
                (self.swa_lr, self.start, self.anneal_steps, self.start), (), (self.schedule,))


# -- counter-based noise: a pure function of (seed, step), the same in C ------------------

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
#: attempts of the rejection samplers before giving up (noise 0): each attempt is
#: accepted with probability >= 0.6, so the fallback has probability < 1e-25
NOISE_TRIES = 64


def _mix(z):
    """splitmix64's output function of ``z + golden`` (all arithmetic mod 2**64)."""
    z = (z + _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _uniform(seed, step, k):
    """The ``k``-th uniform in [0, 1) of ``step``: 53 bits of a hash of (seed, step, k)."""
    h = _mix(_mix(_mix(seed) ^ step) ^ k)
    return (h >> 11) * 2.0 ** -53


_NOISE_KINDS = ("normal", "uniform")


def noise_factor(kind, pct, std, seed, step):
    """The noise ``n`` of integer ``step``: uniform on ``[-pct, pct)``, or normal with
    deviation ``std`` truncated to ``|n| < pct`` (sampled exactly by rejection)."""
    if kind == 1:
        return pct * (2.0 * _uniform(seed, step, 0) - 1.0)
    wide = pct > std
    for j in range(NOISE_TRIES):
        u1 = _uniform(seed, step, 2 * j)
        u2 = _uniform(seed, step, 2 * j + 1)
        if wide:
            # Box-Muller: a normal from two uniforms (1 - u1 is in (0, 1])
            n = std * (math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2))
            if abs(n) < pct:
                return n
        else:
            # a narrow window: uniform proposals, accepted with the normal's density
            n = pct * (2.0 * u1 - 1.0)
            if u2 < math.exp(-0.5 * (n / std) * (n / std)):
                return n
    return 0.0


class Noise(Schedule):
    """``schedule(t) * (1 + n)`` for ``start <= t < end``, ``schedule(t)`` elsewhere
    (timm's lr noise: ``noise_range_t``, ``noise_pct``, ``noise_std``, ``noise_type``,
    ``noise_seed``).

    ``n`` is a pure function of ``seed`` and ``floor(t)``, so a resumed run sees the
    same noise and arrays evaluate in C: ``kind='normal'`` draws a normal with
    deviation ``std`` truncated to ``|n| < pct`` (as timm, which redraws until it is),
    ``'uniform'`` is uniform on ``[-pct, pct)``. timm seeds torch's generator with
    ``noise_seed + t``; this uses a counter-based hash of ``(seed, floor(t))``
    (splitmix64, then Box-Muller), so it has timm's distribution and clipping, not its
    numbers. ``end=None`` is no end (timm's int ``noise_range_t``). ``pct <= 1`` keeps
    the lr non-negative.
    """

    _fields = ("schedule", "start", "end", "pct", "std", "kind", "seed")

    def __init__(self, schedule, start=0, end=None, pct=0.67, std=1.0, kind="normal",
                 seed=42):
        start = v.length("start", start, zero=True)
        end = v.length("end", end, zero=True, optional=True)
        if end is not None and end < start:
            raise ValueError(f"end must be >= start ({start!r}), got {end!r}")
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be an int, got {seed!r} ({type(seed).__name__})")
        if not 0 <= seed <= _M64:
            raise ValueError(f"seed must be in [0, 2**64 - 1], got {seed!r}")
        self._set(schedule=_schedule("schedule", schedule), start=start, end=end,
                  pct=v.real("pct", pct, low=0.0, low_open=True, high=1.0),
                  std=v.real("std", std, low=0.0, low_open=True),
                  kind=v.choice("kind", kind, _NOISE_KINDS), seed=int(seed))

    def _value(self, t):
        value = self.schedule._value(t)
        end = math.inf if self.end is None else self.end
        if not self.start <= t < end:
            return value
        n = noise_factor(_NOISE_KINDS.index(self.kind), self.pct, self.std, self.seed,
                         int(t))
        return value * (1.0 + n)

    def _spec(self):
        end = math.inf if self.end is None else float(self.end)
        return ("noise", _NOISE_KINDS.index(self.kind),
                (self.start, end, self.pct, self.std, float(self.seed >> 32),
                 float(self.seed & 0xFFFFFFFF)), (), (self.schedule,))
