"""The schedule base class: an immutable value that is a pure function of the step.

Everything but the numbers lives here and is shared by both backends: parsing of the
step argument, ``values``, configs, equality, hashing, repr and pickling. A concrete
schedule adds three things: ``_fields`` (its constructor parameters, in order),
``_value(t)`` (the formula, in plain Python: the executable specification) and
``_spec()`` (the same formula as a node for the compiled engine).
"""
from __future__ import annotations

import math

import numpy as np

from .. import _validate as v

__all__ = ["Schedule"]


class Schedule:
    """Base class of every fastlr schedule.

    ``s(t)`` for an int or float step ``t >= 0`` returns a Python float; ``s(steps)`` for
    an array (any shape, integer or float dtype) returns a float64 array of the same
    shape; ``s.values(n)`` returns ``[s(0), ..., s(n-1)]``.
    """

    _fields: tuple = ()
    #: nodes on the longest path from this schedule to a leaf (at most ``MAX_DEPTH``)
    _depth: int = 1
    #: where a field is stored when its name is taken (``values`` is the method)
    _field_attrs: dict = {}
    #: the namespace (module) whose classes configs, ``*`` and helpers build
    _backend = None

    # -- immutability ------------------------------------------------------------------
    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable; build a new schedule instead")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is immutable; build a new schedule instead")

    def _set(self, **fields):
        # a field holding schedules (or a tuple of them) makes this a composite: bound its
        # depth here, for every composite alike, before anything walks the tree
        depth = self._depth
        for name, value in fields.items():
            kids = value if isinstance(value, tuple) else (value,)
            for kid in kids:
                if isinstance(kid, Schedule) and kid._depth + 1 > depth:
                    depth = kid._depth + 1
                    if depth > v.MAX_DEPTH:
                        raise ValueError(
                            f"{name} is a schedule tree {kid._depth} levels deep: "
                            f"{type(self).__name__} around it would make {depth}, past the "
                            f"limit of {v.MAX_DEPTH} (fastlr._validate.MAX_DEPTH)")
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        if depth != self._depth:
            object.__setattr__(self, "_depth", depth)

    # -- evaluation (reference: one Python call of _value per step) --------------------
    def __call__(self, t):
        """The value at step ``t``: a Python float for an int or float ``t >= 0``; for an
        array of steps (any shape, integer or float dtype), a float64 array of that shape."""
        x = v.as_steps(t)
        if isinstance(x, float):
            return self._value(x)
        return self._eval_array(x)

    def values(self, n):
        """``[s(0), s(1), ..., s(n-1)]`` as a float64 array.

        ``n`` is an int (any int type, not a bool) in ``[0, 2**40]``
        (``fastlr._validate.MAX_VALUES``).
        """
        n = v.step_count("n", n, high=v.MAX_VALUES)
        return self._eval_array(np.arange(n, dtype=np.float64))

    def _eval_array(self, steps):
        flat = steps.reshape(-1).tolist()
        out = np.empty(len(flat), dtype=np.float64)
        value = self._value
        for i, s in enumerate(flat):
            if not 0.0 <= s <= v.MAX_STEP:
                raise v.bad_step(s)
            out[i] = value(s)
        return out.reshape(steps.shape)

    def _value(self, t):  # pragma: no cover - every concrete class overrides it
        raise NotImplementedError

    def _spec(self):  # pragma: no cover
        raise NotImplementedError

    # -- value semantics ------------------------------------------------------------------
    def _field(self, name):
        return getattr(self, self._field_attrs.get(name, name))

    def _key(self):
        return tuple(self._field(f) for f in self._fields)

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash((type(self).__name__, self._key()))

    def __repr__(self):
        args = ", ".join(f"{f}={_repr(self._field(f))}" for f in self._fields)
        return f"{type(self).__name__}({args})"

    def __reduce__(self):
        return (type(self), self._key())

    def to_config(self):
        """A plain, JSON-serialisable dict; ``from_config`` rebuilds an equal schedule."""
        config = {"class": type(self).__name__}
        for f in self._fields:
            config[f] = _to_config(self._field(f))
        return config

    def __mul__(self, factor):
        if isinstance(factor, Schedule):
            # a product of schedules; products are flattened, so a * b * c is one node
            product = self._backend.Product
            return product([f for s in (self, factor)
                            for f in (s.schedules if isinstance(s, product) else (s,))])
        return self._backend.Scaled(self, factor)

    __rmul__ = __mul__


def _repr(value):
    if isinstance(value, tuple):
        return "[" + ", ".join(_repr(x) for x in value) + "]"
    return repr(value)


def _to_config(value):
    if isinstance(value, Schedule):
        return value.to_config()
    if isinstance(value, tuple):
        return [_to_config(x) for x in value]
    return value
