"""Safe, short descriptions of user values for error messages.

An error message must never fail to build: ``repr`` of an int with more than 4300
digits raises ``ValueError`` (CPython's int/str conversion limit), a hostile object's
``__repr__`` may raise or return megabytes. :func:`describe` always returns a short
one-line string.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["describe", "int_digits", "clip", "refuse_huge", "refuse_non_str"]

#: longer reprs are cut to this many characters
LIMIT = 80
#: ints with more decimal digits than this are shown by their digit count
INT_DIGITS = 50


def int_digits(n):
    """The number of decimal digits of the int ``n`` (without its sign), computed from
    its bit length: no str conversion, so no 4300-digit limit."""
    n = abs(int(n))
    if n == 0:
        return 1
    k = int((n.bit_length() - 1) * math.log10(2))  # 10**k <= n, or one below
    while 10 ** (k + 1) <= n:
        k += 1
    while k > 0 and 10 ** k > n:
        k -= 1
    return k + 1


def clip(text, limit=LIMIT):
    """``text`` on one line, cut to ``limit`` characters (with ``...``)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe(value, limit=LIMIT):
    """``repr(value)`` made safe: huge ints as their digit count, long reprs cut, a
    failing ``__repr__`` replaced by the type name. Ends with the type name."""
    kind = type(value).__name__
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        try:
            big = abs(int(value)) >= 10 ** INT_DIGITS
        except Exception:  # a hostile Integral
            big = False
        if big:
            sign = "-" if int(value) < 0 else ""
            return f"{sign}<an int with {int_digits(value)} digits> ({kind})"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - whatever __repr__ raised, the message must be built
        text = f"<{kind} object with a failing repr>"
    return f"{clip(text, limit)} ({kind})"


def refuse_huge(name, value, bound="finite"):
    """Raise ``ValueError`` for a real too large for a float, before the shared argument
    checks see it: their messages repr the value (an int of over 4300 digits cannot even
    be converted to text) and their ``float()`` raises OverflowError (a huge
    ``Fraction``). Other values pass through to those checks."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return
    if isinstance(value, numbers.Integral):
        huge = abs(int(value)) >= 2 ** 1024
    else:
        try:
            float(value)
            huge = False
        except OverflowError:
            huge = True
    if huge:
        raise ValueError(f"{name} must be {bound}, got {describe(value)}")


def refuse_non_str(name, value, options):
    """The shared ``choice`` check's TypeError, with the value shown safely."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {list(options)}, got {describe(value)}")
