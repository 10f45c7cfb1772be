"""Plots of schedules and of range tests (matplotlib, the optional extra ``plot``).

Figures are made with ``matplotlib.figure.Figure`` directly, not pyplot: no GUI
backend is touched, nothing is kept in pyplot's global figure list, and it works on
headless machines and in threads.
"""
from __future__ import annotations

import os

import numpy as np

from ._text import clip, describe

__all__ = ["plot"]

_FORMATS = (".png", ".svg", ".pdf")
#: ``plot(s, n)`` draws every step up to this many; beyond, this many evenly spaced
#: steps (a figure is ~1000 pixels wide; 10**12 steps would need 8 TB)
MAX_POINTS = 100_000


def _matplotlib():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("fastlr's plots need matplotlib: pip install 'fastlr[plot]'") from None
    return Figure


def _check_path(path):
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {describe(path)}")
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in _FORMATS:
        raise ValueError(f"path must end in one of {list(_FORMATS)}, got "
                         f"{clip(repr(os.fspath(path)))}")
    return path


def _new_axes(ax):
    if ax is not None:
        return ax.figure, ax
    Figure = _matplotlib()
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    return fig, fig.add_subplot()


def _save(fig, path):
    if path is not None:
        fig.savefig(path, dpi=120)


def _label(schedule, limit=70):
    text = repr(schedule)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _schedules(schedule_or_list):
    from ..reference._base import Schedule  # both backends' classes derive from it

    if isinstance(schedule_or_list, Schedule):
        return [(_label(schedule_or_list), schedule_or_list)]
    if isinstance(schedule_or_list, dict):
        items = list(schedule_or_list.items())
    elif isinstance(schedule_or_list, (list, tuple)):
        items = [(None, s) for s in schedule_or_list]
    else:
        raise TypeError("schedules must be a fastlr schedule, a list of schedules or a "
                        f"dict label -> schedule, got {describe(schedule_or_list)}")
    if not items:
        raise ValueError("schedules must not be empty, got an empty collection")
    out = []
    for i, (label, s) in enumerate(items):
        if not isinstance(s, Schedule):
            raise TypeError(f"schedules[{i}] must be a fastlr schedule, got {describe(s)}")
        out.append((str(label) if label is not None else _label(s), s))
    return out


def _steps(steps):
    from .. import _validate as v

    if isinstance(steps, (bool, np.bool_)):
        raise TypeError(f"steps must be an int or an array of steps, got {describe(steps)}")
    if isinstance(steps, (int, np.integer)):
        n = int(steps)
        if not 1 <= n <= v.MAX_STEP:
            raise ValueError(f"steps must be an int in [1, 2**53], got {describe(steps)}")
        if n > MAX_POINTS:
            return np.unique(np.round(np.linspace(0.0, n - 1.0, MAX_POINTS)))
        return np.arange(n, dtype=np.float64)
    arr = np.asarray(steps)
    if arr.ndim != 1 or arr.dtype.kind not in "iuf" or arr.size < 1:
        raise TypeError("steps must be an int or a non-empty 1-d array of steps, "
                        f"got {describe(steps)}")
    return arr.astype(np.float64)


def plot(schedule_or_list, steps, path=None, *, log=False, ax=None, title=None):
    """Plot one or several schedules on one figure.

    Args:
      schedule_or_list: a schedule (either backend), a list of schedules, or a dict
        ``{label: schedule}``. Without labels each curve is labelled by its repr.
      steps: an int ``n`` in ``[1, 2**53]`` (plots steps ``0 .. n-1``, via
        ``values(n)``; for ``n > MAX_POINTS`` (100,000), that many evenly spaced steps
        from 0 to ``n-1``) or a 1-d array of steps (ints or floats, e.g. fractional
        epochs).
      path: write the figure there; ``.png``, ``.svg`` or ``.pdf`` (the suffix picks the
        format). ``None`` writes nothing.
      log: log-scale the lr axis (steps where the lr is 0, such as the first warmup
        step, are left out of a log plot).
      ax: a matplotlib ``Axes`` to draw into; by default a new figure.
      title: the axes title.

    Returns:
      The matplotlib ``Figure`` (not registered with pyplot; display it in a notebook
      by evaluating it, or save it with ``path``).

    Raises:
      TypeError, ValueError: for bad arguments, naming them.
      ImportError: without matplotlib (``pip install 'fastlr[plot]'``).
    """
    items = _schedules(schedule_or_list)
    t = _steps(steps)
    path = _check_path(path)
    fig, ax = _new_axes(ax)
    for label, s in items:
        whole = isinstance(steps, (int, np.integer)) and len(t) == int(steps)
        y = s.values(len(t)) if whole else s(t)
        ax.plot(t, y, label=label, linewidth=1.6)
    if log:
        ax.set_yscale("log", nonpositive="mask")
    return _finish(fig, ax, "step", "learning rate", title, path)


def _finish(fig, ax, xlabel, ylabel, title, path):
    """Labels, grid, title and legend; then write ``path`` (if any)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    _save(fig, path)
    return fig


def plot_range_test(result, path=None, *, ax=None, raw=True, title="LR range test"):
    """The figure behind :meth:`LRFinderResult.plot`."""
    path = _check_path(path)
    fig, ax = _new_axes(ax)
    if raw:
        ax.plot(result.lrs, result.losses, color="0.75", linewidth=1.0, label="loss")
    ax.plot(result.lrs, result.smoothed, color="C0", linewidth=1.8, label="smoothed loss")
    ax.set_xscale("log")
    marks = [("valley", result.valley, "C3", "o"),
             ("steepest", result.steepest, "C2", "^"),
             ("minimum/10", result.minimum, "C1", "s")]
    for name, lr, color, marker in marks:
        if lr is None:
            continue
        # mark the suggestion on the smoothed curve (interpolated in log lr)
        finite = np.isfinite(result.smoothed)
        y = np.interp(np.log(lr), np.log(result.lrs[finite]), result.smoothed[finite])
        ax.plot([lr], [y], marker=marker, color=color, linestyle="none", markersize=8,
                label=f"{name}: {lr:.2g}")
    # keep the divergent tail from squashing the interesting part of the curve
    finite = result.smoothed[np.isfinite(result.smoothed)]
    if finite.size:
        lo, first = float(finite.min()), float(finite[0])
        top = max(first, lo) + 0.25 * abs(max(first, lo) - lo) + 1e-12
        ax.set_ylim(lo - 0.1 * (top - lo), top)
    return _finish(fig, ax, "learning rate (log scale)", "loss", title, path)
