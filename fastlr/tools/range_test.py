"""The learning-rate range test ("LR finder"): Smith 2015/2018 as fastai runs it.

Train with a learning rate that grows every step, record the loss, stop when it blows
up, and read a good learning rate off the curve. The test is framework-agnostic: you
pass a function that runs one training step at a given lr and returns the loss.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _validate as v
from ._text import describe, refuse_huge, refuse_non_str
from .progress import progress as _progress

__all__ = ["find_lr", "LRFinderResult"]

_MODES = ("exp", "linear")

#: points dropped at the end of the curve before suggesting (fastai's ``[:-5]``): the
#: last few steps of a run are where it diverged
SKIP_END = 5


#: consecutive lrs of the test must differ by more than this (relative): closer, float64
#: rounding could make them equal and the slope of the curve (``steepest``) undefined
_MIN_GAP = 2.0 ** -40


def _lr_at(start, end, n, mode):
    """The lr of step ``i`` as a function: ``start`` at step 0, ``end`` at step ``n - 1``.

    The exponential grid is interpolated in log space, ``exp(log(start) + (log(end) -
    log(start)) * i/(n-1))``, so it stays finite for any finite bounds (``end/start``
    alone overflows for ``1e-300 .. 1e300``). Each lr is clamped into ``[start, end]``
    against the rounding of ``exp``, and the ends are exact. Computed per step, not as
    an array: a run that diverges early never pays for a long grid.
    """
    last = n - 1
    if mode == "exp":
        lo, span = math.log(start), math.log(end) - math.log(start)

        def at(i):
            return min(max(math.exp(lo + span * (i / last)), start), end)
    else:
        span = end - start  # finite: 0 < start < end <= the largest float

        def at(i):
            return min(max(start + span * (i / last), start), end)

    def lr(i):
        return start if i == 0 else end if i == last else at(i)
    return lr


def _check_grid(lr, start, end, n):
    """Refuse a range so narrow (for ``n`` steps) that consecutive lrs could coincide.

    The relative gap between consecutive lrs is smallest at an end of the grid (the top
    for ``'linear'``; the bottom for ``'exp'`` among subnormal floats), so checking both
    ends covers the whole grid.
    """
    for i in (0, n - 2):
        a, b = lr(i), lr(i + 1)
        if not b - a > _MIN_GAP * b:
            raise ValueError(
                f"start_lr ({start!r}) and end_lr ({end!r}) are too close for "
                f"num_steps={n}: consecutive lrs {a!r} and {b!r} differ by less than "
                f"2**-40 relative; widen the range or use fewer steps")


def _as_loss(value, lr):
    """The loss ``step_fn`` returned, as a float; a clear error naming ``step_fn``."""
    where = f"at lr={lr!r}"
    if isinstance(value, (bool, np.bool_, str, bytes, complex, np.complexfloating)):
        raise TypeError(f"step_fn must return a real number (the loss), got "
                        f"{describe(value)} {where}")
    try:  # Python and numpy reals, 0-d arrays, torch/jax scalars, Decimal, Fraction
        return float(value)
    except OverflowError:
        raise ValueError(f"step_fn returned a loss too large for a float: "
                         f"{describe(value)} {where}") from None
    except (TypeError, ValueError):
        raise TypeError(f"step_fn must return a real number (the loss), got "
                        f"{describe(value)} {where}") from None


def find_lr(step_fn, start_lr=1e-7, end_lr=10.0, num_steps=100, mode="exp",
            smoothing=0.98, diverge_factor=4.0, *, progress=None):
    """Run the learning-rate range test.

    Calls ``step_fn(lr)`` once per step with a growing ``lr``; ``step_fn`` must run one
    training step (forward, backward, optimizer update) at that lr and return the loss
    of the batch. Step ``i`` (0-based) uses

    - ``mode='exp'``: ``start_lr * (end_lr/start_lr) ** (i/(num_steps-1))``, computed
      in log space (``exp(log(start_lr) + log(end_lr/start_lr) * i/(num_steps-1))``)
      so that every lr is finite for any finite bounds, even ``1e-300 .. 1e300``;
    - ``mode='linear'``: ``start_lr + (end_lr-start_lr) * i/(num_steps-1)``,

    so the last step uses ``end_lr`` exactly (as torch-lr-finder; fastai stops one
    step short of ``end_lr``).

    The loss is smoothed by a debiased exponential moving average, as fastai and
    Lightning do: ``avg = smoothing*avg + (1-smoothing)*loss`` (``avg`` starts at 0)
    and ``smoothed[i] = avg / (1 - smoothing**(i+1))``. From the second step on, the
    test stops early when ``smoothed[i] > diverge_factor * min(smoothed[:i+1])`` (this
    rule assumes positive losses and only applies while the best smoothed loss is
    ``> 0``), or at once when a loss (or the smoothed loss) is NaN or infinite.

    Note that the test *trains*: run it on a copy of the model and optimizer state
    (or restore them afterwards) before the real training.

    Args:
      step_fn: ``step_fn(lr: float) -> loss`` (a real number, a numpy scalar or
        anything ``float()`` accepts, such as a one-element tensor).
      start_lr: the first lr, finite and ``> 0``.
      end_lr: the last lr, finite and ``> start_lr``; far enough above it that
        consecutive lrs differ by more than ``2**-40`` relative (else ``ValueError``).
      num_steps: the number of steps (``step_fn`` calls) if the loss does not
        diverge; an int in ``[2, 2**53]``.
      mode: ``'exp'`` (the usual choice: equal time per decade) or ``'linear'``
        (Smith 2015).
      smoothing: the EMA factor in ``[0, 1)``; 0 disables smoothing.
      diverge_factor: stop when the smoothed loss exceeds this multiple of the best
        one, a real ``> 1``; ``None`` never stops early (except for NaN/inf).
      progress: show a progress line for runs longer than a second: ``None`` (auto,
        see :mod:`fastlr.tools.progress`), ``True`` or ``False``.

    Returns:
      An :class:`LRFinderResult` with the curve and the ``valley``, ``steepest`` and
      ``minimum`` suggestions.

    Raises:
      TypeError, ValueError: for a bad argument (naming it and its value), or when
        ``step_fn`` returns something that is not a real number (``TypeError``) or a
        number too large for a float (``ValueError``); the message names ``step_fn``,
        the value (a huge int by its digit count) and the lr. Exceptions raised by
        ``step_fn`` propagate.
    """
    if not callable(step_fn):
        raise TypeError(f"step_fn must be callable, got {describe(step_fn)}")
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr), ("num_steps", num_steps),
                        ("smoothing", smoothing), ("diverge_factor", diverge_factor)):
        refuse_huge(name, value, "<= 2**53" if name == "num_steps" else "finite")
    start = float(v.real("start_lr", start_lr, low=0.0, low_open=True))
    end = float(v.real("end_lr", end_lr))
    if not end > start:
        raise ValueError(f"end_lr must be > start_lr ({start!r}), got {end!r}")
    n = v.step_count("num_steps", num_steps)
    if n < 2:
        raise ValueError(f"num_steps must be >= 2, got {n!r}")
    if n > v.MAX_STEP:
        raise ValueError(f"num_steps must be <= 2**53, got {n!r}")
    refuse_non_str("mode", mode, _MODES)
    mode = v.choice("mode", mode, _MODES)
    beta = v.real("smoothing", smoothing, low=0.0, high=1.0, high_open=True)
    factor = v.real("diverge_factor", diverge_factor, low=1.0, low_open=True, optional=True)
    if progress is not None:
        if not isinstance(progress, (bool, np.bool_)):
            raise TypeError(f"progress must be a bool, got {describe(progress)}")
        progress = bool(progress)
    grid = _lr_at(start, end, n, mode)
    _check_grid(grid, start, end, n)

    lrs, losses, smoothed = [], [], []
    avg, best = 0.0, math.inf
    stop = "completed"
    with _progress(n, "find_lr", enable=progress) as bar:
        for i in range(n):
            lr = grid(i)
            loss = _as_loss(step_fn(lr), lr)
            lrs.append(lr)
            losses.append(loss)
            if not math.isfinite(loss):
                smoothed.append(math.nan)
                stop = "non-finite"
                break
            avg = beta * avg + (1.0 - beta) * loss
            s = avg / (1.0 - beta ** (i + 1))
            if not math.isfinite(s):  # finite losses whose average overflowed
                smoothed.append(math.nan)
                stop = "non-finite"
                break
            smoothed.append(s)
            best = min(best, s)
            bar.update(1, lr=lr, loss=s)
            if factor is not None and i > 0 and best > 0.0 and s > factor * best:
                stop = "diverged"
                break
    return LRFinderResult(lrs, losses, smoothed, num_steps=n, stop_reason=stop)


class LRFinderResult:
    """What :func:`find_lr` measured, and the learning rates it suggests.

    Attributes:
      lrs: float64 array, the lr of each step that ran.
      losses: float64 array, the raw loss ``step_fn`` returned at each step.
      smoothed: float64 array, the debiased EMA of the losses (NaN from the first
        non-finite loss on).
      stop_reason: ``'completed'`` (ran all ``num_steps``), ``'diverged'`` (the smoothed
        loss exceeded ``diverge_factor`` times the best) or ``'non-finite'`` (a NaN/inf
        loss).
      valley: fastai's default rule (see below), or ``None`` when fewer than 2 finite
        points were recorded. ``suggestion`` is ``minimum`` (see its docstring).
      steepest: the lr where the smoothed loss falls fastest per unit of ``log(lr)``.
      minimum: the lr at the lowest smoothed loss, divided by 10.
      window: ``(lo, hi)``, the slice of the curve the suggestions were computed on.
      num_steps: the ``num_steps`` the test was asked to run.

    The suggestions are computed on the *smoothed* curve, restricted as fastai does:
    cut at the first non-finite value, then drop the first ``num_steps // 10`` and the
    last 5 points (the noisy start and the divergent end). If that leaves fewer than 3
    points the whole finite curve is used instead.

    - ``valley`` (fastai ``valley``): find the longest strictly decreasing subsequence
      of the smoothed loss (fastai's O(n^2) dynamic programme; its end ``e`` is the
      first point reaching the longest length ``m``, its start is ``s = e - m``); with
      ``L = e - s`` the suggestion is the lr at index ``s + int(L/3) + int(L/3/2)``,
      half-way down the first two thirds of the valley. Where fastai's ``s`` is -1 (a
      valley starting at the first point) we use index 0 rather than wrap around.
    - ``steepest``: the argmin of ``numpy.gradient(smoothed, log(lrs))`` (central
      differences; one-sided at the ends of the window). For ``mode='exp'`` this is
      torch-lr-finder's index; fastai's ``steep`` uses forward differences.
    - ``minimum`` (fastai ``minimum``): ``lrs[argmin(smoothed)] / 10``.
    """

    def __init__(self, lrs, losses, smoothed, *, num_steps, stop_reason):
        self.lrs = np.asarray(lrs, dtype=np.float64)
        self.losses = np.asarray(losses, dtype=np.float64)
        self.smoothed = np.asarray(smoothed, dtype=np.float64)
        self.num_steps = int(num_steps)
        self.stop_reason = stop_reason
        lo, hi = self._window()
        lrs_w, sm_w = self.lrs[lo:hi], self.smoothed[lo:hi]
        self.window = (lo, hi)
        if hi - lo < 2:
            self.valley = self.steepest = self.minimum = None
            return
        self.valley = float(lrs_w[_valley_index(sm_w)])
        grad = np.gradient(sm_w, np.log(lrs_w))
        self.steepest = float(lrs_w[int(np.argmin(grad))])
        self.minimum = float(lrs_w[int(np.argmin(sm_w))]) / 10.0

    @property
    def suggestion(self):
        """The recommended lr: ``minimum`` (the lr at the lowest smoothed loss, / 10).

        fastai defaults to ``valley``, which is more cautious: on a least-squares problem
        with a known good lr (tests/test_tools_range_test.py) it sat 10-60x below it,
        where ``minimum`` and ``steepest`` land within 10x; and AdamW with a warmup
        trained the demo's MLP best from ``minimum``. All three stay available.
        """
        return self.minimum

    @property
    def stopped_early(self):
        """True when the test stopped before ``num_steps`` (divergence or NaN/inf)."""
        return self.stop_reason != "completed"

    def _window(self):
        finite = np.isfinite(self.smoothed)
        end = len(self.smoothed) if finite.all() else int(np.argmin(finite))
        lo, hi = self.num_steps // 10, len(self.smoothed) - SKIP_END
        hi = min(hi, end)
        if hi - lo < 3:
            return 0, end
        return lo, hi

    def __repr__(self):
        def fmt(x):
            return "None" if x is None else f"{x:.3g}"
        return (f"LRFinderResult(steps={len(self.lrs)}/{self.num_steps}, "
                f"stop_reason={self.stop_reason!r}, valley={fmt(self.valley)}, "
                f"steepest={fmt(self.steepest)}, minimum={fmt(self.minimum)})")

    def plot(self, path=None, *, ax=None, raw=True, title="LR range test"):
        """Plot loss against lr (log x axis) with the suggestions marked.

        Args:
          path: a ``.png``, ``.svg`` or ``.pdf`` file to write, or ``None``.
          ax: a matplotlib ``Axes`` to draw into; by default a new figure.
          raw: also draw the raw losses, faintly.
          title: the axes title.

        Returns:
          The matplotlib ``Figure``.

        Raises:
          ImportError: without matplotlib (``pip install 'fastlr[plot]'``).
        """
        from .plotting import plot_range_test
        return plot_range_test(self, path=path, ax=ax, raw=raw, title=title)


def _valley_index(losses):
    """fastai's ``valley`` index into ``losses`` (see :class:`LRFinderResult`)."""
    losses = np.asarray(losses, dtype=np.float64)
    n = len(losses)
    lds = np.ones(n, dtype=np.int64)
    # lds[i]: length of the longest strictly decreasing subsequence ending at i; fastai's
    # double loop computes the same numbers, this is its inner loop as one numpy op
    for i in range(1, n):
        higher = losses[:i] > losses[i]
        if higher.any():
            lds[i] = lds[:i][higher].max() + 1
    end = int(np.argmax(lds))  # the first index reaching the maximum, like fastai
    start = end - int(lds[end])
    sections = (end - start) / 3
    idx = start + int(sections) + int(sections / 2)
    return min(max(idx, 0), n - 1)
