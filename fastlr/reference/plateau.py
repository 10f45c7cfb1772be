"""ReduceOnPlateau: the one stateful schedule, driven by a metric."""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

from .. import _validate as v
from ._base import Schedule

__all__ = ["ReduceOnPlateau"]


class ReduceOnPlateau:
    """Cut the lr by ``factor`` when a metric stops improving (torch ``ReduceLROnPlateau``).

    ``lr`` is a float or any schedule; the plateau logic keeps a multiplicative
    ``scale`` on top of it, so a warmup can precede the plateau phase (torch cannot
    chain those). Call :meth:`update` once per evaluation with the metric.

    torch's rules: a metric improves when it beats ``best`` by ``threshold``
    (``'rel'``: ``best * (1 -/+ threshold)``, ``'abs'``: ``best -/+ threshold``); the lr
    is cut when the number of bad updates EXCEEDS ``patience``; ``cooldown`` updates
    after a cut count no bad updates; a cut to ``max(lr * factor, min_lr)`` is skipped
    when it would change the lr by no more than ``eps``.

    Clock: ``update`` advances an update counter (epochs, in the usual use) and the
    base schedule is read at it; pass ``step=`` to read it at a step of your own
    instead. ``plateau(t)`` gives ``base(t) * scale`` at any step, so the object can be
    an optimizer's ``lr``.
    """

    def __init__(self, lr, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        if isinstance(lr, Schedule):
            self.base = lr
        else:
            from . import Constant  # the reference Constant: a float lr has no backend
            self.base = Constant(v.real("lr", lr, low=0.0))
        self.mode = v.choice("mode", mode, ("min", "max"))
        self.factor = v.real("factor", factor, low=0.0, high=1.0, high_open=True)
        self.patience = _count("patience", patience)
        self.threshold = v.real("threshold", threshold, low=0.0)
        self.threshold_mode = v.choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = _count("cooldown", cooldown)
        self.min_lr = v.real("min_lr", min_lr, low=0.0)
        self.eps = v.real("eps", eps, low=0.0)
        self.scale = 1.0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_updates = 0
        self.cooldown_counter = 0
        self.num_updates = 0
        self.t = 0.0

    def __call__(self, t):
        value = self.base(t)
        return value * self.scale

    @property
    def lr(self):
        """The lr at the plateau's clock: ``base(t) * scale``."""
        return self.base(self.t) * self.scale

    @property
    def in_cooldown(self):
        """Whether a cooldown runs (``cooldown_counter > 0``): bad updates are not counted."""
        return self.cooldown_counter > 0

    def _better(self, a):
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (self.best * (1.0 - self.threshold) if rel else self.best - self.threshold)
        return a > (self.best * (1.0 + self.threshold) if rel else self.best + self.threshold)

    def update(self, metric, step=None):
        """Record ``metric`` (NaN counts as no improvement) and return the new lr."""
        metric = _as_float("metric", metric)
        t = self.num_updates + 1.0 if step is None else v.scalar_step(step)
        if t is None:
            raise TypeError(f"step must be an int or float, got {v.show(step)}")
        self.num_updates += 1
        self.t = t
        if self._better(metric):
            self.best = metric
            self.num_bad_updates = 0
        else:
            self.num_bad_updates += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_updates = 0
        if self.num_bad_updates > self.patience:
            base = self.base(t)
            old = base * self.scale
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps and base > 0.0:
                self.scale = new / base
            self.cooldown_counter = self.cooldown
            self.num_bad_updates = 0
        return self.lr

    _STATE = ("scale", "best", "num_bad_updates", "cooldown_counter", "num_updates", "t")

    def state_dict(self):
        """The mutable state (the configuration is the constructor's)."""
        return {k: getattr(self, k) for k in self._STATE}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict` output. The whole dict is checked first (a missing
        or unknown key, or a value of the wrong type or range, is an error naming it), so
        a failed load changes nothing."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict from state_dict(), got {v.show(state)} "
                            f"({type(state).__name__})")
        missing = [k for k in self._STATE if k not in state]
        if missing:
            raise ValueError(f"state is missing {missing}")
        unknown = [k for k in state if k not in self._STATE]
        if unknown:
            raise ValueError(f"state has unknown keys {v.show(unknown)}; expected "
                             f"{list(self._STATE)}")
        checked = {
            "scale": float(v.real("state['scale']", state["scale"], low=0.0)),
            "best": _best(state["best"]),
            "num_bad_updates": _count("state['num_bad_updates']", state["num_bad_updates"]),
            "cooldown_counter": _count("state['cooldown_counter']", state["cooldown_counter"]),
            "num_updates": _count("state['num_updates']", state["num_updates"]),
            "t": _step("state['t']", state["t"]),
        }
        for k in self._STATE:
            setattr(self, k, checked[k])

    def __repr__(self):
        return (f"ReduceOnPlateau(lr={self.base!r}, mode={self.mode!r}, factor={self.factor!r}, "
                f"patience={self.patience!r}, scale={self.scale!r})")


def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {v.show(value)} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {v.show(value)}")
    return int(value)


def _as_float(name, value):
    """``value`` as a float: a real number (not a bool) within float range (NaN and inf
    pass), or an error naming ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {v.show(value)} "
                        f"({type(value).__name__})")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} must be a real number within float range (NaN and inf "
                         f"are fine), got {v.show(value)}") from None


def _best(value):
    """The best metric so far: a float, +-inf before the first update, never NaN (a NaN
    metric never improves, so it is never stored)."""
    name = "state['best']"
    x = _as_float(name, value)
    if math.isnan(x):
        raise ValueError(f"{name} must not be NaN, got {x!r}")
    return x


def _step(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a step (int or float), got {v.show(value)} "
                        f"({type(value).__name__})")
    try:
        return v.scalar_step(value)
    except ValueError:
        raise ValueError(f"{name} must be a step in [0, 2**53], got {v.show(value)}") from None
