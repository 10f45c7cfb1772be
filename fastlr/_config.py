"""Rebuilding schedules from ``to_config`` dicts, and binding the helpers to a backend."""
from __future__ import annotations

import functools
import inspect

from . import _validate as v

__all__ = ["from_config", "bind_helper"]


def from_config(config, namespace, names, _depth=1):
    """Build the schedule that ``config`` describes from the classes in ``namespace``.

    The walk counts its depth, so a config nested past ``MAX_DEPTH`` (or one that holds
    itself) is a ValueError, not a RecursionError."""
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {v.show(config)} ({type(config).__name__})")
    if _depth > v.MAX_DEPTH:
        raise ValueError(f"config nests schedules more than {v.MAX_DEPTH} levels deep "
                         f"(fastlr._validate.MAX_DEPTH)")
    name = config.get("class")
    if not isinstance(name, str) or name not in names:
        raise ValueError(f"config['class'] must name a fastlr schedule, got {v.show(name)}")
    kwargs = {k: _rebuild(val, namespace, names, _depth, 0)
              for k, val in config.items() if k != "class"}
    return getattr(namespace, name)(**kwargs)


def _rebuild(value, namespace, names, depth, nesting):
    if isinstance(value, dict) and "class" in value:
        return from_config(value, namespace, names, depth + 1)
    if isinstance(value, list):
        if nesting > v.MAX_DEPTH:  # lists in lists (no schedule takes those): stop anyway
            raise ValueError(f"config nests lists more than {v.MAX_DEPTH} levels deep")
        return [_rebuild(x, namespace, names, depth, nesting + 1) for x in value]
    return value


def bind_helper(fn, backend):
    """``fn`` with its hidden ``_backend`` keyword fixed to ``backend``."""

    @functools.wraps(fn)
    def bound(*args, **kwargs):
        return fn(*args, _backend=backend, **kwargs)

    sig = inspect.signature(fn)
    bound.__signature__ = sig.replace(
        parameters=[p for p in sig.parameters.values() if p.name != "_backend"])
    del bound.__wrapped__
    return bound
