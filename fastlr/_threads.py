"""The one thread count of fastlr's compiled loops (schedules and optimizers alike).

Each compiled module registers a setter (a C function that stores the count its
OpenMP regions use) with :func:`register`; :func:`set_count` validates once and pushes
the count to every registered setter. A child made by ``os.fork()`` runs serially:
libgomp's thread pool does not survive a fork, and a parallel region in the child would
wait for threads that no longer exist (torch drops to one thread there for the same
reason). The child may not raise the count again.
"""
from __future__ import annotations

import numbers
import os
import threading

import numpy as np

__all__ = ["MAX_THREADS", "register", "set_count", "get_count", "in_forked_child"]

#: more threads than this is never useful on one machine, and a huge count can make
#: libgomp fail to create its pool and exit the process
MAX_THREADS = 1024

_lock = threading.Lock()
_setters = []
_state = {"count": None, "forked": False}


def _default():
    """OMP_NUM_THREADS when it is a valid count (its first entry, as OpenMP reads it),
    else the cores this process may run on; capped at MAX_THREADS."""
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) >= 1:
        return min(int(env), MAX_THREADS)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def _shown(n):
    """``n`` for a message: ints by digit count past 30 digits (Python refuses to print
    ints over 4300 digits), other reprs cut at 60 characters."""
    if isinstance(n, numbers.Integral):
        n = int(n)
        if abs(n) < 10 ** 30:
            return repr(n)
        return f"an int of {n.bit_length()} bits"
    r = repr(n)
    return r if len(r) <= 60 else r[:57] + "..."


def _check(n):
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int, got {_shown(n)} ({type(n).__name__})")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"n must be in [1, {MAX_THREADS}], got {_shown(n)}")
    return int(n)


def get_count():
    """The count compiled loops use now (1 in a forked child)."""
    if _state["forked"]:
        return 1
    return _state["count"] or _default()


def set_count(n):
    """Validate ``n`` and hand it to every registered compiled module."""
    n = _check(n)
    with _lock:
        _state["count"] = n
        effective = get_count()
        for setter in _setters:
            setter(effective)


def register(setter):
    """Call ``setter(count)`` now and whenever the effective count changes."""
    with _lock:
        _setters.append(setter)
        setter(get_count())


def in_forked_child():
    """True in a process made by ``os.fork()`` from one that imported fastlr."""
    return _state["forked"]


def _after_fork_in_child():
    # the parent's lock may have been held at the fork: the child has one thread, so a
    # fresh lock is safe
    global _lock
    _lock = threading.Lock()
    _state["forked"] = True
    for setter in _setters:
        setter(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
