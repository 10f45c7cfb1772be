"""Argument checks shared by both backends.

Every public constructor and ``step`` goes through these, so the compiled and the
reference backend raise the same exception type with the same message. Each message
names the parameter and shows the offending value.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

#: steps and lengths live in [0, 2**53]: past it float64 cannot count steps exactly, and
#: with lengths >= 2**-20 a ratio t / length stays finite (no inf cycle counts)
MAX_STEP = 2.0 ** 53
MIN_LENGTH = 2.0 ** -20
#: the most values one ``values(n)`` call returns: 2**40 float64 are 8 TiB, more than any
#: machine holds, so a larger n is a mistake and gets a ValueError, not a MemoryError
MAX_VALUES = 2 ** 40
#: the deepest schedule tree (root to leaf, in nodes). Every walk over a tree (equality,
#: hash, repr, configs, pickling, the compiled evaluator) recurses once per level, so the
#: bound keeps all of them far inside Python's recursion limit and the C stack
MAX_DEPTH = 100

__all__ = [
    "MAX_STEP",
    "MIN_LENGTH",
    "MAX_VALUES",
    "MAX_DEPTH",
    "show",
    "length",
    "real",
    "flag",
    "choice",
    "sorted_reals",
    "as_steps",
    "step_count",
]


#: an error message shows at most this much of a value's repr
_SHOW_MAX = 200


def _int_digits(n):
    """The number of decimal digits of ``abs(n)``, without converting it to a str."""
    n = abs(n)
    k = max(int((n.bit_length() - 1) * 0.30102999566398120), 0)  # floor(log10(n)) or one less
    return k + 1 + (n >= 10 ** (k + 1))


def show(value):
    """``repr(value)`` for an error message: a huge int (whose repr may itself raise, past
    Python's 4300-digit limit) is described by its digit count, a repr that raises by the
    type, and a long one is cut to 200 characters."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        try:
            n = int(value)
        except Exception:  # an Integral that will not convert: show the type
            n = None
        if n is not None and abs(n) >= 10 ** 50:
            sign = "-" if n < 0 else ""
            return f"{sign}<an int of {_int_digits(n)} digits>"
    try:
        text = repr(value)
    except Exception:  # a container holding a huge int, or a repr that fails
        return f"<{type(value).__name__} object>"
    if len(text) > _SHOW_MAX:
        text = text[:_SHOW_MAX - 5] + " ...>"
    return text


def _describe(value):
    return f"{show(value)} ({type(value).__name__})"


def real(name, value, *, low=None, low_open=False, high=None, high_open=False,
         optional=False):
    """Return ``value`` as a finite Python float (ints stay ints) or raise.

    ``low``/``high`` are inclusive bounds unless ``low_open``/``high_open``.
    """
    if value is None and optional:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    if isinstance(value, numbers.Integral):
        value = int(value)
        fvalue = float(value) if abs(value) < 2**1023 else math.inf
    else:
        value = fvalue = float(value)
    if not math.isfinite(fvalue):
        raise ValueError(f"{name} must be finite, got {show(value)}")
    # an int is compared exactly (as an int), a float as a float
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {_bound(low)}, "
                         f"got {show(value)}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {_bound(high)}, "
                         f"got {show(value)}")
    return value


def _bound(x):
    return "2**53" if x == MAX_STEP else x


def length(name, value, *, zero=False, optional=False):
    """A number of steps: in ``[2**-20, 2**53]`` (or exactly 0 when ``zero``)."""
    value = real(name, value, optional=optional)
    if value is None or (zero and value == 0):
        return value
    if not MIN_LENGTH <= value <= MAX_STEP:
        zero_ok = "0 or " if zero else ""
        raise ValueError(f"{name} must be {zero_ok}a number of steps in [2**-20, 2**53], "
                         f"got {show(value)}")
    return value


def flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_describe(value)}")
    return bool(value)


def choice(name, value, options):
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {list(options)}, got {_describe(value)}")
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {show(value)}")
    return value


def sorted_reals(name, values, *, strict, low=None, high=None, min_len=0):
    """A tuple of finite reals in non-decreasing (``strict``: increasing) order.

    Step positions (milestones, boundaries) pass ``high=MAX_STEP``: every int up to
    2**53 is exact as a float, so the compiled engine (which compares floats) and the
    reference (which compares the stored ints) place each step on the same side.
    """
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a sequence of numbers, got {_describe(values)}")
    out = tuple(real(f"{name}[{i}]", v, low=low, high=high) for i, v in enumerate(values))
    if len(out) < min_len:
        raise ValueError(f"{name} must have at least {min_len} element(s), got {show(list(out))}")
    for i in range(1, len(out)):
        if out[i] < out[i - 1] or (strict and out[i] == out[i - 1]):
            order = "strictly increasing" if strict else "sorted (non-decreasing)"
            raise ValueError(f"{name} must be {order}, got {show(list(out))}")
    return out


_BAD_STEP = "step must be a finite number in [0, 2**53], got {}"


def scalar_step(t):
    """A single step as a float, or None when ``t`` is not a scalar."""
    if isinstance(t, (bool, np.bool_)):
        raise TypeError(f"step must be an int or float, got {_describe(t)}")
    if isinstance(t, numbers.Integral):
        n = int(t)  # compared as a Python int: exact for numpy ints above 2**53 too
        if not 0 <= n <= MAX_STEP:
            raise ValueError(_BAD_STEP.format(show(n)))
        return float(n)
    if isinstance(t, numbers.Real):
        x = float(t)
        if not 0.0 <= x <= MAX_STEP:
            raise ValueError(_BAD_STEP.format(show(t)))
        return x
    return None


def as_steps(t):
    """Parse a step argument: a float for a scalar, else a float64 ndarray.

    The array is not checked for entries outside [0, 2**53] here: each backend
    does that while evaluating (the compiled one in the same pass as the values),
    and both report the first offending entry with :func:`bad_step`.
    """
    x = scalar_step(t)
    if x is not None:
        return x
    if isinstance(t, (str, bytes)) or t is None:
        raise TypeError(f"step must be a number or an array of numbers, got {_describe(t)}")
    try:
        arr = np.asarray(t)
    except TypeError as exc:
        # a jax tracer (inside jit/vmap/grad) cannot become an ndarray: say what works
        if type(exc).__name__.startswith("Tracer"):
            raise TypeError(
                "a fastlr schedule computes with numpy and cannot take a traced jax value "
                f"(got {type(t).__name__}: inside jax.jit, vmap or grad); use "
                "fastlr.jax.schedule(s), which computes it in jax.numpy") from None
        raise
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"steps must have an integer or float dtype, got dtype {arr.dtype}")
    if arr.dtype.kind in "iu" and arr.dtype.itemsize >= 8 and arr.size:
        # 64-bit ints above 2**53 round to a valid float step: check them as ints (a
        # scalar int is checked exactly too), reporting the first bad entry
        if arr.min() < 0 or arr.max() > 2 ** 53:  # (no temporary array unless one is bad)
            flat = arr.reshape(-1)
            raise bad_step(flat[np.argmax((flat < 0) | (flat > 2 ** 53))])
    return np.asarray(arr, dtype=np.float64, order="C")  # (ascontiguousarray makes 0-d 1-d)


def bad_step(value):
    shown = show(int(value)) if isinstance(value, (numbers.Integral, np.integer)) \
        else repr(float(value))
    return ValueError(_BAD_STEP.format(shown).replace("step must", "steps must"))


def step_count(name, n, high=None):
    """A count ``n >= 0`` (an int of any type, never a bool or a float); at most ``high``."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_describe(n)}")
    n = int(n)
    if n < 0:
        raise ValueError(f"{name} must be >= 0, got {show(n)}")
    if high is not None and n > high:
        limit = f"2**{high.bit_length() - 1}" if high & (high - 1) == 0 else str(high)
        raise ValueError(f"{name} must be <= {limit}, got {show(n)}")
    return n
